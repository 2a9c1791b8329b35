"""Finite sets of literal strings, in every spelling an encoding allows, built as a trie.

JSON Schema compiles many fixed strings: property names (one lexeme each), ``enum`` values,
the declared names that keys of additional properties must avoid. Through the regex
pipeline each costs a parse, a Thompson NFA and a subset construction, about a millisecond
per short name and most of a small schema's compile. The language here is simpler: a code
point trie of the values whose edges are the spellings of one character
(:func:`~.charsets.encoded_sequences`, the very byte sequences :func:`~.charsets.charset_dfa`
lowers, so both paths agree byte for byte). Spellings of different characters out of one
trie node share their prefixes (``\\u``, common hex digits) and otherwise start with
different bytes, so the byte trie is deterministic as built and only needs the canonical
minimization (linear on an acyclic automaton). Where two spellings would overlap without
being equal (never for the encodings we have) the builder gives up and the caller takes the
regex path.
"""

from __future__ import annotations

import functools
from typing import Iterable

import numpy as np

from ...automata import DEFAULT_BUDGET, ByteDFA, finalize
from ...budget import check_deadline
from ...cache import register_lru
from .charsets import ENCODINGS, encoded_sequences, single

__all__ = ["literal_dfa", "literal_set_dfa"]


@register_lru
@functools.lru_cache(maxsize=8192)
def _spellings(cp: int, encoding: str) -> tuple[tuple[frozenset[int], ...], ...]:
    """The byte-set sequences spelling code point ``cp`` (each element: the bytes allowed there)."""
    out = []
    for seq in encoded_sequences(single(cp), encoding):
        out.append(tuple(frozenset(b for lo, hi in elem for b in range(lo, hi + 1)) for elem in seq))
    return tuple(out)


@register_lru
@functools.lru_cache(maxsize=8192)
def _template(cp: int, encoding: str) -> tuple[tuple[tuple[int, int], ...], ...] | None:
    """The byte trie of the spellings of code point ``cp`` alone: per local state (0 is the
    start, targets come after their source), its ``(byte, target)`` pairs sorted by byte,
    ``-1`` for the end; ``None`` if the spellings do not form a trie (see the builder)."""
    local: list[dict[int, int]] = [{}]
    if not _add_spellings(local, {}, cp, encoding, -1):
        return None
    return tuple(tuple(sorted(row.items())) for row in local)


def _add_spellings(local: list[dict[int, int]], inner: dict[tuple[int, frozenset[int]], int],
                   cp: int, encoding: str, end: int) -> bool:
    """Add the spellings of ``cp`` to the local byte trie ``local`` (state 0 its root; each
    spelling ends on target ``end``); ``False`` if they do not fit a deterministic trie (a
    prefix shared only in part, or two spellings diverging on one byte)."""
    for seq in _spellings(cp, encoding):
        cur = 0
        last = len(seq) - 1
        for i, elem in enumerate(seq):
            row = local[cur]
            if i == last:
                dst = end
            else:
                dst = inner.get((cur, elem))
                if dst is None:
                    if any(b in row for b in elem):
                        return False
                    dst = inner[(cur, elem)] = len(local)
                    local.append({})
            for b in elem:
                if row.setdefault(b, dst) != dst:
                    return False
            cur = dst
    return True


