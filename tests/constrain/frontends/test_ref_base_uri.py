"""``$ref`` resolved against the base URI of the schema object holding it (RFC 3986 joins of
the enclosing ``$id``s): embedded resources with their own ``$defs``, URN bases, the same
anchor or pointer in two resources.  Verdicts through the matcher (byte vocabulary) against
``jsonschema``, which resolves the same references with ``referencing``."""

from __future__ import annotations

import json

import jsonschema
import pytest

from constrain import compile_json_schema
from constrain.frontends.json_schema.refs import join_uri
from tests.constrain.frontends.test_allof import accepts, byte_vocab  # noqa: F401  (fixture)

VALUES = [1, "s", None, {"bar": "a"}, {"bar": 1}, {"foo": {"bar": "a"}}, {"foo": {"bar": 1}}, {"a": "x", "b": 2},
          {"a": 2}, {"b": "x"}, {"foo": 35}, {"foo": 12}, {"foo": "x"}, {"x": {"y": 1}}, {"x": {"y": "q"}},
          {"x": {}}]

SCHEMAS = [
    # refs with relative URIs and defs (Test Suite ref.json)
    {"$id": "http://example.com/schema-relative-uri-defs1.json",
     "properties": {"foo": {"$id": "schema-relative-uri-defs2.json",
                            "$defs": {"inner": {"properties": {"bar": {"type": "string"}}}},
                            "$ref": "#/$defs/inner"}},
     "$ref": "schema-relative-uri-defs2.json"},
    # a URN base with a JSON pointer, with an anchor, and a nested resource's pointer
    {"$id": "urn:uuid:deadbeef-1234-00ff-ff00-4321feebdaed", "properties": {"foo": {"$ref": "#/$defs/bar"}},
     "$defs": {"bar": {"type": "string"}}},
    {"$id": "urn:uuid:deadbeef-1234-ff00-00ff-4321feebdaed",
     "properties": {"foo": {"$ref": "urn:uuid:deadbeef-1234-ff00-00ff-4321feebdaed#something"}},
     "$defs": {"bar": {"$anchor": "something", "type": "string"}}},
    {"$ref": "urn:uuid:deadbeef-4321-ffff-ffff-1234feebdaed",
     "$defs": {"foo": {"$id": "urn:uuid:deadbeef-4321-ffff-ffff-1234feebdaed", "$defs": {"bar": {"type": "string"}},
                       "$ref": "#/$defs/bar"}}},
    {"$id": "urn:uuid:deadbeef-1234-ffff-ffff-4321feebdaed", "minimum": 30,
     "properties": {"foo": {"$ref": "urn:uuid:deadbeef-1234-ffff-ffff-4321feebdaed"}}},
    # the same anchor, and the same pointer, in two resources
    {"$defs": {"A": {"$id": "http://x.test/a.json", "$anchor": "t", "type": "string"},
               "B": {"$id": "http://x.test/b.json", "$anchor": "t", "type": "integer"}},
     "properties": {"a": {"$ref": "http://x.test/a.json#t"}, "b": {"$ref": "http://x.test/b.json#t"}}},
    {"$id": "http://x.test/root.json",
     "$defs": {"inner": {"type": "integer"},
               "r": {"$id": "sub/r.json", "$defs": {"inner": {"type": "string"}},
                     "properties": {"y": {"$ref": "#/$defs/inner"}}}},
     "properties": {"x": {"$ref": "sub/r.json"}, "a": {"$ref": "#/$defs/inner"}}},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_refs_against_jsonschema(byte_vocab, schema):
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    c = compile_json_schema(schema, byte_vocab)
    valid = jsonschema.Draft202012Validator(schema).is_valid
    bad = [(x, valid(x)) for x in VALUES if accepts(c, byte_vocab, json.dumps(x)) != valid(x)]
    assert bad == []
    assert any(valid(x) for x in VALUES) and not all(valid(x) for x in VALUES)


def test_join_uri():
    assert join_uri("http://e.com/a/b.json", "c.json") == "http://e.com/a/c.json"
    assert join_uri("http://e.com/a/b.json", "#/x") == "http://e.com/a/b.json#/x"
    assert join_uri("urn:uuid:1", "#/x") == "urn:uuid:1#/x"
    assert join_uri("urn:uuid:1", "urn:uuid:2#a") == "urn:uuid:2#a"
    assert join_uri("", "#/x") == "#/x"


# ---------------------------------------------------------------- other documents: resources=

REMOTES = {
    "http://r.test/integer.json": {"type": "integer"},
    "http://r.test/folder/defs.json": {"$defs": {"s": {"type": "string"}, "i": {"$ref": "../integer.json"}},
                                       "$anchor": "top", "minProperties": 1},
    "http://r.test/other.json": {"$id": "http://r.test/real-id.json", "$defs": {"n": {"type": "null"}}},
    "http://r.test/dyn.json": {"$dynamicAnchor": "x", "items": {"$dynamicRef": "#x"},
                               "$defs": {"o": {"$id": "o.json", "$dynamicAnchor": "x"}}},
    "http://r.test/old.json": {"$schema": "http://json-schema.org/draft-04/schema#", "type": "string"},
}
REMOTE_SCHEMAS = [
    {"$ref": "http://r.test/integer.json"},
    {"$id": "http://r.test/root.json", "properties": {"foo": {"$ref": "folder/defs.json#/$defs/s"},
                                                      "bar": {"$ref": "folder/defs.json#/$defs/i"}}},
    {"properties": {"x": {"$ref": "http://r.test/folder/defs.json#top"}}},
    {"anyOf": [{"$ref": "http://r.test/other.json#/$defs/n"}, {"$ref": "http://r.test/integer.json"}]},
]


def _registry():
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    return Registry().with_resources((uri, Resource.from_contents(doc, default_specification=DRAFT202012))
                                     for uri, doc in REMOTES.items())


@pytest.mark.parametrize("schema", REMOTE_SCHEMAS)
def test_resources_against_jsonschema(byte_vocab, schema):
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    c = compile_json_schema(schema, byte_vocab, resources=REMOTES)
    valid = jsonschema.Draft202012Validator(schema, registry=_registry()).is_valid
    bad = [(x, valid(x)) for x in VALUES if accepts(c, byte_vocab, json.dumps(x)) != valid(x)]
    assert bad == []
    assert any(valid(x) for x in VALUES) and not all(valid(x) for x in VALUES)


def test_resources_clear_errors(byte_vocab):
    from constrain import SchemaError, UnsupportedSchemaError

    with pytest.raises(UnsupportedSchemaError, match="remote reference"):
        compile_json_schema({"$ref": "http://r.test/integer.json"}, byte_vocab)  # not given: nothing fetched
    with pytest.raises(UnsupportedSchemaError, match=r"\$dynamicRef"):
        compile_json_schema({"$ref": "http://r.test/dyn.json"}, byte_vocab, resources=REMOTES)
    with pytest.raises(UnsupportedSchemaError, match="another draft"):
        compile_json_schema({"$ref": "http://r.test/old.json"}, byte_vocab, resources=REMOTES)
    with pytest.raises(SchemaError, match="resources"):
        compile_json_schema({"type": "integer"}, byte_vocab, resources=["http://r.test/integer.json"])
    # a document with dynamic references that no reference reaches is no obstacle
    c = compile_json_schema({"$ref": "http://r.test/integer.json"}, byte_vocab, resources=REMOTES)
    assert accepts(c, byte_vocab, "3") and not accepts(c, byte_vocab, '"a"')


def test_draft7_id_beside_ref_is_ignored(byte_vocab):
    """Drafts 4-7: ``$ref`` overrides its siblings, ``$id`` included, so the reference resolves
    against the parent's base (jsonschema agrees)."""
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "definitions": {"a": {"type": "integer"}},
              "properties": {"foo": {"$id": "http://x.test/other.json", "$ref": "#/definitions/a"}}}
    c = compile_json_schema(schema, byte_vocab)
    valid = jsonschema.Draft7Validator(schema).is_valid
    assert [accepts(c, byte_vocab, json.dumps(x)) for x in VALUES] == [valid(x) for x in VALUES]
