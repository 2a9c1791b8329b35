"""Token rows of counted lexemes (see :mod:`constrain.automata.counted`), kept small.

Token rows depend on ``c`` only through the remaining capacity ``hi - c`` and the remaining
need ``lo - c``, clamped to the longest token: inside a long string every position shares
one row, so the vocabulary walk runs a handful of times per lexeme, not once per character.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np

from ..automata.counted import CountedDFA
from ..cache import register
from . import lexeme_tables as _tables
from .bitmask import pack_bits
from .shared_rows import share
from .trie import class_per_position, dense_trie, row_from_nodes, walk_trie
from .vocab import Vocabulary

__all__ = ["CountedLexemeTable"]

_WALKS: "OrderedDict[tuple, tuple]" = OrderedDict()
_WALKS_LOCK = threading.Lock()
_WALKS_LIMIT = 32  # an entry is 4 (int16 pair; 8 if not clamped) bytes per token id, 0.5-1 MB for 131k tokens, plus the split nodes
_CLAMP = np.iinfo(np.int16).max  # "huge" room/need in the int16 per-token arrays


def _clear_walks() -> None:
    with _WALKS_LOCK:
        _WALKS.clear()


register("constrain.counted.walks", _clear_walks, lambda: len(_WALKS))


class CountedLexemeTable:
    """Token rows of a counted lexeme, cached per (base state, clamped capacity, clamped need)."""

    counted = True
    batchable = False

    @property
    def n_rows(self) -> int:
        """Rows computed so far (one per base state, clamped capacity and clamped need)."""
        return len(self._rows)

    def __init__(self, dfa: CountedDFA, vocab: Vocabulary):
        self.dfa = dfa
        self.vocab = vocab
        self.n_base = dfa.n_base
        self._cap = int(vocab.max_token_len) + 1
        self._rows: dict[tuple[int, int, int], np.ndarray] = {}
        self._splits: dict[tuple[int, int, int], np.ndarray] = {}
        self._viable: dict[tuple[int, int, int], np.ndarray] = {}
        self._lock = _tables.TABLE_LOCK  # shared, as LexemeTable's
        d = dfa
        n_cls = d.table.shape[1]
        dead = d.n_base
        ext = np.full((dead + 1, n_cls), dead, dtype=np.int64)
        ext[:dead] = np.where(d.table >= 0, d.table, dead)
        self._flat = ext.ravel()
        self._inc = np.append(d.inc.ravel(), np.zeros(n_cls, dtype=bool))
        self._guard = np.append(d.guard.ravel(), np.zeros(n_cls, dtype=bool))
        self._interior = np.append(d.interior, 0).astype(np.int32)
        self._max_interior = max(int(d.interior.max(initial=0)), 1)
        self._accept = np.append(d.base_accept, False)
        self._n_cls = n_cls
        self._sig: str | None = None

    def _signature(self) -> str:
        """The base automaton's identity: counted lexemes differing only in bounds share walks."""
        if self._sig is None:
            d = self.dfa
            h = hashlib.sha1()
            for a in (d.table, d.classes, d.inc, d.guard, d.interior, d.base_accept):
                h.update(np.ascontiguousarray(a).tobytes())
                h.update(str(a.shape).encode())
            self._sig = h.hexdigest()
        return self._sig

    def _dense_cls(self) -> np.ndarray:
        c = getattr(self, "_cls_bfs", None)
        if c is None:
            c = self._cls_bfs = class_per_position(self.dfa.classes, self.vocab)
        return c

    def _dense_walk(self, b0: int):
        """One walk of the whole trie from base state ``b0``, bounds-free, shared by bounds.

        Per live node (bfs position): the largest ``used + interior`` on its path (characters
        it needs room for; nondecreasing along a path) and the smallest count at which a
        closing quote was crossed on its path (the lower bound it needs), so the row for any
        (room, need) is a filter of these arrays. They are kept per token id (a row is one
        comparison over the vocabulary and a pack) and for the split nodes only.
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
        live = NB != self.n_base
        live[0] = False
        # per token id: room needed (huge if dead) and lower bound needed (-1: dead, never met)
        tok_room = np.append(np.where(live, VM, big), big)[dt.token_pos]
        tok_need = np.append(np.where(live, GM, -1), -1)[dt.token_pos]
        if self._cap + self._max_interior < _CLAMP:
            # every row compares these over the whole vocabulary: int16 halves that work. The
            # rooms and needs asked for (see _key) stay below the clamp, so clamping "huge"
            # to int16's top changes no comparison
            tok_room = np.minimum(tok_room, _CLAMP).astype(np.int16)
            tok_need = np.minimum(tok_need, _CLAMP).astype(np.int16)
        split = np.flatnonzero(live & self._accept[NB] & dt.has_kids)
        res = (tok_room, tok_need, dt.order[split], VM[split], GM[split])
        with _WALKS_LOCK:
            _WALKS[key] = res
            while len(_WALKS) > _WALKS_LIMIT:
                _WALKS.popitem(last=False)
        return res

    def _key(self, q: int) -> tuple[int, int, int]:
        c, b = divmod(q, self.n_base)
        d = self.dfa
        # a token completes at most cap - 1 characters and then needs interior[...] more: room
        # beyond cap - 1 + max(interior) (= cap for the any-character base) is all the same
        room_cap = self._cap - 1 + self._max_interior
        room = room_cap if d.hi is None else min(d.hi - c, room_cap)
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
            v = np.array([self.dfa.step(q, byte) >= 0 for byte in range(256)], dtype=bool)
            self._viable[k] = v
        return v

    def step(self, q: int, byte: int) -> int:
        return self.dfa.step(q, byte)

    def accepts(self, q: int) -> bool:
        return self.dfa.accepts(q)

    def _compute(self, key: tuple[int, int, int]) -> None:
        b0, room, need = key
        flat, inc, guard, interior, n_cls = self._flat, self._inc, self._guard, self._interior, self._n_cls
        cmap = self.dfa.classes
        dead = self.n_base
        bounded = self.dfa.hi is not None
        dt = dense_trie(self.vocab)
        viable = self._flat[b0 * n_cls + cmap] != dead
        if (int(dt.below_first[viable].sum()) > _tables.DENSE_MIN_NODES
                and dt.estimate(flat, n_cls, np.asarray(cmap[:256]), b0, dead) > _tables.DENSE_MIN_NODES):
            tok_room, tok_need, split_nodes, split_room, split_need = self._dense_walk(b0)
            ok = tok_need >= need
            keep = split_need >= need
            if bounded:
                ok &= tok_room <= room
                keep &= split_room <= room
            row = pack_bits(ok, self.vocab.n_words)
            splits = split_nodes[keep]
            with self._lock:
                self._rows[key] = share(row)
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
            self._rows[key] = share(row)
            self._splits[key] = splits
