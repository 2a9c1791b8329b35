"""Exact regexes for JSON numeric ranges and simple ``multipleOf`` constraints.

Every function here returns a regex *string* in the plain dialect shared with
:mod:`constrain.frontends.regex`: literals, ``[...]`` classes (digits and ``-`` only),
``(?:...)``, ``|`` and the quantifiers ``* + ? {n} {n,} {n,m}``.  Patterns are
implicitly full-match (no ``^``/``$``), use no lookarounds, no backreferences,
no capture groups and no ``\\d`` (written ``[0-9]`` so the ASCII meaning is the
same in every dialect).

The regexes describe JSON number *text* (RFC 8259)::

    -?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?

Semantics and the documented narrowings:

* ``integer_range_regex(lo, hi)`` is exact: it matches exactly the JSON integer
  literals (no fraction, no exponent) whose value ``n`` satisfies
  ``lo <= n <= hi``.  ``-0`` is a valid JSON number equal to 0 and is matched iff
  0 is in range.  Bounds may be arbitrarily large ints; non-integer bounds are
  rounded inwards (``ceil(lo)``, ``floor(hi)``).  Generating an integer as
  ``1.0`` or ``1e0`` is the documented narrowing of DESIGN.md section 5.
* ``number_range_regex`` is exact on the plain notation ``-?I(.F)?`` on both
  sides of the decimal point (fractions of any length, trailing zeros allowed,
  ``-0``/``-0.0`` count as 0).  The exponent notation is included when the
  range is unbounded on both sides (unless ``allow_exponent=False``).  For a
  bounded range it is left out by default (narrowing).  With
  ``allow_exponent=True`` all of it is included when every bound is absent or 0
  (then only the sign of the value matters); for any other bound
  ``{m * 10**e : m*10**e <= b}`` over decimal ``e`` is not a regular language,
  so only an exact subset is included: one-digit mantissas with an exponent
  whose every value is inside (``1e-06`` in ``[0, 1]``, ``2.5e+16`` above
  ``minimum: 3``: what serialisers write; ``_exponent_subset``), and zero with
  any exponent where 0 is inside (narrowing for the rest, ``exponent_is_exact``).
* ``integer_multiple_of_regex`` / ``number_multiple_of_regex`` return a regex
  only in the cheap cases (``k = d * 10**e`` with ``d`` in {1, 2, 5}, or a
  bounded range with fewer than ``ENUMERATION_LIMIT`` multiples) and ``None``
  otherwise, so the caller can build a divisibility DFA instead.  Exponent
  notation is never produced by them.

Empty ranges (no value at all) raise ``ValueError``.

One module past ~800 lines on purpose: the range and ``multipleOf`` constructions share
the digit-string helpers and the narrowing rules above, and split apart they would need
each other.
"""

from __future__ import annotations

import math
from decimal import Decimal, ROUND_CEILING, ROUND_FLOOR
from fractions import Fraction
from typing import Union

__all__ = [
    "JSON_NUMBER_REGEX",
    "JSON_NUMBER_NO_EXPONENT_REGEX",
    "JSON_INTEGER_REGEX",
    "INTEGER_FRACTION_SUFFIX",
    "integer_spellings_regex",
    "INTEGER_FORMAT_BOUNDS",
    "ENUMERATION_LIMIT",
    "integer_range_regex",
    "number_range_regex",
    "exponent_is_exact",
    "integer_multiple_of_regex",
    "number_multiple_of_regex",
]

Number = Union[int, float, Decimal]

JSON_INTEGER_REGEX = "-?(?:0|[1-9][0-9]*)"

# Spellings of an integer value with a fraction or an exponent (JSON Schema counts ``1.0`` and
# ``1e2`` as integers, draft 6 on). Exactness needs counting (``1.25e2`` is one iff the
# exponent covers the fraction's significant digits), so the language is a regular subset: a
# zero fraction, any non-negative exponent up to 99 with a fraction of at most that many
# significant digits (up to 4), negative exponents down to -3 cancelled by trailing zeros, and
# zero with any exponent: about 50 DFA states, where wider bounds cost counter states on
# every integer. (Python's ``json`` reads such a text as a float, infinite past ~308 digits,
# which ``jsonschema`` then calls no integer; JSON Schema's numbers have no such limit, and
# neither has this language.)
_INT_PART = "(?:0|[1-9][0-9]*)"
_ZERO_FRACTION = r"\.0+"
_EXP_2 = "(?:[1-9][0-9]?)"  # an exponent value 1..99 after optional leading zeros
INTEGER_FRACTION_SUFFIX = "(?:" + _ZERO_FRACTION + ")?"


def integer_spellings_regex() -> str:
    """Every JSON spelling of an integer value this engine accepts (see the comment above)."""
    alts = [JSON_INTEGER_REGEX + INTEGER_FRACTION_SUFFIX,
            "-?" + _INT_PART + "(?:" + _ZERO_FRACTION + ")?[eE]\\+?0*(?:0|" + _EXP_2 + ")"]
    for d in range(1, 5):  # d significant fraction digits, exponent >= d
        exp = "(?:[" + str(d) + "-9]|[1-9][0-9])"
        alts.append("-?" + _INT_PART + "\\.[0-9]{1," + str(d) + "}0*[eE]\\+?0*" + exp)
    for j in range(1, 4):  # j trailing zeros cancel a negative exponent down to -j
        alts.append("-?[1-9][0-9]*0{" + str(j) + "}(?:" + _ZERO_FRACTION + ")?[eE]-0*[1-" + str(j) + "]")
    alts.append("-?0(?:" + _ZERO_FRACTION + ")?[eE][+-]?[0-9]+")
    return "(?:" + "|".join(alts) + ")"


