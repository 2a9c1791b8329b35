"""constrain.frontends.json_schema.numeric: exact regexes for JSON numeric ranges and simple multipleOf.

The test-side engine is Python's ``re.fullmatch``: the produced patterns use only
the plain dialect (checked by ``assert_plain_dialect``) on which Python and
ECMA-262 agree.
"""

from __future__ import annotations

import itertools
import json
import re
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from constrain.frontends.json_schema.numeric import (
    INTEGER_FORMAT_BOUNDS,
    JSON_NUMBER_REGEX,
    exponent_is_exact,
    integer_multiple_of_regex,
    integer_range_regex,
    integer_spellings_regex,
    number_multiple_of_regex,
    number_range_regex,
)

try:  # Python 3.11+
    from re import _parser as sre_parse  # type: ignore[attr-defined]
    from re import _constants as sre_c  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_constants as sre_c  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_ALLOWED_OPS = {sre_c.LITERAL, sre_c.IN, sre_c.BRANCH, sre_c.SUBPATTERN, sre_c.MAX_REPEAT}
_ALLOWED_IN = {sre_c.LITERAL, sre_c.RANGE}


def assert_plain_dialect(pattern: str) -> None:
    """Only literals, positive classes, non-capturing groups, | and greedy quantifiers."""
    assert "\\d" not in pattern and "^" not in pattern and "$" not in pattern, pattern

    def walk(seq):
        for op, av in seq:
            assert op in _ALLOWED_OPS, (op, pattern)
            if op == sre_c.IN:
                for iop, _ in av:
                    assert iop in _ALLOWED_IN, (iop, pattern)
            elif op == sre_c.BRANCH:
                for sub in av[1]:
                    walk(sub)
            elif op == sre_c.SUBPATTERN:
                group, add_flags, del_flags, sub = av
                assert group is None and not add_flags and not del_flags, pattern
                walk(sub)
            elif op == sre_c.MAX_REPEAT:
                walk(av[2])

    walk(sre_parse.parse(pattern))


def matches(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern, text) is not None


JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


# ---------------------------------------------------------------------------
# integers
# ---------------------------------------------------------------------------

def int_texts(n: int) -> list[str]:
    return [str(n)] + (["-0"] if n == 0 else [])


bound_ints = st.one_of(
    st.none(),
    st.integers(-1200, 1200),
    st.integers(-(10**25), 10**25),
    st.sampled_from([0, 1, -1, 9, 10, 99, 100, 999, 1000, -9, -10, -100, 10**18, -(10**18), 10**40 - 1]),
)


