"""The complement of discriminated ``anyOf``/``oneOf`` object branches, against ``jsonschema``.

"No branch holds" is lowered as a sum over the discriminator's values (lacks it, has another
value, or has branch ``x``'s value and fails branch ``x``) instead of the product of the
branches' complements. These cases compile schemas whose complements take that path (``not``,
an overlapping ``oneOf`` around a property whose items are a discriminated ``oneOf``, as in
real coverage schemas) and walk every object over a small domain of keys and values through
the matcher: accepted exactly when ``jsonschema`` says valid.
"""

from __future__ import annotations

import itertools
import json

import pytest

from constrain import compile_json_schema
from constrain.frontends.json_schema.lexemes import JsonLexemes
from constrain.frontends.json_schema.lower import SchemaLowering

from oracles import check_against_jsonschema as check

CAT = {"type": "object", "required": ["kind", "a"],
       "properties": {"kind": {"const": "cat"}, "a": {"type": "integer"}}}
DOG = {"type": "object", "required": ["kind"],
       "properties": {"kind": {"enum": ["dog", "fox"]}, "b": {"type": "boolean"}}, "additionalProperties": False}
EMU = {"type": "object", "required": ["kind", "b"], "properties": {"kind": {"const": 1}, "b": {"const": True}},
       "maxProperties": 2}
UNTYPED = [{k: v for k, v in br.items() if k != "type"} for br in (CAT, DOG, EMU)]


def _objects():
    """Every object over keys kind / a / b with a few values each (absent included), in two key orders."""
    kinds = [None, "cat", "dog", "fox", "emu", 1, None]
    out = []
    for kind, a, b in itertools.product(range(len(kinds)), [None, 1, "x", 2.5], [None, True, False, [1]]):
        o = {}
        if kind < len(kinds) - 1:
            o["kind"] = kinds[kind]
        if a is not None:
            o["a"] = a
        if b is not None:
            o["b"] = b
        out.append(o)
        if len(o) > 1:
            out.append(dict(reversed(list(o.items()))))
    return out


OTHERS = [None, True, 0, 3, "cat", "", [], [{"kind": "cat", "a": 1}], {"c": 1}, {"kind": "cat", "a": 1, "c": None}]


def _item(branches, kind="oneOf", typed=True):
    return dict({"type": "object"} if typed else {}, **{kind: branches})


