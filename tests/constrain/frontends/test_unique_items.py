"""``uniqueItems`` where every position's values come from a finite set (enum/const, boolean,
null; ``prefixItems`` each with its own domain, then the rest item's or none): the automaton
tracks (items so far, values used).  Every verdict is checked against ``jsonschema`` over
all arrays of up to 4 items from a small value pool; elsewhere a clear
``UnsupportedSchemaError`` naming ``uniqueItems`` and the pointer.
"""

from __future__ import annotations

import itertools

import pytest

from constrain import UnsupportedSchemaError, compile_json_schema
from tests.constrain.frontends.test_allof import byte_vocab, disagreements  # noqa: F401  (fixture)

POOL = [True, False, None, 1, "a", "b"]
ARRAYS = [list(t) for n in range(5) for t in itertools.product(POOL, repeat=n)]

SCHEMAS = [
    {"prefixItems": [{"type": "boolean"}, {"type": "boolean"}], "items": False},
    {"prefixItems": [{"type": "boolean"}, {"type": "boolean"}], "items": {"type": "null"}},
    {"prefixItems": [{"enum": [1, "a"]}, {"const": 1}], "items": {"enum": ["a", "b", None]}, "minItems": 2},
    {"prefixItems": [{"type": ["boolean", "null"]}], "items": {"enum": [True, "a"]}, "maxItems": 3},
    {"items": {"enum": [1, "a", "b", True]}, "minItems": 2, "maxItems": 3},
    {"prefixItems": [{"const": "a"}, {"enum": ["a", "b"]}], "items": False, "minItems": 1},
    {"type": "array", "prefixItems": [{"type": "boolean"}], "items": {"type": "boolean"}},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_unique_items_over_finite_domains(byte_vocab, schema):
    assert disagreements(dict(schema, uniqueItems=True), byte_vocab, ARRAYS) == []


@pytest.mark.parametrize("schema,where", [
    ({"uniqueItems": True}, "#"),
    ({"prefixItems": [{"type": "boolean"}, {"type": "boolean"}], "uniqueItems": True}, "#"),
    ({"properties": {"t": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}}}, "#/properties/t"),
    ({"prefixItems": [{"type": "integer"}, {"type": "integer"}], "items": False, "uniqueItems": True}, "#"),
])
def test_infinite_domains_are_a_clear_error(byte_vocab, schema, where):
    with pytest.raises(UnsupportedSchemaError) as e:
        compile_json_schema(schema, byte_vocab)
    assert e.value.keyword == "uniqueItems" and repr(where) in str(e.value), str(e.value)


def test_at_most_one_item_is_always_unique(byte_vocab):
    schema = {"prefixItems": [{"type": "integer"}], "items": False, "uniqueItems": True}
    assert disagreements(schema, byte_vocab, ARRAYS + [[5], [1, 1]]) == []
