"""Recursions that close only through conjunctions: a key matching two patterns whose schemas
lead back to the same schemas (``Handwritten:58`` of MaskBench, "notnames9").

The conjunction of the two patterns' schemas used to be a fresh ``{"allOf": [...]}`` at every
level, so each level got a new rule and lowered the next level again until the recursion
limit (a ``CompileBudgetError`` after ~5 s). Interned conjunctions (the same object for the
same parts) reach the same rule at the next level: the recursion closes, exactly.
"""

from __future__ import annotations

import pytest

from oracles import check_against_jsonschema

PP = {"patternProperties": {"7": {"$ref": "#/$defs/a7"}, "9": {"$ref": "#/$defs/a9"}}}
SCHEMAS = [
    {"$defs": {"pp": PP,
               "a7": {"allOf": [{"$ref": "#/$defs/pp"}, {"maxProperties": 1}]},
               "a9": {"allOf": [{"$ref": "#/$defs/pp"}, {"propertyNames": {"pattern": "^.[0-9]$"}}]}},
     "$ref": "#/$defs/pp"},
    # the same through a witness of `not propertyNames` (some key must match "5")
    {"$defs": {"pp": PP,
               "a7": {"allOf": [{"$ref": "#/$defs/pp"}, {"not": {"propertyNames": {"not": {"pattern": "5"}}}}]},
               "a9": {"allOf": [{"$ref": "#/$defs/pp"}, {"maxProperties": 1}]}},
     "type": "object", "allOf": [{"$ref": "#/$defs/pp"}]},
]

LEAVES = [{}, 0, {"x": 1}, {"a5": {}}]


def _instances():
    """Objects nested three deep under keys matching one, the other or both patterns."""
    keys = ["a7", "a9", "79", "97", "a5", "b"]
    level1 = [{k: v} for k in keys for v in LEAVES] + [{"a7": {}, "a9": {}}, {"79": {}, "a5": 1}]
    level2 = [{k: v} for k in keys for v in level1[::3]]
    level3 = [{k: v} for k in ("79", "a7") for v in level2[::2]]
    return [{}, 1, "s"] + level1 + level2 + level3


@pytest.mark.parametrize("schema", SCHEMAS, ids=range(len(SCHEMAS)))
def test_recursion_through_conjoined_patterns_closes(schema, smollm2_vocab):
    assert check_against_jsonschema(schema, smollm2_vocab, _instances()) > 0
