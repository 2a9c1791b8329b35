"""Keywords the declared draft does not define are ignored, as that draft's validator ignores
them (``constrain.frontends.json_schema.dialects``).  Verdicts through the matcher (byte
vocabulary) against ``jsonschema`` with the validator class the schema declares."""

from __future__ import annotations

import json
import warnings

import jsonschema
import pytest

from constrain import compile_json_schema
from constrain.frontends.json_schema import SchemaWarning
from constrain.frontends.json_schema.dialects import declared_draft, keywords_after, to_declared_draft
from tests.constrain.frontends.test_allof import accepts, byte_vocab  # noqa: F401  (fixture)

D4 = "http://json-schema.org/draft-04/schema#"
D6 = "http://json-schema.org/draft-06/schema#"
D7 = "http://json-schema.org/draft-07/schema#"
D2019 = "https://json-schema.org/draft/2019-09/schema"

CASES = [
    # draft 4: const, if/then, propertyNames and contains are unknown words
    ({"$schema": D4, "type": "object", "properties": {"ty": {"type": "string", "const": "a"}}},
     [{"ty": "a"}, {"ty": "b"}, {"ty": 1}]),
    ({"$schema": D4, "type": "object", "properties": {"k": {"type": "string"}},
      "if": {"properties": {"k": {"enum": ["x"]}}}, "then": {"required": ["v"]}},
     [{"k": "x"}, {"k": "x", "v": 1}, {"k": "y"}, {"k": 2}]),
    ({"$schema": D4, "type": "object", "propertyNames": {"maxLength": 1}, "additionalProperties": {"type": "integer"}},
     [{"a": 1}, {"ab": 1}, {"ab": "x"}]),
    ({"$schema": D4, "type": "array", "contains": {"type": "string"}, "items": {"type": ["string", "integer"]}},
     [[1], ["a"], [], [None]]),
    # draft 6 knows const and contains, not if/then/else
    ({"$schema": D6, "type": "object", "properties": {"k": {"const": 1}},
      "if": {"required": ["k"]}, "then": {"required": ["v"]}, "else": {"required": ["w"]}},
     [{"k": 1}, {"k": 2}, {}, {"w": 0}]),
    # draft 7 knows if/then, not dependentRequired
    ({"$schema": D7, "type": "object", "dependentRequired": {"a": ["b"]},
      "if": {"required": ["a"]}, "then": {"properties": {"a": {"type": "integer"}}}},
     [{"a": 1}, {"a": "x"}, {"a": 1, "b": 2}, {}]),
    # no $schema: 2020-12, everything applies
    ({"type": "object", "properties": {"ty": {"const": "a"}}}, [{"ty": "a"}, {"ty": "b"}]),
    # a property *named* like a later keyword is a name, not a keyword
    ({"$schema": D4, "type": "object", "properties": {"if": {"type": "integer"}, "const": {"type": "string"}},
      "required": ["if"]},
     [{"if": 1}, {"if": "x"}, {"if": 1, "const": 2}, {"const": "c"}]),
]


@pytest.mark.parametrize("schema,instances", CASES)
def test_verdicts_follow_the_declared_draft(byte_vocab, schema, instances):
    differs = schema is not CASES[-1][0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SchemaWarning)
        c = compile_json_schema(schema, byte_vocab)
    validator = jsonschema.validators.validator_for(schema)(schema)
    got = {json.dumps(x): accepts(c, byte_vocab, json.dumps(x)) for x in instances}
    want = {json.dumps(x): validator.is_valid(x) for x in instances}
    assert got == want
    # the cut matters (2020-12 decides some instance otherwise), except in the last case:
    # property names that look like keywords
    if declared_draft(schema) < 2020:
        v2020 = jsonschema.Draft202012Validator(schema)
        assert any(v2020.is_valid(x) != validator.is_valid(x) for x in instances) == differs


def test_warns_once_with_the_pointer():
    s = {"$schema": D4, "properties": {"a": {"const": 1}, "b": {"const": 2}}}
    with pytest.warns(SchemaWarning, match=r"#/properties/\w/const: not a keyword of the declared draft") as rec:
        out = to_declared_draft(s)
    assert len([w for w in rec if "declared draft" in str(w.message)]) == 1
    assert out == {"$schema": D4, "properties": {"a": {}, "b": {}}}
    assert s["properties"]["a"] == {"const": 1}  # the caller's document is not changed


def test_nothing_to_cut_returns_the_same_object():
    s = {"$schema": D4, "properties": {"a": {"type": "string"}}, "enum": [{"if": 1}]}
    assert to_declared_draft(s) is s  # the 'if' inside enum data is data
    s7 = {"$schema": D7, "if": {}, "then": {}}
    assert to_declared_draft(s7) is s7


def test_data_values_are_not_touched():
    s = {"$schema": D4, "const": 5, "enum": [{"const": 1}], "default": {"if": 2},
         "properties": {"x": {"const": 3}}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SchemaWarning)
        out = to_declared_draft(s)
    assert out["enum"] == [{"const": 1}] and out["default"] == {"if": 2}
    assert "const" not in out and out["properties"]["x"] == {}


def test_declared_draft_and_the_cut():
    assert declared_draft({"$schema": D4}) == 4
    assert declared_draft({"$schema": "http://json-schema.org/draft-03/schema#"}) == 3
    assert declared_draft({"$schema": D2019}) == 2019
    assert declared_draft({"$schema": "https://json-schema.org/draft/2020-12/schema"}) == 2020
    assert declared_draft({}) == 2020 and declared_draft(True) == 2020
    assert {"const", "if", "propertyNames", "contains", "prefixItems"} <= keywords_after(4)
    assert "const" not in keywords_after(6) and "if" in keywords_after(6)
    assert "if" not in keywords_after(7) and "dependentRequired" in keywords_after(7)
    assert keywords_after(2019) == {"prefixItems"} and not keywords_after(2020)


def test_a_remote_document_without_schema_takes_the_referrer_s_draft(byte_vocab):
    root = {"$schema": D4, "$ref": "https://example.com/item.json"}
    remote = {"type": "object", "properties": {"k": {"const": 1}}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SchemaWarning)
        c = compile_json_schema(root, byte_vocab, resources={"https://example.com/item.json": remote})
    assert accepts(c, byte_vocab, '{"k": 2}')  # const is not a draft-4 keyword
    c2020 = compile_json_schema({"$ref": "https://example.com/item.json"}, byte_vocab,
                                resources={"https://example.com/item.json": remote})
    assert not accepts(c2020, byte_vocab, '{"k": 2}')