JSON_NUMBER_NO_EXPONENT_REGEX = "-?(?:0|[1-9][0-9]*)(?:\\.[0-9]+)?"
JSON_NUMBER_REGEX = "-?(?:0|[1-9][0-9]*)(?:\\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_EXPONENT = "(?:[eE][+-]?[0-9]+)?"

# OpenAPI numeric formats: ranges for the caller to intersect with (format_regex
# returns None for them, they are not string formats).
INTEGER_FORMAT_BOUNDS = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
}

# Bounded ranges with fewer multiples than this are enumerated into a digit trie.
ENUMERATION_LIMIT = 2000

_DIGITS = "0123456789"
_ALL = "[0-9]"


# ---------------------------------------------------------------------------
# small regex-building helpers
# ---------------------------------------------------------------------------

def _istr(n: int) -> str:
    """str(n) for a non-negative int, also beyond sys.get_int_max_str_digits()."""
    try:
        return str(n)
    except ValueError:  # pragma: no cover - only for > 4300-digit ints
        return format(Decimal(n), "f")


def _cls(chars) -> str:
    """Regex for one character out of ``chars`` (digits, maybe '-' and '.')."""
    chars = sorted(set(chars))
    if not chars:
        raise AssertionError("empty class")
    dash = "-" in chars
    dot = "." in chars
    digits = [c for c in chars if c not in "-."]
    if len(chars) == 1:
        return "\\." if chars[0] == "." else chars[0]
    if not dash and "".join(digits) == _DIGITS:
        return _ALL
    out = []
    i = 0
    while i < len(digits):
        j = i
        while j + 1 < len(digits) and ord(digits[j + 1]) == ord(digits[j]) + 1:
            j += 1
        if j - i >= 2:
            out.append(digits[i] + "-" + digits[j])
        else:
            out.extend(digits[i : j + 1])
        i = j + 1
    return "[" + ("-" if dash else "") + ("." if dot else "") + "".join(out) + "]"


class _Alt(str):
    """A regex that is one wrapped alternation ``(?:a|b|...)``; ``parts`` are the alternatives.

    Marking the strings built here avoids re-scanning them (the builders nest regexes once
    per digit, and bounds may have thousands of digits)."""

    parts: tuple = ()


class _Atom(str):
    """A regex known to be a single atom (a wrapped group)."""


def _top_level_alt(s: str) -> bool:
    if isinstance(s, (_Alt, _Atom)) or "|" not in s:
        return False
    depth = 0
    i = 0
    in_cls = False
    while i < len(s):
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if in_cls:
            if c == "]":
                in_cls = False
        elif c == "[":
            in_cls = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return True
        i += 1
    return False


def _is_atom(s: str) -> bool:
    """True if ``s`` can take a quantifier as it stands."""
    if isinstance(s, (_Alt, _Atom)):
        return True
    if len(s) == 1 and s not in "()[]|*+?{}.\\^$":
        return True
    if len(s) == 2 and s[0] == "\\":
        return True
    if s.startswith("[") and s.endswith("]") and s.count("]") == 1:
        return True
    if s.startswith("(?:") and s.endswith(")"):
        depth = 0
        in_cls = False
        i = 0
        while i < len(s):
            c = s[i]
            if c == "\\":
                i += 2
                continue
            if in_cls:
                if c == "]":
                    in_cls = False
            elif c == "[":
                in_cls = True
            elif c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0 and i != len(s) - 1:
                    return False
            i += 1
        return True
    return False


def _group(s: str) -> str:
    """Make ``s`` safe to concatenate (wrap a top-level alternation)."""
    return _Atom("(?:" + s + ")") if _top_level_alt(s) else s


def _atom(s: str) -> str:
    return s if _is_atom(s) else _Atom("(?:" + s + ")")


def _seq(*parts: str) -> str:
    return "".join(_group(p) for p in parts)


def _alt(parts) -> str:
    seen: list[str] = []
    known: set[str] = set()
    for p in parts:
        # flatten a nested alternation "(?:a|b)" into its alternatives
        subs = p.parts if isinstance(p, _Alt) else [p]
        for q in subs:
            if q not in known:
                known.add(q)
                seen.append(q)
    if not seen:
        raise AssertionError("empty alternation")
    if len(seen) == 1:
        return seen[0]
    res = _Alt("(?:" + "|".join(seen) + ")")
    res.parts = tuple(seen)
    return res


def _opt(s: str) -> str:
    if s == "":
        return ""
    return _atom(s) + "?"


