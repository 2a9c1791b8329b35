"""Complements of tuples (``prefixItems``, draft-7 ``items: [...]``): ``not``, the ``else`` of an
``if`` and overlapping ``oneOf`` branches over them were refused ("the negation ... is not
computable"). A tuple fails where some item it reaches fails its schema (``minItems: i + 1``
and ``prefixItems: [true] * i + [not S_i]``) or, closed (``items: false``), where there are more
items; every verdict here is checked against ``jsonschema`` on every array of up to three
items over three values.
"""

from __future__ import annotations

import itertools

import pytest

from constrain import UnsupportedSchemaError, compile_json_schema
from oracles import check_against_jsonschema

INT, STR = {"type": "integer"}, {"type": "string"}
ARRAYS = [[]] + [list(p) for n in (1, 2, 3) for p in itertools.product([0, "s", None], repeat=n)]
INSTANCES = ARRAYS + [0, "s", {}, {"a": 1}, None]

SCHEMAS = [
    {"not": {"prefixItems": [INT]}},
    {"not": {"prefixItems": [INT, STR]}},
    {"not": {"prefixItems": [INT, STR], "items": False}},
    {"not": {"type": "array", "prefixItems": [INT], "minItems": 2}},
    {"not": {"prefixItems": [True, {"not": STR}], "items": True}},
    {"$schema": "http://json-schema.org/draft-07/schema#", "not": {"items": [INT, STR], "additionalItems": False}},
    {"if": {"prefixItems": [INT]}, "then": {"maxItems": 1}, "else": {"minItems": 2}},
    {"oneOf": [{"prefixItems": [INT]}, {"prefixItems": [True, STR]}]},
    {"oneOf": [{"prefixItems": [INT], "items": False}, {"items": INT}]},
    {"not": {"prefixItems": [{"prefixItems": [INT]}]}},
]


@pytest.mark.parametrize("schema", SCHEMAS, ids=range(len(SCHEMAS)))
def test_tuple_complements(schema, smollm2_vocab):
    check_against_jsonschema(schema, smollm2_vocab, INSTANCES)


def test_tuple_with_a_rest_schema_is_refused(smollm2_vocab):
    """"Some item after the tuple fails R" has no keyword: a clear error, not a guess."""
    with pytest.raises(UnsupportedSchemaError) as e:
        compile_json_schema({"not": {"prefixItems": [INT], "items": STR}}, smollm2_vocab)
    assert e.value.keyword == "not" and e.value.pointer == "#/not"
