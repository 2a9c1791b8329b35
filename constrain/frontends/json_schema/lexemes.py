"""The lexemes of JSON text, with the whitespace policy folded in.

JSON allows whitespace before and after every structural character and around the whole
text; equivalently, before every token plus at the very end. So every lexeme here is
``WS? core`` (one bounded or unbounded run of JSON whitespace, then the token) and the
document may end with one trailing run. Each whitespace run is then a prefix of exactly one
lexeme, which makes a run-length bound exact and keeps the parser free of whitespace.

Lexemes are interned by a canonical key, so a string lexeme with the same constraints is
built (and walked over the vocabulary) once per process, whichever schema uses it.
"""

from __future__ import annotations

import json

import numpy as np
from functools import lru_cache

from ...automata import ByteDFA, counted_content_dfa, counted_string_dfa, finalize
from ...automata.counted import NotCountable
from ...automata.minimize import acyclic_order
from ...cache import budgeted_cache, register_lru
from ...errors import CompileBudgetError, OptionError
from ...ir import Lexeme, lexeme
from ..regex import literal_dfa, literal_set_dfa, regex_to_dfa

__all__ = ["JsonLexemes", "canonical_string", "canonical_literals", "regex_escape", "string_spec", "string_content", "ANY_STRING", "NUMBER_REGEX", "INTEGER_REGEX"]

NUMBER_REGEX = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
INTEGER_REGEX = r"-?(?:0|[1-9][0-9]*)"
_ANY_CHARS = r"[\s\S]"
COUNTED_ABOVE = 32  # length bounds above this use a counter instead of copies of the automaton
_META = set("\\^$.|?*+()[]{}/-")


def regex_escape(text: str) -> str:
    """A regex (our ECMA dialect) matching exactly ``text``."""
    out = []
    for ch in text:
        if ch in _META:
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


