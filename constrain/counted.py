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
from .deadline import check_deadline, check_size
from .cache import register
from .tokens import class_per_position, dense_trie, pack_bits, row_from_nodes, walk_trie

__all__ = ["CountedDFA", "CountedLexemeTable", "counted_content_dfa", "counted_string_dfa"]


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
        # [S] characters that must still complete before the string can close: 1 inside a
        # character of the any-character base, the distance to an accepting content state for a
        # base built from a content automaton (counted_content_dfa); 0 where it may close now
        self.interior = np.asarray(interior).astype(np.int32)
        self.lo = int(lo)
        self.hi = hi
        self.n_base = T.shape[0]
        self.accept = np.zeros(1, dtype=bool)  # state 0 (count 0, base start) never accepts

    @property
    def num_states(self) -> int:
        return self.n_base

    min_chars = 0  # the fewest characters of any string of the base (counted_content_dfa)

    def is_empty(self) -> bool:
        return self.hi is not None and max(self.lo, self.min_chars) > self.hi

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
        if self.hi is not None and c + self.interior[nb] > self.hi:
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
    cT = char.trans.astype(np.int64)
    finals = np.flatnonzero(char.accept)
    assert finals.size == 1 and (cT[finals[0]] < 0).all(), "one character ends in one sink state"
    f = int(finals[0])
    keep = np.array([p for p in range(cT.shape[0]) if p != f])
    pos = np.full(cT.shape[0], -1, dtype=np.int64)
    pos[keep] = np.arange(keep.size)
    pos[f] = pos[0]  # completing a character returns to the boundary position
    sub = cT[keep]
    interior = np.ones(keep.size, dtype=np.int32)
    interior[pos[0]] = 0
    return _assemble(ws, np.where(sub >= 0, pos[np.maximum(sub, 0)], -1), sub == f, int(pos[0]),
                     np.array([pos[0]]), interior, lo, hi, guard_close=True)


def _assemble(ws, PT: np.ndarray, Pinc: np.ndarray, start: int, closable: np.ndarray, interior: np.ndarray,
              lo: int, hi: int | None, *, guard_close: bool) -> CountedDFA:
    """``ws · '"' · content · '"'`` from content rows ``PT`` (``[P, 256]``, -1 dead), their
    increments, the content start, the states where the closing quote may follow (guarded by
    the lower bound when ``guard_close``) and each content state's ``interior``."""
    wsT = ws.trans.astype(np.int64) if ws is not None else np.full((1, 256), -1, dtype=np.int64)
    ws_acc = ws.accept if ws is not None else np.ones(1, dtype=bool)
    W, P = wsT.shape[0], PT.shape[0]
    S = W + P + 1
    close = W + P
    T = np.full((S, 256), -1, dtype=np.int64)
    inc = np.zeros((S, 256), dtype=bool)
    guard = np.zeros((S, 256), dtype=bool)
    T[:W] = np.where(wsT >= 0, wsT, -1)
    quote = ord('"')
    assert (T[:W][ws_acc, quote] < 0).all()
    T[np.flatnonzero(ws_acc), quote] = W + start
    T[W:W + P] = np.where(PT >= 0, W + PT, -1)
    inc[W:W + P] = Pinc
    assert (T[W + closable, quote] < 0).all()  # at a character boundary a raw quote ends the string
    T[W + closable, quote] = close
    guard[W + closable, quote] = guard_close
    full_interior = np.zeros(S, dtype=np.int32)
    full_interior[W:W + P] = interior
    accept = np.zeros(S, dtype=bool)
    accept[close] = True
    # compress byte columns into classes (the table is small)
    key = np.concatenate([T, inc, guard]).T
    _, first, cmap = np.unique(key, axis=0, return_index=True, return_inverse=True)
    return CountedDFA(T[:, first], cmap.reshape(-1), accept, inc[:, first], guard[:, first], full_interior, lo, hi)


