"""``propertyNames`` with ``enum``/``const``, ``type`` and string keywords together: every
keyword narrows the names.

Found by differential fuzzing against ``jsonschema`` (session 20): names listed by ``enum`` were
allowed as additional keys without the sibling ``minLength``/``pattern``/... checks
(``{"a": 0}`` accepted under ``{"propertyNames": {"const": "a"}, "anyOf": [{"propertyNames":
{"minLength": 2}}]}``); ``enum`` after ``const`` in a merged schema replaced it instead of
intersecting; and ``type`` was ignored (``propertyNames: {type: integer}`` allows no key).
"""

from __future__ import annotations

import itertools

import pytest

from oracles import check_against_jsonschema

OBJECTS = [{}] + [dict(zip(ks, vs)) for n in (1, 2) for ks in itertools.combinations(["a", "b", "bb"], n)
                  for vs in itertools.product([0, "s"], repeat=n)]

SCHEMAS = [
    {"propertyNames": {"type": "integer"}},
    {"propertyNames": {"type": ["string", "null"], "maxLength": 1}},
    {"propertyNames": {"enum": ["a", "bb"], "maxLength": 1}},
    {"propertyNames": {"enum": ["a", "b", "bb"], "pattern": "b", "minLength": 2}},
    {"propertyNames": {"const": "a"}, "anyOf": [{"propertyNames": {"minLength": 2}}]},
    {"propertyNames": {"const": 0}, "dependentSchemas": {"b": {"propertyNames": {"enum": ["b"]}}}},
    {"propertyNames": {"enum": ["a", "b"], "pattern": "b"}, "required": ["a"]},
    {"allOf": [{"propertyNames": {"const": "a"}}, {"propertyNames": {"enum": ["a", "b"]}}]},
    {"allOf": [{"propertyNames": {"enum": ["b", "bb"]}}, {"propertyNames": {"const": "b"}}], "properties": {"bb": True}},
]


@pytest.mark.parametrize("schema", SCHEMAS, ids=range(len(SCHEMAS)))
def test_property_names_keywords_all_narrow(schema, smollm2_vocab):
    check_against_jsonschema(schema, smollm2_vocab, OBJECTS)
