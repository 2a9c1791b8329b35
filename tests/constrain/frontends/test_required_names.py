"""A name that ``required`` (or ``dependentSchemas``, ``if``/``then``) asks for but no
``properties`` declares still answers to every rule about undeclared names.

Two wrong accepts found by differential fuzzing against ``jsonschema`` (session 19):
``propertyNames: false`` was ignored for required names (``{"c": 1}`` accepted under
``{"required": ["c"], "propertyNames": false}``), and the ``additionalProperties`` of an
``allOf`` part whose patterns miss a required name was not applied to it (``{"aa": 0}``
accepted under ``allOf: [{patternProperties: {a: true}, required: [aa]},
{patternProperties: {b$: true}, additionalProperties: false}]``).
"""

from __future__ import annotations

import itertools

import pytest

from oracles import check_against_jsonschema

KEYS = ["a", "aa", "ab", "b", "c"]


def _objects():
    """Every object over ``KEYS`` (at most two keys) with values 0 or "s"."""
    out = [{}]
    for n in (1, 2):
        for names in itertools.combinations(KEYS, n):
            for values in itertools.product([0, "s"], repeat=n):
                out.append(dict(zip(names, values)))
    return out


NO_NAMES = [
    {"required": ["c"], "propertyNames": False},
    {"propertyNames": False},
    {"patternProperties": {"a": True}, "propertyNames": False},
    {"properties": {"a": {}}, "required": ["a"], "propertyNames": False},
    {"dependentSchemas": {"c": {"propertyNames": False}}},
    {"allOf": [{"required": ["c"]}, {"propertyNames": False}]},
    {"if": {"required": ["c"]}, "then": {"propertyNames": False}},
    {"anyOf": [{"required": ["a"]}, {"propertyNames": False}]},
]

PARTS = [
    {"allOf": [{"patternProperties": {"a": True}, "required": ["aa"]},
               {"patternProperties": {"b$": True}, "additionalProperties": False}]},
    {"allOf": [{"patternProperties": {"a": True}},
               {"patternProperties": {"b$": True}, "additionalProperties": False, "required": ["aa"]}]},
    {"required": ["aa"], "allOf": [{"patternProperties": {"a": True}},
                                   {"patternProperties": {"b$": True}, "additionalProperties": False}]},
    {"allOf": [{"patternProperties": {"a": True}, "required": ["aa"]},
               {"patternProperties": {"b$": True}, "additionalProperties": {"type": "string"}}]},
    {"allOf": [{"patternProperties": {"a": True}, "required": ["ab"]},
               {"patternProperties": {"b$": True}, "additionalProperties": False}]},
    {"allOf": [{"patternProperties": {"a": {"type": "integer"}}, "required": ["c"]},
               {"patternProperties": {"b$": True}, "additionalProperties": {"type": "string"}}]},
    {"dependentRequired": {"b": ["aa"]},
     "allOf": [{"patternProperties": {"a": True}},
               {"patternProperties": {"b": True}, "additionalProperties": False}]},
]


@pytest.mark.parametrize("schema", NO_NAMES, ids=range(len(NO_NAMES)))
def test_property_names_false_forbids_required_and_pattern_names(schema, smollm2_vocab):
    check_against_jsonschema(schema, smollm2_vocab, _objects())


@pytest.mark.parametrize("schema", PARTS, ids=range(len(PARTS)))
def test_allof_parts_additional_properties_reach_required_names(schema, smollm2_vocab):
    check_against_jsonschema(schema, smollm2_vocab, _objects())

