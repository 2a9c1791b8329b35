"""``integer`` / ``number``: bounds and ``multipleOf`` as exact regexes (:mod:`.numeric`).

An integer may be spelled with a zero fraction (``5.0``, any bounds) and, when unbounded,
with an exponent (``1e2``, ``1.5e1``: :func:`.numeric.integer_spellings_regex`), as JSON
Schema counts those as integers (not in drafts 3 and 4); bounded numbers come without
exponent; an integer ``multipleOf`` without a closed-form regex is the remainder automaton, and
a number ``multipleOf`` P / 10^k likewise (:func:`number_multiple_of_dfa`, numbers without exponent).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal

from ...errors import SchemaError
from ...ir import Expr, Lex, NOTHING, lexeme
from ..regex import regex_to_dfa
from . import numeric
from .ir import NUM_AND, NUM_MINUS


def multiple_of_dfa(k: int, negate: bool = False):
    """JSON integers divisible by ``k`` (``negate``: not divisible): the remainder automaton."""
    import numpy as np

    from ...automata import ByteDFA

    n = 3 + k  # 0 start, 1 after '-', 2 a lone zero, 3 + r: remainder r so far
    trans = np.full((n, 256), -1, dtype=np.int64)
    digits = np.arange(10)
    trans[0, ord("-")] = 1
    for s in (0, 1):
        trans[s, ord("0")] = 2
        trans[s, ord("1"):ord("9") + 1] = 3 + digits[1:] % k
    r = np.arange(k)[:, None]
    trans[3:, ord("0"):ord("9") + 1] = 3 + (10 * r + digits[None, :]) % k
    accept = np.zeros(n, dtype=bool)
    if negate:
        accept[4:] = True  # remainders 1..k-1
    else:
        accept[2] = accept[3] = True
    return ByteDFA(trans, accept)


#: the most states :func:`number_multiple_of_dfa` builds (P * (k + 1) + 4 for multipleOf P / 10^k)
NUMBER_MULTIPLE_STATES = 20_000


def decimal_multiple(q) -> tuple[int, int] | None:
    """``(P, k)`` with ``q == P / 10**k`` (k >= 1 minimal), for a ``multipleOf`` with a terminating
    decimal fraction (1.5 -> (15, 1), 0.75 -> (75, 2)); None for an integer or a non-terminating q."""
    f = numeric._as_fraction(q)
    k, den = 0, f.denominator
    while den % 2 == 0 or den % 5 == 0:
        den //= 2 if den % 2 == 0 else 5
    if den != 1 or f.denominator == 1:
        return None
    while (f * 10 ** k).denominator != 1:
        k += 1
    return int(f * 10 ** k), k


def number_multiple_of_dfa(P: int, k: int):
    """JSON numbers without exponent that are multiples of ``P / 10**k``: x is one iff
    y = x * 10**k is an integer (fraction digits past the k-th all zero) divisible by P, so the
    automaton keeps y's remainder mod P over the integer digits and the first k fraction digits."""
    import numpy as np

    from ...automata import ByteDFA

    # 0 start, 1 after '-', 2 a lone zero, 3 + r integer part with remainder r,
    # 3 + P + (j - 1) * P + r: '.' and j - 1 fraction digits read (j = 1..k), Z: k digits, y % P == 0
    Z = 3 + P + k * P
    n = Z + 1
    trans = np.full((n, 256), -1, dtype=np.int64)
    digits = np.arange(10)
    zero, one, nine, dot = ord("0"), ord("1"), ord("9"), ord(".")
    r = np.arange(P)[:, None]
    frac = lambda j: 3 + P + (j - 1) * P  # noqa: E731 - the block of '.' + (j - 1) digits
    trans[0, ord("-")] = 1
    for st in (0, 1):
        trans[st, zero] = 2
        trans[st, one:nine + 1] = 3 + digits[1:] % P
    trans[3:3 + P, zero:nine + 1] = 3 + (10 * r + digits[None, :]) % P
    trans[2, dot] = frac(1)
    trans[3:3 + P, dot] = frac(1) + np.arange(P)
    for j in range(1, k + 1):
        nxt = (10 * r + digits[None, :]) % P
        if j < k:
            trans[frac(j):frac(j) + P, zero:nine + 1] = frac(j + 1) + nxt
        else:
            trans[frac(j):frac(j) + P, zero:nine + 1] = np.where(nxt == 0, Z, -1)
    trans[Z, zero] = Z
    accept = np.zeros(n, dtype=bool)
    accept[2] = accept[Z] = True
    accept[3:3 + P] = (np.arange(P) * 10 ** k) % P == 0
    for j in range(2, k + 1):  # '.' and j - 1 >= 1 digits: the missing ones are zeros
        accept[frac(j):frac(j) + P] = (np.arange(P) * 10 ** (k - j + 1)) % P == 0
    return ByteDFA(trans, accept)


