"""``unevaluatedItems`` beside complements (`not`, the `else` of an `if`, overlapping `oneOf`
branches) over tuples: a complement adds no annotations, so its ``prefixItems[j]`` is
conjoined with the parent's ``unevaluatedItems`` where nothing else evaluates position ``j``
(the item analogue of the rewrite for ``unevaluatedProperties``). The Test Suite's
``unevaluatedItems.json`` groups 12-14 were refused before ("together with 'not'", "(else
branch)", "oneOf branches 0 and 1 overlap"). Every array of up to four items over four values,
against ``jsonschema``.
"""

from __future__ import annotations

import itertools

import pytest

from constrain import UnsupportedSchemaError, compile_json_schema
from tests.constrain.frontends.test_allof import byte_vocab, disagreements  # noqa: F401  (fixture)
from tests.constrain.frontends.test_unevaluated import _exact

ARRAYS = [list(t) for n in range(5) for t in itertools.product(["foo", "bar", 42], repeat=n)] + [{}, "foo", 1]
FOO, BAR, BAZ = {"const": "foo"}, {"const": "bar"}, {"const": "baz"}

SCHEMAS = [
    # the Test Suite's unevaluatedItems.json #12, #13, #14
    {"prefixItems": [FOO], "oneOf": [{"prefixItems": [True, BAR]}, {"prefixItems": [True, BAZ]}],
     "unevaluatedItems": False},
    {"prefixItems": [FOO], "not": {"not": {"prefixItems": [True, BAR]}}, "unevaluatedItems": False},
    {"prefixItems": [FOO], "if": {"prefixItems": [True, BAR]}, "then": {"prefixItems": [True, True, {"const": "then"}]},
     "else": {"prefixItems": [True, True, True, {"const": "else"}]}, "unevaluatedItems": False},
    # variants: the parent's unevaluatedItems a schema, the else without a prefix, items in the context
    {"if": {"prefixItems": [BAR]}, "then": {"maxItems": 1}, "unevaluatedItems": {"type": "integer"}},
    {"if": {"prefixItems": [True, FOO]}, "else": {"minItems": 1}, "unevaluatedItems": {"const": "bar"}},
    {"prefixItems": [True, True], "not": {"prefixItems": [FOO, FOO]}, "unevaluatedItems": False},
    {"not": {"prefixItems": [BAR], "items": False}, "unevaluatedItems": {"const": "foo"}},
    {"prefixItems": [FOO], "items": {"type": "integer"}, "not": {"prefixItems": [True, {"const": 42}]}, "unevaluatedItems": False},
    {"oneOf": [{"prefixItems": [FOO]}, {"prefixItems": [True, BAR]}], "unevaluatedItems": {"const": 42}},
]


@pytest.mark.parametrize("schema", SCHEMAS, ids=range(len(SCHEMAS)))
def test_unevaluated_items_beside_complements(byte_vocab, schema):
    assert _exact(schema, byte_vocab, ARRAYS) == []


def test_complement_beside_contains_is_refused(byte_vocab):
    """`contains` evaluates the items it matches, which depends on the instance: refused."""
    schema = {"contains": {"const": "foo"}, "not": {"prefixItems": [BAR]}, "unevaluatedItems": False}
    with pytest.raises(UnsupportedSchemaError) as e:
        compile_json_schema(schema, byte_vocab)
    assert e.value.keyword == "unevaluatedItems"
