"""``$dynamicRef`` whose target cannot depend on the dynamic scope (initial target not a
``$dynamicAnchor``, or the only schema declaring that name) is a ``$ref``; otherwise a clear
``UnsupportedSchemaError``.  Verdicts through the matcher (byte vocabulary) against
``jsonschema``, which implements dynamic scope."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from constrain import UnsupportedSchemaError, compile_json_schema
from tests.constrain.frontends.test_allof import accepts, byte_vocab  # noqa: F401  (fixture)

D = "https://json-schema.org/draft/2020-12/schema"
VALUES = [1, "a", None, True, [], ["a"], [1], ["a", 1], [["a"]], [[1]], {"v": 1, "kids": []},
          {"v": 1, "kids": [{"v": 2, "kids": []}]}, {"v": 1, "kids": [{"v": "x"}]}, {"true": 1}, {"false": 1}]

SCHEMAS = [
    # to a $dynamicAnchor declared once: the same target on every path
    {"$id": "https://t.test/a", "items": {"$dynamicRef": "#it"}, "$defs": {"s": {"$dynamicAnchor": "it", "type": "string"}}},
    # to a plain $anchor: a $ref
    {"$id": "https://t.test/b", "items": {"$dynamicRef": "#it"}, "$defs": {"s": {"$anchor": "it", "type": "integer"}}},
    # a JSON pointer fragment, to boolean schemas
    {"$defs": {"true": True, "false": False},
     "properties": {"true": {"$dynamicRef": "#/$defs/true"}, "false": {"$dynamicRef": "#/$defs/false"}}},
    # $ref to a $dynamicAnchor (it is an anchor too)
    {"$id": "https://t.test/c", "items": {"$ref": "#it"}, "$defs": {"s": {"$dynamicAnchor": "it", "type": "array"}}},
    # a recursive tree through its single dynamic anchor
    {"$id": "https://t.test/tree", "$dynamicAnchor": "node", "type": "object",
     "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$dynamicRef": "#node"}}}},
    # $dynamicRef beside $ref
    {"$id": "https://t.test/d", "$defs": {"s": {"$dynamicAnchor": "x", "type": "array"}, "n": {"maxItems": 1}},
     "$ref": "#/$defs/n", "$dynamicRef": "#x"},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_static_dynamic_refs_against_jsonschema(byte_vocab, schema):
    schema = {"$schema": D, **schema}
    before = copy.deepcopy(schema)
    c = compile_json_schema(schema, byte_vocab)
    assert schema == before  # the caller's schema is not rewritten
    valid = jsonschema.Draft202012Validator(schema).is_valid
    assert [(x, accepts(c, byte_vocab, json.dumps(x))) for x in VALUES] == [(x, valid(x)) for x in VALUES]
    assert any(valid(x) for x in VALUES) and not all(valid(x) for x in VALUES)


def test_scope_dependent_target_is_a_clear_error(byte_vocab):
    """Two resources below the root bind the name differently: the target depends on the path."""
    generic = {"$id": "generic", "type": "array", "items": {"$dynamicRef": "#items"},
               "$defs": {"default": {"$dynamicAnchor": "items"}}}
    schema = {"$schema": D, "$id": "https://t.test/two",
              "properties": {"a": {"$ref": "a"}, "b": {"$ref": "b"}},
              "$defs": {"a": {"$id": "a", "$ref": "generic", "$defs": {"i": {"$dynamicAnchor": "items", "type": "string"}}},
                        "b": {"$id": "b", "$ref": "generic", "$defs": {"i": {"$dynamicAnchor": "items", "type": "integer"}}},
                        "generic": generic}}
    v = jsonschema.Draft202012Validator(schema)
    assert v.is_valid({"a": ["x"], "b": [1]}) and not v.is_valid({"a": [1]}) and not v.is_valid({"b": ["x"]})
    with pytest.raises(UnsupportedSchemaError, match=r"\$dynamicAnchor 'items'"):
        compile_json_schema(schema, byte_vocab)


ROOT_BOUND = [
    # the root resource declares the name: it binds it on every path (the outermost scope)
    {"$id": "https://t.test/root", "$ref": "list",
     "$defs": {"foo": {"$dynamicAnchor": "items", "type": "string"},
               "list": {"$id": "list", "type": "array", "items": {"$dynamicRef": "#items"},
                        "$defs": {"items": {"$dynamicAnchor": "items"}}}}},
    # the same through an intermediate resource without the name
    {"$id": "https://t.test/root2", "$ref": "mid",
     "$defs": {"foo": {"$dynamicAnchor": "items", "type": "integer"},
               "mid": {"$id": "mid", "$ref": "list"},
               "list": {"$id": "list", "type": "array", "items": {"$dynamicRef": "#items"},
                        "$defs": {"items": {"$dynamicAnchor": "items", "type": "string"}}}}},
    # a recursive tree whose root narrows the node through the dynamic anchor
    {"$id": "https://t.test/strict", "$dynamicAnchor": "node", "$ref": "tree", "unevaluatedProperties": False,
     "$defs": {"tree": {"$id": "tree", "$dynamicAnchor": "node", "type": "object",
                        "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$dynamicRef": "#node"}}}}}},
]


@pytest.mark.parametrize("schema", ROOT_BOUND)
def test_root_binds_dynamic_anchor(byte_vocab, schema):
    schema = {"$schema": D, **schema}
    c = compile_json_schema(schema, byte_vocab)
    valid = jsonschema.Draft202012Validator(schema).is_valid
    values = VALUES + [{"v": 1, "kids": [{"v": 2, "kids": [], "x": 1}]}, {"v": 1, "x": 2}]
    assert [(x, accepts(c, byte_vocab, json.dumps(x))) for x in values] == [(x, valid(x)) for x in values]
    assert any(valid(x) for x in values) and not all(valid(x) for x in values)