def _rep(atom: str, lo: int, hi: int | None) -> str:
    """``atom`` repeated lo..hi times (hi None = unbounded)."""
    if hi is None:
        if lo == 0:
            return atom + "*"
        if lo == 1:
            return atom + "+"
        return atom + "{%d,}" % lo
    if hi == 0:
        return ""
    if lo == hi:
        return atom if lo == 1 else atom + "{%d}" % lo
    if lo == 0 and hi == 1:
        return atom + "?"
    return atom + "{%d,%d}" % (lo, hi)


# ---------------------------------------------------------------------------
# integers (digit strings)
# ---------------------------------------------------------------------------

def _free_digits(k: int, mask: str | None) -> str:
    """Any ``k`` digits (k >= 1), the last one in ``mask`` if given."""
    if mask is None or mask == _DIGITS:
        return _rep(_ALL, k, k)
    return _rep(_ALL, k - 1, k - 1) + _cls(mask)


def _same_len(lo: str, hi: str, mask: str | None) -> str | None:
    """Digit strings s with len(s) == len(lo) == len(hi), lo <= s <= hi, last digit in mask.

    Bottom-up over the digit positions (no recursion: bounds may have thousands of digits).
    """
    n = len(lo)
    # a bound whose remaining digits are all 0 (lower) / all 9 (upper) constrains nothing
    lo_free = [False] * n + [True]
    hi_free = [False] * n + [True]
    for i in range(n - 1, -1, -1):
        lo_free[i] = lo_free[i + 1] and lo[i] == "0"
        hi_free[i] = hi_free[i + 1] and hi[i] == "9"

    def get(level: dict, i: int, tlo: bool, thi: bool) -> str | None:
        if i == n:
            return ""
        tlo = tlo and not lo_free[i]
        thi = thi and not hi_free[i]
        if not tlo and not thi:
            return _free_digits(n - i, mask)
        return level[(tlo, thi)]

    nxt: dict = {}
    for i in range(n - 1, -1, -1):
        allowed = mask if (mask is not None and i == n - 1) else _DIGITS
        cur: dict = {}
        for tlo, thi in ((True, True), (True, False), (False, True)):
            groups: dict[str, list[str]] = {}
            for c in allowed:
                if tlo and c < lo[i]:
                    continue
                if thi and c > hi[i]:
                    continue
                r = get(nxt, i + 1, tlo and c == lo[i], thi and c == hi[i])
                if r is None:
                    continue
                groups.setdefault(r, []).append(c)
            cur[(tlo, thi)] = _alt([_cls(cs) + r for r, cs in groups.items()]) if groups else None
        nxt = cur
    return get(nxt, 0, True, True)


def _pos_int_range(a: int, b: int | None, mask: str | None = None) -> str | None:
    """Canonical decimal strings of the integers n with 1 <= a <= n <= b (b None: no upper bound)."""
    assert a >= 1
    if b is not None and a > b:
        return None
    sa = _istr(a)
    la = len(sa)
    sb = _istr(b) if b is not None else None
    lb = len(sb) if sb is not None else la
    segments: list = []  # ("full", L1, L2) or ("re", regex)
    for L in range(la, lb + 1):
        lo_s = sa if L == la else "1" + "0" * (L - 1)
        hi_s = sb if (sb is not None and L == lb) else "9" * L
        if L == 1:
            full = lo_s == "1" and hi_s == "9" and mask is None
        else:
            full = lo_s == "1" + "0" * (L - 1) and hi_s == "9" * L
        if full:
            if segments and segments[-1][0] == "full" and segments[-1][2] == L - 1:
                segments[-1] = ("full", segments[-1][1], L)
            else:
                segments.append(("full", L, L))
        else:
            r = _same_len(lo_s, hi_s, mask)
            if r is not None:
                segments.append(("re", r))
    if b is None:
        # every length > la is complete
        if segments and segments[-1][0] == "full" and segments[-1][2] == la:
            segments[-1] = ("full", segments[-1][1], None)
        else:
            segments.append(("full", la + 1, None))
    alts = []
    for seg in segments:
        if seg[0] == "re":
            alts.append(seg[1])
            continue
        _, l1, l2 = seg
        if mask is None or mask == _DIGITS:
            alts.append("[1-9]" + _rep(_ALL, l1 - 1, None if l2 is None else l2 - 1))
        else:
            assert l1 >= 2
            alts.append("[1-9]" + _rep(_ALL, l1 - 2, None if l2 is None else l2 - 2) + _cls(mask))
    if not alts:
        return None
    return _alt(alts)


def _mag_int_alts(a: int, b: int | None, mask: str | None = None, zeros: int = 0) -> list[str]:
    """Alternatives for magnitudes m, a <= m <= b, as ``str(m) + '0'*zeros`` (m == 0 as ``0``)."""
    alts = []
    if b is not None and a > b:
        return alts
    if a == 0:
        alts.append("0")
    r = _pos_int_range(max(a, 1), b, mask)
    if r is not None:
        alts.append(_seq(r, "0" * zeros) if zeros else r)
    return alts