class JsonLexemes:
    """Builds the lexemes of one whitespace policy.

    ``whitespace="flexible"`` allows runs of ``[ \\t\\n\\r]`` of length up to ``max_ws``
    (``None``: unbounded) wherever JSON allows whitespace; ``"compact"`` allows none.
    ``max_newlines``: at most this many ``\\n`` in one run (``None``: no limit beyond
    ``max_ws``). ``trailing_ws=False``: nothing may follow the root value.
    ``canonical_literals=True``: strings known in advance (property names, ``enum``/``const``
    strings) are spelled only as :func:`canonical_string` writes them, instead of in every
    escape spelling; string languages (``pattern``, ``format``, ...) keep every spelling.
    ``canonical_strings=True``: every string (keys and values, free or constrained) is spelled
    only canonically (regex ``encoding="json-canonical"``): an escape only where JSON needs
    one, so no ``\\u0061`` for ``a`` and no ``\\/``. Implies ``canonical_literals``. The
    language is "valid instance, canonically spelled": the decoded values are unchanged.
    """

    def __init__(self, whitespace: str = "flexible", max_ws: int | None = None, *,
                 max_newlines: int | None = None, trailing_ws: bool = True,
                 canonical_literals: bool = False, canonical_strings: bool = False):
        if whitespace not in ("flexible", "compact"):
            raise OptionError(f"whitespace must be 'flexible' or 'compact', not {whitespace!r}")
        if max_ws is not None and max_ws < 0:
            raise OptionError("max_ws must be >= 0 or None")
        if max_newlines is not None and max_newlines < 0:
            raise OptionError("max_newlines must be >= 0 or None")
        self.whitespace = whitespace
        self.max_ws = 0 if whitespace == "compact" else max_ws
        self.max_newlines = None if self.max_ws == 0 else max_newlines
        if self.max_newlines is not None and self.max_ws is not None and self.max_newlines >= self.max_ws:
            self.max_newlines = None  # no tighter than the length bound
        self.trailing = bool(trailing_ws)
        self.canonical_strings = bool(canonical_strings)
        self.canonical_literals = bool(canonical_literals) or self.canonical_strings
        self.encoding = "json-canonical" if self.canonical_strings else "json"
        self._str = "cstr" if self.canonical_strings else "str"  # lexeme-key prefix of strings
        self._tag = f"ws{self.max_ws}" if self.max_newlines is None else f"ws{self.max_ws}nl{self.max_newlines}"

    # ------------------------------------------------------------------ helpers

    def _ws(self) -> ByteDFA | None:
        if self.max_ws == 0:
            return None
        return _ws_run(self.max_ws, self.max_newlines, 0)

    def _with_ws(self, core: ByteDFA) -> ByteDFA:
        ws = self._ws()
        return core if ws is None else glue(ws, core)

    def _lex(self, kind: str, spec: str, build, name: str | None = None) -> Lexeme:
        key = f"json:{self._tag}:{kind}:{spec}"
        return lexeme(key, lambda: self._with_ws(build()), name or f"{kind} {spec}"[:80])

    # ------------------------------------------------------------------ lexemes

    def punct(self, ch: str) -> Lexeme:
        return self._lex("punct", ch, lambda: ByteDFA.literal(ch.encode()), repr(ch))

    def literal(self, text: str) -> Lexeme:
        """A fixed JSON token such as ``true`` or ``null``."""
        return self._lex("lit", text, lambda: ByteDFA.literal(text.encode()), text)

    def trailing_ws(self) -> Lexeme | None:
        """Whitespace after the whole document (None in compact mode)."""
        if self.max_ws == 0 or not self.trailing:
            return None
        return lexeme(f"json:{self._tag}:trailing-ws", lambda: _ws_run(self.max_ws, self.max_newlines, 1),
                      "trailing whitespace")

    def regex(self, pattern: str, name: str | None = None) -> Lexeme:
        """A token given by a full-match regex over raw bytes (numbers)."""
        return self._lex("re", pattern, lambda: regex_to_dfa(pattern, encoding="utf8"), name)

    def number(self) -> Lexeme:
        return self.regex(NUMBER_REGEX, "number")

    def integer(self) -> Lexeme:
        return self.regex(INTEGER_REGEX, "integer")

    def string(
        self,
        patterns: tuple[str, ...] = (),
        full_patterns: tuple[str, ...] = (),
        min_len: int = 0,
        max_len: int | None = None,
        exclude: tuple[str, ...] = (),
        exclude_patterns: tuple[str, ...] = (),
    ) -> Lexeme:
        """A JSON string whose decoded value satisfies every constraint.

        ``patterns``: JSON Schema ``pattern`` (search semantics); ``full_patterns``: regexes
        the whole value must match (formats); ``min_len``/``max_len`` in code points;
        ``exclude``: exact values that are not allowed (declared property names, for the keys
        of additional properties); ``exclude_patterns``: search patterns the value must not
        match (``not: {pattern}``, keys covered by ``patternProperties``).
        """
        return self.string_expr(string_spec(patterns, full_patterns, min_len, max_len, exclude, exclude_patterns))

    def counted_expr(self, content, hi: int) -> Lexeme:
        """A JSON string whose content is in the language of the :func:`string_content`
        expression ``content`` and has at most ``hi`` characters: the content automaton plus a
        character counter (as :meth:`string_expr` builds a spec with a long upper bound), for
        expressions whose cap :func:`hoist_cap` moved out of a product."""
        content = simplify_string_expr(content)
        if self.canonical_literals:
            content = canonical_literals(content)
        key = json.dumps(content, ensure_ascii=False)
        return self._counted(content, hi, f"json:{self._tag}:{self._str}count-expr:{hi}:{key}", ("string " + key)[:80])

    def _counted(self, content, hi: int, key: str, name: str) -> Lexeme:
        """The lexeme ``key``: strings of the content expression ``content`` with at most
        ``hi`` characters, the content automaton plus a character counter."""
        enc = self.encoding

        def build():
            c = string_content(content, enc)
            if not c.is_empty():
                d = counted_content_dfa(self._ws(), c, regex_to_dfa(_ANY_CHARS, encoding=enc), hi)
                if not d.is_empty():
                    return d
                c = ByteDFA.empty()  # every string of the content is longer than hi
            return self._with_ws(glue(ByteDFA.literal(b'"'), c, ByteDFA.literal(b'"')))

        return lexeme(key, build, name)

    def string_literal(self, value: str) -> Lexeme:
        """Exactly the JSON string ``value``: in every escape spelling, or only in its canonical
        one with ``canonical_literals=True``."""
        return self.string_expr(("lit", value))

    def string_expr(self, expr) -> Lexeme:
        """A JSON string whose content is the language of a :func:`string_content` expression."""
        expr = simplify_string_expr(expr)
        if self.canonical_literals:
            expr = canonical_literals(expr)
        key = json.dumps(expr, ensure_ascii=False)
        if expr == ANY_STRING:
            name = "string"
        elif expr[0] in ("lit", "clit"):
            name = json.dumps(expr[1], ensure_ascii=False)
        else:
            name = "string " + key
        enc, kind = self.encoding, self._str
        if expr[0] == "spec" and not any(expr[i] for i in (1, 2, 5, 6)) and max(expr[3], expr[4] or 0) > COUNTED_ABOVE:
            # a long length bound: a small automaton plus a character counter
            lo, hi = expr[3], expr[4]
            return lexeme(f"json:{self._tag}:{kind}count:{lo}:{hi}",
                          lambda: counted_string_dfa(self._ws(), regex_to_dfa(_ANY_CHARS, encoding=enc), lo, hi),
                          name[:80])
        if (expr[0] == "spec" and (expr[1] or expr[2]) and expr[4] is not None and expr[4] > COUNTED_ABOVE
                and expr[3] <= COUNTED_ABOVE):
            # patterns or a format with a long upper bound (hostname's 253): the content
            # automaton (with any short lower bound folded in) plus a character counter
            content = string_spec(expr[1], expr[2], expr[3], None, expr[5], expr[6])
            hi = expr[4]
            return self._counted(content, hi, f"json:{self._tag}:{kind}count-content:{hi}:"
                                 f"{json.dumps(content, ensure_ascii=False)}", name[:80])
        if expr[0] == "spec" and (expr[1] or expr[2]) and expr[3] > COUNTED_ABOVE:
            # patterns or a format with a long lower bound: the unbounded content automaton plus
            # a counter guarding the closing quote, where the content's lengths are upward
            # closed (counted_content_dfa); else per-count states as below (or their budget error)
            content = string_spec(expr[1], expr[2], 0, None, expr[5], expr[6])
            lo, hi = expr[3], expr[4]

            def build_lo():
                c = string_content(content, enc)
                if not c.is_empty():
                    try:
                        d = counted_content_dfa(self._ws(), c, regex_to_dfa(_ANY_CHARS, encoding=enc), hi, lo)
                    except NotCountable:
                        c = string_content(expr, enc)
                    else:
                        if not d.is_empty():
                            return d
                        c = ByteDFA.empty()  # no string of the content has lo..hi characters
                return self._with_ws(glue(ByteDFA.literal(b'"'), c, ByteDFA.literal(b'"')))

            return lexeme(f"json:{self._tag}:{kind}count-content:{lo}:{hi}:{json.dumps(content, ensure_ascii=False)}",
                          build_lo, name[:80])
        quote = _QUOTE

        def build():
            if expr[0] == "lit":  # a property name: its spellings between quotes, directly
                d = literal_dfa(expr[1], enc, b'"', b'"')
                if d is not None:
                    return d
            return glue(quote, string_content(expr, enc), quote)

        lx = self._lex(kind, key, build, name[:80])
        if expr[0] == "spec" and expr[5] and lx.minus is None:
            # keys of additional properties: any string but the declared names. Its token rows
            # are the unrestricted string's rows corrected along the names (tokens.py)
            base = self.string_expr(tuple(expr[:5]) + ([],) + tuple(expr[6:]))
            names = tuple(expr[5])
            excluded = self._lex(kind + "set", json.dumps(names, ensure_ascii=False),
                                 lambda: glue(quote, excluded_values_dfa(names, enc), quote))
            lx.minus = (base, excluded)
        return lx


