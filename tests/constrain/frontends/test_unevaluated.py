"""``unevaluatedProperties`` / ``unevaluatedItems`` seeing the annotations of ``if`` (alone),
of nested ``unevaluated*: true`` in ``allOf`` parts, and of several matching ``anyOf``
branches.  Every verdict is checked against ``jsonschema`` through the matcher (full mask
before each token, EOS after the last), on a byte-level vocabulary, over small instance sets
that exercise every combination of members.
"""

from __future__ import annotations

import itertools

import jsonschema
import pytest

from constrain import EmptyLanguageError, UnsupportedSchemaError, compile_json_schema
from tests.constrain.frontends.test_allof import byte_vocab, disagreements  # noqa: F401  (fixture)

NAMES = ["foo", "bar", "baz", "qq"]
VALUES = ["foo", "bar", "baz", 1]
OBJECTS = [dict(zip(ks, vs)) for n in range(4) for ks in itertools.combinations(NAMES, n)
           for vs in itertools.product(VALUES[:2] if n == 3 else VALUES, repeat=n)]
ARRAYS = [list(t) for n in range(4) for t in itertools.product(["a", "b", 1], repeat=n)]

ANY_OF_BRANCHES = [
    {"properties": {"bar": {"const": "bar"}}, "required": ["bar"]},
    {"properties": {"baz": {"const": "baz"}}, "required": ["baz"]},
    {"patternProperties": {"^q": {"type": "integer"}}},
    {"required": ["foo"]},
    {"properties": {"bar": {"type": "string"}}},
]


@pytest.mark.parametrize("branches", [c for k in (2, 3) for c in itertools.combinations(range(len(ANY_OF_BRANCHES)), k)])
@pytest.mark.parametrize("parent", [{"unevaluatedProperties": False},
                                    {"properties": {"foo": {"type": "string"}}, "unevaluatedProperties": False},
                                    {"unevaluatedProperties": {"type": "integer"}}])
def test_any_of_branches_all_add_annotations(byte_vocab, branches, parent):
    schema = dict(parent, anyOf=[ANY_OF_BRANCHES[i] for i in branches])
    assert disagreements(schema, byte_vocab, OBJECTS) == []


@pytest.mark.parametrize("schema", [
    {"if": {"patternProperties": {"foo": {"type": "string"}}}, "unevaluatedProperties": False},
    {"if": {"properties": {"foo": {"const": "foo"}}, "required": ["foo"]}, "unevaluatedProperties": False},
    {"properties": {"bar": {"type": "string"}}, "if": {"properties": {"foo": {"type": "string"}}},
     "unevaluatedProperties": {"const": 1}},
    {"allOf": [{"if": {"properties": {"foo": {"type": "string"}}}}], "unevaluatedProperties": False},
    {"allOf": [{"if": {"properties": {"foo": {"type": "string"}}}}, {"if": {"properties": {"bar": {"const": "bar"}}}}],
     "unevaluatedProperties": False},
])
def test_if_alone_adds_annotations(byte_vocab, schema):
    assert disagreements(schema, byte_vocab, OBJECTS) == []


@pytest.mark.parametrize("schema", [
    {"if": {"prefixItems": [{"const": "a"}]}, "unevaluatedItems": False},
    {"if": {"prefixItems": [{"const": "a"}, {"type": "string"}]}, "unevaluatedItems": {"type": "integer"}},
    {"allOf": [{"prefixItems": [{"type": "string"}]}, {"unevaluatedItems": True}], "unevaluatedItems": False},
    {"prefixItems": [{"type": "string"}], "allOf": [{"unevaluatedItems": True}], "unevaluatedItems": False},
])
def test_items_annotations(byte_vocab, schema):
    assert disagreements(schema, byte_vocab, ARRAYS) == []


