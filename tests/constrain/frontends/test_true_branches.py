"""A ``true`` branch of an ``anyOf``/``oneOf`` keeps the applicator groups still to expand.

Found by differential fuzzing against ``jsonschema`` (session 20): where a ``true`` branch met
no sibling keywords, the remaining groups (``dependentSchemas``, a later ``anyOf``, the
complements that make a ``oneOf`` exact) were dropped with it, so
``{"dependentSchemas": {"b": {"type": "string"}}, "anyOf": [true, {"type": "null"}]}`` accepted
``{"b": 0}`` and ``{"oneOf": [{"type": "integer"}, {"anyOf": [true, {"type": "string"}]}]}``
accepted ``0``; ``{}`` in place of ``true`` was right.
"""

from __future__ import annotations

import pytest

from tests.constrain.frontends.test_allof import byte_vocab, disagreements  # noqa: F401  (fixture)
from tests.constrain.frontends.test_unevaluated import _exact

VALUES = [0, 1.5, "s", "", None, True, {}, {"b": 0}, {"b": "s"}, {"a": 1, "b": None}, [], [0]]

SCHEMAS = [
    {"oneOf": [{"type": "integer"}, {"anyOf": [True, {"type": "string"}]}]},
    {"dependentSchemas": {"b": {"type": "string"}}, "anyOf": [True, {"type": "null"}]},
    {"if": {"anyOf": [False, True]}, "then": {"oneOf": [{}, {}]}},
    {"anyOf": [True, {"type": "null"}], "oneOf": [{"type": "string"}, {"type": "object"}]},
    {"anyOf": [{"type": "string"}, True], "not": {"type": "null"}},
    {"allOf": [{"anyOf": [True]}, {"anyOf": [{"required": ["b"]}, {"type": "array"}]}]},
]


@pytest.mark.parametrize("schema", SCHEMAS, ids=range(len(SCHEMAS)))
def test_true_branches_keep_the_groups_left(byte_vocab, schema):
    assert _exact(schema, byte_vocab, VALUES) == []