def _signed_int(lo: int | None, hi: int | None, mask: str | None = None, zeros: int = 0) -> str | None:
    """JSON integer literals for m*10**zeros, lo <= m <= hi, last digit of m in mask; '-0' iff 0 in range."""
    if lo is not None and hi is not None and lo > hi:
        return None
    # non-negative side
    pos: list[str] = []
    if hi is None or hi >= 0:
        a = max(lo, 0) if lo is not None else 0
        pos = _mag_int_alts(a, hi, mask, zeros)
    # negative side (magnitudes), includes -0 iff 0 is in range
    neg: list[str] = []
    if lo is None or lo <= 0:
        ma = 0 if (hi is None or hi >= 0) else -hi
        mb = None if lo is None else -lo
        neg = _mag_int_alts(ma, mb, mask, zeros)
    if not pos and not neg:
        return None
    if pos == neg:
        return _seq("-?", _alt(pos)) if len(pos) > 1 else "-?" + _group(pos[0])
    alts = list(pos)
    if neg:
        alts.append("-" + _group(_alt(neg)))
    return _alt(alts)


def _to_decimal(x, name: str) -> Decimal | None:
    """None, or the exact Decimal value (floats by their shortest repr; +-inf as Decimal infinities)."""
    if x is None:
        return None
    if isinstance(x, bool):
        raise TypeError(f"{name}: bool is not a number")
    if isinstance(x, Decimal):
        d = x
    elif isinstance(x, int):
        d = Decimal(x)
    elif isinstance(x, float):
        if math.isnan(x):
            raise ValueError(f"{name}: NaN bound")
        if math.isinf(x):
            d = Decimal("Infinity") if x > 0 else Decimal("-Infinity")
        else:
            d = Decimal(repr(x))
    else:
        raise TypeError(f"{name}: unsupported bound type {type(x).__name__}")
    if d.is_nan():
        raise ValueError(f"{name}: NaN bound")
    return d


def _int_bounds(lo, hi, lo_exclusive=False, hi_exclusive=False) -> tuple[int | None, int | None]:
    """Integer bounds from int/float/Decimal bounds (rounded inwards); raise on an empty range."""
    dlo = _to_decimal(lo, "lo")
    dhi = _to_decimal(hi, "hi")
    ilo: int | None
    ihi: int | None
    if dlo is None or (dlo.is_infinite() and dlo < 0):
        ilo = None
    elif dlo.is_infinite():
        raise ValueError("empty range: lo is +inf")
    else:
        ilo = int(dlo.to_integral_value(rounding=ROUND_CEILING))
        if lo_exclusive and dlo == ilo:
            ilo += 1
    if dhi is None or (dhi.is_infinite() and dhi > 0):
        ihi = None
    elif dhi.is_infinite():
        raise ValueError("empty range: hi is -inf")
    else:
        ihi = int(dhi.to_integral_value(rounding=ROUND_FLOOR))
        if hi_exclusive and dhi == ihi:
            ihi -= 1
    if ilo is not None and ihi is not None and ilo > ihi:
        raise ValueError(f"empty integer range [{lo}, {hi}]")
    return ilo, ihi


def integer_range_regex(lo: Number | None = None, hi: Number | None = None, *,
                        lo_exclusive: bool = False, hi_exclusive: bool = False) -> str:
    """Regex for exactly the JSON integer literals n with lo <= n <= hi.

    ``None`` means unbounded.  Literals are canonical (no leading zeros, no
    ``+``, no fraction, no exponent); ``-0`` is included iff 0 is in range.
    Non-integer bounds are rounded inwards; ``lo_exclusive``/``hi_exclusive``
    make the bounds strict.  Raises ``ValueError`` for an empty range.
    """
    ilo, ihi = _int_bounds(lo, hi, lo_exclusive, hi_exclusive)
    r = _signed_int(ilo, ihi)
    if r is None:  # pragma: no cover - _int_bounds already checked
        raise ValueError(f"empty integer range [{lo}, {hi}]")
    return str(r)


# ---------------------------------------------------------------------------
# numbers with fractions
# ---------------------------------------------------------------------------

# A fraction constraint is on the digit string d after the '.', read as the
# value 0.d (the empty string is 0): lo/hi are digit strings without trailing
# zeros ('' is 0) or None for no bound; *_s marks a strict bound.  ``fmask``
# restricts digits per position for multipleOf: (p, D): positions < p are free,
# position p is in D, positions > p are '0'.  None: no restriction.

def _zero_ok(lo, lo_s, hi, hi_s) -> bool:
    if lo is not None and (lo != "" or lo_s):
        return False
    if hi is not None and hi == "" and hi_s:
        return False
    return True


