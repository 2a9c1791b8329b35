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
import numpy as np

from ..budget import check_deadline, check_size
from .minimize import column_ids

__all__ = ["CountedDFA", "NotCountable", "counted_content_dfa", "counted_string_dfa"]


class NotCountable(ValueError):
    """The content automaton's lengths are not upward closed: a lower bound cannot be counted
    exactly with the character counter (the caller builds per-count states instead)."""



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

    @property
    def nbytes(self) -> int:
        """Bytes of its arrays (what a cache of automata counts against its budget)."""
        return sum(a.nbytes for a in (self._T, self._cmap, self.base_accept, self.inc, self.guard, self.interior))

    @property
    def classes(self) -> np.ndarray:
        """``int64 [256]`` byte class of each byte in the base automaton (do not write)."""
        return self._cmap

    @property
    def table(self) -> np.ndarray:
        """``int32 [S, K]`` class-compressed base transitions (do not write)."""
        return self._T

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
    # compress byte columns into classes, numbered in the lexicographic order of their columns
    # (as np.unique(key.T, axis=0) numbered them): equal columns found by hashing (exact-
    # checked), then only one column per class sorted; the unique over all 256 columns,
    # 3S wide, was most of this function on a few-thousand-state base (part 2y)
    key = np.concatenate([T, inc, guard])
    ids = column_ids(key)
    _, firstb = np.unique(ids, return_index=True)  # each class's first byte
    _, rank = np.unique(key[:, firstb].T, axis=0, return_inverse=True)
    rank = rank.reshape(-1)
    first = np.empty(firstb.size, dtype=np.int64)
    first[rank] = firstb
    cmap = rank[ids]
    return CountedDFA(T[:, first], cmap, accept, inc[:, first], guard[:, first], full_interior, lo, hi)


def counted_content_dfa(ws, content, char, hi: int | None, lo: int = 0) -> CountedDFA:
    """``ws · '"' · content · '"'`` with ``lo`` to ``hi`` characters of content.

    ``content`` is a trimmed DFA of JSON-encoded string contents (a format, patterns); ``char``
    the one-character JSON-content DFA, whose product with ``content`` tells where a character
    completes (the counter's increments). ``interior`` holds, per base state, the fewest
    characters that reach an accepting content state, so a state survives exactly when the
    counter leaves room for some completion (exact for an upper bound alone).

    A lower bound ``lo > 0`` guards the closing quote (``c >= lo``, the counter saturating at
    ``lo`` when ``hi`` is None). That is exact when every state's completion lengths are
    upward closed with some period ``p`` (from a state, a completion of ``k`` characters
    implies one of ``k + p``) and ``hi - lo >= p - 1``: a state with ``c + interior <= hi``
    then completes within ``[lo, hi]`` (the window holds ``p`` consecutive lengths, one of them
    in ``interior + p·N``). Writing ``R_k`` for the states with a completion of exactly ``k``
    characters, ``R_{k+1}`` is a monotone function of ``R_k``, so ``R_0 <= R_p`` gives
    ``R_k <= R_{k+p}`` for every ``k``: one check per candidate period (``^[a-z]+$``: 1,
    ``^([a-z][0-9])+$``: 2). Where it fails (a fixed ending such as ``=$`` after a counted
    body, a finite language), :class:`NotCountable`.
    """
    # the content's full byte table, int32 then int64, before any product state
    check_size(content.num_states * 256 * (4 + 8), f"counted string automaton over a {content.num_states}-state content")
    xT, xacc = content.trans.astype(np.int64), content.accept
    cT = char.trans.astype(np.int64)
    finals = np.flatnonzero(char.accept)
    assert finals.size == 1 and (cT[finals[0]] < 0).all(), "one character ends in one sink state"
    f = int(finals[0])
    PT, Pinc, pq, pp = _char_product(xT, cT, f)
    P = PT.shape[0]
    closable = xacc[pq] & (pp == 0)
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
    if lo > 0 and not _upward_closed(PT, Pinc, closable, lo, hi):
        raise NotCountable("the pattern's string lengths are not upward closed")
    out = _assemble(ws, PT, Pinc, 0, np.flatnonzero(closable), dist, lo, hi, guard_close=lo > 0)
    out.min_chars = int(dist[0])
    return out