# the quote around every string lexeme: one DFA (read-only, like every built DFA), not one per
# string_expr call (most calls find their lexeme registered already; building it each time was
# ~3% of the median compile on the 100-schema sample)
_QUOTE = ByteDFA.literal(b'"')


def excluded_values_dfa(values, encoding: str = "json") -> ByteDFA:
    """String contents equal to one of ``values``, in every spelling ``encoding`` allows.

    Built as a trie of spellings (:func:`literal_set_dfa`, a few times faster than the
    escaped regex alternation, which stays the fallback and gives the same canonical DFA).
    """
    return _excluded_cached(tuple(values), encoding)


# an object's declared names are built twice: subtracted from its additional keys' content
# and as the DifferenceLexemeTable's excluded set; enums repeat across schemas. Bounded in
# bytes by constrain.set_cache_budget (a 473-name set is a 10,000-state DFA)
_EXCLUDED = budgeted_cache(f"{__name__}._excluded_cached", 256, sizeof=lambda d: d.nbytes)


def _excluded_cached(values: tuple[str, ...], encoding: str) -> ByteDFA:
    d = _EXCLUDED.get((values, encoding))
    if d is None:
        d = literal_set_dfa(values, encoding)
        if d is None:
            d = regex_to_dfa("|".join(regex_escape(e) for e in values), encoding=encoding)
        d = _EXCLUDED.put((values, encoding), d)
    return d


