"""Property tests: random schemas, random valid instances with random whitespace, random
(non-canonical) tokenizations must be accepted; random mutations that ``jsonschema``
rejects must be rejected. Plus a recursive schema nested 50 deep.
"""

from __future__ import annotations

import json
import random

import jsonschema
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from constrain import compile_json_schema

WS = [" ", "\n", "\t", "\r", "  "]

# ---------------------------------------------------------------- schemas and instances

names = st.sampled_from(["a", "id", "name", "x_y", "naïve", "k\"q", "emoji😀", "tab\t"])
scalars = st.one_of(
    st.builds(lambda lo, span: {"type": "integer", "minimum": lo, "maximum": lo + span},
              st.integers(-50, 50), st.integers(0, 300)),
    st.builds(lambda lo, hi: {"type": "string", "minLength": lo, "maxLength": lo + hi},
              st.integers(0, 3), st.integers(0, 6)),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.just({"type": "number"}),
    st.lists(st.one_of(st.text(max_size=4), st.integers(-5, 5), st.booleans(), st.none()),
             min_size=1, max_size=4, unique_by=lambda v: json.dumps(v)).map(lambda vs: {"enum": vs}),
    st.just({"type": "string", "pattern": "^[a-c]+[0-9]?$"}),
)


def _object(children):
    return st.builds(
        lambda props, req, addl: {
            "type": "object",
            "properties": dict(props),
            "required": [k for k, _ in props][:req],
            "additionalProperties": addl,
        },
        st.lists(st.tuples(names, children), max_size=4, unique_by=lambda kv: kv[0]),
        st.integers(0, 4),
        st.booleans(),
    )


def _array(children):
    return st.builds(lambda items, lo, span: {"type": "array", "items": items, "minItems": lo, "maxItems": lo + span},
                     children, st.integers(0, 2), st.integers(0, 3))


schemas = st.recursive(scalars, lambda ch: st.one_of(_object(ch), _array(ch), st.lists(ch, min_size=1, max_size=3).map(lambda xs: {"anyOf": xs})), max_leaves=8)


def instance(schema, rng: random.Random, depth=0):
    """A random valid instance (None when this generator cannot produce one)."""
    if "anyOf" in schema:
        return instance(rng.choice(schema["anyOf"]), rng, depth)
    if "enum" in schema:
        return rng.choice(schema["enum"])
    t = schema.get("type")
    if t == "integer":
        return rng.randint(schema["minimum"], schema["maximum"])
    if t == "number":
        return rng.choice([0, -1.5, 3.25, 1e-3, 12345])
    if t == "boolean":
        return rng.random() < 0.5
    if t == "null":
        return None
    if t == "string":
        if "pattern" in schema:
            return "".join(rng.choice("abc") for _ in range(rng.randint(1, 3))) + rng.choice(["", "7"])
        n = rng.randint(schema["minLength"], schema["maxLength"])
        return "".join(rng.choice(["a", "é", "\n", '"', "\\", "😀", "/", "\u2028"]) for _ in range(n))
    if t == "array":
        out = [instance(schema["items"], rng, depth + 1) for _ in range(rng.randint(schema["minItems"], schema["maxItems"]))]
        return out
    if t == "object":
        out = {}
        for i, (k, sub) in enumerate(schema["properties"].items()):
            if k in schema["required"] or rng.random() < 0.5:
                out[k] = instance(sub, rng, depth + 1)
        keys = list(out)
        rng.shuffle(keys)  # JSON Schema accepts properties in any order, and so does the default
        return {k: out[k] for k in keys}
    raise AssertionError(schema)


def dumps_random_ws(value, rng: random.Random) -> str:
    """JSON text with random whitespace wherever JSON allows it (runs of at most 2)."""
    def ws():
        return rng.choice(["", "", rng.choice(WS)])

    def enc(v):
        if isinstance(v, dict):
            items = [ws() + json.dumps(k, ensure_ascii=rng.random() < 0.5) + ws() + ":" + ws() + enc(x) + ws() for k, x in v.items()]
            return "{" + (",".join(items) if items else ws()) + "}"
        if isinstance(v, list):
            items = [ws() + enc(x) + ws() for x in v]
            return "[" + (",".join(items) if items else ws()) + "]"
        return json.dumps(v, ensure_ascii=rng.random() < 0.5)

    return ws() + enc(value) + ws()


def random_tokenization(vocab, data: bytes, rng: random.Random) -> list[int]:
    """Split ``data`` into random vocabulary tokens (not the tokenizer's canonical choice)."""
    out = []
    i = 0
    while i < len(data):
        node, choices = 0, []
        j = i
        while j < len(data):
            node = vocab.child(node, data[j])
            if node < 0:
                break
            j += 1
            toks = vocab.node_tokens(node)
            if len(toks):
                choices.append((j, int(toks[0])))
        assert choices, f"no token covers byte {data[i]!r}"
        j, t = rng.choice(choices)
        out.append(t)
        i = j
    return out