class _FracGen:
    def __init__(self, fmask):
        self.fmask = fmask
        self.memo: dict = {}

    def allowed(self, pos: int) -> str:
        if self.fmask is None:
            return _DIGITS
        p, d = self.fmask
        if pos < p:
            return _DIGITS
        if pos == p:
            return d
        return "0"

    def _key(self, lo, lo_s, hi, hi_s, pos):
        if lo == "" and not lo_s:
            lo = None
        if lo is None:
            lo_s = False
        if hi is None:
            hi_s = False
        if self.fmask is None:
            pos = 0
        else:
            pos = min(pos, self.fmask[0] + 1)
        return (lo, lo_s, hi, hi_s, pos)

    def _closed(self, key):
        """(True, regex-or-None) for the closed forms, else (False, None)."""
        lo, lo_s, hi, hi_s, pos = key
        if self.fmask is not None and pos > self.fmask[0]:
            return True, ("0+" if _zero_ok(lo, lo_s, hi, hi_s) else None)
        if hi == "":
            return True, ("0+" if _zero_ok(lo, lo_s, hi, hi_s) else None)
        if self.fmask is None:
            if lo is None and hi is None:
                return True, "[0-9]+"
            if lo == "" and lo_s and hi is None:
                return True, "0*[1-9][0-9]*"
        return False, None

    def _children(self, key):
        """[(digit, child key)] for the first digit of a non-empty string in state ``key``."""
        lo, lo_s, hi, hi_s, pos = key
        out = []
        for c in self.allowed(pos):
            nlo, nlo_s = lo, lo_s
            if lo is not None:
                l0 = lo[0] if lo else "0"
                if c < l0:
                    continue
                if c == l0:
                    nlo = lo[1:]
                else:
                    nlo, nlo_s = None, False
            nhi, nhi_s = hi, hi_s
            if hi is not None:
                h0 = hi[0]
                if c > h0:
                    continue
                if c == h0:
                    nhi = hi[1:]
                else:
                    nhi, nhi_s = None, False
            out.append((c, self._key(nlo, nlo_s, nhi, nhi_s, pos + 1)))
        return out

    def _ne(self, key) -> str | None:
        """Non-empty digit strings in state ``key`` (iterative: bounds may be very long)."""
        done, val = self._closed(key)
        if done:
            return val
        memo = self.memo
        stack = [key]
        while stack:
            k = stack[-1]
            if k in memo:
                stack.pop()
                continue
            kids = self._children(k)
            missing = [ck for _, ck in kids if ck not in memo and not self._closed(ck)[0]]
            if missing:
                stack.extend(missing)
                continue
            groups: dict[str, list[str]] = {}
            for c, ck in kids:
                r = self._pe(ck)
                if r is None:
                    continue
                groups.setdefault(r, []).append(c)
            memo[k] = _alt([_cls(cs) + r for r, cs in groups.items()]) if groups else None
            stack.pop()
        return memo[key]

    def _pe(self, key) -> str | None:
        """Possibly-empty digit strings in state ``key`` (its non-empty part must be known)."""
        done, ne = self._closed(key)
        if not done:
            ne = self.memo[key] if key in self.memo else self._ne(key)
        lo, lo_s, hi, hi_s, _ = key
        z = _zero_ok(lo, lo_s, hi, hi_s)
        if ne is None:
            return "" if z else None
        if not z:
            return ne
        if ne == "0+":
            return "0*"
        if ne == "[0-9]+":
            return "[0-9]*"
        return _opt(ne)

    def nonempty(self, lo, lo_s, hi, hi_s, pos) -> str | None:
        """Non-empty digit strings (starting at fraction position ``pos``) within the bounds."""
        return self._ne(self._key(lo, lo_s, hi, hi_s, pos))

    def possibly_empty(self, lo, lo_s, hi, hi_s, pos) -> str | None:
        return self._pe(self._key(lo, lo_s, hi, hi_s, pos))

    def part(self, lo, lo_s, hi, hi_s) -> str | None:
        """The optional '.digits' part of a number whose fraction lies within the bounds."""
        if lo == "" and not lo_s:
            lo = None
        ne = self.nonempty(lo, lo_s, hi, hi_s, 1)
        z = _zero_ok(lo, lo_s, hi, hi_s)
        if ne is None:
            return "" if z else None
        body = "\\." + _group(ne)
        return _opt(body) if z else body


def _split(d: Decimal) -> tuple[int, str]:
    """Non-negative Decimal -> (integer part, fraction digits without trailing zeros)."""
    s = format(d, "f")
    if "." in s:
        ip, fp = s.split(".")
        fp = fp.rstrip("0")
    else:
        ip, fp = s, ""
    return int(ip), fp


def _magnitude(a: Decimal, a_s: bool, b: Decimal | None, b_s: bool, fmask=None) -> str | None:
    """Unsigned number text I(.F)? (I canonical) with value in the interval (a, b)."""
    if b is not None and (a > b or (a == b and (a_s or b_s))):
        return None
    gen = _FracGen(fmask)
    free = gen.part(None, False, None, False)
    ai, af = _split(a)
    alts: list[str] = []

    def int_alts(x: int, y: int | None) -> list[str]:
        return _mag_int_alts(x, y)

    if b is None:
        if af == "" and not a_s:
            ia = int_alts(ai, None)
            alts.append(_seq(_alt(ia), free))
        else:
            f = gen.part(af, a_s, None, False)
            if f is not None:
                alts.append(_istr(ai) + f)
            alts.append(_seq(_alt(int_alts(ai + 1, None)), free))
        return _alt(alts)
    bi, bf = _split(b)
    if ai == bi:
        f = gen.part(af, a_s, bf, b_s)
        if f is None:
            return None
        return _istr(ai) + f
    lower_free = af == "" and not a_s
    start = ai if lower_free else ai + 1
    if not lower_free:
        f = gen.part(af, a_s, None, False)
        if f is not None:
            alts.append(_istr(ai) + f)
    if start <= bi - 1:
        alts.append(_seq(_alt(int_alts(start, bi - 1)), free))
    f = gen.part(None, False, bf, b_s)
    if f is not None:
        alts.append(_istr(bi) + f)
    if not alts:
        return None
    return _alt(alts)


