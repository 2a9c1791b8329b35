"""Overlapping ``patternProperties``: a key matching several patterns must satisfy all their
schemas (the key languages are split into the sets of patterns each key matches, by
intersection and difference of automata).  Checked against ``jsonschema`` through the
matcher over every small object of keys that hit each region, on a byte-level vocabulary.
"""

from __future__ import annotations

import itertools

import pytest

from constrain import UnsupportedSchemaError, compile_json_schema
from tests.constrain.frontends.test_allof import byte_vocab, disagreements  # noqa: F401  (fixture)

KEYS = ["a", "aa", "aaa", "b", "ab", "ba", "x1", "12", "a12", ""]
VALUES = [1, 30, "s", True]
OBJECTS = ([{}] + [{k: v} for k in KEYS for v in VALUES]
           + [{a: va, b: vb} for a, b in itertools.combinations(KEYS, 2) for va, vb in ((1, "s"), (30, True))])

PATTERNS = [
    {"a*": {"type": "integer"}, "aaa*": {"maximum": 20}},
    {"a": {"type": "integer"}, "b": {"minimum": 10}},
    {"^a": {"type": "integer"}, "a$": {"maximum": 20}, "[0-9]": {"type": ["integer", "string"]}},
    {"a": True, "b": False},
    {"[0-9]{2,}": {"type": "boolean"}, "1": {"type": "boolean"}, "^x": {"const": 1}},
]


@pytest.mark.parametrize("pp", PATTERNS)
@pytest.mark.parametrize("rest", [{}, {"additionalProperties": False}, {"additionalProperties": {"type": "string"}},
                                  {"properties": {"aa": {"minimum": 5}, "b": True}, "additionalProperties": False},
                                  {"required": ["ab"], "maxProperties": 2}])
def test_overlapping_patterns_are_exact(byte_vocab, pp, rest):
    schema = dict(rest, patternProperties=pp)
    assert disagreements(schema, byte_vocab, OBJECTS) == []


def test_too_many_regions_is_a_clear_error(byte_vocab):
    pats = {c: {"type": "integer"} for c in "abcdef"}  # every subset of 6 letters: 63 regions
    with pytest.raises(UnsupportedSchemaError) as e:
        compile_json_schema({"patternProperties": pats}, byte_vocab)
    assert e.value.keyword == "patternProperties" and "#/patternProperties" in str(e.value)
