"""Parts reached through ``$ref`` (or a nested ``allOf``) keep their own ``unevaluated*``, and a
``false`` target ends the schema cleanly.

Found by differential fuzzing against ``jsonschema`` (session 20): an ``allOf`` part or a
``oneOf`` branch that is a ``$ref`` to ``{"unevaluatedProperties": false}`` was merged with its
siblings before its ``unevaluated*`` was made local, so it saw their annotations (``{"c": 2}``
accepted under ``{"patternProperties": {"^[bc]$": {}}, "allOf": [{"$ref": "#/$defs/u"}]}``);
and a ``$ref`` to ``false`` beside other keywords crashed with an ``AttributeError``.
"""

from __future__ import annotations

import itertools

import pytest

from constrain import EmptyLanguageError, UnsupportedSchemaError, compile_json_schema
from oracles import check_against_jsonschema

OBJECTS = [{}] + [dict(zip(ks, vs)) for n in (1, 2) for ks in itertools.combinations("abc", n)
                  for vs in itertools.product([0, "s"], repeat=n)]
DEFS = {"u": {"unevaluatedProperties": False}, "pu": {"properties": {"a": True}, "unevaluatedProperties": False},
        "r": {"$ref": "#/$defs/u"}, "f": False, "t": {}}

SCHEMAS = [
    {"$defs": DEFS, "patternProperties": {"^[bc]$": {}}, "allOf": [{"$ref": "#/$defs/u"}]},
    {"$defs": DEFS, "patternProperties": {"^[bc]$": {}}, "allOf": [{"$ref": "#/$defs/r"}]},
    {"$defs": DEFS, "patternProperties": {"^[bc]$": {}}, "allOf": [{"allOf": [{"$ref": "#/$defs/u"}]}]},
    {"$defs": DEFS, "properties": {"b": True}, "allOf": [{"$ref": "#/$defs/pu"}]},
    {"$defs": DEFS, "oneOf": [{"$ref": "#/$defs/u"}], "unevaluatedProperties": True},
    {"$defs": DEFS, "anyOf": [{"allOf": [{"$ref": "#/$defs/pu"}]}, {"required": ["c"]}], "properties": {"b": True}},
    {"$defs": DEFS, "$ref": "#/$defs/r", "properties": {"b": True}},
    {"$defs": DEFS, "anyOf": [{"$ref": "#/$defs/f"}, {"required": ["a"]}]},
    {"$defs": DEFS, "$ref": "#/$defs/t", "required": ["b"]},
]


@pytest.mark.parametrize("schema", SCHEMAS, ids=range(len(SCHEMAS)))
def test_referenced_parts_keep_their_unevaluated(schema, smollm2_vocab):
    check_against_jsonschema(schema, smollm2_vocab, OBJECTS)


@pytest.mark.parametrize("schema", [
    {"type": "object", "$ref": "#/$defs/f", "$defs": DEFS},
    {"$ref": "#/$defs/f", "unevaluatedProperties": True, "$defs": DEFS},
    {"anyOf": [{"$ref": "#/$defs/f"}], "$defs": DEFS},
    {"allOf": [False], "$ref": "#/$defs/t", "$defs": DEFS},
])
def test_a_false_target_is_an_empty_language_not_a_crash(schema, smollm2_vocab):
    with pytest.raises(EmptyLanguageError):
        compile_json_schema(schema, smollm2_vocab)


@pytest.mark.parametrize("schema", [
    # a constraining unevaluated* reached through a `$ref` under `not`: no complement keeps the
    # annotations it reads (it was complemented as if it were additionalProperties: a wrong
    # accept of {"a": 1, "b": 1})
    {"$defs": {"u": {"properties": {"a": True}, "anyOf": [{"properties": {"b": True}}], "unevaluatedProperties": False}},
     "not": {"$ref": "#/$defs/u"}},
])
def test_a_referenced_unevaluated_under_not_is_refused(schema, smollm2_vocab):
    with pytest.raises(UnsupportedSchemaError):
        compile_json_schema(schema, smollm2_vocab)


@pytest.mark.parametrize("schema", [
    # `unevaluatedProperties: true` never fails: a complement ignores it
    {"not": {"required": ["a"], "unevaluatedProperties": True}},
    {"oneOf": [{"required": ["a"], "unevaluatedProperties": True}, {"required": ["b"]}]},
    {"$defs": {"t": {"required": ["c"], "unevaluatedProperties": {}}}, "not": {"$ref": "#/$defs/t"}},
])
def test_complements_ignore_unevaluated_true(schema, smollm2_vocab):
    check_against_jsonschema(schema, smollm2_vocab, OBJECTS)