def accepts(compiled, ids) -> bool:
    m = compiled.matcher()
    for t in ids:
        mask = m.mask().view(np.uint32)
        bit = bool((mask[t >> 5] >> np.uint32(t & 31)) & 1)
        assert bit == m.is_allowed(t)
        if not m.advance(t):
            assert not bit
            return False
        assert bit
    return m.is_accepting()


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(schemas, st.randoms(use_true_random=False))
def test_random_schemas_instances_and_mutations(smollm2_vocab, schema, rnd):
    rng = random.Random(rnd.random())
    compiled = compile_json_schema(schema, smollm2_vocab, max_whitespace=2)
    validator = jsonschema.Draft202012Validator(schema)
    for _ in range(3):
        value = instance(schema, rng)
        assert validator.is_valid(value), (schema, value)
        text = dumps_random_ws(value, rng)
        if set(text.encode()) & set(smollm2_vocab.missing_bytes):
            continue  # SmolLM2 has no token for some bytes (e.g. 0xF1): not producible
        ids = random_tokenization(smollm2_vocab, text.encode(), rng)
        assert accepts(compiled, ids), (schema, text)
        # a mutation: delete, duplicate or replace one byte
        data = bytearray(text.encode())
        k = rng.randrange(len(data))
        op = rng.choice(["del", "dup", "sub"])
        if op == "del":
            del data[k]
        elif op == "dup":
            data.insert(k, data[k])
        else:
            data[k] = ord(rng.choice('{}[],:"0a\\ -'))
        try:
            mutated = bytes(data).decode("utf-8")
            parsed = json.loads(mutated)
            ok = validator.is_valid(parsed)
        except (UnicodeDecodeError, ValueError):
            ok = False
        if ok or not data:
            continue  # still valid (or undecidable here): nothing to assert
        try:
            ids = random_tokenization(smollm2_vocab, bytes(data), rng)
        except AssertionError:
            continue  # a byte the vocabulary cannot produce
        assert not accepts(compiled, ids), (schema, mutated)


def test_recursive_schema_50_deep(smollm2_vocab):
    schema = {
        "$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"}, "child": {"$ref": "#/$defs/node"}},
                           "required": ["v"], "additionalProperties": False}},
        "$ref": "#/$defs/node",
    }
    compiled = compile_json_schema(schema, smollm2_vocab)
    value = {"v": 0}
    for i in range(1, 51):
        value = {"v": i, "child": value}
    text = json.dumps(value)
    assert accepts(compiled, smollm2_vocab.encode(text))
    assert not accepts(compiled, smollm2_vocab.encode(text[:-1]))  # one brace short
    assert not accepts(compiled, smollm2_vocab.encode(text.replace('"v": 7', '"v": "7"')))


def _strict_object(children):
    """Objects for strict mode: no ``additionalProperties``, and maybe a required name that
    ``properties`` does not declare."""
    return st.builds(
        lambda props, req, extra: {
            "type": "object",
            "properties": dict(props),
            "required": [k for k, _ in props][:req] + ([extra] if extra else []),
        },
        st.lists(st.tuples(names, children), max_size=3, unique_by=lambda kv: kv[0]),
        st.integers(0, 3),
        st.sampled_from([None, "extra", "id"]),
    )


strict_schemas = st.recursive(scalars, lambda ch: st.one_of(_strict_object(ch), _array(ch)), max_leaves=6)


def _closed(schema, any_value):
    """The strict reading of ``schema``: objects closed, required-but-undeclared names declared
    (appended, the order strict mode generates them in) with ``any_value``."""
    if schema.get("type") == "array":
        return dict(schema, items=_closed(schema["items"], any_value))
    if schema.get("type") != "object":
        return schema
    props = {k: _closed(v, any_value) for k, v in schema["properties"].items()}
    for r in schema["required"]:
        props.setdefault(r, any_value)
    return dict(schema, properties=props, additionalProperties=False)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(strict_schemas, st.randoms(use_true_random=False))
def test_strict_mode_random_schemas(smollm2_vocab, schema, rnd):
    """strict=True accepts exactly the closed reading: valid instances in random spellings and
    tokenizations are accepted, an undeclared property is refused."""
    rng = random.Random(rnd.random())
    compiled = compile_json_schema(schema, smollm2_vocab, strict=True, max_whitespace=2)
    validator = jsonschema.Draft202012Validator(_closed(schema, True))
    concrete = _closed(schema, {"type": "integer", "minimum": 0, "maximum": 9})
    for _ in range(3):
        value = instance(concrete, rng)
        assert validator.is_valid(value), (schema, value)
        text = dumps_random_ws(value, rng)
        if set(text.encode()) & set(smollm2_vocab.missing_bytes):
            continue
        assert accepts(compiled, random_tokenization(smollm2_vocab, text.encode(), rng)), (schema, text)
        if isinstance(value, dict):
            bad = json.dumps({**value, "undeclared": 1})
            assert not validator.is_valid(json.loads(bad))
            assert not accepts(compiled, smollm2_vocab.encode(bad)), (schema, bad)
