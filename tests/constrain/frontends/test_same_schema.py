"""A schema conjoined with itself is kept once (``same_schema``), so a recursion through it
stays one named rule.

Real case (WashingtonPost ANS schemas): a credits object declares ``by`` and has a pattern
matching every name, both with the same items ``anyOf`` of ``$ref``s (only descriptions
differ); the conjunction of the two was merged into fresh schema objects at every level of the
recursion (credits -> author -> image -> credits ...) until a compile budget stopped it.
"""

from __future__ import annotations


import pytest

from constrain.frontends.json_schema.lexemes import JsonLexemes
from constrain.frontends.json_schema.lower import SchemaLowering
from constrain.frontends.json_schema.merge import SAME_SCHEMA_DEPTH, SAME_SCHEMA_NODES, same_schema

from oracles import check_against_jsonschema


def check(schema, vocab, instances):
    return check_against_jsonschema(schema, vocab, instances, time_budget_s=20)


ITEMS = {"anyOf": [{"$ref": "#/definitions/author"}, {"$ref": "#/definitions/reference"}], "type": "object"}
CREDITS = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "definitions": {
        "credits": {"type": "object",
                    "properties": {"by": {"description": "The primary author(s)", "type": "array", "items": ITEMS}},
                    "patternProperties": {"^[a-z_]*": {"type": "array", "items": dict(ITEMS)}}},
        "author": {"type": "object", "additionalProperties": False, "required": ["type", "name"],
                   "properties": {"type": {"enum": ["author"]}, "name": {"type": "string"},
                                  "image": {"$ref": "#/definitions/image"}}},
        "reference": {"type": "object", "additionalProperties": False, "required": ["type", "id"],
                      "properties": {"type": {"enum": ["reference"]}, "id": {"type": "string"}}},
        "image": {"type": "object", "additionalProperties": False,
                  "properties": {"url": {"type": "string"}, "credits": {"$ref": "#/definitions/credits"}}},
    },
    "$ref": "#/definitions/credits",
}

AUTHOR = {"type": "author", "name": "Ann"}
REF = {"type": "reference", "id": "x1"}


def _credits_instances():
    deep = {"by": [{"type": "author", "name": "B", "image": {"url": "u", "credits": {"by": [REF], "photos": [AUTHOR]}}}]}
    return [
        {}, {"by": []}, {"by": [AUTHOR, REF]}, {"photos_by": [REF]}, {"by": [{"type": "author"}]}, {"by": [REF, 3]},
        {"by": {}}, {"Photos": [AUTHOR]}, {"x": [{"type": "reference", "id": 1}]}, deep,
        {"by": [{"type": "author", "name": "B", "image": {"credits": {"by": [{"type": "author", "name": 3}]}}}]},
        {"by": [{"type": "author", "name": "B", "image": {"credits": {"by": [AUTHOR], "x": [{"id": "2"}]}}}]},
    ]


def test_recursion_through_a_property_and_its_pattern_compiles_exactly(smollm2_vocab):
    assert check(CREDITS, smollm2_vocab, _credits_instances()) >= 5


def _lowering(schema):
    return SchemaLowering(schema, strict=False, lenient=False, lexemes=JsonLexemes("flexible", None))