@pytest.mark.parametrize("schema", [
    {"properties": {"foo": {"type": "string"}}, "allOf": [{"unevaluatedProperties": True}], "unevaluatedProperties": False},
    {"properties": {"foo": {"type": "string"}}, "allOf": [{"unevaluatedProperties": True}],
     "unevaluatedProperties": {"type": "string", "maxLength": 2}},
    {"allOf": [{"properties": {"foo": {"type": "string"}}, "unevaluatedProperties": True}], "unevaluatedProperties": False},
    {"allOf": [{"allOf": [{"unevaluatedProperties": {}}]}], "properties": {"bar": {"const": "bar"}},
     "unevaluatedProperties": False},
    {"$defs": {"t": {"unevaluatedProperties": True}}, "$ref": "#/$defs/t", "unevaluatedProperties": False},
])
def test_nested_unevaluated_true_evaluates_everything(byte_vocab, schema):
    assert disagreements(schema, byte_vocab, OBJECTS) == []


@pytest.mark.parametrize("schema", [
    # the Test Suite's unevaluatedProperties.json #22, #23, #26-#32: an unevaluated* inside an
    # allOf part, a $ref target or an anyOf/oneOf branch sees its own annotations only
    {"properties": {"foo": {"type": "string"}}, "allOf": [{"unevaluatedProperties": False}],
     "unevaluatedProperties": True},
    {"allOf": [{"properties": {"foo": True}}, {"unevaluatedProperties": False}]},
    {"allOf": [{"unevaluatedProperties": False}, {"properties": {"foo": True}}]},
    {"allOf": [{"properties": {"foo": {"type": "string"}}, "unevaluatedProperties": True}, {"unevaluatedProperties": False}]},
    {"allOf": [{"properties": {"foo": True}, "unevaluatedProperties": False}], "anyOf": [{"properties": {"bar": True}}]},
    {"allOf": [{"properties": {"foo": True}}], "anyOf": [{"properties": {"bar": True}, "unevaluatedProperties": False}]},
    {"properties": {"foo": {"type": "string"}}, "allOf": [{"unevaluatedProperties": False}],
     "unevaluatedProperties": False},
    {"properties": {"bar": True}, "allOf": [{"patternProperties": {"^f": {"const": "foo"}}, "unevaluatedProperties": {"type": "integer"}}],
     "unevaluatedProperties": False},
    {"$defs": {"t": {"properties": {"foo": True}, "unevaluatedProperties": {"const": 1}}}, "$ref": "#/$defs/t",
     "properties": {"bar": {"type": "string"}}},
    {"oneOf": [{"properties": {"foo": True}, "unevaluatedProperties": False}, {"required": ["bar"]}],
     "properties": {"baz": True}},
])
def test_inner_unevaluated_sees_its_own_part(byte_vocab, schema):
    assert _exact(schema, byte_vocab, OBJECTS) == []


def test_inner_unevaluated_beside_dynamic_applicators_is_refused(byte_vocab):
    """Inside the part, which keys count as evaluated depends on the instance: refused."""
    schema = {"properties": {"foo": {"type": "string"}},
              "allOf": [{"anyOf": [{"properties": {"bar": True}}, {"required": ["baz"]}], "unevaluatedProperties": False}]}
    with pytest.raises(UnsupportedSchemaError) as e:
        compile_json_schema(schema, byte_vocab)
    assert e.value.keyword == "unevaluatedProperties"


def _exact(schema, vocab, instances) -> list:
    """``disagreements``; an empty language (compile says so) must have no valid instance."""
    try:
        return disagreements(schema, vocab, instances)
    except EmptyLanguageError:
        valid = jsonschema.Draft202012Validator(schema).is_valid
        return [(x, True) for x in instances if valid(x)]


