"""Counted strings: JSON strings with large ``minLength``/``maxLength``, kept small.

Materializing ``"[chars]{lo,hi}"`` as a DFA costs about 20 states per character (a character
is 1-4 UTF-8 bytes, a 2-byte escape or a 6/12-byte ``\\u`` escape), so ``maxLength: 32768``
would need 650k states, and every character inside the string would be a fresh state whose
token row must be computed. Instead a counted lexeme is a small *base* automaton
``ws · '"' · char* · '"'`` plus a character counter ``c``: a lexeme state is the integer
``c * S + b`` (``b`` a base state), transitions that complete a character increment ``c``,
the closing quote needs ``c >= lo``, and no state may exceed ``hi``.

Token rows depend on ``c`` only through the remaining capacity ``hi - c`` and the remaining
need ``lo - c``, clamped to the longest token: inside a long string every position shares
one row, so the vocabulary walk runs a handful of times per lexeme, not once per character.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np

from . import tokens as _tokens
from .tokens import dense_trie, row_from_nodes, walk_trie

__all__ = ["CountedDFA", "CountedLexemeTable", "counted_string_dfa"]


class CountedDFA:
    """A base DFA (class-compressed ``_T``/``_cmap``) with a character counter in [lo, hi]."""

    counted = True

    def __init__(self, T: np.ndarray, cmap: np.ndarray, accept: np.ndarray, inc: np.ndarray,
                 guard: np.ndarray, interior: np.ndarray, lo: int, hi: int | None):
        self._T = T.astype(np.int32)
        self._cmap = cmap.astype(np.int64)
        self.base_accept = accept.astype(bool)
        self.inc = inc.astype(bool)  # [S, K] the move completes one character
        self.guard = guard.astype(bool)  # [S, K] the move closes the string: needs c >= lo
        self.interior = interior.astype(bool)  # [S] inside a character (one more must complete)
        self.lo = int(lo)
        self.hi = hi
        self.n_base = T.shape[0]
        self.accept = np.zeros(1, dtype=bool)  # state 0 (count 0, base start) never accepts

    @property
    def num_states(self) -> int:
        return self.n_base

    def is_empty(self) -> bool:
        return self.hi is not None and self.lo > self.hi

    # -- one byte at a time (matching and the token layer's stepping) -----------------

    def step(self, q: int, byte: int) -> int:
        c, b = divmod(q, self.n_base)
        k = self._cmap[byte]
        nb = int(self._T[b, k])
        if nb < 0:
            return -1
        if self.guard[b, k] and c < self.lo:
            return -1
        if self.inc[b, k]:
            c += 1
        if self.hi is not None and (c > self.hi or (self.interior[nb] and c + 1 > self.hi)):
            return -1
        if self.hi is None and c > self.lo:
            c = self.lo  # past the lower bound only "enough" matters
        return c * self.n_base + nb

    def accepts(self, q: int) -> bool:
        return bool(self.base_accept[q % self.n_base])

    def matches(self, data: bytes) -> bool:
        q = 0
        for byte in data:
            q = self.step(q, byte)
            if q < 0:
                return False
        return self.accepts(q)


def counted_string_dfa(ws, char, lo: int, hi: int | None) -> CountedDFA:
    """``ws · '"' · char{lo,hi} · '"'`` with ``char`` the one-character JSON-content DFA."""
    # base states: ws states [0, W), content positions [W, W + P), closing state W + P
    wsT = ws.trans.astype(np.int64) if ws is not None else np.full((1, 256), -1, dtype=np.int64)
    ws_acc = ws.accept if ws is not None else np.ones(1, dtype=bool)
    W = wsT.shape[0]
    cT = char.trans.astype(np.int64)
    finals = np.flatnonzero(char.accept)
    assert finals.size == 1 and (cT[finals[0]] < 0).all(), "one character ends in one sink state"
    f = int(finals[0])
    keep = np.array([p for p in range(cT.shape[0]) if p != f])
    pos = np.full(cT.shape[0], -1, dtype=np.int64)
    pos[keep] = np.arange(keep.size)
    pos[f] = pos[0]  # completing a character returns to the boundary position
    P = keep.size
    S = W + P + 1
    close = W + P
    T = np.full((S, 256), -1, dtype=np.int64)
    inc = np.zeros((S, 256), dtype=bool)
    guard = np.zeros((S, 256), dtype=bool)
    T[:W] = np.where(wsT >= 0, wsT, -1)
    quote = ord('"')
    assert (T[:W][ws_acc, quote] < 0).all()
    T[np.flatnonzero(ws_acc), quote] = W + pos[0]
    sub = cT[keep]
    T[W:W + P] = np.where(sub >= 0, W + pos[np.maximum(sub, 0)], -1)
    inc[W:W + P] = sub == f
    assert T[W + pos[0], quote] < 0  # a raw quote is never string content
    T[W + pos[0], quote] = close
    guard[W + pos[0], quote] = True
    interior = np.zeros(S, dtype=bool)
    interior[W:W + P] = True
    interior[W + pos[0]] = False
    accept = np.zeros(S, dtype=bool)
    accept[close] = True
    # compress byte columns into classes (the table is small)
    key = np.concatenate([T, inc, guard]).T
    _, first, cmap = np.unique(key, axis=0, return_index=True, return_inverse=True)
    cols = first
    return CountedDFA(T[:, cols], cmap.reshape(-1), accept, inc[:, cols], guard[:, cols], interior, lo, hi)


_WALKS: "OrderedDict[tuple, tuple]" = OrderedDict()
_WALKS_LOCK = threading.Lock()
_WALKS_LIMIT = 32  # an entry is ~13 bytes per live trie node (about 1 MB for string content)


class CountedLexemeTable:
    """Token rows of a counted lexeme, cached per (base state, clamped capacity, clamped need)."""

    counted = True

    def __init__(self, dfa: CountedDFA, vocab):
        self.dfa = dfa
        self.vocab = vocab
        self.n_base = dfa.n_base
        self._cap = int(vocab.max_token_len) + 1
        self._rows: dict[tuple[int, int, int], np.ndarray] = {}
        self._splits: dict[tuple[int, int, int], np.ndarray] = {}
        self._viable: dict[tuple[int, int, int], np.ndarray] = {}
        self._lock = threading.Lock()
        d = dfa
        n_cls = d._T.shape[1]
        dead = d.n_base
        ext = np.full((dead + 1, n_cls), dead, dtype=np.int64)
        ext[:dead] = np.where(d._T >= 0, d._T, dead)
        self._flat = ext.ravel()
        self._inc = np.append(d.inc.ravel(), np.zeros(n_cls, dtype=bool))
        self._guard = np.append(d.guard.ravel(), np.zeros(n_cls, dtype=bool))
        self._interior = np.append(d.interior, False)
        self._accept = np.append(d.base_accept, False)
        self._n_cls = n_cls
        self._sig: str | None = None

    def _signature(self) -> str:
        """The base automaton's identity: counted lexemes differing only in bounds share walks."""
        if self._sig is None:
            d = self.dfa
            h = hashlib.sha1()
            for a in (d._T, d._cmap, d.inc, d.guard, d.interior, d.base_accept):
                h.update(np.ascontiguousarray(a).tobytes())
                h.update(str(a.shape).encode())
            self._sig = h.hexdigest()
        return self._sig

    def _dense_cls(self) -> np.ndarray:
        c = getattr(self, "_cls_bfs", None)
        if c is None:
            c = self._cls_bfs = self.dfa._cmap[dense_trie(self.vocab).byte]
        return c

    def _dense_walk(self, b0: int):
        """One walk of the whole trie from base state ``b0``, bounds-free, shared by bounds.

        Per live node (bfs position): the largest ``used + interior`` on its path (characters
        it needs room for; nondecreasing along a path) and the smallest count at which a
        closing quote was crossed on its path (the lower bound it needs), so the row for any
        (room, need) is a filter of these arrays.
        """
        vocab = self.vocab
        key = (self._signature(), b0, vocab.fingerprint)
        with _WALKS_LOCK:
            hit = _WALKS.get(key)
            if hit is not None:
                _WALKS.move_to_end(key)
                return hit
        dt = dense_trie(vocab)
        cls = self._dense_cls()
        flat, inc, guard, interior, n_cls = self._flat, self._inc, self._guard, self._interior, self._n_cls
        n = dt.n
        big = np.int32(1 << 30)
        NB = np.empty(n, dtype=np.int64)
        U = np.zeros(n, dtype=np.int32)
        VM = np.zeros(n, dtype=np.int32)
        GM = np.full(n, big, dtype=np.int32)
        NB[0] = b0
        par, bounds = dt.parent, dt.bounds
        for k in range(1, len(bounds) - 1):
            a, b = bounds[k], bounds[k + 1]
            p = par[a - 1:b - 1]
            idx = NB[p] * n_cls + cls[a:b]
            nb = flat[idx]
            NB[a:b] = nb
            u = U[p] + inc[idx]
            U[a:b] = u
            np.maximum(VM[p], u + interior[nb], out=VM[a:b])
            GM[a:b] = np.where(guard[idx], np.minimum(GM[p], u), GM[p])
        alive = np.flatnonzero(NB != self.n_base)
        alive = alive[alive > 0]
        res = (alive.astype(np.int32), VM[alive], GM[alive], self._accept[NB[alive]] & dt.has_kids[alive])
        with _WALKS_LOCK:
            _WALKS[key] = res
            while len(_WALKS) > _WALKS_LIMIT:
                _WALKS.popitem(last=False)
        return res

    def _key(self, q: int) -> tuple[int, int, int]:
        c, b = divmod(q, self.n_base)
        d = self.dfa
        room = self._cap if d.hi is None else min(d.hi - c, self._cap)
        need = min(max(d.lo - c, 0), self._cap)
        return b, room, need

    def row(self, q: int) -> np.ndarray:
        k = self._key(q)
        r = self._rows.get(k)
        if r is None:
            self._compute(k)
            r = self._rows[k]
        return r

    def splits(self, q: int) -> np.ndarray:
        k = self._key(q)
        s = self._splits.get(k)
        if s is None:
            self._compute(k)
            s = self._splits[k]
        return s

    def viable_bytes(self, q: int) -> np.ndarray:
        k = self._key(q)
        v = self._viable.get(k)
        if v is None:
            c = q // self.n_base
            v = np.array([self.dfa.step(q, byte) >= 0 for byte in range(256)], dtype=bool)
            self._viable[k] = v
            del c
        return v

    def step(self, q: int, byte: int) -> int:
        return self.dfa.step(q, byte)

    def accepts(self, q: int) -> bool:
        return self.dfa.accepts(q)

    def _compute(self, key: tuple[int, int, int]) -> None:
        b0, room, need = key
        flat, inc, guard, interior, n_cls = self._flat, self._inc, self._guard, self._interior, self._n_cls
        cmap = self.dfa._cmap
        dead = self.n_base
        bounded = self.dfa.hi is not None
        dt = dense_trie(self.vocab)
        viable = self._flat[b0 * n_cls + cmap] != dead
        if (int(dt.below_first[viable].sum()) > _tokens.DENSE_MIN_NODES
                and dt.estimate(flat, n_cls, self._dense_cls(), b0, dead) > _tokens.DENSE_MIN_NODES):
            pos, vmax, gmin, split = self._dense_walk(b0)
            keep = gmin >= need
            if bounded:
                keep &= vmax <= room
            alive = np.zeros(dt.n, dtype=bool)
            alive[pos[keep]] = True
            row = dt.row(alive, self.vocab.n_words)
            splits = dt.order[pos[keep & split]]
            with self._lock:
                self._rows[key] = row
                self._splits[key] = splits
            return

        def advance(parent, byts):
            b, used = parent
            idx = b.astype(np.int64) * n_cls + cmap[byts]
            nb = flat[idx]
            used = used + inc[idx]
            ok = (nb != dead) & ~(guard[idx] & (used < need))
            if bounded:
                ok &= (used + interior[nb]) <= room
            return (nb, used), ok

        nodes, (st, _) = walk_trie(self.vocab, (b0, 0), advance)
        row = row_from_nodes(self.vocab, nodes)
        v = self.vocab
        has_kids = v.child_ptr[nodes + 1] > v.child_ptr[nodes]
        splits = nodes[self._accept[st] & has_kids].astype(np.int32)
        with self._lock:
            self._rows[key] = row
            self._splits[key] = splits