CASES = {
    # typed branches under `not`: the complement covers non-objects with one piece of its own
    "not-oneOf-typed": {"not": {"oneOf": [CAT, DOG, EMU]}},
    "not-anyOf-typed": {"not": {"anyOf": [CAT, DOG]}},
    # untyped branches in an object-typed schema: only objects need the split
    "not-object-oneOf-untyped": {"not": _item(UNTYPED)},
    # untyped branches, the type outside the `not`: every non-object satisfies them all, so
    # the complement is the product of complements (as before)
    "object-not-oneOf-untyped": {"type": "object", "not": _item(UNTYPED, typed=False)},
    # branches through $ref, the discriminator's values in a $ref'd enum
    "not-oneOf-refs": {"$defs": {"cat": CAT, "kinds": {"enum": ["dog", "fox"]},
                                 "dog": {"type": "object", "required": ["kind"], "properties": {"kind": {"$ref": "#/$defs/kinds"}}}},
                       "not": {"oneOf": [{"$ref": "#/$defs/cat"}, {"$ref": "#/$defs/dog"}]}},
    # values shared by two branches: no discriminator, the product of complements (as before)
    "not-anyOf-shared-value": {"not": {"anyOf": [CAT, dict(DOG, properties=dict(DOG["properties"], kind={"enum": ["cat", "dog"]}))]}},
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_complement_matches_jsonschema(name, smollm2_vocab):
    n_valid = check(CASES[name], smollm2_vocab, _objects() + OTHERS)
    assert n_valid > 5  # the domain reaches both sides


def test_overlapping_one_of_around_a_discriminated_item_list(smollm2_vocab, tekken_vocab):
    """The coverage-schema shape: an outer ``oneOf`` whose branches overlap (extra properties
    allowed), so each branch is conjoined with the other's complement, which reaches into a
    property's items, themselves a discriminated ``oneOf``."""
    item = _item(UNTYPED)
    schema = {"type": "object", "oneOf": [
        {"required": ["g"], "properties": {"g": {"type": "array", "items": item}}},
        {"required": ["d"], "properties": {"d": {"type": "integer"}}}]}
    objs = [o for o in _objects() if len(json.dumps(o)) < 40][::3]
    instances = [{"g": [o]} for o in objs] + [{"d": 1, "g": [o]} for o in objs] + \
                [{"g": [o], "d": "x"} for o in objs[:20]] + [{"d": 1}, {"g": []}, {"g": [], "d": 1}, {"g": 1, "d": 1}]
    for vocab in (smollm2_vocab, tekken_vocab):
        n_valid = check(schema, vocab, instances)
        assert 10 < n_valid < len(instances) - 10


def _complement(schema):
    low = SchemaLowering(schema, strict=False, lenient=False, lexemes=JsonLexemes("flexible", None))
    return low.complement(schema, "#")


def test_no_branch_holds_is_a_sum_not_a_product():
    """Six discriminated branches of four properties each: a handful of pieces per branch,
    not one per way every branch can fail (5^6 = 15,625 before the split)."""
    branches = [{"required": ["kind", "p", "q", "r"],
                 "properties": {"kind": {"const": f"k{i}"}, "p": {"type": "integer"}, "q": {"type": "string"},
                                "r": {"type": "boolean"}}} for i in range(6)]
    c = _complement({"type": "object", "oneOf": branches})
    pieces = c["anyOf"]
    assert len(pieces) == 1 + 2 + 6, pieces  # not an object; lacks kind; another kind; kind x and fails x
    # the pieces for branch x carry x's discriminator value and x's own complement, nothing of the others
    tagged = [p["allOf"] for p in pieces if "allOf" in p]
    assert [t[0]["properties"]["kind"]["enum"] for t in tagged] == [[f"k{i}"] for i in range(6)]
    # the same branches without a discriminator: the complements are conjoined (the product)
    same = [dict(b, properties=dict(b["properties"], kind={"type": "string"})) for b in branches]
    c2 = _complement({"type": "object", "oneOf": same})
    assert any("allOf" in p and len(p["allOf"]) == 6 for p in c2["anyOf"])


@pytest.mark.parametrize("seed", range(4))
def test_random_discriminated_branches(seed, smollm2_vocab):
    """Random branches (extra constraints on other keys, open or closed objects, shared or
    distinct values) complemented through ``not`` and an overlapping ``oneOf``."""
    import random

    rng = random.Random(seed)
    pool = ["cat", "dog", "fox", 1, "emu"]
    for _ in range(3):
        n = rng.randint(2, 3)
        vals = rng.sample(pool, n + 1)
        branches = []
        for i in range(n):
            props = {"kind": {"enum": [vals[i]] + ([vals[n]] if i == 0 and rng.random() < 0.3 else [])}}
            req = ["kind"]
            for key in ("a", "b"):
                if rng.random() < 0.6:
                    props[key] = rng.choice([{"type": "integer"}, {"type": "string"}, {"const": True}, {"type": "array"}])
                    if rng.random() < 0.5:
                        req.append(key)
            br = {"required": req, "properties": props}
            if rng.random() < 0.3:
                br["additionalProperties"] = False
            if rng.random() < 0.5:
                br["type"] = "object"
            branches.append(br)
        kind = rng.choice(["oneOf", "anyOf"])
        schema = rng.choice([{"not": {kind: branches}}, {"type": "object", "not": {kind: branches}},
                             {"not": {"type": "object", kind: branches}}])
        check(schema, smollm2_vocab, _objects() + OTHERS)


# ---------------------------------------------------------------- discriminators that merges reveal

# the reward-webhook shape: the discriminator's values come from the parent's enum and the
# branch's const (merged: one list each), and the branches sit under `dependencies` on it
# without requiring it (inside the dependency its presence is known)
REWARD = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
          "properties": {"kind": {"type": "string", "enum": ["cat", "dog", "fox"]}, "a": {"type": ["integer", "string"]}},
          "required": ["a"],
          "dependencies": {"kind": {"oneOf": [
              {"properties": {"kind": {"enum": ["cat"]}, "a": {"type": "integer"}, "b": {"type": "boolean"}}},
              {"properties": {"kind": {"const": "dog"}, "a": {"type": "string"}}},
              {"properties": {"kind": {"enum": ["fox", "emu"]}, "b": {"type": "array"}}}]}}}