class NumbersMixin:
    """``integer``/``number`` with bounds and ``multipleOf`` (exact regexes from :mod:`.numeric`)."""

    def _bounds(self, s: dict, ptr: str):
        lo = hi = None
        lo_x = hi_x = False
        if "minimum" in s:
            lo = s["minimum"]
        if "maximum" in s:
            hi = s["maximum"]
        em, eM = s.get("exclusiveMinimum"), s.get("exclusiveMaximum")
        if isinstance(em, bool):
            lo_x = em and lo is not None
        elif em is not None:
            if lo is None or Decimal(repr(em)) >= Decimal(repr(lo)):
                lo, lo_x = em, True
        if isinstance(eM, bool):
            hi_x = eM and hi is not None
        elif eM is not None:
            if hi is None or Decimal(repr(eM)) <= Decimal(repr(hi)):
                hi, hi_x = eM, True
        for v, k in ((lo, "minimum"), (hi, "maximum")):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise SchemaError(f"{k} at {ptr} must be a number")
        return lo, hi, lo_x, hi_x

    def integer(self, s: dict, ptr: str, *, as_number: bool = False) -> Expr:
        """``type: integer``; ``as_number``: the integer values of a ``type: number`` (one with
        an integer ``multipleOf``), spelled as any number, so with a zero fraction (``5.0``)
        whatever the draft: drafts 3 and 4 refuse ``5.0`` only as an *integer*."""
        float_integers = self.float_integers or as_number
        lo, hi, lo_x, hi_x = self._bounds(s, ptr)
        ilo = ihi = None
        if lo is not None:
            d = Decimal(repr(lo)) if isinstance(lo, float) else Decimal(lo)
            ilo = int(d) + 1 if (lo_x and d == d.to_integral_value()) else math.ceil(d)
        if hi is not None:
            d = Decimal(repr(hi)) if isinstance(hi, float) else Decimal(hi)
            ihi = int(d) - 1 if (hi_x and d == d.to_integral_value()) else math.floor(d)
        if ilo is not None and ihi is not None and ilo > ihi:
            return NOTHING
        mult = s.get("multipleOf")
        if mult is not None:
            if isinstance(mult, bool) or not isinstance(mult, (int, float)) or mult <= 0:
                raise SchemaError(f"multipleOf at {ptr} must be a positive number")
            if isinstance(mult, float):
                # an integer n is a multiple of P/Q (in lowest terms) iff P divides n: 1.5 -> 3,
                # 0.25 -> 1 (every integer), 10.5 -> 21
                mult = numeric._as_fraction(mult).numerator
            if mult == 1:
                mult = None
        if mult is not None:
            try:
                r = numeric.integer_multiple_of_regex(mult, ilo, ihi)
            except ValueError:
                return NOTHING  # no multiple in range
            if r is not None:
                return Lex(self.L.regex(self._zero_fraction(r, float_integers), f"integer multipleOf {mult}"))
            if isinstance(mult, int) and mult <= 100_000:
                rng = None if ilo is None and ihi is None else numeric.integer_range_regex(ilo, ihi)
                frac = float_integers

                def build(k=mult, rng=rng, frac=frac):
                    d = multiple_of_dfa(k)
                    d = d if rng is None else d.intersect(regex_to_dfa(rng, encoding="utf8"))
                    return d.concat(regex_to_dfa(numeric.INTEGER_FRACTION_SUFFIX, encoding="utf8")) if frac else d

                return Lex(self.L._lex("intmult", f"{mult}:{ilo}:{ihi}:{frac}", build, f"integer multipleOf {mult}"))
            self.unsupported("multipleOf", ptr, f"multipleOf {mult} is not supported")
        if ilo is None and ihi is None:
            if float_integers:
                return Lex(self.L.regex(numeric.integer_spellings_regex(), "integer"))
            return Lex(self.L.integer())
        return Lex(self.L.regex(self._zero_fraction(numeric.integer_range_regex(ilo, ihi), float_integers),
                                f"integer [{ilo}, {ihi}]"))

    @staticmethod
    def _zero_fraction(digits: str, float_integers: bool) -> str:
        """An integer regex with the spellings ``5.0``, ``5.00``, ... of the same values
        (where ``float_integers``: the draft counts them as integers, or they are numbers)."""
        return f"(?:{digits}){numeric.INTEGER_FRACTION_SUFFIX}" if float_integers else digits

    def number(self, s: dict, ptr: str) -> Expr:
        lo, hi, lo_x, hi_x = self._bounds(s, ptr)
        mult = s.get("multipleOf")
        if mult is not None:
            if isinstance(mult, bool) or not isinstance(mult, (int, float)) or mult <= 0:
                raise SchemaError(f"multipleOf at {ptr} must be a positive number")
            if (isinstance(mult, int) or float(mult).is_integer()) and "integer":
                sub = dict(s, type="integer")
                return self.integer(sub, ptr, as_number=True)
            try:
                r = numeric.number_multiple_of_regex(mult, lo, hi, lo_exclusive=lo_x, hi_exclusive=hi_x)
            except ValueError:
                return NOTHING
            if r is not None:
                return Lex(self.L.regex(r, f"number multipleOf {mult}"))
            pk = decimal_multiple(mult)
            if pk is not None and pk[0] * (pk[1] + 1) + 4 <= NUMBER_MULTIPLE_STATES:
                rng = None if lo is None and hi is None else numeric.number_range_regex(
                    lo, hi, lo_exclusive=lo_x, hi_exclusive=hi_x)

                def build(pk=pk, rng=rng):
                    d = number_multiple_of_dfa(*pk)
                    return d if rng is None else d.intersect(regex_to_dfa(rng, encoding="utf8"))

                lx = self.L._lex("nummult", f"{pk}:{rng}", build, f"number multipleOf {mult}")
                return NOTHING if lx.dfa.is_empty() else Lex(lx)
            self.unsupported("multipleOf", ptr, f"multipleOf {mult} on numbers is not supported (a remainder "
                             f"automaton over {NUMBER_MULTIPLE_STATES} states, or not a terminating decimal)")
        if lo is None and hi is None:
            return Lex(self.L.number())
        try:
            # exponent spellings where exact: every one for bounds at 0, else the one-digit
            # mantissas serialisers write (1e-06 in [0, 1]; numeric._exponent_subset)
            r = numeric.number_range_regex(lo, hi, lo_exclusive=lo_x, hi_exclusive=hi_x, allow_exponent=True)
        except ValueError:
            return NOTHING
        return Lex(self.L.regex(r, f"number range {lo}..{hi}"))

    def _num_post(self, e: Expr, s: dict, ptr: str) -> Expr:
        """Apply the internal number restrictions of complements (``__num_and__``: regexes or
        ``["nonmult", k]`` the number must match, ``__num_minus__``: regexes it must not)."""
        ands, minus = s.get(NUM_AND, []), s.get(NUM_MINUS, [])
        if not ands and not minus or e is NOTHING:
            return e
        if not isinstance(e, Lex):
            self.unsupported("not", ptr, "negated number constraint")
            return e
        L = self.L
        base = e.lexeme

        def part(r):
            if isinstance(r, (list, tuple)):
                k = int(r[1])

                def build(k=k):
                    # a whole number spelled with a zero fraction (``3.0``) is an integer too
                    suffix = regex_to_dfa(numeric.INTEGER_FRACTION_SUFFIX, encoding="utf8")
                    return multiple_of_dfa(k, negate=True).concat(suffix)

                return L._lex("intnonmult", f"{k}:frac", build, f"integer not multipleOf {k}").dfa
            return L.regex(r).dfa

        def build_all():
            d = base.dfa
            for r in ands:
                d = d.intersect(part(r))
            for r in minus:
                d = d.difference(part(r))
            return d

        key = base.key + "|" + json.dumps([ands, minus])
        lx = lexeme(key, build_all, f"{base.name} restricted")
        return NOTHING if lx.dfa.is_empty() else Lex(lx)
