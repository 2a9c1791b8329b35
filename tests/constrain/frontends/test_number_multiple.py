"""``multipleOf`` with a decimal fraction on numbers (1.5, 3.5, 0.75, 0.35): the remainder
automaton of ``x * 10**k`` mod P.  Verdicts through the matcher (byte vocabulary) against
exact rational arithmetic over every number text from a grid (exponent spellings are the
documented narrowing: refused), and against ``jsonschema`` where floats are exact."""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

import jsonschema
import pytest

from constrain import UnsupportedSchemaError, compile_json_schema
from constrain.frontends.json_schema.numbers import decimal_multiple, number_multiple_of_dfa
from tests.constrain.frontends.test_allof import accepts, byte_vocab  # noqa: F401  (fixture)

INTS = ["0", "-0", "1", "3", "4", "7", "15", "30", "45", "-45", "105", "-1050", "12"]
FRACS = ["0", "5", "50", "05", "25", "75", "125", "500", "0001", "3", "35", "7", "70", "2"]
TEXTS = sorted({i for i in INTS} | {f"{i}.{f}" for i in INTS for f in FRACS})
NOT_NUMBERS = ["00", "1.", "-", ".5", "01.5", "--1", "1.5.0"]


def exact(text: str, q, lo=None, hi=None) -> bool:
    x = Fraction(Decimal(text))
    return ((x / Fraction(Decimal(repr(q)))).denominator == 1 and (lo is None or x >= lo)
            and (hi is None or x <= hi))


@pytest.mark.parametrize("q,bounds", [(1.5, {}), (3.5, {}), (0.75, {}), (0.35, {}), (2.5, {"minimum": -10}),
                                      (1.5, {"minimum": 0, "exclusiveMaximum": 45}), (0.15, {})])
def test_verdicts_exact(byte_vocab, q, bounds):
    schema = {"type": "number", "multipleOf": q, **bounds}
    c = compile_json_schema(schema, byte_vocab)
    lo = bounds.get("minimum")
    hi = bounds.get("maximum")
    bad = []
    for t in TEXTS:
        want = exact(t, q, lo, hi) and ("exclusiveMaximum" not in bounds or Fraction(Decimal(t)) < bounds["exclusiveMaximum"])
        if accepts(c, byte_vocab, t) != want:
            bad.append((t, want))
    assert bad == []
    assert not any(accepts(c, byte_vocab, t) for t in NOT_NUMBERS)
    assert not accepts(c, byte_vocab, "4.5e0")  # documented narrowing: no exponent
    # jsonschema agrees where the float division is exact
    v = jsonschema.Draft202012Validator(schema)
    for t in ("4.5", "7", "35", "0.75", "1.05", "-10", "0"):
        x = json.loads(t)
        if (x / q) == round(x / q) or exact(t, q) is False:
            assert accepts(c, byte_vocab, t) == v.is_valid(x), t


def test_test_suite_by_number(byte_vocab):
    """multipleOf.json 'by number' (multipleOf 1.5)."""
    c = compile_json_schema({"multipleOf": 1.5}, byte_vocab)
    assert accepts(c, byte_vocab, "0") and accepts(c, byte_vocab, "4.5") and not accepts(c, byte_vocab, "35")


def test_decimal_multiple_and_limits():
    assert decimal_multiple(1.5) == (15, 1) and decimal_multiple(0.75) == (75, 2)
    assert decimal_multiple(0.35) == (35, 2) and decimal_multiple(3) is None
    d = number_multiple_of_dfa(15, 1)
    assert d.matches(b"4.5") and d.matches(b"-3") and not d.matches(b"4.4") and d.matches(b"1.50")


def test_too_large_is_a_clear_error(byte_vocab):
    with pytest.raises(UnsupportedSchemaError, match="multipleOf"):
        compile_json_schema({"type": "number", "multipleOf": 0.123456789}, byte_vocab)


@pytest.mark.parametrize("qs", [(2.5, 10), (1.5, 3.5), (0.5, 0.75), (2, 0.35), (0.25, 7), (1.5, 1.5, 2)])
def test_multiple_ofs_under_all_of_are_their_lcm(byte_vocab, qs):
    """Several ``multipleOf`` under ``allOf`` (or ``$ref`` beside one): a number is a multiple
    of all of them iff it is one of their least common multiple, exactly on decimals."""
    schema = {"type": "number", "allOf": [{"multipleOf": q} for q in qs]}
    c = compile_json_schema(schema, byte_vocab)
    bad = [(t, not accepts(c, byte_vocab, t)) for t in TEXTS
           if accepts(c, byte_vocab, t) != all(exact(t, q) for q in qs)]
    assert bad == []
    ints = {"type": "integer", "allOf": [{"multipleOf": q} for q in qs]}
    c = compile_json_schema(ints, byte_vocab)
    assert [t for t in INTS if accepts(c, byte_vocab, t) != all(exact(t, q) for q in qs)] == []


@pytest.mark.parametrize("draft", [None, "http://json-schema.org/draft-04/schema#"])
@pytest.mark.parametrize("q,bounds", [(1, {}), (1, {"minimum": 0, "maximum": 99999999}), (3, {"minimum": -10}),
                                      (1.0, {"minimum": -7, "maximum": 45}), (5, {})])
def test_numbers_with_an_integer_multiple_take_every_spelling_in_every_draft(byte_vocab, draft, q, bounds):
    """``type: number`` with an integer ``multipleOf`` takes ``6000.0`` in drafts 3 and 4 too
    (MaskBench Github_ultra:53 rejected it): draft 4 refuses a zero fraction only for
    ``type: integer``, and a number's ``multipleOf`` is about its value. Verdicts against
    exact rationals, and ``jsonschema`` with the schema's own draft (no exponents here: the
    bounded spellings are the documented narrowing); ``type: integer`` in draft 4 still
    refuses ``5.0``."""
    schema = {"type": "number", "multipleOf": q, **bounds, **({"$schema": draft} if draft else {})}
    c = compile_json_schema(schema, byte_vocab)
    v = jsonschema.validators.validator_for(schema)(schema)
    lo, hi = bounds.get("minimum"), bounds.get("maximum")
    bad = []
    for t in TEXTS:
        want = exact(t, q, lo, hi)
        got = accepts(c, byte_vocab, t)
        if got != want or got != v.is_valid(json.loads(t)):
            bad.append((t, want, got))
    assert bad == []
    assert accepts(c, byte_vocab, "15.0") and accepts(c, byte_vocab, "-0.00")
    if draft:
        as_integer = compile_json_schema(dict(schema, type="integer"), byte_vocab)
        assert accepts(as_integer, byte_vocab, "15") and not accepts(as_integer, byte_vocab, "15.0")