@SETTINGS
@given(lo=bound_ints, hi=bound_ints, data=st.data())
def test_integer_range_exact(lo, hi, data):
    if lo is not None and hi is not None and lo > hi:
        with pytest.raises(ValueError):
            integer_range_regex(lo, hi)
        return
    pat = integer_range_regex(lo, hi)
    assert_plain_dialect(pat)
    rx = re.compile(pat)
    anchors = [x for x in (lo, hi) if x is not None] + [0]
    cands = set()
    for a in anchors:
        for d in (-11, -10, -2, -1, 0, 1, 2, 9, 10, 11):
            cands.add(a + d)
        cands.add(a * 10)
        cands.add(a // 10)
    for _ in range(20):
        cands.add(data.draw(st.integers(-(10**30), 10**30)))
        cands.add(data.draw(st.integers(-2000, 2000)))
    for n in cands:
        ok = (lo is None or lo <= n) and (hi is None or n <= hi)
        assert (rx.fullmatch(str(n)) is not None) == ok, (lo, hi, n, pat)
    # -0 is 0; non-canonical spellings never match
    zero_ok = (lo is None or lo <= 0) and (hi is None or 0 <= hi)
    assert (rx.fullmatch("-0") is not None) == zero_ok
    for bad in ("", "-", "00", "01", "-01", "+1", "1.0", "1e0", "--1", " 1", "1 "):
        assert rx.fullmatch(bad) is None, (bad, pat)


def test_integer_range_small_exhaustive():
    for lo in range(-25, 26, 3):
        for hi in range(lo, 130, 7):
            rx = re.compile(integer_range_regex(lo, hi))
            for n in range(-150, 150):
                assert (rx.fullmatch(str(n)) is not None) == (lo <= n <= hi), (lo, hi, n)


def test_integer_range_compact():
    assert integer_range_regex(0, 999999) == "(?:0|[1-9][0-9]{0,5}|-0)"
    assert integer_range_regex(None, None) == "-?(?:0|[1-9][0-9]*)"
    assert integer_range_regex(0, 0) == "-?0"
    assert integer_range_regex(1, None) == "[1-9][0-9]*"
    # size is linear in the number of digits, not in the size of the range
    big = integer_range_regex(-(10**60) + 12345, 10**80 - 98765)
    assert len(big) < 25 * (60 + 80), len(big)
    assert len(integer_range_regex(123456789, 987654321)) < 400
    # > 4300-digit ints (beyond sys.get_int_max_str_digits)
    huge = re.compile(integer_range_regex(0, 10**5000 + 1))
    big_text = "1" + "0" * 4999 + "1"
    assert huge.fullmatch(big_text) and huge.fullmatch("9" * 5000) and huge.fullmatch("12")
    assert not huge.fullmatch("1" + "0" * 4999 + "2") and not huge.fullmatch("1" * 5002)
    assert type(integer_range_regex(0, 5)) is str


def test_integer_range_non_integer_bounds():
    assert matches(integer_range_regex(1.5, 3.5), "2")
    assert not matches(integer_range_regex(1.5, 3.5), "1")
    assert not matches(integer_range_regex(1.5, 3.5), "4")
    assert matches(integer_range_regex(Decimal("-2.5"), None), "-2")
    assert not matches(integer_range_regex(Decimal("-2.5"), None), "-3")
    rx = integer_range_regex(0, 10, lo_exclusive=True, hi_exclusive=True)
    assert [n for n in range(-3, 14) if matches(rx, str(n))] == list(range(1, 10))
    assert not matches(rx, "-0")
    with pytest.raises(ValueError):
        integer_range_regex(1.2, 1.8)
    with pytest.raises(ValueError):
        integer_range_regex(5, 5, lo_exclusive=True)
    assert integer_range_regex(float("-inf"), float("inf")) == "-?(?:0|[1-9][0-9]*)"


def test_integer_format_bounds():
    lo, hi = INTEGER_FORMAT_BOUNDS["int32"]
    rx = integer_range_regex(lo, hi)
    for n in (lo, hi, 0, -1, 1, lo + 1, hi - 1):
        assert matches(rx, str(n))
    for n in (lo - 1, hi + 1, 10**10, -(10**10)):
        assert not matches(rx, str(n))
    lo, hi = INTEGER_FORMAT_BOUNDS["int64"]
    rx = integer_range_regex(lo, hi)
    assert matches(rx, str(hi)) and matches(rx, str(lo))
    assert not matches(rx, str(hi + 1)) and not matches(rx, str(lo - 1))


# ---------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------

INT_PARTS = ["0", "1", "2", "9", "10", "19", "20", "99", "100", "101", "123", "999", "1000"]
FRAC_ALPHABET = "01259"


@st.composite
def plain_numbers(draw) -> str:
    """JSON number text without exponent (trailing zeros, -0 included)."""
    sign = draw(st.sampled_from(["", "-"]))
    ip = draw(st.one_of(st.sampled_from(INT_PARTS), st.integers(0, 10**7).map(str)))
    frac = draw(st.one_of(st.none(), st.text(FRAC_ALPHABET, min_size=1, max_size=7)))
    return sign + ip + ("" if frac is None else "." + frac)


bound_numbers = st.one_of(
    st.none(),
    plain_numbers().map(Decimal),
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
    st.sampled_from([0, 0.5, -0.5, 1.5, 2.25, 0.1, 0.2, 0.3, 1e-7, 123.456, -0.0, Decimal("0.000"), Decimal("1E+2")]),
)


def as_decimal(x):
    if x is None:
        return None
    if isinstance(x, float):
        return Decimal(repr(x))
    return Decimal(x)


def neighbours(bound: Decimal) -> list[str]:
    """Number texts at, just around, and sharing a prefix with ``bound``."""
    t = format(bound, "f")
    out = {t, t + "0", t + "1", t + "9", t + "000001"}
    if "." not in t:
        out |= {t + ".0", t + ".00", t + ".5", t + ".01", t + ".99"}
    else:
        out.add(t.rstrip("0").rstrip(".") or "0")
        head, frac = t.split(".")
        if frac:
            out.add(head + "." + frac[:-1] + "0" if len(frac) > 1 else head)
            out.add(head + "." + frac + "99999")
    for delta in ("1", "0.1", "0.01", "0.0001", "1E-9"):
        for s in (bound + Decimal(delta), bound - Decimal(delta)):
            out.add(format(s, "f"))
    res = set()
    for s in out:
        if s.startswith("-"):
            res.add(s)
            res.add(s[1:])
        else:
            res.add(s)
            res.add("-" + s)
    return [s for s in res if JSON_NUMBER.fullmatch(s)]


def in_range(v: Decimal, lo, hi, lo_x, hi_x) -> bool:
    if lo is not None and (v < lo or (lo_x and v == lo)):
        return False
    if hi is not None and (v > hi or (hi_x and v == hi)):
        return False
    return True


@SETTINGS
@given(lo=bound_numbers, hi=bound_numbers, lo_x=st.booleans(), hi_x=st.booleans(),
       extra=st.lists(plain_numbers(), min_size=10, max_size=30))
@example(lo=1.5, hi=2.25, lo_x=False, hi_x=True, extra=["1.5", "2.2499999", "2.25", "1.49", "1.50", "2.250"])
@example(lo=0, hi=0, lo_x=False, hi_x=False, extra=["0", "-0", "-0.0", "0.000", "0.001", "-0.001"])
@example(lo=-1, hi=0, lo_x=True, hi_x=True, extra=["-0", "-0.5", "-1", "-0.999", "0"])
def test_number_range_exact(lo, hi, lo_x, hi_x, extra):
    dlo, dhi = as_decimal(lo), as_decimal(hi)
    lo_x = lo_x and dlo is not None
    hi_x = hi_x and dhi is not None
    if dlo is not None and dhi is not None and (dlo > dhi or (dlo == dhi and (lo_x or hi_x))):
        with pytest.raises(ValueError):
            number_range_regex(lo, hi, lo_exclusive=lo_x, hi_exclusive=hi_x)
        return
    pat = number_range_regex(lo, hi, lo_exclusive=lo_x, hi_exclusive=hi_x)
    assert_plain_dialect(pat)
    rx = re.compile(pat)
    cands = set(extra) | {"0", "-0", "0.0", "-0.00"}
    for b in (dlo, dhi):
        if b is not None:
            cands.update(neighbours(b))
    unbounded = dlo is None and dhi is None
    for s in cands:
        want = in_range(Decimal(s), dlo, dhi, lo_x, hi_x)
        assert (rx.fullmatch(s) is not None) == want, (lo, hi, lo_x, hi_x, s, pat)
    # exponent form: only when unbounded on both sides (default)
    for s in ("1e0", "0E+0", "-2.5e-3"):
        assert (rx.fullmatch(s) is not None) == unbounded, (s, pat)
    for bad in ("", "-", "01", "1.", ".5", "+1", "--1", "1..2", "0x1", "NaN", "Infinity"):
        assert rx.fullmatch(bad) is None, (bad, pat)


def test_number_range_examples():
    rx = number_range_regex(1.5, 2.25, hi_exclusive=True)
    for s in ("1.5", "1.50", "1.5000001", "2", "2.0", "2.2499999", "2.24"):
        assert matches(rx, s), s
    for s in ("2.25", "2.250", "1.49", "1.4999", "1", "3", "2.26", "-1.6"):
        assert not matches(rx, s), s
    rx = number_range_regex(Decimal("-0.05"), Decimal("0.05"))
    for s in ("-0.05", "-0.050", "-0", "0", "0.0499", "0.05", "-0.04"):
        assert matches(rx, s), s
    for s in ("-0.051", "0.0500001", "1", "-1"):
        assert not matches(rx, s), s
    # exclusive zero bound: -0 is 0 and is excluded
    rx = number_range_regex(0, 1, lo_exclusive=True)
    assert not matches(rx, "0") and not matches(rx, "-0") and not matches(rx, "0.000")
    assert matches(rx, "0.0001") and matches(rx, "1.000") and not matches(rx, "1.0001")
    # floats are taken by their shortest repr: 0.1 is exactly 0.1
    rx = number_range_regex(0.1, 0.3)
    assert matches(rx, "0.1") and matches(rx, "0.3") and matches(rx, "0.30")
    assert not matches(rx, "0.09999") and not matches(rx, "0.3000000000000001")
    assert number_range_regex(None, None) == JSON_NUMBER_REGEX
    with pytest.raises(ValueError):
        number_range_regex(2, 1)
    with pytest.raises(ValueError):
        number_range_regex(float("nan"), 1)


EXP_TEXTS = ["0e0", "-0E+5", "0.0e-3", "1e5", "-1e5", "1.5E-300", "-2.25e+2", "0.001e3", "-0.00e0", "9E9"]


@pytest.mark.parametrize("lo", [None, 0])
@pytest.mark.parametrize("hi", [None, 0])
@pytest.mark.parametrize("lo_x", [False, True])
@pytest.mark.parametrize("hi_x", [False, True])
def test_number_range_exponent_sign_bounds(lo, hi, lo_x, hi_x):
    lo_x = lo_x and lo is not None
    hi_x = hi_x and hi is not None
    if lo is not None and hi is not None and (lo_x or hi_x):
        with pytest.raises(ValueError):
            number_range_regex(lo, hi, lo_exclusive=lo_x, hi_exclusive=hi_x, allow_exponent=True)
        return
    assert exponent_is_exact(lo, hi)
    pat = number_range_regex(lo, hi, lo_exclusive=lo_x, hi_exclusive=hi_x, allow_exponent=True)
    assert_plain_dialect(pat)
    for s in EXP_TEXTS + ["0", "-0", "1", "-1", "0.5", "-0.5", "0.000", "-0.0"]:
        want = in_range(Decimal(s), as_decimal(lo), as_decimal(hi), lo_x, hi_x)
        assert matches(pat, s) == want, (lo, hi, lo_x, hi_x, s, pat)


def test_number_range_exponent_narrowing():
    # a non-zero bound: exponents are not regular; only the one-digit-mantissa subset is in
    assert not exponent_is_exact(0, 10)
    pat = number_range_regex(0, 10, allow_exponent=True)
    assert matches(pat, "5") and not matches(pat, "5e0") and not matches(pat, "0.5e1")
    assert matches(pat, "5e-1") and matches(pat, "1e-06") and not matches(pat, "-1e-06")
    assert not matches(number_range_regex(0, 10), "5e-1")  # allow_exponent not given: none
    pat = number_range_regex(None, None, allow_exponent=False)
    assert matches(pat, "-1.5") and not matches(pat, "1e5")


# ---------------------------------------------------------------------------
# multipleOf
# ---------------------------------------------------------------------------

@SETTINGS
@given(k=st.sampled_from([1, 2, 5, 10, 20, 50, 100, 200, 5000, 0.5, 2.5, 3, 7, 12, 0.3]),
       lo=st.one_of(st.none(), st.integers(-3000, 3000)),
       hi=st.one_of(st.none(), st.integers(-3000, 3000)),
       extra=st.lists(st.integers(-10**6, 10**6), max_size=20))
def test_integer_multiple_of(k, lo, hi, extra):
    if lo is not None and hi is not None and lo > hi:
        lo, hi = hi, lo
    kf = Fraction(Decimal(repr(k)) if isinstance(k, float) else k)
    ilo = -(10**9) if lo is None else lo
    ihi = 10**9 if hi is None else hi
    p = kf.numerator
    if not any(n % p == 0 for n in range(max(ilo, -5000), min(ihi, 5000) + 1)) and (ihi - ilo) < 10**4:
        with pytest.raises(ValueError):
            integer_multiple_of_regex(k, lo, hi)
        return
    pat = integer_multiple_of_regex(k, lo, hi)
    cheap_kind = p in (1, 2, 5, 10, 20, 50, 100, 200, 5000)
    if pat is None:
        assert not cheap_kind and (lo is None or hi is None or (hi - lo) // p >= 1999)
        return
    assert_plain_dialect(pat)
    rx = re.compile(pat)
    cands = set(extra) | {0}
    for a in (lo, hi):
        if a is not None:
            cands.update(range(a - 25, a + 26))
    for n in cands:
        want = (lo is None or lo <= n) and (hi is None or n <= hi) and n % p == 0
        assert (rx.fullmatch(str(n)) is not None) == want, (k, lo, hi, n, pat)
    zero_ok = (lo is None or lo <= 0) and (hi is None or hi >= 0)
    assert (rx.fullmatch("-0") is not None) == zero_ok
    assert rx.fullmatch("00") is None and rx.fullmatch("0.0") is None


def test_integer_multiple_of_cases():
    assert integer_multiple_of_regex(3) is None
    assert integer_multiple_of_regex(4, 0, 10**9) is None
    assert integer_multiple_of_regex(100) == "-?(?:0|[1-9][0-9]*00)"
    pat = integer_multiple_of_regex(2)
    assert matches(pat, "10") and matches(pat, "-4") and not matches(pat, "7") and not matches(pat, "04")
    pat = integer_multiple_of_regex(7, 0, 50)
    assert [n for n in range(-10, 60) if matches(pat, str(n))] == [0, 7, 14, 21, 28, 35, 42, 49]
    # n is a multiple of 3/2 iff it is a multiple of 3
    pat = integer_multiple_of_regex(Decimal("1.5"), -10, 10)
    assert [n for n in range(-12, 13) if matches(pat, str(n))] == [-9, -6, -3, 0, 3, 6, 9]
    with pytest.raises(ValueError):
        integer_multiple_of_regex(7, 1, 6)
    with pytest.raises(ValueError):
        integer_multiple_of_regex(0)


@st.composite
def number_texts_near_grid(draw) -> str:
    sign = draw(st.sampled_from(["", "-"]))
    ip = draw(st.sampled_from(["0", "1", "2", "3", "5", "9", "10", "20", "25", "99", "100", "150"]))
    frac = draw(st.one_of(st.none(), st.sampled_from(["0", "00", "5", "50", "25", "01", "1", "2", "05", "3", "6", "9", "005", "001", "010", "20", "2000"]),
                          st.text("0125", min_size=1, max_size=5)))
    return sign + ip + ("" if frac is None else "." + frac)


@SETTINGS
@given(k=st.sampled_from(["0.01", "0.5", "0.2", "0.05", "1", "2", "5", "10", "0.001", "0.3", "0.25", "3"]),
       lo=st.one_of(st.none(), st.sampled_from(["-100", "-1.5", "-0.25", "0", "0.01", "0.5", "1", "2.5", "10"])),
       hi=st.one_of(st.none(), st.sampled_from(["-1", "0", "0.3", "1", "1.25", "3", "20", "100"])),
       lo_x=st.booleans(), hi_x=st.booleans(),
       texts=st.lists(number_texts_near_grid(), min_size=20, max_size=40))
def test_number_multiple_of(k, lo, hi, lo_x, hi_x, texts):
    kd = Decimal(k)
    dlo = None if lo is None else Decimal(lo)
    dhi = None if hi is None else Decimal(hi)
    lo_x = lo_x and dlo is not None
    hi_x = hi_x and dhi is not None
    if dlo is not None and dhi is not None and (dlo > dhi or (dlo == dhi and (lo_x or hi_x))):
        with pytest.raises(ValueError):
            number_multiple_of_regex(kd, dlo, dhi, lo_exclusive=lo_x, hi_exclusive=hi_x)
        return
    try:
        pat = number_multiple_of_regex(kd, dlo, dhi, lo_exclusive=lo_x, hi_exclusive=hi_x)
    except ValueError:
        # only when no multiple lies in range
        assert dlo is not None and dhi is not None
        assert not any(in_range(m * kd, dlo, dhi, lo_x, hi_x) for m in range(-2000, 2001))
        return
    if pat is None:
        assert k in ("0.3", "0.25", "3") and (dlo is None or dhi is None)
        return
    assert_plain_dialect(pat)
    rx = re.compile(pat)
    for s in texts + ["0", "-0", "0.00", "1.0"]:
        v = Decimal(s)
        want = in_range(v, dlo, dhi, lo_x, hi_x) and (v % kd) == 0
        assert (rx.fullmatch(s) is not None) == want, (k, lo, hi, lo_x, hi_x, s, pat)
    assert rx.fullmatch("1e0") is None and rx.fullmatch("01") is None


def test_number_multiple_of_examples():
    pat = number_multiple_of_regex(0.01)
    for s in ("0", "-0", "1.5", "1.50", "1.500000", "-12.34", "0.01", "3"):
        assert matches(pat, s), s
    for s in ("0.001", "1.505", "0.0001", "1e2", "1."):
        assert not matches(pat, s), s
    pat = number_multiple_of_regex(0.5, 0, 2)
    assert [s for s in ("0", "0.5", "1", "1.5", "2", "2.5", "0.25", "1.50", "2.0", "-0.5", "-0") if matches(pat, s)] == \
        ["0", "0.5", "1", "1.5", "2", "1.50", "2.0", "-0"]
    assert number_multiple_of_regex(0.25) is None
    assert number_multiple_of_regex(0.25, 0, 1) is not None


# ---------------------------------------------------------------- integers spelled as 1.0, 1e2

_NUMBER = re.compile(JSON_NUMBER_REGEX)


def _in_documented_subset(s: str) -> bool:
    """The spellings docs/json_schema.md promises for an unbounded integer."""
    m = re.fullmatch(r"-?(0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE]([+-]?)([0-9]+))?", s)
    int_part, frac, sign, exp = m.group(1), m.group(2) or "", m.group(3), m.group(4)
    sig = frac.rstrip("0")
    if exp is None:
        return not sig
    e = int(exp)
    if int_part == "0" and not sig:
        return True  # zero, any exponent
    if sign == "-":
        return e <= 3 and not sig and len(int_part) - len(int_part.rstrip("0")) >= e and e >= 1
    return e <= 99 and len(sig) <= min(e, 4)


def test_integer_spellings_are_integers_and_cover_the_documented_subset():
    """Every string over a number alphabet up to 5 characters: the integer language holds
    exactly the JSON numbers with an integer value in the documented subset."""
    rx = re.compile(integer_spellings_regex())
    assert_plain_dialect(integer_spellings_regex())
    n_in = 0
    for k in range(1, 6):
        for chars in itertools.product("0159.eE+-", repeat=k):
            s = "".join(chars)
            got = rx.fullmatch(s) is not None
            is_number = _NUMBER.fullmatch(s) is not None
            if got:
                assert is_number and Decimal(s) == Decimal(s).to_integral_value(), s
                n_in += 1
            if is_number and Decimal(s) == Decimal(s).to_integral_value():
                assert got == _in_documented_subset(s), s
    assert n_in > 1000
    for s in ("1.0", "-5.0", "1e2", "1E+02", "1.5e1", "2.50e1", "10e-1", "0e-7", "-0.0", "100"):
        assert rx.fullmatch(s), s
    for s in ("1.5", "1e-1", "1.55e1", "100e-3", "01", "1.", "1e"):
        assert not rx.fullmatch(s), s


@pytest.mark.parametrize("schema", [
    {"type": "integer"}, {"type": "integer", "minimum": 5}, {"type": "integer", "minimum": -5, "maximum": 7},
    {"type": "integer", "multipleOf": 3}, {"type": "integer", "multipleOf": 7, "maximum": 100},
    {"type": "number", "multipleOf": 2}, {"type": ["integer", "string"]},
    {"$schema": "http://json-schema.org/draft-04/schema#", "type": "integer"},
])
def test_integer_schemas_accept_float_spellings_soundly(schema):
    """Against jsonschema over enumerated spellings: never a wrong accept, and every spelling
    without an exponent (``5.0``) decided exactly."""
    import jsonschema

    from constrain import compile_json_schema
    from constrain.tokens import Vocabulary

    toks = [bytes([b]) for b in b"0123456789.eE+-"] + [None]
    vocab = Vocabulary.from_token_bytes(toks, eos_ids=[len(toks) - 1])
    compiled = compile_json_schema(schema, vocab)
    validator = jsonschema.validators.validator_for(schema)(schema)
    accepted = 0
    for k in range(1, 5):
        for chars in itertools.product("0135.e-", repeat=k):
            s = "".join(chars)
            if _NUMBER.fullmatch(s) is None:
                continue
            m = compiled.matcher()
            got = m.advance_bytes(s.encode()) and m.is_accepting()
            want = validator.is_valid(json.loads(s))
            accepted += got
            assert not got or want, (schema, s)  # no wrong accept
            if "e" not in s:
                assert got == want, (schema, s)
    assert accepted > 10


EXP_MANTISSAS = ["0", "0.0", "1", "9", "1.5", "0.5", "0.05", "9.99", "12", "0.001", "5", "2.5", "10", "1.0"]
EXP_PARTS = ["e0", "e1", "e-1", "e-01", "e+1", "E+02", "e2", "e-2", "e-6", "e-06", "e16", "e+16", "e-300",
             "e300", "e-0", "e+00", "E-5"]
EXP_SPELLINGS = [s + m + e for s in ("", "-") for m in EXP_MANTISSAS for e in EXP_PARTS]


@SETTINGS
@given(lo=bound_numbers, hi=bound_numbers, lo_x=st.booleans(), hi_x=st.booleans())
@example(lo=0, hi=1, lo_x=False, hi_x=False)
@example(lo=3, hi=None, lo_x=False, hi_x=False)
@example(lo=None, hi=-10, lo_x=False, hi_x=True)
@example(lo=-0.05, hi=0.5, lo_x=True, hi_x=False)
def test_number_range_exponent_subset_is_exact(lo, hi, lo_x, hi_x):
    """With a non-zero bound the exponent spellings taken are a subset: never one outside the
    range, and the serialisers' forms (one-digit mantissa) wherever every value of their
    exponent's side is inside."""
    dlo, dhi = as_decimal(lo), as_decimal(hi)
    lo_x = lo_x and dlo is not None
    hi_x = hi_x and dhi is not None
    assume(not (dlo is not None and dhi is not None and (dlo > dhi or (dlo == dhi and (lo_x or hi_x)))))
    rx = re.compile(number_range_regex(lo, hi, lo_exclusive=lo_x, hi_exclusive=hi_x, allow_exponent=True))
    for s in EXP_SPELLINGS:
        if rx.fullmatch(s):
            assert in_range(Decimal(s), dlo, dhi, lo_x, hi_x), (lo, hi, lo_x, hi_x, s)
    # what is promised: small one-digit mantissas wherever (0, 1) (or (-1, 0)) is inside
    if (dlo is None or dlo <= 0) and (dhi is None or dhi >= 1):
        assert rx.fullmatch("1e-06") and rx.fullmatch("9.5E-1")
    if (dhi is None or dhi >= 0) and (dlo is None or dlo <= -1):
        assert rx.fullmatch("-2.5e-3")
    if dhi is None and (dlo is None or dlo <= 10):
        assert rx.fullmatch("1e+16") and rx.fullmatch("3.25E2")