def test_same_schema_reads_keywords_not_names_or_descriptions():
    assert same_schema({"type": "array", "description": "a", "items": {"title": "t", "enum": [1]}},
                       {"type": "array", "items": {"enum": [1]}})
    assert not same_schema({"enum": [1]}, {"enum": [True]})  # 1 is not true in JSON Schema
    assert not same_schema({"const": 0}, {"const": False})
    # a property named like a descriptive keyword is a name, not an annotation
    assert not same_schema({"properties": {"description": {"type": "string"}}}, {"properties": {}})
    assert not same_schema({"properties": {}}, {"properties": {"description": {"type": "string"}}})
    assert not same_schema({"properties": {"title": {"type": "string"}}}, {"properties": {"title": {"type": "integer"}}})
    assert not same_schema({"anyOf": [{"type": "string"}, {"type": "null"}]}, {"anyOf": [{"type": "null"}, {"type": "string"}]})
    assert not same_schema({"type": "string"}, True)
    # values that are data, not schemas, are compared whole: a `title` there is a key of the data
    assert not same_schema({"const": {"title": "a"}}, {"const": {"title": "b"}})
    assert not same_schema({"enum": [{"description": 1}]}, {"enum": [{"description": 2}]})
    assert not same_schema({"dependentRequired": {"title": ["a"]}}, {"dependentRequired": {}})
    assert same_schema({"items": {"title": "x", "const": {"title": "a"}}}, {"items": {"const": {"title": "a"}}})
    # past the depth or node budget: not known to be the same
    deep_a = deep_b = {"type": "string"}
    for _ in range(SAME_SCHEMA_DEPTH + 5):
        deep_a, deep_b = {"not": deep_a}, {"not": dict(deep_b)}
    assert not same_schema(deep_a, deep_b)
    assert same_schema(deep_a["not"]["not"]["not"]["not"]["not"]["not"], deep_b["not"]["not"]["not"]["not"]["not"]["not"])
    wide = {"properties": {f"p{i}": {"type": "string"} for i in range(SAME_SCHEMA_NODES + 5)}}
    assert not same_schema(wide, {"properties": {k: dict(v) for k, v in wide["properties"].items()}})
    assert same_schema(wide, wide)


def test_no_dedupe_where_a_ref_could_resolve_differently(smollm2_vocab):
    """Two base URIs in the document: equal ``$ref`` text may name different schemas, so
    equal-looking schemas are conjoined, not kept once."""
    two_bases = {
        "$id": "http://example.com/root.json",
        "definitions": {"x": {"type": "integer"}},
        "properties": {
            "a": {"allOf": [
                {"items": {"$ref": "#/definitions/x"}},
                {"$id": "http://example.com/other.json", "definitions": {"x": {"type": "string"}},
                 "items": {"$ref": "#/definitions/x"}}]},
        },
    }
    assert _lowering(two_bases)._same({"$ref": "#/definitions/x"}, {"$ref": "#/definitions/x"}) is False
    assert _lowering(CREDITS)._same({"$ref": "#/definitions/x"}, {"$ref": "#/definitions/x"}) is True
    # one base: a schema merged with an equal one (descriptions aside) is that schema, untouched
    low = _lowering(CREDITS)
    items = {"type": "array", "items": ITEMS}
    assert low.merge(items, {"description": "again", "type": "array", "items": dict(ITEMS)}, "#") is items
    check(two_bases, smollm2_vocab, [{"a": []}, {"a": [1]}, {"a": ["s"]}, {"a": [1, "s"]}, {}, {"a": 3}])


@pytest.mark.parametrize("schema", [
    {"allOf": [{"type": "array", "items": {"enum": [1, "a"]}}, {"type": "array", "items": {"enum": [True, "a"]}}]},
    {"allOf": [{"anyOf": [{"type": "integer"}, {"const": "x"}]}, {"anyOf": [{"type": "integer"}, {"const": "x"}],
                                                                    "description": "again"}]},
    {"properties": {"a": {"const": 1}}, "patternProperties": {"^a": {"const": True}}},
    {"properties": {"a": {"minimum": 2, "title": "A"}}, "patternProperties": {"a": {"minimum": 2}}},
    # data with descriptive-looking keys: two different constants, nothing satisfies both
    {"anyOf": [{"allOf": [{"const": {"title": "a"}}, {"const": {"title": "b"}}]}, {"type": "integer"}]},
    {"properties": {"a": {"const": {"title": 1}}}, "patternProperties": {"^a": {"const": {"title": True}}}},
])
def test_conjunctions_stay_exact(schema, smollm2_vocab):
    instances = [[1], ["a"], [True], [1, "a"], [], 1, "x", 2, 3.5, True, {"a": 1}, {"a": True}, {"a": 3},
                 {"a": 1.5}, {"ab": 2}, {}, {"title": "a"}, {"title": "b"}, {"a": {"title": 1}}, {"a": {"title": True}}]
    check(schema, smollm2_vocab, instances)
