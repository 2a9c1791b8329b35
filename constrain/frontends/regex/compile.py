"""Regex AST -> byte DFA: :func:`regex_to_dfa`, the regex front-end's entry.

Each character set is lowered once by :mod:`.charsets` and embedded into a Thompson NFA,
determinized and minimized by :mod:`constrain.automata`.

Zero-width assertions (``^ $ \\b \\B``, multiline anchors, lookarounds) are compiled exactly
rather than approximated: each becomes a *marker symbol* (>= 256) in the NFA, the resulting
DFA is intersected with a small "context" automaton saying where that marker may occur (for
``$``: only at the end; for ``(?=X)``: only where the rest of the text is in ``X·Σ*``), and
the markers are finally erased (replaced by epsilon) before determinizing over bytes. This
is exact because both encodings decode uniquely, so markers always sit on character
boundaries.
"""

from __future__ import annotations

from __future__ import annotations

import functools

import numpy as np

from ...automata import DEFAULT_BUDGET, NFA, ByteDFA, finalize
from ...cache import register_lru
from ...errors import OptionError, RegexError
from .charsets import (ALL, ASCII_WORD, ECMA_LINE_TERMINATORS, ENCODINGS, NEWLINE, charset_dfa, classifier, complement,
                       python_class, sigma_star)
from .syntax import ANY_STAR, DIALECTS, Alt, AnyStar, Assert, Chars, Look, Repeat, Seq, parse_regex

__all__ = ["regex_to_dfa"]

# --------------------------------------------------------------------------- compilation

_AHEAD_OK = frozenset({"end", "pyend", "mend", "lookahead"})
_BEHIND_OK = frozenset({"start", "mstart", "lookbehind"})
_ALL_OK = frozenset({"start", "end", "pyend", "mstart", "mend", "wordb", "nwordb", "awordb", "anwordb", "lookahead",
                     "lookbehind"})
_BIG_PART = 256
"""DFAs above this size are combined at the DFA level rather than embedded in an NFA."""
_FORWARD = frozenset({"end", "pyend", "mend", "lookahead"})
_KIND_TEXT = {
    "start": "'^'", "end": "'$'", "pyend": "'$'", "mstart": "'^' (multiline)", "mend": "'$' (multiline)",
    "wordb": "'\\b'", "nwordb": "'\\B'", "awordb": "'\\b'", "anwordb": "'\\B'", "lookahead": "lookahead",
    "lookbehind": "lookbehind",
}


def _with_marker_loops(d: ByteDFA, n_symbols: int) -> ByteDFA:
    """``h^-1(L(d))`` for the homomorphism erasing markers: markers loop on every state."""
    S, C = d.table.shape
    T = np.concatenate([d.table.astype(np.int64), np.arange(S)[:, None]], axis=1)
    cmap = np.concatenate([d.classes[:256], np.full(n_symbols - 256, C, dtype=np.int64)])
    return finalize(T, d.accept, cmap)


def _erase_markers(d: ByteDFA, budget: int) -> ByteDFA:
    """Replace every marker transition (symbol >= 256) by epsilon and determinize over bytes."""
    nfa = NFA(256, budget)
    S = d.num_states
    base = nfa.grow(S + 1)
    end = base + S
    ranges = d.class_ranges()
    for s, row in enumerate(d.table.tolist()):
        for k, t in enumerate(row):
            if t < 0:
                continue
            for lo, hi in ranges[k]:
                if lo < 256:
                    nfa.add_range(base + s, lo, min(hi, 255), base + t)
                if hi >= 256:
                    nfa.add_eps(base + s, base + t)
    for s in np.flatnonzero(d.accept).tolist():
        nfa.add_eps(base + s, end)
    return nfa.to_dfa(base, end, budget)