@register_lru
@lru_cache(maxsize=64)
def _ws_run(max_ws: int | None, max_newlines: int | None, min_len: int) -> ByteDFA:
    """Runs of JSON whitespace: ``min_len`` to ``max_ws`` bytes, at most ``max_newlines`` of them ``\\n``."""
    one = ByteDFA.byte_set(b" \t\n\r")
    if max_ws is None:
        run = one.star() if min_len == 0 else one.plus()
    else:
        run = one.repeat(min_len, max_ws)
    if max_newlines is not None:
        blank = ByteDFA.byte_set(b" \t\r").star()
        lines = blank.concat(ByteDFA.literal(b"\n").concat(blank).repeat(0, max_newlines))
        run = run.intersect(lines)
    return run


def canonical_string(value: str) -> bytes:
    """The canonical JSON spelling of a string's content (no quotes), as UTF-8 bytes.

    ``json.dumps(value, ensure_ascii=False)``: ``\\"``, ``\\\\`` and the short escapes
    ``\\b \\f \\n \\r \\t``, ``\\u00XX`` for the other control characters, every other
    character as itself (a lone surrogate, which UTF-8 cannot carry, as ``\\uXXXX``).
    """
    s = json.dumps(value, ensure_ascii=False)[1:-1]
    s = "".join("\\u%04x" % ord(c) if 0xD800 <= ord(c) <= 0xDFFF else c for c in s)
    return s.encode("utf-8")


def _long_cap(e) -> int | None:
    """The upper length bound of a spec that :meth:`JsonLexemes.string_expr` counts with a
    counter (hostname's 253), else None."""
    if e[0] == "spec" and e[4] is not None and e[4] > COUNTED_ABOVE and e[3] <= COUNTED_ABOVE:
        return e[4]
    return None


def _has_long_cap(e) -> bool:
    if e[0] == "spec":
        return _long_cap(e) is not None or e[3] > COUNTED_ABOVE
    if e[0] in ("or", "and"):
        return any(_has_long_cap(x) for x in e[1])
    if e[0] == "minus":
        return _has_long_cap(e[1]) or _has_long_cap(e[2])
    return False


def _uncapped(e, m: int):
    """``e`` with the long upper bounds of its specs dropped, where that changes nothing for
    strings of at most ``m`` characters (every such bound is >= ``m``), else None. Only specs
    and unions of them are rewritten; other uncapped expressions stay as they are."""
    if not _has_long_cap(e):
        return e
    if e[0] == "spec":
        k = _long_cap(e)
        return None if k is None or k < m else ("spec", e[1], e[2], e[3], None, e[5], e[6])
    if e[0] == "or":
        xs = [_uncapped(x, m) for x in e[1]]
        return None if any(x is None for x in xs) else ("or", xs)
    return None


def _max_chars(e) -> int | None:
    """An upper bound on the characters of the strings of ``e``: the longest word of its
    automaton over the decoded text's UTF-8 (a character is at least one byte; the JSON
    spelling's escapes would count six), None when unbounded or not built that way."""
    try:
        d = string_content(e, "utf8")
    except (ValueError, KeyError, TypeError):
        return None
    T = np.asarray(d.table, dtype=np.int64)
    n = T.shape[0]
    src, col = np.nonzero(T >= 0)
    order = acyclic_order(n, src, T[src, col])
    if len(order) < n:
        return None  # a cycle: unbounded
    longest = [0] * n
    for x in reversed(order):
        nxt = T[x][T[x] >= 0]
        longest[x] = 1 + max(longest[int(y)] for y in nxt) if nxt.size else 0
    return longest[0]