def counted_content_dfa(ws, content, char, hi: int) -> CountedDFA:
    """``ws · '"' · content · '"'`` with at most ``hi`` characters of content.

    ``content`` is a trimmed DFA of JSON-encoded string contents (a format, patterns); ``char``
    the one-character JSON-content DFA, whose product with ``content`` tells where a character
    completes (the counter's increments). ``interior`` holds, per base state, the fewest
    characters that reach an accepting content state, so a state survives exactly when the
    counter leaves room for some completion (exact for an upper bound alone: the caller folds
    a lower bound into ``content``).
    """
    # the content's full byte table, int32 then int64, before any product state
    check_size(content.num_states * 256 * (4 + 8), f"counted string automaton over a {content.num_states}-state content")
    xT, xacc = content.trans.astype(np.int64), content.accept
    cT = char.trans.astype(np.int64)
    finals = np.flatnonzero(char.accept)
    assert finals.size == 1 and (cT[finals[0]] < 0).all(), "one character ends in one sink state"
    f = int(finals[0])
    # product states (content state, position in the current character), breadth first
    index = {(0, 0): 0}
    order = [(0, 0)]
    rows, incs = [], []
    i = 0
    while i < len(order):
        if not i & 1023:
            # each product state holds a 256-wide row here, its copy in PT and the assembled
            # tables (T, inc, guard): about _PRODUCT_STATE_BYTES, counted before they grow
            check_size(len(order) * _PRODUCT_STATE_BYTES, f"counted string automaton ({len(order)} states so far)")
            check_deadline()
        q, p = order[i]
        i += 1
        row = np.full(256, -1, dtype=np.int64)
        inc = np.zeros(256, dtype=bool)
        for byte in np.flatnonzero((xT[q] >= 0) & (cT[p] >= 0)):
            nq, npos = int(xT[q, byte]), int(cT[p, byte])
            done = npos == f
            key = (nq, 0 if done else npos)
            j = index.get(key)
            if j is None:
                j = index[key] = len(order)
                order.append(key)
            row[byte] = j
            inc[byte] = done
        rows.append(row)
        incs.append(inc)
    P = len(order)
    PT, Pinc = np.array(rows), np.array(incs)
    closable = np.array([bool(xacc[q]) and p == 0 for q, p in order])
    # fewest increments to a closable state: a fixed point over 0/1 edge weights
    dist = np.full(P, 1 << 30, dtype=np.int64)
    dist[closable] = 0
    changed = True
    while changed:  # at most P rounds; P is small
        cand = np.where(PT >= 0, dist[np.maximum(PT, 0)] + Pinc, 1 << 30).min(axis=1)
        new = np.minimum(dist, cand)
        changed = bool((new != dist).any())
        dist = new
    assert (dist < (1 << 30)).all(), "content automaton must be trimmed"
    out = _assemble(ws, PT, Pinc, 0, np.flatnonzero(closable), dist, 0, hi, guard_close=False)
    out.min_chars = int(dist[0])
    return out


_PRODUCT_STATE_BYTES = 256 * (8 + 1) * 2 + 256 * (8 + 1 + 1) * 2
"""Bytes per state of :func:`counted_content_dfa`: rows and increments (list, then array),
the assembled ``T``/``inc``/``guard`` and their class-compression key."""

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
            for a in (d._T, d._cmap, d.inc, d.guard, d.interior, d.base_accept):
                h.update(np.ascontiguousarray(a).tobytes())
                h.update(str(a.shape).encode())
            self._sig = h.hexdigest()
        return self._sig

    def _dense_cls(self) -> np.ndarray:
        c = getattr(self, "_cls_bfs", None)
        if c is None:
            c = self._cls_bfs = class_per_position(self.dfa._cmap, self.vocab)
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
            tok_room, tok_need, split_nodes, split_room, split_need = self._dense_walk(b0)
            ok = tok_need >= need
            keep = split_need >= need
            if bounded:
                ok &= tok_room <= room
                keep &= split_room <= room
            row = pack_bits(ok, self.vocab.n_words)
            splits = split_nodes[keep]
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