class _Compiler:
    """Lowers the AST for one (encoding, dialect) to DFAs, resolving assertions."""

    def __init__(self, pattern: str, encoding: str, dialect: str, budget: int):
        self.pattern = pattern
        self.enc = encoding
        self.dialect = dialect
        self.budget = budget
        self.newline = NEWLINE if dialect == "python" else ECMA_LINE_TERMINATORS

    def err(self, msg: str, pos: int | None):
        raise RegexError(msg, self.pattern, pos)

    # -- analysis

    def collect(self, node, kinds: dict, looks: dict) -> None:
        """Gather assertion kinds (first position) and lookaround nodes, outside lookarounds."""
        stack = [node]
        while stack:
            x = stack.pop()
            if isinstance(x, (Seq, Alt)):
                stack.extend(x.items)
            elif isinstance(x, Repeat):
                stack.append(x.item)
            elif isinstance(x, Assert):
                kinds.setdefault(x.kind, x.pos)
            elif isinstance(x, Look):
                looks.setdefault(x, None)
                kinds.setdefault("lookbehind" if x.behind else "lookahead", x.pos)

    # -- NFA emission

    def emit(self, nfa: NFA, node, ctx: dict) -> tuple[int, int]:
        if isinstance(node, Chars):
            s = nfa.add_state()
            e = nfa.add_state()
            if self.enc == "utf8" and (not node.ranges or node.ranges[-1][1] < 0x80):
                for lo, hi in node.ranges:
                    nfa.add_range(s, lo, hi, e)
                return s, e
            a, b = nfa.add_dfa(charset_dfa(node.ranges, self.enc))
            nfa.add_eps(s, a)
            nfa.add_eps(b, e)
            return s, e
        if isinstance(node, Seq):
            s = cur = nfa.add_state()
            for item in node.items:
                a, b = self.emit(nfa, item, ctx)
                nfa.add_eps(cur, a)
                cur = b
            return s, cur
        if isinstance(node, Alt):
            s = nfa.add_state()
            e = nfa.add_state()
            for item in node.items:
                a, b = self.emit(nfa, item, ctx)
                nfa.add_eps(s, a)
                nfa.add_eps(b, e)
            return s, e
        if isinstance(node, Repeat):
            return self.emit_repeat(nfa, node, ctx)
        if isinstance(node, (Assert, Look)):
            s = nfa.add_state()
            e = nfa.add_state()
            m = ctx["markers"][node.kind if isinstance(node, Assert) else node]
            nfa.add_range(s, m, m, e)
            return s, e
        if isinstance(node, AnyStar):
            return nfa.add_dfa(sigma_star(self.enc))
        raise TypeError(f"unknown regex node {node!r}")  # pragma: no cover

    def emit_repeat(self, nfa: NFA, node: Repeat, ctx: dict) -> tuple[int, int]:
        mn, mx = node.min, node.max
        if mx == 0:
            s = nfa.add_state()
            return s, s
        if (mn, mx) in ((0, 1), (0, None), (1, None), (1, 1)):
            a, b = self.emit(nfa, node.item, ctx)
            if mx == 1 and mn == 1:
                return a, b
            s = nfa.add_state()
            e = nfa.add_state()
            nfa.add_eps(s, a)
            nfa.add_eps(b, e)
            if mn == 0:
                nfa.add_eps(s, e)
            if mx is None:
                nfa.add_eps(b, a)
            return s, e
        # counted repetition: built at the DFA level (a direct chain when the body is
        # prefix-free), then embedded once
        return nfa.add_dfa(self.dfa_of(node, ctx))

    def dfa_of(self, node, ctx: dict) -> ByteDFA:
        """Canonical DFA (over ``ctx`` symbols, markers kept) of one node, cached per build."""
        cache = ctx["cache"]
        d = cache.get(node)
        if d is None:
            if isinstance(node, Chars):
                d = charset_dfa(node.ranges, self.enc)
            elif isinstance(node, AnyStar):
                d = sigma_star(self.enc)
            elif isinstance(node, Repeat) and not (node.min <= 1 and node.max in (1, None)):
                d = self.dfa_of(node.item, ctx).repeat(node.min, node.max, self.budget)
            elif isinstance(node, Seq) and any(self.is_big(item, ctx) for item in node.items):
                d = self.seq_dfa(node, ctx)
            else:
                d = self.nfa_dfa(node, ctx)
            cache[node] = d
        return d

    def nfa_dfa(self, node, ctx: dict) -> ByteDFA:
        sub = NFA(ctx["n_symbols"], self.budget)
        s, e = self.emit(sub, node, ctx)
        return sub.to_dfa(s, e, self.budget)

    def is_big(self, node, ctx: dict) -> bool:
        """A counted repetition whose DFA is large: concatenate it at the DFA level."""
        if not isinstance(node, Repeat) or (node.min <= 1 and node.max in (1, None)):
            return False
        return self.dfa_of(node, ctx).num_states > _BIG_PART

    def seq_dfa(self, node: Seq, ctx: dict) -> ByteDFA:
        """Concatenation with big parts glued DFA-to-DFA instead of re-expanded into an NFA."""
        parts: list[ByteDFA] = []
        pending: list = []
        for item in node.items:
            if self.is_big(item, ctx):
                if pending:
                    parts.append(self.nfa_dfa(Seq(tuple(pending)), ctx))
                    pending = []
                parts.append(self.dfa_of(item, ctx))
            else:
                pending.append(item)
        if pending:
            parts.append(self.nfa_dfa(Seq(tuple(pending)), ctx))
        return ByteDFA.concat_all(parts, self.budget)

    # -- languages

    def build(self, node, allowed: frozenset = _ALL_OK, where: str = "") -> ByteDFA:
        """Marker-free byte DFA of ``node`` matched against the whole text."""
        kinds: dict[str, int] = {}
        looks: dict[Look, None] = {}
        self.collect(node, kinds, looks)
        for kind, pos in kinds.items():
            if kind not in allowed:
                self.err(f"{_KIND_TEXT[kind]} is not supported {where}", pos)
        if not kinds:
            return self.dfa_of(node, {"markers": {}, "cache": {}, "n_symbols": 256})
        markers: dict = {}
        for kind in kinds:
            if kind not in ("lookahead", "lookbehind"):
                markers[kind] = 256 + len(markers)
        for look in looks:
            markers[look] = 256 + len(markers)
        n_symbols = 256 + len(markers)
        ctx = {"markers": markers, "cache": {}, "n_symbols": n_symbols}
        nfa = NFA(n_symbols, self.budget)
        s, e = self.emit(nfa, node, ctx)
        d = nfa.to_dfa(s, e, self.budget)
        for kind in kinds:
            if kind in ("lookahead", "lookbehind") or d.is_empty():
                continue
            d = d.intersect(self.context_dfa(kind, markers, n_symbols), self.budget)
        for look in looks:
            if d.is_empty():
                break
            d = self.apply_look(d, look, markers[look], n_symbols)
        return _erase_markers(d, self.budget)

    def char_automaton(self, n_states, partition, delta, marks, accepting, handled, n_symbols) -> ByteDFA:
        """Byte+marker DFA of a deterministic automaton over character classes.

        ``partition``: disjoint code-point sets (class ``c`` = ``partition[c]``);
        ``delta[(s, c)]``: successor on a character of class ``c``; ``marks[(s, m)]``:
        successor on marker ``m``. Markers not in ``handled`` loop on every state.
        Composed directly with a *classifier* DFA that reads one encoded character and
        reports its class, so no subset construction is needed.
        """
        K, label, inner = classifier(partition, self.enc)
        KT, Kc = K.table.astype(np.int64), K.classes
        byte_cls = np.unique(Kc[:256])
        B, ni = byte_cls.size, len(inner)
        local = np.full(K.num_states + 1, -1, dtype=np.int64)
        local[inner] = np.arange(ni)
        KB = KT[inner][:, byte_cls]  # [ni, B] successor K-states of incomplete states
        lab = np.where(KB >= 0, label[KB], -1)
        n_mark = n_symbols - 256
        T = np.full((n_states * ni, B + n_mark), -1, dtype=np.int64)
        for st in range(n_states):
            nxt = np.array([delta.get((st, c), -1) for c in range(len(partition))] + [-1], dtype=np.int64)
            block = np.where(KB >= 0, st * ni + local[KB], -1)  # stay inside the character
            done = nxt[lab] if len(partition) else np.full_like(lab, -1)
            block = np.where(lab >= 0, np.where(done >= 0, done * ni, -1), block)
            T[st * ni : (st + 1) * ni, :B] = block
            for m in range(256, n_symbols):  # markers only between characters (K state 0)
                t = marks.get((st, m), -1) if m in handled else st
                T[st * ni, B + m - 256] = t * ni if t >= 0 else -1
        acc = np.zeros(n_states * ni, dtype=bool)
        acc[np.array(sorted(accepting), dtype=np.int64) * ni] = True
        cmap = np.concatenate([np.searchsorted(byte_cls, Kc[:256]), B + np.arange(n_mark)])
        return finalize(T, acc, cmap)

    def context_dfa(self, kind: str, markers: dict, n_symbols: int) -> ByteDFA:
        """Where the marker of an anchor / word-boundary assertion may occur."""
        m = markers[kind]
        h = {m}
        if kind == "start":  # only before the first character
            return self.char_automaton(2, (ALL,), {(0, 0): 1, (1, 0): 1}, {(0, m): 0}, [0, 1], h, n_symbols)
        if kind == "end":  # only after the last character
            return self.char_automaton(2, (ALL,), {(0, 0): 0}, {(0, m): 1, (1, m): 1}, [0, 1], h, n_symbols)
        if kind in ("pyend", "mstart", "mend"):
            nl = NEWLINE if kind == "pyend" else self.newline
            part = (nl, complement(nl))  # class 0: newline, 1: other
            if kind == "pyend":  # at the end, or before a final newline
                delta = {(0, 0): 0, (0, 1): 0, (1, 0): 2}
                marks = {(0, m): 1, (1, m): 1, (2, m): 2}
                return self.char_automaton(3, part, delta, marks, [0, 1, 2], h, n_symbols)
            if kind == "mstart":  # at the start or after a newline
                delta = {(0, 0): 0, (0, 1): 1, (1, 0): 0, (1, 1): 1}
                return self.char_automaton(2, part, delta, {(0, m): 0}, [0, 1], h, n_symbols)
            delta = {(0, 0): 0, (0, 1): 0, (1, 0): 0}  # mend: at the end or before a newline
            return self.char_automaton(2, part, delta, {(0, m): 1, (1, m): 1}, [0, 1], h, n_symbols)
        if kind in ("wordb", "nwordb", "awordb", "anwordb"):
            # state = prev (0 non-word/start, 1 word) * 3 + pending (0 none, 1 need a word
            # character next, 2 need a non-word character or the end); class 0 word, 1 other
            delta, marks = {}, {}
            for prev in (0, 1):
                for pend in (0, 1, 2):
                    st = prev * 3 + pend
                    if pend != 2:
                        delta[(st, 0)] = 3
                    if pend != 1:
                        delta[(st, 1)] = 0
                    need = (2 if prev else 1) if kind in ("wordb", "awordb") else (1 if prev else 2)
                    if pend in (0, need):
                        marks[(st, m)] = prev * 3 + need
            word = python_class("w") if kind in ("wordb", "nwordb") else ASCII_WORD  # a-: ASCII \w
            part = (word, complement(word))
            return self.char_automaton(6, part, delta, marks, [0, 2, 3, 5], h, n_symbols)
        raise AssertionError(kind)  # pragma: no cover

    def apply_look(self, d: ByteDFA, look: Look, m: int, n_symbols: int) -> ByteDFA:
        """Remove from ``d`` the strings where marker ``m`` sits at a failing lookaround.

        Lookahead: ``Bad = P · m · h⁻¹(Y)`` where ``P`` = the prefixes of ``d`` that are
        followed by ``m`` and ``Y`` = the suffixes violating the lookahead (not in
        ``L(X)·Σ*`` for a positive one, in it for a negative one). Lookbehind mirrors it with
        the suffixes of ``d`` after ``m``. Restricting to ``d``'s own prefixes/suffixes keeps
        the subset construction small (e.g. ``P = {ε}`` for a lookahead at the start).
        """
        sigma = sigma_star(self.enc)
        if look.behind:
            body = self.build(Seq((ANY_STAR, look.body)), _BEHIND_OK, "inside a lookbehind")
        else:
            body = self.build(Seq((look.body, ANY_STAR)), _AHEAD_OK, "inside a lookahead")
        y = body if look.negative else sigma.difference(body, self.budget)
        if y.is_empty():
            return d
        y = _with_marker_loops(y, n_symbols)
        col = d.classes[m]
        has_m = d.table[:, col] >= 0
        nfa = NFA(n_symbols, self.budget)
        if not look.behind:
            p = finalize(d.table, has_m, d.classes)  # prefixes followed by m
            ps, pe = nfa.add_dfa(p)
            ys, ye = nfa.add_dfa(y)
            nfa.add_range(pe, m, m, ys)
            bad = nfa.to_dfa(ps, ye, self.budget)
        else:
            ys, ye = nfa.add_dfa(y)
            mid = nfa.add_state()
            nfa.add_range(ye, m, m, mid)
            # suffixes of d after an m transition
            S = d.num_states
            base = nfa.grow(S + 1)
            end = base + S
            ranges = d.class_ranges()
            for s, row in enumerate(d.table.tolist()):
                for k, t in enumerate(row):
                    if t >= 0:
                        for lo, hi in ranges[k]:
                            nfa.add_range(base + s, lo, hi, base + t)
            for t in np.unique(d.table[has_m, col]).tolist():
                nfa.add_eps(mid, base + t)
            for s in np.flatnonzero(d.accept).tolist():
                nfa.add_eps(base + s, end)
            bad = nfa.to_dfa(ys, end, self.budget)
        return d.difference(bad, self.budget)


