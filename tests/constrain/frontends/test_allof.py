"""allOf of object schemas: each part's ``additionalProperties`` sees only its OWN
``properties`` and ``patternProperties`` (JSON Schema 2020-12, 10.3.2.3).

Merging the parts into one object must give every property name the conjunction of each
part's own rule for it; where no single object can say that, the compile is refused with
``UnsupportedSchemaError`` (keyword and pointer), never an invalid instance accepted.  Every
verdict is checked against ``jsonschema`` through the matcher (full mask before each token,
EOS after the last), on a byte-level vocabulary so that nothing is downloaded.
"""

from __future__ import annotations

import itertools
import json

import jsonschema
import numpy as np
import pytest

from constrain import UnsupportedSchemaError, compile_json_schema
from constrain.tokens import Vocabulary


@pytest.fixture(scope="module")
def byte_vocab():
    return Vocabulary.from_token_bytes([bytes([i]) for i in range(256)] + [None], [256])


def accepts(compiled, vocab, text: str) -> bool:
    m = compiled.matcher()
    for t in vocab.encode(text):
        mask = m.mask().view(np.uint32)
        if not (mask[t >> 5] >> np.uint32(t & 31)) & 1 or not m.advance(t):
            return False
    eos = int(vocab.eos_ids[0])
    return bool((m.mask().view(np.uint32)[eos >> 5] >> np.uint32(eos & 31)) & 1)


def disagreements(schema, vocab, instances) -> list:
    """(instance, jsonschema's verdict) wherever the matcher decides otherwise.  Declared
    properties are matched in ``properties`` order (DESIGN.md), so an instance counts
    as accepted when some order of its members is."""
    compiled = compile_json_schema(schema, vocab)
    valid = jsonschema.Draft202012Validator(schema).is_valid

    def accepted(x) -> bool:
        orders = itertools.permutations(x.items()) if isinstance(x, dict) else [None]
        return any(accepts(compiled, vocab, json.dumps(x if o is None else dict(o))) for o in orders)

    return [(x, valid(x)) for x in instances if accepted(x) != valid(x)]


NAMES = ["foo", "fxx", "bar", "bxx", "x1", "zz"]
VALUES = [1, "s", "ab", True]
INSTANCES = ([{}] + [{k: v} for k in NAMES for v in VALUES]
             + [{a: va, b: vb} for a, b in itertools.combinations(NAMES, 2) for va, vb in (("ab", 1), (1, True))])


def test_peer_suite_wrong_accepts_are_rejected(byte_vocab):
    """The two invalid texts the peer suite caught (llguidance's test_json_pattern_properties)."""
    closed_then_pattern = {"allOf": [{"additionalProperties": False},
                                     {"patternProperties": {"^f": {"type": "integer"}}}]}
    c = compile_json_schema(closed_then_pattern, byte_vocab)
    assert not accepts(c, byte_vocab, '{"foo":42}')
    assert accepts(c, byte_vocab, "{}")
    declared_then_pattern = {"allOf": [{"properties": {"foo": {"type": "string"}}, "additionalProperties": False},
                                       {"patternProperties": {"^f": {"type": "string"}}}]}
    c = compile_json_schema(declared_then_pattern, byte_vocab)
    assert not accepts(c, byte_vocab, '{"fxx":"bar"}')
    assert accepts(c, byte_vocab, '{"foo":"bar"}')
    assert not accepts(c, byte_vocab, '{"foo":1}')


def test_declared_name_does_not_escape_other_parts_additional_properties(byte_vocab):
    s = {"allOf": [{"additionalProperties": {"type": "string"}}, {"properties": {"bar": {"type": "integer"}}}]}
    assert not disagreements(s, byte_vocab, INSTANCES)
    c = compile_json_schema(s, byte_vocab)
    assert not accepts(c, byte_vocab, '{"bar":1}')  # an integer, but part 0 wants a string
    assert accepts(c, byte_vocab, '{"bar":"ab"}') is False  # and part 1 an integer: nothing fits


def test_ref_with_sibling_pattern_properties(byte_vocab):
    """``$ref`` next to other keywords is the same conjunction (draft 2020-12)."""
    s = {"$defs": {"closed": {"properties": {"bar": {}}, "additionalProperties": False}},
         "$ref": "#/$defs/closed", "patternProperties": {"^f": {}}}
    assert not disagreements(s, byte_vocab, INSTANCES)


PARTS = [
    {"additionalProperties": False},
    {"properties": {"foo": {"type": "string"}}, "additionalProperties": False},
    {"patternProperties": {"^f": {"type": "integer"}}},
    {"patternProperties": {"^f": {"type": "string"}}},
    {"patternProperties": {"^b": {"type": "boolean"}}},
    {"properties": {"bar": {"type": "integer"}}},
    {"properties": {"foo": {"minLength": 2}}, "additionalProperties": {"type": "integer"}},
    {"additionalProperties": {"type": "string"}},
    {"properties": {"bar": {}}, "patternProperties": {"^x": {"type": "integer"}}, "additionalProperties": False},
    {"required": ["foo"], "patternProperties": {"^z": {"type": "integer"}}},
]