# complements (of `not`, of a failed `if`, of the other oneOf branches) add no annotations
COMPLEMENT_CASES = [
    # the Test Suite's unevaluatedProperties.json #12, #13, #14-16, #17, #34, #40
    {"properties": {"foo": {"type": "string"}}, "unevaluatedProperties": False,
     "oneOf": [{"properties": {"bar": {"const": "bar"}}, "required": ["bar"]},
               {"properties": {"baz": {"const": "baz"}}, "required": ["baz"]}]},
    {"properties": {"foo": {"type": "string"}}, "unevaluatedProperties": False,
     "not": {"not": {"properties": {"bar": {"const": "bar"}}, "required": ["bar"]}}},
    {"if": {"properties": {"foo": {"const": "foo"}}, "required": ["foo"]},
     "then": {"required": ["bar"], "properties": {"bar": {"type": "string"}}},
     "else": {"required": ["baz"], "properties": {"baz": {"type": "string"}}}, "unevaluatedProperties": False},
    {"if": {"properties": {"foo": {"const": "foo"}}, "required": ["foo"]},
     "else": {"required": ["baz"], "properties": {"baz": {"type": "string"}}}, "unevaluatedProperties": False},
    {"properties": {"foo": {"type": "string"}}, "unevaluatedProperties": False,
     "dependentSchemas": {"foo": {"properties": {"bar": {"const": "bar"}}, "required": ["bar"]}}},
    {"properties": {"foo": {}}, "unevaluatedProperties": False,
     "dependentSchemas": {"baz": {}, "foo": {"properties": {"bar": {}}}}},
    {"allOf": [{"properties": {"foo": True}}, {"properties": {"bar": True}},
               {"oneOf": [{"required": ["baz"], "properties": {"baz": True}},
                          {"required": ["qq"], "properties": {"qq": True}}]}], "unevaluatedProperties": False},
    # overlapping branches without `required` (a branch failing leaves its key unevaluated)
    {"oneOf": [{"properties": {"bar": {"const": "bar"}}}, {"properties": {"baz": {"const": "baz"}}}],
     "properties": {"foo": True}, "unevaluatedProperties": False},
    {"oneOf": [{"properties": {"bar": {"const": "bar"}}, "required": ["bar"]},
               {"properties": {"baz": {"const": "baz"}}}], "unevaluatedProperties": {"const": 1}},
    {"oneOf": [{"properties": {"bar": {"type": "string"}}}, {"properties": {"bar": {"const": "bar"}}}],
     "unevaluatedProperties": False},
    {"not": {"properties": {"bar": {"const": "bar"}}}, "properties": {"foo": True},
     "unevaluatedProperties": {"type": "string"}},
    {"not": {"properties": {"bar": {"const": "bar"}}}, "patternProperties": {"^b": {"type": "string"}},
     "unevaluatedProperties": False},
    {"not": {"properties": {"bar": {"const": "bar"}}, "required": ["bar"]}, "additionalProperties": {"type": "string"},
     "unevaluatedProperties": False},
    {"properties": {"foo": True}, "unevaluatedProperties": False,
     "if": {"properties": {"bar": {"const": "bar"}}}, "then": {"properties": {"baz": True}},
     "else": {"properties": {"bar": True}}},
    # typed branches: a parent's unevaluatedProperties merged into a branch is no property
    # schema of it (a disjointness proof must not use it)
    {"type": "object", "unevaluatedProperties": {"const": 1},
     "oneOf": [{"properties": {"bar": {"const": "bar"}}, "required": ["bar"]}, {"properties": {"baz": {"const": "baz"}}}]},
    # an if/then/else triple from an allOf part sees the parent's declared properties
    {"properties": {"bar": True}, "unevaluatedProperties": False,
     "allOf": [{"if": {"properties": {"bar": {"const": "bar"}}, "required": ["bar"]}, "else": {"properties": {"baz": True}}}]},
    {"properties": {"foo": True}, "unevaluatedProperties": False,
     "allOf": [{"if": {"properties": {"bar": {"const": "bar"}}, "required": ["bar"]}, "then": {"required": ["foo"]},
                "else": {"properties": {"baz": True}}}, {"not": {"required": ["qq"], "properties": {"qq": {"const": 1}}}}]},
]


@pytest.mark.parametrize("schema", COMPLEMENT_CASES)
def test_complements_add_no_annotations(byte_vocab, schema):
    assert _exact(schema, byte_vocab, OBJECTS) == []