def hoist_cap(expr):
    """``("minus", a, b)`` as ``(content, hi)``: the same language as ``content`` with at most
    ``hi`` characters (``hi`` None: no bound), with no long length bound left inside the
    product, or None where the rules below do not apply. A product of hostname's 253-character
    counter with its labels' automaton exceeds the state budget (``oneOf: [{format: hostname},
    {format: ipv4}, {format: ipv6}]``); the counter belongs outside. With ``C_h`` the strings of
    at most ``h`` characters:

    - ``(A ∩ C_h) - (B ∩ C_k) = (A - B) ∩ C_h`` where ``h <= k`` (nothing in ``C_h`` is outside
      ``C_k``), and ``B`` uncapped is ``k`` infinite;
    - ``A - (B ∩ C_k) = A - B`` where no string of ``A`` has more than ``k`` characters;
    - ``A - (B ∩ C_k) = A`` where ``A`` and ``B`` are disjoint."""
    if expr[0] != "minus":
        return None
    a, b = expr[1], expr[2]
    h = _long_cap(a)
    if h is not None:
        b2 = _uncapped(b, h)
        return None if b2 is None else (("minus", ("spec", a[1], a[2], a[3], None, a[5], a[6]), b2), h)
    if _has_long_cap(a):
        return None
    m = _max_chars(a)
    b2 = None if m is None else _uncapped(b, m)
    if b2 is not None:
        return ("minus", a, b2), None
    b0 = _uncapped(b, 0)  # every long upper bound dropped: a superset of b
    if b0 is not None and string_content(("and", [a, b0])).is_empty():
        return a, None
    return None


def simplify_string_expr(expr):
    """``expr`` with the identities of its Boolean operators applied: ``minus`` of nothing, an
    ``or``/``and`` of one member, nested ``or``s and ``and``s, empty members of an ``or``, the
    ``spec`` members of an ``and`` as one ``spec``.

    Why: exact ``oneOf`` writes each branch as "this branch minus the others" even where no other
    branch has strings (``oneOf: [{type: string, maxLength: 32767}, {type: null}]``); simplified,
    such a branch is a plain ``spec`` again and takes the character counter of long length
    bounds instead of a product automaton over per-count states (over its state budget)."""
    def empty(e):
        return e[0] == "or" and not e[1]

    op = expr[0]
    if op == "minus":
        a, b = simplify_string_expr(expr[1]), simplify_string_expr(expr[2])
        if empty(a) or empty(b):
            return a
        if _lengths_only(a) and _lengths_only(b):  # lengths minus lengths: at most two ranges
            (lo, hi), (blo, bhi) = a[3:5], b[3:5]
            below = (lo, blo - 1 if hi is None else min(hi, blo - 1))
            above = (1, 0) if bhi is None else (max(lo, bhi + 1), hi)  # (1, 0): nothing
            parts = [string_spec(min_len=x, max_len=y) for x, y in (below, above) if y is None or x <= y]
            return parts[0] if len(parts) == 1 else ("or", parts)
        return ("minus", a, b)
    if op == "or":
        parts = []
        for e in map(simplify_string_expr, expr[1]):
            parts.extend(e[1] if e[0] == "or" else [e])
        return parts[0] if len(parts) == 1 else ("or", parts)
    if op == "and":
        parts = []
        for e in map(simplify_string_expr, expr[1]):
            parts.extend(e[1] if e[0] == "and" else [e])
        if any(map(empty, parts)):
            return ("or", [])
        specs = [e for e in parts if e[0] == "spec"]
        if len(specs) > 1:
            # a spec is a conjunction of its fields, so a conjunction of specs is one spec:
            # "any key but these names" of several objects is then one difference lexeme
            # (rows from the string's rows), not a product DFA walked densely per state
            lo = max(e[3] for e in specs)
            his = [e[4] for e in specs if e[4] is not None]
            hi = min(his) if his else None
            if hi is not None and lo > hi:
                return ("or", [])
            merged = string_spec(*(sum((list(e[i]) for e in specs), []) for i in (1, 2)), lo, hi,
                                 *(sum((list(e[i]) for e in specs), []) for i in (5, 6)))
            parts = [merged] + [e for e in parts if e[0] != "spec"]
        return parts[0] if len(parts) == 1 else ("and", parts)
    return expr


def _lengths_only(expr) -> bool:
    """A ``spec`` that bounds the number of characters and nothing else."""
    return expr[0] == "spec" and not any(expr[i] for i in (1, 2, 5, 6))