def literal_set_dfa(values: Iterable[str], encoding: str = "utf8",
                    budget: int = DEFAULT_BUDGET) -> ByteDFA | None:
    """Canonical DFA of exactly the strings ``values``, each in every spelling ``encoding`` allows.

    Returns ``None`` (the caller then compiles an escaped regex alternation instead) if the
    trie would not be deterministic as built or grows past ``budget`` states.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, not {encoding!r}")
    # code point trie of the values
    children: list[dict[int, int]] = [{}]
    terminal = [False]
    for k, v in enumerate(values):
        if not k & 4095 and k:
            check_deadline()
        node = 0
        for ch in v:
            nxt = children[node].get(ord(ch))
            if nxt is None:
                nxt = len(children)
                children[node][ord(ch)] = nxt
                children.append({})
                terminal.append(False)
            node = nxt
        terminal[node] = True
    # Bottom-up over the trie (a child is numbered after its parent): each byte state is
    # registered under its signature (accepting, sorted (byte, target) pairs), so equal
    # futures share one state and the automaton comes out minimal, never materialising the
    # per-character copies of the escape spellings that minimization would merge again.
    registry: dict[tuple, int] = {}
    sigs: list[tuple] = []
    block = [0] * len(children)

    def intern(sig: tuple) -> int:
        """The state of signature ``sig``, registered on first sight (-1: over budget)."""
        sid = registry.get(sig)
        if sid is None:
            sid = registry[sig] = len(sigs)
            sigs.append(sig)
            if len(sigs) > budget:
                return -1
        return sid

    for node in range(len(children) - 1, -1, -1):
        kids = children[node]
        if len(kids) == 1:
            # one child (most nodes of a name trie): the local trie is that character's
            # spelling template, only its end (the child's state) differs
            ((cp, child),) = kids.items()
            tmpl = _template(cp, encoding)
            if tmpl is None:
                return None
            end = block[child]
            ids = [0] * len(tmpl)
            for k in range(len(tmpl) - 1, -1, -1):
                sig = (terminal[node] if k == 0 else False,
                       tuple([(b, end if t < 0 else ids[t]) for b, t in tmpl[k]]))
                ids[k] = intern(sig)
                if ids[k] < 0:
                    return None
            block[node] = ids[0]
            continue
        # local byte trie of the spellings out of this node: local 0 is the node itself;
        # a target >= 0 is a local state, ~b (< 0) the registered state b of a child
        local: list[dict[int, int]] = [{}]
        inner: dict[tuple[int, frozenset[int]], int] = {}
        for cp, child in children[node].items():
            if not _add_spellings(local, inner, cp, encoding, ~block[child]):
                return None
        ids = [0] * len(local)
        for k in range(len(local) - 1, -1, -1):  # a local state's targets come after it
            sig = (terminal[node] if k == 0 else False,
                   tuple(sorted((b, ~t if t < 0 else ids[t]) for b, t in local[k].items())))
            ids[k] = intern(sig)
            if ids[k] < 0:
                return None
        block[node] = ids[0]
    # class-compressed table (start state first): every byte that occurs gets its own
    # column, the others share a dead one; finalize renumbers canonically
    S = len(sigs)
    order = [block[0]] + [s for s in range(S) if s != block[0]]
    new = [0] * S
    for i, s in enumerate(order):
        new[s] = i
    used = sorted({b for _, items in sigs for b, _ in items})
    cls = [len(used)] * 256
    for c, b in enumerate(used):
        cls[b] = c
    src = [new[s] for s, (_, items) in enumerate(sigs) for _ in items]
    col = [cls[b] for _, items in sigs for b, _ in items]
    dst = [new[t] for _, items in sigs for _, t in items]
    T = np.full((S, len(used) + 1), -1, dtype=np.int64)
    if src:
        T[np.array(src), np.array(col)] = np.array(dst)
    acc = np.zeros(S, dtype=bool)
    acc[[new[s] for s, (a, _) in enumerate(sigs) if a]] = True
    # minimal as built unless a state is dead (a value with a character no spelling
    # reaches, a lone surrogate): then edges into it make equal languages look different
    return finalize(T, acc, np.array(cls, dtype=np.int64), minimal=(False, ()) not in registry)


def literal_dfa(value: str, encoding: str = "utf8", prefix: bytes = b"", suffix: bytes = b"") -> ByteDFA | None:
    """DFA of ``prefix``, then ``value`` in every spelling ``encoding`` allows, then ``suffix``.

    One value (a property name between its quotes) is a chain of the per-character spelling
    templates, written straight into a table: no signatures to intern and no canonical pass
    (:func:`literal_set_dfa` for one name, then gluing the quotes, was most of a key
    lexeme's cost). Trimmed and deterministic, not renumbered canonically (like ``glue``'s
    results, which lexemes already are). ``None`` where a character has no template or a
    dead spelling (a lone surrogate): the caller takes the general path.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, not {encoding!r}")
    src: list[int] = []
    col: list[int] = []
    dst: list[int] = []
    n = 0  # states so far

    def edge(a: int, b: int, t: int) -> None:
        src.append(a)
        col.append(b)
        dst.append(t)

    for b in prefix:
        edge(n, b, n + 1)
        n += 1
    for ch in value:
        cp = ord(ch)
        if 0xD800 <= cp <= 0xDFFF:
            return None
        tmpl = _template(cp, encoding)
        if not tmpl or not all(tmpl):  # no spelling, or a local state without moves
            return None
        end = n + len(tmpl)
        for k, row in enumerate(tmpl):
            for b, t in row:
                edge(n + k, b, end if t < 0 else n + t)
        n = end
    for b in suffix:
        edge(n, b, n + 1)
        n += 1
    S = n + 1
    used = sorted(set(col))
    cls = np.full(256, len(used), dtype=np.int64)
    cls[used] = np.arange(len(used))
    T = np.full((S, len(used) + 1), -1, dtype=np.int32)
    if src:
        T[np.array(src), cls[np.array(col)]] = np.array(dst)
    acc = np.zeros(S, dtype=bool)
    acc[n] = True
    return ByteDFA._make(T, acc, cls)