def test_complement_beside_evaluating_branches_is_refused(byte_vocab):
    """Where the keys the context evaluates depend on the instance (an evaluating anyOf next
    to the complement), the error names unevaluatedProperties."""
    schema = {"not": {"properties": {"bar": {"const": "bar"}}},
              "anyOf": [{"properties": {"bar": True}}, {"properties": {"baz": True}}], "unevaluatedProperties": False}
    with pytest.raises(UnsupportedSchemaError) as e:
        compile_json_schema(schema, byte_vocab)
    assert e.value.keyword == "unevaluatedProperties"


@pytest.mark.parametrize("schema", [
    # the evaluating branches never declare the complement's key: it is unevaluated whatever
    # they do (here no instance is valid at all)
    {"not": {"properties": {"bar": {"const": "bar"}}},
     "anyOf": [{"properties": {"foo": True}}, {"properties": {"baz": True}}], "unevaluatedProperties": False},
    {"not": {"required": ["bar"], "properties": {"bar": {"const": "bar"}}},
     "anyOf": [{"properties": {"foo": True}}, {"properties": {"baz": True}}], "unevaluatedProperties": {"type": "string"}},
])
def test_complement_beside_branches_that_cannot_evaluate_its_key(byte_vocab, schema):
    assert _exact(schema, byte_vocab, OBJECTS) == []


# session 20: branches that are `$ref`s evaluate what their targets do; `unevaluated*: true`
# inside `then`/`else` evaluates every member; a constant `if` takes its branch in place;
# `dependentSchemas` never applies to (nor annotates) a non-object
DEFS = {"b": {"properties": {"bar": {"type": "string"}}}, "z": {"properties": {"baz": True}, "required": ["baz"]},
        "p2": {"prefixItems": [True, {"type": "string"}]}}
FOUND_BY_FUZZING = [
    {"$defs": DEFS, "anyOf": [{"properties": {"foo": True}}, {"$ref": "#/$defs/b"}], "unevaluatedProperties": False},
    {"$defs": DEFS, "anyOf": [{"$ref": "#/$defs/b"}, {"$ref": "#/$defs/z"}], "unevaluatedProperties": False},
    {"$defs": DEFS, "if": {"$ref": "#/$defs/z"}, "unevaluatedProperties": False},
    {"$defs": DEFS, "if": {"$ref": "#/$defs/z"}, "then": {"required": ["foo"]}, "else": {"properties": {"foo": True}},
     "unevaluatedProperties": False},
    {"$defs": DEFS, "oneOf": [{"$ref": "#/$defs/z"}, {"properties": {"foo": True}, "required": ["foo"]}],
     "unevaluatedProperties": False},
    {"$defs": DEFS, "allOf": [{"$ref": "#/$defs/z"}], "anyOf": [{"$ref": "#/$defs/b"}, {"properties": {"foo": True}}],
     "unevaluatedProperties": False},
    {"if": {"properties": {"bar": {"type": "integer"}}}, "else": {"unevaluatedProperties": True}, "unevaluatedProperties": False},
    {"if": {"properties": {"bar": {"type": "integer"}}}, "then": {"unevaluatedProperties": {}},
     "unevaluatedProperties": {"const": "foo"}},
    {"oneOf": [{"if": True, "then": {"properties": {"bar": True}}}, {"properties": {"bar": {"type": "integer"}}}],
     "unevaluatedProperties": False},
    {"if": False, "then": {"properties": {"bar": True}}, "else": {"properties": {"baz": True}}, "unevaluatedProperties": False},
    {"allOf": [{"if": {}, "then": {"properties": {"foo": {"const": "foo"}}}}], "unevaluatedProperties": False},
]