def _complements_made(schema) -> list[str]:
    from constrain.frontends.json_schema.applicators import ApplicatorsMixin
    from constrain.frontends.json_schema.lower import schema_to_grammar

    made, orig = [], ApplicatorsMixin._one_of_by_complements

    def spy(self, branches, normed, ptr):
        made.append(ptr)
        return orig(self, branches, normed, ptr)

    ApplicatorsMixin._one_of_by_complements = spy
    try:
        schema_to_grammar(schema)
    finally:
        ApplicatorsMixin._one_of_by_complements = orig
    return made


def test_dependent_one_of_is_discriminated_by_the_dependency_key(smollm2_vocab):
    """Exact, and no branch conjoined with the others' complements."""
    n_valid = check(REWARD, smollm2_vocab, _objects() + OTHERS)
    assert n_valid > 10
    assert _complements_made(REWARD) == []
    # where the key is not the dependency's, its absence leaves the branches overlapping
    other = dict(REWARD, dependencies={"a": REWARD["dependencies"]["kind"]})
    assert _complements_made(other) != []
    check(other, smollm2_vocab, _objects() + OTHERS)


MERGED_VALUES = {
    "enum-and-enum": {"allOf": [{"enum": [1, "a", 2.0, None]}, {"enum": [2, "a", True, [1]]}]},
    "const-and-const": {"allOf": [{"const": 1}, {"const": 1.0}]},
    "enum-and-const": {"allOf": [{"enum": ["a", "b", 3]}, {"const": 3.0}]},
    "enum-property-and-const": {"type": "object", "properties": {"kind": {"enum": ["cat", "dog"]}},
                                "allOf": [{"properties": {"kind": {"const": "dog"}}}]},
    "true-is-not-one": {"allOf": [{"enum": [1, True, "x"]}, {"enum": [True, 0]}]},
}


@pytest.mark.parametrize("name", sorted(MERGED_VALUES))
def test_merged_value_lists_are_intersected(name, smollm2_vocab):
    check(MERGED_VALUES[name], smollm2_vocab, _objects() + OTHERS + [1, 1.0, 2, 2.0, 3, "a", "b", "x", False, [1]])


def test_disjoint_value_lists_merge_to_nothing(smollm2_vocab):
    from constrain import EmptyLanguageError

    with pytest.raises(EmptyLanguageError):
        compile_json_schema({"allOf": [{"const": 1}, {"enum": [2, "1", True]}]}, smollm2_vocab)


# ---------------------------------------------------------------- if/then chains on one property

def _ite(value, then, els=None, *, typed=False, requires=False, key="kind"):
    cond = {"properties": {key: {"const": value} if not isinstance(value, list) else {"enum": value}}}
    if typed:
        cond["type"] = "object"
    if requires:
        cond["required"] = [key]
    out = {"if": cond, "then": then}
    if els is not None:
        out["else"] = els
    return out