def _strip_anchors(branch, py: bool):
    """Split leading ``^``/``\\A`` and trailing ``$``/``\\Z`` off a top-level branch.

    Returns (items, anchored_start, end_kind) with end_kind None, "end" or "pyend".
    """
    items = list(branch.items) if isinstance(branch, Seq) else [branch]
    start = False
    while items and isinstance(items[0], Assert) and items[0].kind == "start":
        items.pop(0)
        start = True
    end = None
    while items and isinstance(items[-1], Assert) and items[-1].kind in ("end", "pyend"):
        k = items.pop().kind
        end = "end" if (k == "end" or end == "end") else "pyend"
    return items, start, end


@register_lru
@functools.lru_cache(maxsize=1024)
def _compile(pattern: str, encoding: str, search: bool, dialect: str, budget: int) -> ByteDFA:
    ast, _ = parse_regex(pattern, dialect)
    py = dialect == "python"
    comp = _Compiler(pattern, encoding, dialect, budget)
    branches = ast.items if isinstance(ast, Alt) else (ast,)
    # Branches without assertions are grouped by anchoring so each group gets ONE Σ* prefix
    # and suffix: with a Σ* copy per branch, subsets would record which branches have
    # matched so far (2^branches states for an unanchored alternation of words).
    plain: dict[tuple[bool, str | None], list] = {}
    dfas: list[ByteDFA] = []
    for br in branches:
        items, a_start, a_end = _strip_anchors(br, py)
        pad = search and not a_start
        suffix: list = []
        if search and a_end is None:
            suffix = [ANY_STAR]
        elif search and a_end == "pyend":
            suffix = [Repeat(Chars(NEWLINE), 0, 1)]
        kinds: dict[str, int] = {}
        comp.collect(Seq(tuple(items)), kinds, {})
        if not kinds:
            plain.setdefault((pad, a_end if search else None), []).append(
                items[0] if len(items) == 1 else Seq(tuple(items))
            )
        elif pad and set(kinds) <= _FORWARD:
            # forward-looking assertions only see the suffix: resolve them on the anchored
            # branch, then pad. Resolving under a Σ* prefix would make the marker DFA track
            # every start position at once (exponential in the worst case).
            core = comp.build(Seq(tuple(items + suffix)))
            dfas.append(sigma_star(encoding).concat(core, budget))
        else:
            dfas.append(comp.build(Seq(tuple([ANY_STAR] * pad + items + suffix))))
    for (pad, end), cores in plain.items():
        core = cores[0] if len(cores) == 1 else Alt(tuple(cores))
        suffix = []
        if search and end is None:
            suffix = [ANY_STAR]
        elif search and end == "pyend":
            suffix = [Repeat(Chars(NEWLINE), 0, 1)]
        items = [ANY_STAR] * pad + [core] + suffix
        dfas.append(comp.build(items[0] if len(items) == 1 else Seq(tuple(items))))
    if len(dfas) == 1:
        return dfas[0]
    return ByteDFA.union_all(dfas, budget)


def regex_to_dfa(
    pattern: str,
    *,
    encoding: str = "utf8",
    search: bool = False,
    dialect: str = "ecma",
    budget: int = DEFAULT_BUDGET,
) -> ByteDFA:
    """Compile ``pattern`` to a canonical :class:`ByteDFA` over encoded text.

    ``search=False``: the whole text must match (``re.fullmatch``). ``search=True``: JSON
    Schema ``pattern`` semantics (``re.search``): the match may be anywhere, except that a
    top-level branch starting with ``^`` is anchored at the start and one ending with ``$``
    at the end. ``dialect`` picks ECMA-262 (``\\d`` = ``[0-9]``, ``$`` = very end, ``.``
    excludes all line terminators) or Python ``re`` (Unicode classes, ``$`` also before a
    final newline). Results are cached. Raises :class:`RegexError` (with the position) on
    bad syntax and non-regular features, :class:`CompileBudgetError` past ``budget`` states.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, not {encoding!r}")
    if dialect not in DIALECTS:
        raise OptionError(f"dialect must be one of {DIALECTS}, not {dialect!r}")
    return _compile(pattern, encoding, bool(search), dialect, int(budget))