def _bounds(lo, hi, lo_exclusive, hi_exclusive):
    dlo = _to_decimal(lo, "lo")
    dhi = _to_decimal(hi, "hi")
    if dlo is not None and dlo.is_infinite():
        if dlo > 0:
            raise ValueError("empty range: lo is +inf")
        dlo, lo_exclusive = None, False
    if dhi is not None and dhi.is_infinite():
        if dhi < 0:
            raise ValueError("empty range: hi is -inf")
        dhi, hi_exclusive = None, False
    if dlo is not None and dhi is not None:
        if dlo > dhi or (dlo == dhi and (lo_exclusive or hi_exclusive)):
            raise ValueError(f"empty range {'(' if lo_exclusive else '['}{lo}, {hi}{')' if hi_exclusive else ']'}")
    return dlo, bool(lo_exclusive) and dlo is not None, dhi, bool(hi_exclusive) and dhi is not None


def exponent_is_exact(lo, hi) -> bool:
    """True if the exponent notation can be matched exactly for this range (bounds None or 0)."""
    for x in (lo, hi):
        d = _to_decimal(x, "bound")
        if d is not None and not d.is_infinite() and d != 0:
            return False
    return True


_ZERO = Decimal(0)


def _signed_number(lo, lo_s, hi, hi_s, fmask=None) -> str | None:
    """Sign handling over _magnitude.  Bounds are Decimals or None, range known non-empty."""
    pos = neg = None
    # non-negative text: value v = m >= 0
    if hi is None or hi >= 0:
        if lo is None or lo < 0:
            a, a_s = _ZERO, False
        else:
            a, a_s = lo, lo_s
        pos = _magnitude(a, a_s, hi, hi_s, fmask)
    # negative text: value v = -m, m >= 0; '-0' is 0
    if lo is None or lo <= 0:
        if hi is None or hi > 0:
            ma, ma_s = _ZERO, False
        else:
            ma, ma_s = hi.copy_negate(), hi_s
        mb = None if lo is None else lo.copy_negate()
        neg = _magnitude(ma, ma_s, mb, lo_s, fmask)
    if pos is None and neg is None:
        return None
    if pos == neg:
        return "-?" + _group(pos)
    alts = []
    if pos is not None:
        alts.append(pos)
    if neg is not None:
        alts.append("-" + _group(neg))
    return _alt(alts)


def number_range_regex(lo: Number | None = None, hi: Number | None = None, *,
                       lo_exclusive: bool = False, hi_exclusive: bool = False,
                       allow_exponent: bool | None = None) -> str:
    """Regex for the JSON number texts whose value lies in the range.

    ``lo``/``hi``: int, float (taken as ``Decimal(repr(x))``), Decimal or None
    (unbounded); ``lo_exclusive``/``hi_exclusive`` make a bound strict.
    Exact on the plain notation (any number of fraction digits, trailing zeros,
    ``-0``).  Exponent notation: included when unbounded on both sides (unless
    ``allow_exponent`` is False); for bounded ranges only with
    ``allow_exponent=True`` and only where that is exact (all bounds 0 or
    absent), otherwise left out (documented narrowing).  Raises ``ValueError``
    for an empty range.
    """
    dlo, lo_s, dhi, hi_s = _bounds(lo, hi, lo_exclusive, hi_exclusive)
    if dlo is None and dhi is None:
        return JSON_NUMBER_REGEX if allow_exponent is not False else JSON_NUMBER_NO_EXPONENT_REGEX
    if allow_exponent and (dlo is None or dlo == 0) and (dhi is None or dhi == 0):
        return str(_sign_only_regex(dlo, lo_s, dhi, hi_s))
    r = _signed_number(dlo, lo_s, dhi, hi_s)
    if r is None:  # pragma: no cover - _bounds already checked
        raise ValueError("empty range")
    if allow_exponent:
        e = _exponent_subset(dlo, lo_s, dhi, hi_s)
        if e is not None:
            return _alt([str(r), e])
    return str(r)


