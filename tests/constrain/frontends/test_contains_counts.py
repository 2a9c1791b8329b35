"""``minContains`` / ``maxContains`` count their own schema's ``contains`` only.

A wrong accept found by differential fuzzing against ``jsonschema`` (session 19): merging two
schemas (``allOf`` parts, ``$ref`` siblings, a ``oneOf`` branch and its parent's siblings)
merged their counts as plain bounds, so a count could land on the other side's ``contains``:
``[null, true]`` was accepted under ``allOf: [{contains: {type: boolean}}, {contains: true,
maxContains: 1}]``. Counts without a ``contains`` beside them are ignored (the spec), and
counts beside two different ``contains`` are refused, not counted against the wrong one.
"""

from __future__ import annotations

import itertools

import pytest

from constrain import UnsupportedSchemaError, compile_json_schema

from oracles import check_against_jsonschema

VALUES = [None, True, 1, "x", 0]
ARRAYS = [list(a) for n in range(4) for a in itertools.product(VALUES, repeat=n)] + [{}, 1]

EXACT = [
    {"allOf": [{"contains": True}, {"minContains": 2}]},
    {"allOf": [{"contains": {"type": "integer"}}, {"maxContains": 1}]},
    {"oneOf": [{"maxContains": 1}], "contains": True},
    {"$defs": {"c": {"contains": {"const": 1}}}, "$ref": "#/$defs/c", "minContains": 2},
    {"allOf": [{"contains": {"type": "integer"}, "minContains": 2}, {"contains": {"type": "integer"}, "maxContains": 2}]},
    {"allOf": [{"contains": {"type": "integer"}, "minContains": 2}, {"minItems": 3}]},
    {"allOf": [{"contains": {"type": "boolean"}}, {"contains": {"const": 1}}]},
    {"allOf": [{"contains": {"type": "boolean"}}, {"contains": {"const": 1}, "minContains": 1}]},
]

REFUSED = [
    {"allOf": [{"contains": {"type": "boolean"}}, {"contains": True, "maxContains": 1}]},
    {"allOf": [{"contains": True}, {"contains": {"const": 1}, "minContains": 2}]},
    {"contains": {"type": "null"}, "allOf": [{"contains": {"const": 1}, "maxContains": 1}]},
]


@pytest.mark.parametrize("schema", EXACT, ids=range(len(EXACT)))
def test_counts_follow_their_own_contains(schema, smollm2_vocab):
    check_against_jsonschema(schema, smollm2_vocab, ARRAYS)


@pytest.mark.parametrize("schema", REFUSED, ids=range(len(REFUSED)))
def test_counts_beside_two_different_contains_are_refused(schema, smollm2_vocab):
    with pytest.raises(UnsupportedSchemaError, match="Contains"):
        compile_json_schema(schema, smollm2_vocab)


@pytest.mark.parametrize("schema, keyword, count", [
    ({"type": "array", "items": {"type": "object"}, "minItems": 1, "maxItems": 10000}, "maxItems", 10000),
    ({"type": "array", "minItems": 5000}, "minItems", 5000),
])
def test_item_counts_past_the_limit_name_the_bound(schema, keyword, count, smollm2_vocab):
    """The refusal names the keyword and the count it asked for (it once said "bound 1 too
    large" for ``maxItems: 10000`` beside ``minItems: 1``)."""
    with pytest.raises(UnsupportedSchemaError) as ei:
        compile_json_schema(schema, smollm2_vocab)
    assert ei.value.keyword == keyword and ei.value.pointer == "#"
    assert f"counting {count} items" in str(ei.value)