def _char_product(xT: np.ndarray, cT: np.ndarray, f: int):
    """Product states ``(content state, position in the current character)`` breadth first,
    numbered in the order a state-by-state, byte-by-byte BFS meets them. Returns their rows
    (``[P, 256]``, -1 dead), increments (the move completes a character: the character DFA
    reaches its final ``f``, and the position restarts at 0) and each state's two parts.

    A BFS level is expanded in numpy, every state's 256 bytes at once, with a python step per
    distinct target only (a python loop over each state's live bytes was most of the
    pattern-bound compiles' lexeme time, part 2y)."""
    Pc = cT.shape[0]
    index = {0: 0}  # key nq * Pc + npos
    qs, ps = [0], [0]
    rows, incs = [], []
    lo = 0
    while lo < len(qs):
        hi = len(qs)
        # each product state holds a 256-wide row here, its copy in PT and the assembled
        # tables (T, inc, guard): about _PRODUCT_STATE_BYTES, counted before they grow
        check_size(len(qs) * _PRODUCT_STATE_BYTES, f"counted string automaton ({len(qs)} states so far)")
        check_deadline()
        A = xT[qs[lo:hi]]
        B = cT[ps[lo:hi]]
        live = (A >= 0) & (B >= 0)
        done = live & (B == f)
        keys = (A * Pc + np.where(done, 0, B))[live]  # row-major: states in order, bytes in order
        uk, first, inv = np.unique(keys, return_index=True, return_inverse=True)
        ids = np.empty(uk.size, dtype=np.int64)
        new = []
        for t, k in enumerate(uk.tolist()):
            j = index.get(k)
            if j is None:
                new.append(t)
            else:
                ids[t] = j
        if new:
            new = np.asarray(new, dtype=np.int64)
            new = new[np.argsort(first[new], kind="stable")]  # numbered as the BFS meets them
            nk = uk[new]
            ids[new] = np.arange(len(qs), len(qs) + new.size)
            index.update(zip(nk.tolist(), ids[new].tolist()))
            qs.extend((nk // Pc).tolist())
            ps.extend((nk % Pc).tolist())
        R = np.full(A.shape, -1, dtype=np.int64)
        R[live] = ids[inv.reshape(-1)]
        rows.append(R)
        incs.append(done)
        lo = hi
    return (np.concatenate(rows), np.concatenate(incs), np.asarray(qs, dtype=np.int64),
            np.asarray(ps, dtype=np.int64))


def _upward_closed(PT: np.ndarray, Pinc: np.ndarray, closable: np.ndarray, lo: int, hi: int | None) -> bool:
    """``R_0 <= R_p`` for some period ``p <= MAX_PERIOD`` with room for it (``hi - lo >= p - 1``),
    see :func:`counted_content_dfa`."""
    zero = (PT >= 0) & ~Pinc
    one = (PT >= 0) & Pinc
    tgt = np.maximum(PT, 0)

    def close(seed: np.ndarray) -> np.ndarray:
        r = seed.copy()
        while True:  # backward closure over moves that complete no character
            new = r | (zero & r[tgt]).any(axis=1)
            if (new == r).all():
                return r
            r = new

    r0 = close(closable)
    r = r0
    for p in range(1, MAX_PERIOD + 1):
        if hi is not None and hi - lo < p - 1:
            return False
        r = close((one & r[tgt]).any(axis=1))  # R_p from R_{p-1}
        if (r | ~r0).all():
            return True
    return False


MAX_PERIOD = 16
"""Longest period of completion lengths the counter handles (``^(ab)+$``: 2)."""


_PRODUCT_STATE_BYTES = 256 * (8 + 1) * 2 + 256 * (8 + 1 + 1) * 2
"""Bytes per state of :func:`counted_content_dfa`: rows and increments (list, then array),
the assembled ``T``/``inc``/``guard`` and their class-compression key."""