def canonical_literals(expr):
    """``expr`` with every literal it *adds* (not the ones it subtracts) in canonical spelling only.

    ``("lit", v)`` becomes ``("clit", v)`` under ``or``/``and`` and on the left of ``minus``;
    the right of a ``minus`` and ``spec`` exclusions keep every spelling, so an excluded value
    stays excluded whichever way it is written.
    """
    op = expr[0]
    if op == "lit":
        return ("clit", expr[1])
    if op in ("or", "and"):
        return (op, [canonical_literals(e) for e in expr[1]])
    if op == "minus":
        return ("minus", canonical_literals(expr[1]), expr[2])
    return expr


def glue(*parts: ByteDFA) -> ByteDFA:
    """Concatenation without determinization, where each boundary is unambiguous.

    JSON lexemes are built as ``whitespace · '"' · content · '"'``: at every boundary the
    bytes that continue the left part are disjoint from those that start the right part, so
    the product automaton is the two tables side by side, with each accepting state of the
    left part also taking the right part's first moves. Falls back to ``concat`` otherwise.
    The result is trimmed (every part is) but not re-minimized.
    """
    out = parts[0]
    for nxt in parts[1:]:
        out = _glue2(out, nxt)
    return out


def _glue2(a: ByteDFA, b: ByteDFA) -> ByteDFA:
    if a.is_empty() or b.is_empty():
        return a.concat(b)
    # a common byte-class map: one class per pair (class in a, class in b)
    ca, cb = a.classes[:256].astype(np.int64), b.classes[:256].astype(np.int64)
    pair = ca * (int(cb.max()) + 1) + cb
    _, rep, cmap = np.unique(pair, return_index=True, return_inverse=True)  # rep: first byte of each class
    ta = a.table.astype(np.int64)[:, ca[rep]]
    tb = b.table.astype(np.int64)[:, cb[rep]]
    acc_a = np.flatnonzero(a.accept)
    if (ta[acc_a] >= 0)[:, tb[0] >= 0].any():
        return a.concat(b)  # ambiguous boundary: needs a real determinization
    na = ta.shape[0]
    tb_shift = np.where(tb >= 0, tb + na, -1)
    rows = ta[acc_a]
    ta[acc_a] = np.where(rows >= 0, rows, tb_shift[0][None, :])
    T = np.concatenate([ta, tb_shift]).astype(np.int32)
    accept = np.concatenate([np.zeros(na, dtype=bool), b.accept])
    if b.accept[0]:
        accept[acc_a] = True
    return ByteDFA._make(T, accept, cmap.reshape(-1).astype(np.int64))


@register_lru
@lru_cache(maxsize=256)
def counted_chars(lo: int, hi: int | None, encoding: str = "json") -> ByteDFA:
    """JSON string contents of ``lo`` to ``hi`` characters, built directly as (count, position).

    The generic construction (a chain of ``hi`` copies of the one-character automaton, then
    determinize and minimize) is quadratic-ish in Python; this one is a numpy broadcast.
    """
    char = regex_to_dfa(_ANY_CHARS, encoding=encoding)
    T, cmap, acc = char.table.astype(np.int64), char.classes, char.accept
    finals = np.flatnonzero(acc)
    assert finals.size == 1 and (T[finals[0]] < 0).all(), "one character ends in one sink state"
    f = int(finals[0])
    keep = np.array([p for p in range(T.shape[0]) if p != f])  # positions inside a character
    pos = np.full(T.shape[0], -1, dtype=np.int64)
    pos[keep] = np.arange(keep.size)
    P, K = keep.size, T.shape[1]
    top = hi if hi is not None else lo  # unbounded: count saturates at lo
    if (top + 1) * P > 200_000:
        raise CompileBudgetError(f"string length bound {top} needs {(top + 1) * P} automaton states (budget 200000)",
                                 budget="states", keyword="maxLength" if hi is not None else "minLength")
    sub = T[keep]  # [P, K] targets in char-DFA numbering
    c = np.arange(top + 1)[:, None, None]
    nxt_pos = np.where(sub >= 0, pos[np.maximum(sub, 0)], -1)[None]  # [1, P, K]
    done = (sub == f)[None]
    nc = np.where(done, c + 1, c)
    if hi is None:
        nc = np.minimum(nc, top)
    big = np.where(done, nc * P + pos[0], np.where(sub[None] >= 0, c * P + nxt_pos, -1))
    big = np.where(nc > top, -1, big).reshape((top + 1) * P, K)
    accept = np.zeros((top + 1) * P, dtype=bool)
    accept[np.arange(lo, top + 1) * P + pos[0]] = True
    if hi is None or top < 8:
        return finalize(big, accept, cmap)
    # (count, position) is already minimal; only the states inside a character at the full
    # count are dead (the character could never end): drop them instead of re-minimizing
    n = (top + 1) * P
    live = np.ones(n, dtype=bool)
    live[top * P:] = False
    live[top * P + pos[0]] = True
    remap = np.full(n + 1, -1, dtype=np.int64)
    remap[np.flatnonzero(live)] = np.arange(int(live.sum()))
    T = remap[big[live]]
    return ByteDFA._make(T.astype(np.int32), accept[live], cmap)