FOUND_BY_FUZZING += [
    # not(not X) inside an allOf part: X's annotations do not count (it was folded to X)
    {"unevaluatedProperties": False, "allOf": [{"not": {"not": {"properties": {"bar": {}}}}}]},
    {"unevaluatedProperties": {"const": 1}, "anyOf": [{"not": {"not": {"properties": {"foo": True}}}}, {"required": ["qq"]}]},
    # two applicator levels down, a nested unevaluated* still evaluates what it admits
    {"allOf": [{"allOf": [{"unevaluatedProperties": {"type": "integer"}}]}], "unevaluatedProperties": False},
    {"anyOf": [{"allOf": [{"unevaluatedProperties": {"type": "integer"}}]}], "unevaluatedProperties": False},
]


@pytest.mark.parametrize("schema", FOUND_BY_FUZZING)
def test_references_constant_ifs_and_nested_true(byte_vocab, schema):
    assert _exact(schema, byte_vocab, OBJECTS) == []


@pytest.mark.parametrize("schema", [
    {"$defs": DEFS, "anyOf": [{"prefixItems": [True]}, {"$ref": "#/$defs/p2"}], "unevaluatedItems": False},
    {"dependentSchemas": {"foo": {"items": True}}, "unevaluatedItems": False},
    {"dependentSchemas": {"foo": {"unevaluatedItems": True}}, "unevaluatedItems": {"const": "a"}},
    {"dependentSchemas": {"foo": {"prefixItems": [True]}}, "prefixItems": [{"const": "a"}], "unevaluatedItems": False},
])
def test_items_references_and_dependent_schemas_on_arrays(byte_vocab, schema):
    assert _exact(schema, byte_vocab, ARRAYS + [{}, {"foo": 1}, "a", 1]) == []


@pytest.mark.parametrize("schema", [
    # the Test Suite's unevaluatedItems.json #21, #22, #24: `contains` evaluates the items it matches
    {"prefixItems": [True], "contains": {"type": "string"}, "unevaluatedItems": False},
    {"allOf": [{"contains": {"const": "a"}}, {"contains": {"type": "integer"}}], "unevaluatedItems": {"const": "b"}},
    {"contains": {"type": "string"}, "minContains": 0, "unevaluatedItems": False},
    {"contains": {"const": "a"}, "maxContains": 1, "unevaluatedItems": {"type": "integer"}},
    {"prefixItems": [{"const": 1}], "contains": {"const": "a"}, "minContains": 2, "unevaluatedItems": False},
    {"items": {"type": "string"}, "contains": {"const": "a"}, "unevaluatedItems": False},
])
def test_contains_evaluates_the_items_it_matches(byte_vocab, schema):
    assert _exact(schema, byte_vocab, ARRAYS) == []


@pytest.mark.parametrize("schema", [
    # prefixItems from several allOf parts / $ref, with items: position by position (the Test
    # Suite's unevaluatedItems.json #7, #11, #16, #17, #19, #20, items.json #6)
    {"allOf": [{"prefixItems": [{"type": "string"}]}, {"prefixItems": [True, {"const": "a"}]}]},
    {"allOf": [{"prefixItems": [{"const": "a"}]}, {"items": {"type": "string"}}]},
    {"allOf": [{"prefixItems": [{"const": "a"}], "items": {"type": "integer"}}, {"prefixItems": [True, True, {"const": 1}]}]},
    {"allOf": [{"prefixItems": [True]}, {"unevaluatedItems": False}]},
    {"prefixItems": [{"type": "string"}], "allOf": [{"prefixItems": [True, {"type": "integer"}]}], "unevaluatedItems": False},
    {"$defs": {"t": {"prefixItems": [True, {"const": "b"}]}}, "$ref": "#/$defs/t", "prefixItems": [{"const": "a"}],
     "unevaluatedItems": False},
    {"allOf": [{"prefixItems": [{"const": "a"}], "items": False}, {"prefixItems": [True, True]}]},
    {"prefixItems": [{"const": "a"}], "anyOf": [{"prefixItems": [True, {"const": "b"}]}, {"prefixItems": [True, {"const": 1}]}],
     "unevaluatedItems": {"type": "integer"}},
])
def test_prefix_items_merge_position_by_position(byte_vocab, schema):
    assert _exact(schema, byte_vocab, ARRAYS) == []
