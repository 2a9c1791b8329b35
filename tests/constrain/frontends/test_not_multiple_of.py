"""``not`` of an integer ``multipleOf`` accepts whole numbers spelled with a zero fraction.

A wrong reject found by differential fuzzing against ``jsonschema`` (session 19):
``{"not": {"multipleOf": 2}}`` rejected ``1.0`` (an odd integer to JSON Schema) while
``{"multipleOf": 2}`` accepts ``2.0``: the negated remainder automaton read digits only.
"""

from __future__ import annotations

import json

import pytest

from oracles import check_against_jsonschema


NUMBERS = [0, 1, 2, 3, -1, -4, 0.0, 1.0, 2.0, 3.0, -1.0, -2.0, 1.5, 2.5, -0.5, 10, 11.0, 100.0, 101.0]
NOT_MULTIPLE = [
    {"not": {"multipleOf": 2}},
    {"not": {"multipleOf": 3}, "type": "integer"},
    {"not": {"multipleOf": 2}, "type": "number", "minimum": -2},
    {"properties": {"a": {"not": {"multipleOf": 2}}}, "required": ["a"]},
    {"not": {"properties": {"a": {"multipleOf": 2}}}},
]


@pytest.mark.parametrize("schema", NOT_MULTIPLE, ids=range(len(NOT_MULTIPLE)))
def test_not_multiple_of_takes_whole_numbers_with_a_zero_fraction(schema, smollm2_vocab):
    instances = NUMBERS if "properties" not in json.dumps(schema) else [{"a": v} for v in NUMBERS] + [{}]
    assert check_against_jsonschema(schema, smollm2_vocab, instances)