def _exponent_subset(lo, lo_s, hi, hi_s) -> str | None:
    """The exponent spellings certainly inside a range with a non-zero bound (an exact subset:
    the whole set is not regular).  Chosen to cover what serialisers write, Python's
    ``repr(1e-06)`` / ``repr(1e+16)`` and C's ``%g``: a one-digit integer part.

    * small: ``m e-k`` with ``0 < |m| < 10`` (``[1-9]`` or ``0.`` and a non-zero digit after)
      and ``k >= K >= 1`` has ``0 < |v| < 10**(1-K)``: inside when the range holds ``(0, 10**(1-K))``
      on that side of 0;
    * large: ``m e+k`` with ``m`` in ``[1, 10)`` (``[1-9](.d+)?``) and ``k >= K >= 1`` has
      ``|v| >= 10**K``: inside when the range is unbounded on that side and reaches ``10**K``;
    * zero with any exponent, where 0 is inside.
    Bounds are Decimals (or None) of a non-empty range."""
    def at_least(k: int) -> str:  # an exponent's digits, leading zeros allowed, value >= k >= 1
        return "0*" + _group(str(_pos_int_range(k, None)))

    def small_k(room):  # the least K >= 1 with 10**(1-K) <= room (room > 0), None: any K
        k = 1
        while room is not None and Decimal(10) ** (1 - k) > room:
            k += 1
        return k

    def large_k(reach, strict):  # the least K >= 1 with 10**K >= reach (> when strict)
        k = 1
        while Decimal(10) ** k < reach or (strict and Decimal(10) ** k == reach):
            k += 1
        return k

    small_m = "(?:[1-9](?:\\.[0-9]+)?|0\\.[0-9]*[1-9][0-9]*)"
    large_m = "[1-9](?:\\.[0-9]+)?"
    alts = []
    if (lo is None or lo <= 0) and (hi is None or hi > 0):  # small positives: lo <= 0 < v
        alts.append(small_m + "[eE]-" + at_least(small_k(hi)))
    if hi is None:  # large positives
        alts.append(large_m + "[eE]\\+?" + at_least(large_k(lo if lo is not None else Decimal(0), lo_s)))
    if (hi is None or hi >= 0) and (lo is None or lo < 0):  # small negatives: v < 0 <= hi
        alts.append("-" + small_m + "[eE]-" + at_least(small_k(None if lo is None else -lo)))
    if lo is None:  # large negatives
        alts.append("-" + large_m + "[eE]\\+?" + at_least(large_k(-hi if hi is not None else Decimal(0), hi_s)))
    zero_in = (lo is None or lo < 0 or (lo == 0 and not lo_s)) and (hi is None or hi > 0 or (hi == 0 and not hi_s))
    if zero_in:
        alts.append("-?0(?:\\.0+)?[eE][+-]?[0-9]+")
    return _alt(alts) if alts else None


def _sign_only_regex(lo, lo_s, hi, hi_s) -> str:
    """Exact regex with exponents for ranges whose bounds are all 0 or absent."""
    mant = "(?:0|[1-9][0-9]*)(?:\\.[0-9]+)?"
    nonzero = "(?:[1-9][0-9]*(?:\\.[0-9]+)?|0\\.0*[1-9][0-9]*)"
    zero = "0(?:\\.0+)?"
    want_pos = hi is None
    want_neg = lo is None
    want_zero = not ((lo is not None and lo_s) or (hi is not None and hi_s))

    def side(nz: bool) -> str | None:
        if nz and want_zero:
            return mant
        if nz:
            return nonzero
        if want_zero:
            return zero
        return None

    u = side(want_pos)
    s = side(want_neg)
    if u is None and s is None:
        raise ValueError("empty range")
    if u == s:
        core = "-?" + _group(u)
    else:
        alts = [x for x in (u, None if s is None else "-" + _group(s)) if x is not None]
        core = _alt(alts)
    return _seq(core, _EXPONENT)


# ---------------------------------------------------------------------------
# multipleOf
# ---------------------------------------------------------------------------

def _as_fraction(k) -> Fraction:
    if isinstance(k, bool):
        raise TypeError("multipleOf: bool")
    if isinstance(k, float):
        if not math.isfinite(k):
            raise ValueError("multipleOf must be finite")
        k = Decimal(repr(k))
    if isinstance(k, Decimal):
        if not k.is_finite():
            raise ValueError("multipleOf must be finite")
        f = Fraction(k)
    else:
        f = Fraction(k)
    if f <= 0:
        raise ValueError("multipleOf must be > 0")
    return f


def _d_pow10(n: int) -> tuple[int, int] | None:
    """n = d * 10**e with d in {1, 2, 5} -> (d, e), else None."""
    e = 0
    while n % 10 == 0:
        n //= 10
        e += 1
    if n in (1, 2, 5):
        return n, e
    return None


_MASKS = {1: None, 2: "02468", 5: "05"}


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def _trie_regex(strings, tails=None) -> str:
    """Compact regex for a finite set of strings (a trie with merged identical siblings).

    ``tails`` maps a string to a regex appended after it (default none)."""
    trie: dict = {}
    END = ""
    for s in strings:
        node = trie
        for ch in s:
            node = node.setdefault(ch, {})
        node[END] = tails.get(s, "") if tails else ""
    memo: dict = {}

    def rx(node) -> str:
        nid = id(node)
        if nid in memo:
            return memo[nid]
        groups: dict[str, list[str]] = {}
        for ch in sorted(k for k in node if k != END):
            groups.setdefault(rx(node[ch]), []).append(ch)
        alts = [_cls(chs) + r for r, chs in groups.items()]
        if END in node:
            tail = node[END]
            if not alts:
                res = tail
            elif tail == "":
                res = _opt(_alt(alts))
            else:
                res = _alt([tail] + alts)
        else:
            res = _alt(alts)
        memo[nid] = res
        return res

    return rx(trie)


