"""``if``/``then``/``else`` spread over ``allOf`` parts and ``$ref`` siblings.

A ``then`` or ``else`` applies only with the ``if`` of its own schema object: merging
``allOf`` parts must never pair one part's ``if`` with another part's ``then`` (the Test
Suite's "non-interference across combined schemas").  Every verdict is checked against
``jsonschema`` through the matcher, on a byte-level vocabulary.
"""

from __future__ import annotations

import itertools
import json

import jsonschema
import pytest

from constrain import compile_json_schema
from tests.constrain.frontends.test_allof import accepts, byte_vocab  # noqa: F401  (fixture)

NUMBERS = [-100, -11, -10, -3, -2, -1, 0, 1, 2, 3, 4, 10, 11, 2.5, -0.5]
PIECES = [{"if": {"exclusiveMaximum": 0}}, {"then": {"minimum": -10}}, {"else": {"multipleOf": 2}},
          {"if": {"minimum": 3}, "then": {"maximum": 10}}, {"then": {"const": 0}}, {"else": {"maximum": -50}},
          {"if": {"multipleOf": 2}, "else": {"minimum": 0}}]


def _check(schema, vocab, instances):
    compiled = compile_json_schema(schema, vocab)
    valid = jsonschema.Draft202012Validator(schema).is_valid
    bad = [(x, valid(x)) for x in instances if accepts(compiled, vocab, json.dumps(x)) != valid(x)]
    assert not bad, (schema, bad)


def test_non_interference_across_allof(byte_vocab):
    schema = {"allOf": [{"if": {"exclusiveMaximum": 0}}, {"then": {"minimum": -10}}, {"else": {"multipleOf": 2}}]}
    _check(schema, byte_vocab, NUMBERS)


@pytest.mark.parametrize("parts", list(itertools.permutations(range(len(PIECES)), 2))[::3])
def test_pairs_of_conditional_pieces(byte_vocab, parts):
    """Every kind of piece (if alone, then alone, else alone, full triples) in two allOf parts,
    and the first one as the parent's own keywords."""
    a, b = (PIECES[i] for i in parts)
    _check({"type": "number", "allOf": [a, b]}, byte_vocab, NUMBERS)
    _check(dict(a, allOf=[b], type="number"), byte_vocab, NUMBERS)


def test_orphan_then_beside_ref(byte_vocab):
    schema = {"$defs": {"c": {"if": {"minimum": 0}, "then": {"multipleOf": 3}}},
              "$ref": "#/$defs/c", "else": {"const": 1}}
    _check(schema, byte_vocab, NUMBERS)