def test_pairs_of_object_parts_are_exact_or_refused(byte_vocab):
    """Every ordered pair of parts: the language is exactly jsonschema's, or the compile is
    refused naming ``additionalProperties`` at the allOf; refusals stay the exception."""
    refused = []
    for (i, a), (j, b) in itertools.product(enumerate(PARTS), repeat=2):
        schema = {"allOf": [a, b]}
        try:
            wrong = disagreements(schema, byte_vocab, INSTANCES)
        except UnsupportedSchemaError as e:
            assert (e.keyword, e.pointer) == ("additionalProperties", "#"), str(e)
            refused.append((i, j))
            continue
        assert not wrong, f"allOf {json.dumps(schema)}: (instance, jsonschema) wrongly decided: {wrong}"
    # only a closed-but-not-false part next to a pattern matching one of its declared names
    assert set(refused) <= {(6, 3), (3, 6), (6, 2), (2, 6)}, refused


def test_three_parts_and_nesting(byte_vocab):
    s = {"properties": {"inner": {"allOf": [{"additionalProperties": False},
                                            {"patternProperties": {"^f": {}}},
                                            {"properties": {"bar": {"type": "integer"}}}]}}}
    inner = [{"inner": x} for x in INSTANCES]
    assert not disagreements(s, byte_vocab, inner)


def test_refusal_names_keyword_and_pointer(byte_vocab):
    s = {"properties": {"o": {"allOf": [{"properties": {"foo": {}}, "additionalProperties": {"type": "integer"}},
                                        {"patternProperties": {"^f": {"type": "string"}}}]}}}
    with pytest.raises(UnsupportedSchemaError) as ei:
        compile_json_schema(s, byte_vocab)
    assert ei.value.keyword == "additionalProperties" and ei.value.pointer == "#/properties/o"
    assert "'foo'" in str(ei.value) and "#/properties/o" in str(ei.value)


# parts whose patterns overlap another part's that has additionalProperties: each part's
# additionalProperties travels as a PART_ADDL entry (ir.py), applied to the keys none of that
# part's own names and patterns match
PATTERN_PARTS = [
    {"patternProperties": {"^.{1,2}$": False}},
    {"patternProperties": {"o": True}, "additionalProperties": False},
    {"patternProperties": {"b": {"type": "integer"}}, "additionalProperties": False},
    {"patternProperties": {"^f": {"type": "string"}}, "additionalProperties": {"type": "integer"}},
    {"properties": {"zz": {}}, "patternProperties": {"x": {"minLength": 2}}, "additionalProperties": {"type": "string"}},
]
PATTERN_NAMES = ["foo", "fxx", "bar", "bo", "x1", "zz", "ob"]
PATTERN_INSTANCES = ([{}] + [{k: v} for k in PATTERN_NAMES for v in VALUES]
                     + [{a: va, b: vb} for a, b in itertools.combinations(PATTERN_NAMES, 2)
                        for va, vb in (("ab", 1), (1, True))])


@pytest.mark.parametrize("n", [2, 3])
def test_overlapping_patterns_across_closed_parts_are_exact(byte_vocab, n):
    """Ordered pairs and triples of parts whose patterns overlap: exactly jsonschema's
    language (before, every such combination was refused)."""
    for parts in itertools.permutations(PATTERN_PARTS, n):
        schema = {"type": "object", "allOf": list(parts)}
        wrong = disagreements(schema, byte_vocab, PATTERN_INSTANCES)
        assert not wrong, f"allOf {json.dumps(schema)}: (instance, jsonschema) wrongly decided: {wrong}"


def test_part_additional_properties_under_other_keywords(byte_vocab):
    """Such an allOf beside unevaluatedProperties, in an anyOf, with an enum: exact; under
    ``not`` (its complement is not computed) a clear refusal."""
    for a, b in itertools.permutations(PATTERN_PARTS[1:4], 2):
        al = {"allOf": [a, b]}
        for schema in ({"allOf": [al], "unevaluatedProperties": {"type": "integer"}},
                       {"anyOf": [al, {"type": "string"}]},
                       dict(al, enum=[{"foo": "s"}, {"bo": 1}, {"bar": True}, {"zz": 1, "x1": "ab"}])):
            wrong = disagreements(schema, byte_vocab, PATTERN_INSTANCES)
            assert not wrong, f"{json.dumps(schema)}: (instance, jsonschema) wrongly decided: {wrong}"
        with pytest.raises(UnsupportedSchemaError):
            compile_json_schema({"not": al}, byte_vocab)