def string_spec(patterns=(), full_patterns=(), min_len=0, max_len=None, exclude=(), exclude_patterns=()):
    """A canonical, hashable description of a constrained string content language."""
    return ("spec", sorted(set(patterns)), sorted(set(full_patterns)), int(min_len),
            None if max_len is None else int(max_len), sorted(set(exclude)), sorted(set(exclude_patterns)))


ANY_STRING = string_spec()


# string contents by expression (patterns, bounds, excluded names), bounded in bytes by
# constrain.set_cache_budget like the token tables
_CONTENT = budgeted_cache(f"{__name__}._content_cached", 4096, sizeof=lambda d: d.nbytes)


def _content_cached(key: str, encoding: str) -> ByteDFA:
    d = _CONTENT.get((key, encoding))
    if d is None:
        d = _CONTENT.put((key, encoding), _content(json.loads(key), encoding))
    return d


def string_content(expr, encoding: str = "json") -> ByteDFA:
    """The DFA of the JSON-encoded contents (no quotes) of a string language expression.

    ``encoding``: ``"json"`` (every escape spelling) or ``"json-canonical"`` (the canonical
    spelling only, see :mod:`constrain.frontends.regex`).

    Expressions: ``("spec", patterns, full_patterns, min_len, max_len, exclude,
    exclude_patterns)``, ``("lit", value)`` (every spelling), ``("clit", value)`` (the
    canonical spelling only), ``("or", [e...])``, ``("and", [e...])``,
    ``("minus", a, b)``. Boolean combinations serve exact ``oneOf``/``not`` over strings.
    """
    return _content_cached(json.dumps(expr, ensure_ascii=False), encoding)


def _content(expr, enc: str) -> ByteDFA:
    op = expr[0]
    if op == "lit":
        return excluded_values_dfa([expr[1]], enc)
    if op == "clit":
        if any(0xD800 <= ord(c) <= 0xDFFF for c in expr[1]):
            # a lone surrogate has no UTF-8 spelling, and free strings refuse its \uXXXX escape
            # too: the same empty language as the every-spelling literal above
            return ByteDFA.empty()
        return ByteDFA.literal(canonical_string(expr[1]))
    if op == "or" and expr[1] and all(e[0] == "lit" for e in expr[1]):
        return excluded_values_dfa([e[1] for e in expr[1]], enc)  # enum values, allowed keys
    # sub-expressions through the cache: boolean combinations nest their parts (the regions of
    # overlapping patternProperties, exact oneOf over strings), each part built once
    if op == "or":
        return ByteDFA.union_all([string_content(e, enc) for e in expr[1]]) if expr[1] else ByteDFA.empty()
    if op == "and":
        out = string_content(expr[1][0], enc)
        for e in expr[1][1:]:
            out = out.intersect(string_content(e, enc))
        return out
    if op == "minus":
        return string_content(expr[1], enc).difference(string_content(expr[2], enc))
    _, patterns, full_patterns, min_len, max_len, exclude, exclude_patterns = expr
    content: ByteDFA | None = None

    def meet(d: ByteDFA) -> None:
        nonlocal content
        content = d if content is None else content.intersect(d)

    for p in patterns:
        meet(regex_to_dfa(p, encoding=enc, search=True))
    for p in full_patterns:
        meet(regex_to_dfa(p, encoding=enc))
    if min_len > 0 or max_len is not None:
        meet(counted_chars(min_len, max_len, enc))
    if content is None:
        content = regex_to_dfa(f"{_ANY_CHARS}*", encoding=enc)
    if exclude:
        content = content.difference(excluded_values_dfa(exclude, enc))
    for p in exclude_patterns:
        content = content.difference(regex_to_dfa(p, encoding=enc, search=True))
    return content