SWITCHES = {
    # the rule-types shape: the object requires the key, each `if` tests one value
    "required-key": {"type": "object", "required": ["kind"], "allOf": [
        _ite("cat", {"required": ["a"]}, typed=True), _ite("dog", {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}),
        _ite(["fox", 1], {"properties": {"a": {"type": "string"}}}, {"properties": {"a": {"type": "integer"}}})]},
    # the key optional: where it is absent every `if` holds, so every `then` applies
    "optional-key": {"type": "object", "allOf": [
        _ite("cat", {"properties": {"a": {"type": "integer"}}}), _ite("dog", {"not": {"required": ["b"]}}),
        _ite("emu", {"properties": {"b": {"const": True}}}, {"maxProperties": 2})]},
    # `if`s requiring the key: where it is absent no `if` holds, every `else` applies
    "ifs-require-key": {"type": "object", "allOf": [
        _ite("cat", {"required": ["a"]}, {"not": {"required": ["a"]}}, requires=True),
        _ite("dog", {"required": ["b"]}, {"properties": {"b": {"const": [1]}}}, requires=True)]},
    # the schema's own if/then/else joins the allOf ones
    "own-and-allOf": {"type": "object", "if": {"properties": {"kind": {"enum": ["cat", "dog"]}}}, "then": {"required": ["a"]},
                      "else": {"required": ["b"]}, "allOf": [_ite("fox", {"properties": {"a": {"const": "x"}}}),
                                                              _ite(1, {"maxProperties": 1})]},
    # values that overlap (dog twice), and requires mixed: left to the product, still exact
    "overlapping-values": {"type": "object", "allOf": [
        _ite(["cat", "dog"], {"required": ["a"]}), _ite("dog", {"required": ["b"]}), _ite("emu", {"maxProperties": 1})]},
    "mixed-requires": {"type": "object", "allOf": [
        _ite("cat", {"required": ["a"]}, requires=True), _ite("dog", {"required": ["b"]})]},
    # the tested property's schema filters the listed values (`type` beside `enum`)
    "filtered-values": {"type": "object", "allOf": [
        {"if": {"properties": {"kind": {"type": "string", "enum": ["cat", 1]}}}, "then": {"required": ["a"]},
         "else": {"not": {"required": ["a"]}}},
        _ite("dog", {"required": ["b"]})]},
}


@pytest.mark.parametrize("name", sorted(SWITCHES))
def test_if_then_switch_matches_jsonschema(name, smollm2_vocab):
    n_valid = check(SWITCHES[name], smollm2_vocab, _objects() + OTHERS)
    assert n_valid > 5


def _switches_made(schema) -> list:
    from constrain.frontends.json_schema.applicators import ApplicatorsMixin
    from constrain.frontends.json_schema.lower import schema_to_grammar

    made, orig = [], ApplicatorsMixin._switch_on_discriminators

    def spy(self, triples, s, ptr):
        out = orig(self, triples, s, ptr)
        made.append((len(out[0]), len(out[1])))
        return out

    ApplicatorsMixin._switch_on_discriminators = spy
    try:
        schema_to_grammar(schema)
    finally:
        ApplicatorsMixin._switch_on_discriminators = orig
    return made


def test_if_then_switch_is_taken_where_it_applies():
    assert _switches_made(SWITCHES["required-key"]) == [(1, 0)]
    assert _switches_made(SWITCHES["own-and-allOf"]) == [(1, 0)]
    assert _switches_made(SWITCHES["overlapping-values"]) == [(0, 3)]
    assert _switches_made(SWITCHES["mixed-requires"]) == [(0, 2)]


def test_long_if_then_chain_compiles(smollm2_vocab):
    """Twelve rule types keyed by ``name`` (2^12 ways the ``if``s could hold): a switch of 13
    branches, each instance still judged exactly."""
    names = [f"r{i}" for i in range(12)]
    schema = {"type": "object", "required": ["name"],
              "properties": {"name": {"enum": names}, "x": {}, "y": {}},
              "allOf": [_ite(n, {"properties": {"x": {"type": "integer" if i % 2 else "string"}},
                                 **({"required": ["y"]} if i % 3 == 0 else {})}, key="name")
                        for i, n in enumerate(names)]}
    inst = [{"name": n, "x": x, **y} for n in names[:6] + ["zz"] for x in (1, "s") for y in ({}, {"y": 0})] + [{"x": 1}]
    assert check(schema, smollm2_vocab, inst) > 5