def integer_multiple_of_regex(k: Number, lo: Number | None = None, hi: Number | None = None) -> str | None:
    """JSON integer literals n with lo <= n <= hi that are multiples of k, where cheap.

    Cheap cases: the numerator of k (as a reduced fraction; n is a multiple of
    p/q iff p divides n) is ``d * 10**e`` with d in {1, 2, 5}; or a bounded
    range with fewer than ``ENUMERATION_LIMIT`` multiples.  Otherwise ``None``
    (use a divisibility DFA).  ``-0`` is included iff 0 is in range.  Raises
    ``ValueError`` when no integer in range is a multiple of k.
    """
    p = _as_fraction(k).numerator
    ilo, ihi = _int_bounds(lo, hi)
    mlo = None if ilo is None else _ceil_div(ilo, p)
    mhi = None if ihi is None else ihi // p
    if mlo is not None and mhi is not None and mlo > mhi:
        raise ValueError(f"no multiple of {k} in [{lo}, {hi}]")
    de = _d_pow10(p)
    if de is not None:
        d, e = de
        # n = m * 10**e, m a multiple of d; the range of m:
        t = 10**e
        mlo2 = None if ilo is None else _ceil_div(ilo, t)
        mhi2 = None if ihi is None else ihi // t
        r = _signed_int(mlo2, mhi2, _MASKS[d], e)
        if r is None:
            raise ValueError(f"no multiple of {k} in [{lo}, {hi}]")
        return str(r)
    if mlo is None or mhi is None or mhi - mlo + 1 >= ENUMERATION_LIMIT:
        return None
    strings = []
    for m in range(mlo, mhi + 1):
        n = m * p
        strings.append(_istr(n) if n >= 0 else "-" + _istr(-n))
        if n == 0:
            strings.append("-0")
    return str(_trie_regex(strings))


def number_multiple_of_regex(k: Number, lo: Number | None = None, hi: Number | None = None, *,
                             lo_exclusive: bool = False, hi_exclusive: bool = False) -> str | None:
    """JSON number texts (no exponent) whose value is a multiple of k within the range, where cheap.

    Cheap cases: ``k = d * 10**e`` with d in {1, 2, 5} and any integer e (e.g.
    0.01, 0.5, 0.25 is not: d=25), any range; or a bounded range with fewer than
    ``ENUMERATION_LIMIT`` multiples.  Otherwise ``None``.  Trailing zeros in
    the fraction are allowed (``0.10`` for k=0.01); the exponent notation is
    never produced (narrowing).  Raises ``ValueError`` for an empty range.
    """
    kf = _as_fraction(k)
    dlo, lo_s, dhi, hi_s = _bounds(lo, hi, lo_exclusive, hi_exclusive)
    # k must be a terminating decimal for the digit-based forms
    den = kf.denominator
    while den % 2 == 0:
        den //= 2
    while den % 5 == 0:
        den //= 5
    terminating = den == 1
    if terminating:
        # k = c * 10**e with c an integer without trailing zeros
        num, den, e = kf.numerator, kf.denominator, 0
        while den != 1:
            num *= 10
            e -= 1
            g = math.gcd(num, den)
            num //= g
            den //= g
        while num % 10 == 0:
            num //= 10
            e += 1
        if num in (1, 2, 5):
            if e >= 0:
                ilo, ihi = _int_bounds(dlo, dhi, lo_s, hi_s)
                r = _signed_int(None if ilo is None else _ceil_div(ilo, 10**e),
                                None if ihi is None else ihi // 10**e, _MASKS[num], e)
                if r is None:
                    raise ValueError(f"no multiple of {k} in range")
                return str(_seq(r, "(?:\\.0+)?"))
            r = _signed_number(dlo, lo_s, dhi, hi_s, fmask=(-e, _DIGITS if num == 1 else _MASKS[num]))
            if r is None:
                raise ValueError(f"no multiple of {k} in range")
            return str(r)
    if dlo is None or dhi is None:
        return None
    flo = Fraction(dlo)
    fhi = Fraction(dhi)
    mlo = math.ceil(flo / kf)
    if lo_s and mlo * kf == flo:
        mlo += 1
    mhi = math.floor(fhi / kf)
    if hi_s and mhi * kf == fhi:
        mhi -= 1
    if mlo > mhi:
        raise ValueError(f"no multiple of {k} in range")
    if mhi - mlo + 1 >= ENUMERATION_LIMIT:
        return None
    strings = []
    tails = {}
    for m in range(mlo, mhi + 1):
        v = m * kf
        if v.denominator == 1:
            s = _istr(abs(v.numerator))
            tail = "(?:\\.0+)?"
        else:
            den = v.denominator
            while den % 2 == 0:
                den //= 2
            while den % 5 == 0:
                den //= 5
            if den != 1:
                continue  # not representable as a finite decimal text
            s = _dec_text(abs(v))
            tail = "0*"
        for t in ([s, "-" + s] if v == 0 else ["-" + s if v < 0 else s]):
            strings.append(t)
            tails[t] = tail
    if not strings:
        raise ValueError(f"no multiple of {k} representable in range")
    return str(_trie_regex(strings, tails))


def _dec_text(v: Fraction) -> str:
    """Shortest plain decimal text of a non-negative terminating Fraction."""
    ip, rem = divmod(v.numerator, v.denominator)
    digits = []
    while rem:
        rem *= 10
        q, rem = divmod(rem, v.denominator)
        digits.append(str(q))
    return _istr(ip) + ("." + "".join(digits) if digits else "")
