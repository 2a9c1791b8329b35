"""Per-lexeme token tables: the vocabulary walked through a lexeme DFA, once per state.

For a lexeme DFA state ``q`` the table holds

* ``row(q)`` -- the packed bitmask of tokens whose bytes all stay alive in the lexeme from
  ``q`` (``INSIDE[q]`` in the design notes), and
* ``splits(q)`` -- the trie nodes where the lexeme can be complete after a proper prefix of a
  token (the token's remaining bytes must then start the next lexeme: the token layer checks
  those few subtrees against the parser).

Both come from one walk of the token trie, level by level, that only expands the children of
nodes still alive -- a literal lexeme touches a handful of nodes, a string-content state most
of the trie. Tables are keyed by (lexeme key, vocabulary fingerprint) and shared by every
compiled grammar in the process, so the JSON string lexeme is walked once per vocabulary.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
import weakref
from collections import OrderedDict

import numpy as np

from .cache import register

from .deadline import check_deadline

__all__ = ["LexemeTable", "DifferenceLexemeTable", "clear_bits", "child_lists", "lexeme_table", "pack_bits", "csr_positions", "set_bits", "walk_trie", "row_from_nodes",
           "compute_rows_batched", "DenseTrie", "dense_trie"]

# a state whose first bytes lead into more than this many trie nodes is walked densely
DENSE_MIN_NODES = 3000
# rows of "B minus F" lexemes derived from B's rows (tests turn it off to compare)
USE_DIFFERENCE_TABLES = True
# Python depth-first walks (few live nodes: literals, keys) give up after this many lookups
SMALL_WALK_BUDGET = 1024
# trie positions x lanes gathered per level by one batched dense walk (bounds its memory)
DENSE_LANE_ELEMENTS = 1 << 21


def csr_positions(ptr: np.ndarray, rows: np.ndarray, with_owner: bool = False):
    """Flat positions of all entries of CSR ``rows`` (in row order), without a Python loop.

    With ``with_owner`` also returns, for each position, the index into ``rows`` it came from.
    """
    if rows.size == 1:  # common deep in a narrow walk (one live chain): skip the bookkeeping
        r = int(rows[0])
        pos = np.arange(int(ptr[r]), int(ptr[r + 1]), dtype=np.int64)
        return (pos, np.zeros(pos.size, dtype=np.int64)) if with_owner else pos
    starts = ptr[rows]
    lens = ptr[rows + 1] - starts
    total = int(lens.sum())
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return (empty, empty) if with_owner else empty
    pos = np.repeat(starts - np.concatenate(([0], np.cumsum(lens)[:-1])), lens) + np.arange(total)
    if with_owner:
        return pos, np.repeat(np.arange(rows.size), lens)
    return pos


def walk_trie(vocab, init: tuple, advance):
    """Walk the token trie level by level from automaton states, expanding only live nodes.

    ``init`` is the start state as a tuple (one entry per state component) of scalars, or of
    equal-length arrays to walk several start states ("lanes") at once; ``advance`` maps
    (parent state arrays, child bytes) to (child state arrays, alive mask). Returns the live
    nodes (depth >= 1) and their state arrays.
    """
    child_ptr, child_ids, child_bytes = vocab.child_ptr, vocab.child_ids, vocab.child_bytes
    states = tuple(np.atleast_1d(np.asarray(x)) for x in init)
    alive = np.zeros(states[0].size, dtype=np.int64)
    out_nodes, out_states = [], []
    while alive.size:
        check_deadline()
        pos, owner = csr_positions(child_ptr, alive, with_owner=True)
        if pos.size == 0:
            break
        new_states, ok = advance(tuple(a[owner] for a in states), child_bytes[pos])
        alive = child_ids[pos][ok]
        states = tuple(a[ok] for a in new_states)
        if alive.size:
            out_nodes.append(alive)
            out_states.append(states)
    if not out_nodes:
        return np.zeros(0, dtype=np.int64), tuple(np.zeros(0, dtype=np.int64) for _ in init)
    return np.concatenate(out_nodes), tuple(np.concatenate(c) for c in zip(*out_states))


class DenseTrie:
    """The token trie in breadth-first order, for walks that visit (nearly) every node.

    A pruned walk (:func:`walk_trie`) pays per level for compacting the live nodes; when most
    of the trie stays alive (string content, broad character classes) it is cheaper to
    compute the state of *every* node, level by level, as one gather per level: a node's
    state is its parent's state stepped by its byte, and a dead sink state keeps dead
    subtrees dead. Index ``i`` here is breadth-first position; ``order[i]`` the trie node.
    """

    def __init__(self, vocab):
        order = np.concatenate([np.asarray(l, dtype=np.int64) for l in vocab.levels])
        n = order.size
        pos = np.empty(n, dtype=np.int64)
        pos[order] = np.arange(n)
        self.n = n
        self.order = order.astype(np.int32)
        # parent position of bfs positions 1..n-1 (position 0 is the root)
        self.parent = pos[vocab.trie_parent[order[1:]].astype(np.int64)]
        self.byte = np.maximum(vocab.trie_byte[order].astype(np.int64), 0)
        self.bounds = np.cumsum([0] + [len(l) for l in vocab.levels]).tolist()
        self.has_kids = (vocab.child_ptr[order + 1] > vocab.child_ptr[order])
        tn = vocab.token_node.astype(np.int64)
        self.token_pos = np.where(tn >= 0, pos[np.maximum(tn, 0)], n)  # n: "no node"
        # trie nodes below each first byte (depth-1 subtree sizes): estimates a walk's size
        below = np.zeros(256, dtype=np.int64)
        kids = vocab.child_ids[vocab.child_ptr[0]:vocab.child_ptr[1]]
        below[vocab.child_bytes[vocab.child_ptr[0]:vocab.child_ptr[1]]] = vocab.trie_end[kids] - kids
        self.below_first = below
        # subtree sizes of the depth-2 nodes (bfs positions bounds[2]:bounds[3])
        if len(self.bounds) > 3:
            l2 = order[self.bounds[2]:self.bounds[3]]
            self.below_second = (vocab.trie_end[l2] - l2).astype(np.int64)
        else:
            self.below_second = np.zeros(0, dtype=np.int64)

    def estimate(self, flat: np.ndarray, n_cls: int, cls: np.ndarray, q: int, dead: int) -> int:
        """Trie nodes below the live depth-2 nodes from ``q``: bounds a pruned walk's size."""
        b = self.bounds
        if len(b) <= 3:
            return 0
        s1 = flat[cls[b[1]:b[2]].astype(np.int64) + q * n_cls]  # cls may be uint8: widen first
        s2 = flat[s1[self.parent[b[2] - 1:b[3] - 1] - b[1]].astype(np.int64) * n_cls + cls[b[2]:b[3]]]
        return int(self.below_second[s2 != dead].sum())

    def row(self, alive: np.ndarray, n_words: int) -> np.ndarray:
        """Packed mask of the tokens whose nodes are ``alive`` (bool per bfs position)."""
        ext = np.zeros(self.n + 1, dtype=bool)
        ext[: self.n] = alive
        return pack_bits(ext[self.token_pos], n_words)

    def walk(self, flat: np.ndarray, n_cls: int, cls: np.ndarray, q: int) -> np.ndarray:
        """State of every bfs position walking from ``q`` (``flat[s * n_cls + c]``, dead sink)."""
        S = np.empty(self.n, dtype=flat.dtype)
        S[0] = q
        par, bounds = self.parent, self.bounds
        for k in range(1, len(bounds) - 1):
            a, b = bounds[k], bounds[k + 1]
            np.take(flat, S[par[a - 1:b - 1]] * n_cls + cls[a:b], out=S[a:b])
        return S

    def walk_many(self, flat: np.ndarray, n_cls: int, cls: np.ndarray, qs: np.ndarray) -> np.ndarray:
        """:meth:`walk` from several start states at once: ``S[i, j]`` is position i from ``qs[j]``.

        One gather per trie level for all lanes, so the per-level overhead is paid once.
        """
        qs = np.asarray(qs, dtype=flat.dtype)
        S = np.empty((self.n, qs.size), dtype=flat.dtype)
        S[0] = qs
        par, bounds = self.parent, self.bounds
        for k in range(1, len(bounds) - 1):
            a, b = bounds[k], bounds[k + 1]
            np.take(flat, S[par[a - 1:b - 1]] * n_cls + cls[a:b, None], out=S[a:b])
        return S


def class_per_position(cmap: np.ndarray, vocab) -> np.ndarray:
    """A lexeme's byte class at every breadth-first trie position, in the smallest dtype.

    Each table keeps one (a trie position's class is needed by every dense walk and estimate),
    so at int64 thousands of cached tables over a 131k vocabulary held gigabytes; classes
    fit a byte. Callers widen before mixing with Python ints (NumPy keeps uint8 there).
    """
    c = cmap[dense_trie(vocab).byte]
    return c.astype(np.uint8 if int(cmap.max(initial=0)) < 256 else np.int32)


# trie views derived from a vocabulary, cached on it as attributes (recomputed on demand);
# clear_caches() drops them from every vocabulary that has some
_VOCAB_VIEWS = ("_dense_trie", "_node_token_direct", "_child_lists", "_token_node_or_end")
_VIEW_HOLDERS: "weakref.WeakSet" = weakref.WeakSet()


def _drop_vocab_views() -> None:
    for v in list(_VIEW_HOLDERS):
        for name in _VOCAB_VIEWS:
            v.__dict__.pop(name, None)
    _VIEW_HOLDERS.clear()


def dense_trie(vocab) -> DenseTrie:
    d = getattr(vocab, "_dense_trie", None)
    if d is None:
        d = vocab._dense_trie = DenseTrie(vocab)
        _VIEW_HOLDERS.add(vocab)
    return d


def tokens_at_nodes(vocab, nodes: np.ndarray) -> np.ndarray:
    """Ids of the tokens whose bytes end at ``nodes``.

    A node ends at most one token unless the vocabulary spells one string with several ids
    (rare), so a direct node -> token map (cached on the vocabulary) answers without the
    CSR bookkeeping in the common case.
    """
    direct = getattr(vocab, "_node_token_direct", None)
    if direct is None:
        ptr = vocab.node_token_ptr
        counts = np.diff(ptr)
        one = np.full(counts.size, -1, dtype=np.int64)
        has = counts > 0
        one[has] = vocab.node_token_ids[ptr[:-1][has]]
        multi = counts > 1
        direct = vocab._node_token_direct = (one, multi if multi.any() else None)
        _VIEW_HOLDERS.add(vocab)
    one, multi = direct
    if multi is not None and multi[nodes].any():
        return vocab.node_token_ids[csr_positions(vocab.node_token_ptr, nodes)]
    ids = one[nodes]
    return ids[ids >= 0]


def row_from_nodes(vocab, nodes: np.ndarray) -> np.ndarray:
    """Packed mask of the tokens that end at ``nodes``."""
    n_nodes = vocab.trie_parent.shape[0]
    if nodes.size * 16 < n_nodes:
        # few nodes alive (literals, punctuation): set their tokens' bits directly
        row = np.zeros(vocab.n_words, dtype=np.uint32)
        set_bits(row, tokens_at_nodes(vocab, nodes))
        return row
    node_alive = np.zeros(n_nodes + 1, dtype=bool)  # last entry: "no node" (special ids)
    node_alive[nodes] = True
    return pack_bits(node_alive[_token_node_or_end(vocab)], vocab.n_words)


def set_bits(words: np.ndarray, ids: np.ndarray) -> None:
    """OR the bits of token ``ids`` into packed uint32 ``words`` in place."""
    if ids.size:
        ids = ids.astype(np.int64, copy=False)
        np.bitwise_or.at(words, ids >> 5, np.left_shift(np.uint32(1), (ids & 31).astype(np.uint32)))


def clear_bits(words: np.ndarray, ids: np.ndarray) -> None:
    """Clear the bits of token ``ids`` in packed uint32 ``words`` in place."""
    if ids.size:
        ids = ids.astype(np.int64, copy=False)
        np.bitwise_and.at(words, ids >> 5, ~np.left_shift(np.uint32(1), (ids & 31).astype(np.uint32)))


def pack_bits(allowed: np.ndarray, n_words: int) -> np.ndarray:
    """Pack a bool vector (one entry per token id) into int32 words, bit t%32 of word t//32."""
    b = np.packbits(allowed, bitorder="little")
    out = np.zeros(n_words * 4, dtype=np.uint8)
    out[: b.size] = b
    return out.view("<u4").astype(np.uint32, copy=False)


class LexemeTable:
    """Lazily computed INSIDE rows and split nodes for every state of one lexeme DFA."""

    batchable = True  # rows may be filled by compute_rows_batched (plain DFA walks)

    def __init__(self, dfa, vocab):
        self.dfa = dfa
        self.vocab = vocab
        # class-compressed transitions: T[q, cmap[byte]] (-1 dead); a sink row for "dead"
        T = np.asarray(dfa._T, dtype=np.int32)
        cmap = np.asarray(dfa._cmap[:256], dtype=np.int64)
        n_states, n_cls = T.shape
        self.n_states = n_states
        self.n_cls = n_cls
        ext = np.full((n_states + 1, n_cls), n_states, dtype=np.int32)
        ext[:n_states] = np.where(T >= 0, T, n_states)
        self._flat = ext.ravel()
        self._cmap = cmap
        self._accept_ext = np.append(np.asarray(dfa.accept, dtype=bool), False)
        self._accept_states = np.flatnonzero(self._accept_ext).astype(np.int32)
        self._rows: dict[int, np.ndarray] = {}
        self._splits: dict[int, np.ndarray] = {}
        self._viable: dict[int, np.ndarray] = {}
        self._viable_lists: dict[int, list[int]] = {}
        self._lock = threading.Lock()
        # Python sequences for byte-at-a-time stepping in the token layer: T_list[q][cmap_list[b]].
        # Tuples of ints, not lists: the garbage collector stops tracking them, so thousands of
        # cached tables add nothing to the cost of a full collection
        self.T_list: tuple[tuple[int, ...], ...] = tuple(map(tuple, T.tolist()))
        self.cmap_list: tuple[int, ...] = tuple(cmap.tolist())
        self.accept_list: tuple[bool, ...] = tuple(bool(a) for a in dfa.accept)

    def viable_bytes(self, q: int) -> np.ndarray:
        """bool[256]: bytes with a transition out of ``q``."""
        v = self._viable.get(q)
        if v is None:
            v = self._viable[q] = self._flat[q * self.n_cls + self._cmap] != self.n_states
        return v

    def row(self, q: int) -> np.ndarray:
        r = self._rows.get(q)
        if r is None:
            self._compute(q)
            r = self._rows[q]
        return r

    def splits(self, q: int) -> np.ndarray:
        s = self._splits.get(q)
        if s is None:
            self._compute(q)
            s = self._splits[q]
        return s

    def _dense_cls(self) -> np.ndarray:
        c = getattr(self, "_cls_bfs", None)
        if c is None:
            c = self._cls_bfs = class_per_position(self._cmap, self.vocab)
        return c

    def is_wide(self, q: int) -> bool:
        """Does a walk from ``q`` visit so much of the trie that the dense walk is cheaper?"""
        dt = dense_trie(self.vocab)
        return (int(dt.below_first[self.viable_bytes(q)].sum()) > DENSE_MIN_NODES
                and dt.estimate(self._flat, self.n_cls, self._dense_cls(), q, self.n_states) > DENSE_MIN_NODES)

    def compute_dense(self, qs) -> None:
        """Rows and splits of wide states ``qs`` by dense walks, several lanes per walk."""
        dt = dense_trie(self.vocab)
        dead, n_words = self.n_states, self.vocab.n_words
        lanes = max(1, DENSE_LANE_ELEMENTS // dt.n)
        qs = list(qs)
        for i in range(0, len(qs), lanes):
            check_deadline()
            chunk = qs[i:i + lanes]
            if len(chunk) == 1:
                S = dt.walk(self._flat, self.n_cls, self._dense_cls(), chunk[0])[:, None]
            else:
                S = dt.walk_many(self._flat, self.n_cls, self._dense_cls(), np.asarray(chunk))
            done_all = self._accept_ext[S]
            for j, q in enumerate(chunk):
                row = dt.row(S[:, j] != dead, n_words)
                splits = dt.order[done_all[:, j] & dt.has_kids]
                with self._lock:
                    self._rows[q] = row
                    self._splits[q] = splits

    def _compute(self, q: int) -> None:
        v = self.vocab
        dead = self.n_states
        flat, cmap, n_cls = self._flat, self._cmap, self.n_cls
        if self.is_wide(q):
            self.compute_dense([q])
            return
        small = self._walk_small(q)
        if small is not None:
            nodes, split = small
            row = row_from_nodes(v, nodes)
            with self._lock:
                self._rows[q] = row
                self._splits[q] = nodes[split].astype(np.int32)
            return

        def advance(parent, byts):
            s = flat[parent[0].astype(np.int64) * n_cls + cmap[byts]]
            return (s,), s != dead

        nodes, (st,) = walk_trie(v, (q,), advance)
        row = row_from_nodes(v, nodes)
        has_kids = v.child_ptr[nodes + 1] > v.child_ptr[nodes]
        splits = nodes[self._accept_ext[st] & has_kids].astype(np.int32)
        with self._lock:
            self._rows[q] = row
            self._splits[q] = splits


    def _walk_small(self, q: int, budget: int = None):
        """Live nodes from ``q`` depth-first in Python (and which are splits), or ``None``.

        Inside a literal or a key only one byte goes on at each node, and a level-by-level
        numpy walk would spend its time on per-call overhead; at each node this looks up the
        state's few viable bytes among the node's children (sorted by byte), or scans the
        children if they are fewer. Gives up (``None``) after ``budget`` lookups.
        """
        budget = SMALL_WALK_BUDGET if budget is None else budget
        ptr, ids, byts = child_lists(self.vocab)
        T, cm, acc = self.T_list, self.cmap_list, self.accept_list
        viable_of = self._viable_lists
        nodes: list[int] = []
        split: list[bool] = []
        work = [(0, q)]
        tried = 0
        while work:
            node, st = work.pop()
            lo, hi = ptr[node], ptr[node + 1]
            if lo == hi:
                continue
            vb = viable_of.get(st)
            if vb is None:
                vb = viable_of[st] = np.flatnonzero(self.viable_bytes(st)).tolist()
            moves = T[st]
            if len(vb) < hi - lo:
                tried += len(vb)
                for b in vb:
                    j = bisect_left(byts, b, lo, hi)
                    if j < hi and byts[j] == b:
                        s2, c = moves[cm[b]], ids[j]
                        nodes.append(c)
                        split.append(acc[s2] and ptr[c + 1] > ptr[c])
                        work.append((c, s2))
            else:
                tried += hi - lo
                for j in range(lo, hi):
                    s2 = moves[cm[byts[j]]]
                    if s2 >= 0:
                        c = ids[j]
                        nodes.append(c)
                        split.append(acc[s2] and ptr[c + 1] > ptr[c])
                        work.append((c, s2))
            if tried > budget:
                return None
        return np.asarray(nodes, dtype=np.int64), np.asarray(split, dtype=bool)


class DifferenceLexemeTable(LexemeTable):
    """Rows of a lexeme ``C = B minus F`` from ``B``'s rows, for a narrow ``F`` (declared names).

    ``C``'s walk is as wide as ``B``'s (a key of an additional property is almost any string),
    but ``C`` and ``B`` can only disagree on trie nodes whose path from the state is a prefix
    of a word of ``F``: elsewhere ``C``'s remaining language equals ``B``'s. So a row of ``C``
    is ``B``'s row (computed once per vocabulary and shared) corrected on that small region,
    found by a depth-first walk of the trie along ``F``. States of ``C`` are mapped to a pair
    of states of ``B`` and ``F`` by a breadth-first walk of the product (``C`` is minimized, so
    any pair reaching a state has the same remaining language ``B minus F`` there).
    """

    batchable = False

    def __init__(self, dfa, vocab, base: LexemeTable, excluded_dfa):
        super().__init__(dfa, vocab)
        self.base = base
        F = np.asarray(excluded_dfa._T, dtype=np.int32)
        self._F_cmap_np = np.asarray(excluded_dfa._cmap[:256], dtype=np.int64)
        self._F_list: tuple[tuple[int, ...], ...] = tuple(map(tuple, F.tolist()))  # tuples: see T_list
        self._F_cmap: tuple[int, ...] = tuple(self._F_cmap_np.tolist())
        self._F_accept: tuple[bool, ...] = tuple(bool(a) for a in excluded_dfa.accept)
        self._F_flat = np.where(F >= 0, F, F.shape[0]).astype(np.int64)
        self._pairs: tuple[np.ndarray, np.ndarray] | None = None
        self._base_sorted: dict[int, np.ndarray] = {}

    def _representatives(self) -> tuple[np.ndarray, np.ndarray]:
        """For every reachable state of C, a (B state, F state) pair reaching it (F dead = n_F)."""
        if self._pairs is None:
            nC, nB, nF = self.n_states, self.base.n_states, self._F_flat.shape[0]
            Cn = self._flat.reshape(nC + 1, self.n_cls)[:, self._cmap]            # [nC+1, 256]
            Bn = self.base._flat.reshape(nB + 1, self.base.n_cls)[:, self.base._cmap]
            Fn = np.vstack([self._F_flat[:, self._F_cmap_np], np.full((1, 256), nF, dtype=np.int64)])
            g_of = np.full(nC, -1, dtype=np.int64)
            f_of = np.full(nC, -1, dtype=np.int64)
            g_of[0], f_of[0] = 0, 0
            c, g, f = np.array([0]), np.array([0]), np.array([0])
            while c.size:
                c2, g2, f2 = Cn[c].ravel(), Bn[g].ravel(), Fn[f].ravel()
                keep = c2 < nC
                c2, g2, f2 = c2[keep], g2[keep], f2[keep]
                c2, first = np.unique(c2, return_index=True)
                g2, f2 = g2[first], f2[first]
                new = g_of[c2] < 0
                c, g, f = c2[new], g2[new], f2[new]
                g_of[c], f_of[c] = g, f
            self._pairs = (g_of, f_of)  # -1: unreachable (left over from gluing)
        return self._pairs

    def _compute(self, q: int) -> None:
        g_of, f_of = self._representatives()
        g, f = int(g_of[q]), int(f_of[q])
        base = self.base
        if not 0 <= g < base.n_states:  # unreachable: never visited, but answer exactly
            super()._compute(q)
            return
        row = base.row(g)
        splits = base.splits(g)
        if f < self._F_flat.shape[0]:
            region, c_alive, c_split = self._region(q, g, f)
            if region.size:
                v = self.vocab
                row = row.copy()
                pos = csr_positions(v.node_token_ptr, region, with_owner=True)
                ids, owner = v.node_token_ids[pos[0]], pos[1]
                clear_bits(row, ids)  # region tokens: B's verdict replaced by C's
                set_bits(row, ids[c_alive[owner]])
                ordered = self._sorted_base_splits(g)
                at = np.searchsorted(ordered, region)
                ok = at < ordered.size
                at = at[ok][ordered[at[ok]] == region[ok]]
                splits = np.concatenate([np.delete(ordered, at), region[c_split].astype(np.int32)])
        with self._lock:
            self._rows[q] = row
            self._splits[q] = splits

    def _sorted_base_splits(self, g: int) -> np.ndarray:
        o = self._base_sorted.get(g)
        if o is None:
            o = self._base_sorted[g] = np.sort(self.base.splits(g)).astype(np.int32)
        return o

    def _region(self, q: int, g: int, f: int):
        """Trie nodes (depth >= 1) whose path from (q, g, f) keeps F alive, with C's verdicts."""
        ptr, ids, byts = child_lists(self.vocab)
        Tc, cc, acc_c = self.T_list, self.cmap_list, self.accept_list
        Tf, cf = self._F_list, self._F_cmap
        nodes: list[int] = []
        alive: list[bool] = []
        split: list[bool] = []
        work = [(0, q, f)]
        while work:
            node, qc, qf = work.pop()
            for j in range(ptr[node], ptr[node + 1]):
                b = byts[j]
                f2 = Tf[qf][cf[b]]
                if f2 < 0:
                    continue
                child = ids[j]
                q2 = Tc[qc][cc[b]] if qc >= 0 else -1
                nodes.append(child)
                alive.append(q2 >= 0)
                split.append(q2 >= 0 and acc_c[q2] and ptr[child + 1] > ptr[child])
                work.append((child, q2, f2))
        return (np.asarray(nodes, dtype=np.int64), np.asarray(alive, dtype=bool), np.asarray(split, dtype=bool))


def child_lists(vocab):
    """The trie's children CSR as Python sequences (cached on the vocabulary) for depth-first
    walks; tuples, which the garbage collector stops tracking (a full collection would
    otherwise visit every trie node)."""
    c = getattr(vocab, "_child_lists", None)
    if c is None:
        c = vocab._child_lists = (tuple(vocab.child_ptr.tolist()), tuple(vocab.child_ids.tolist()),
                                  tuple(vocab.child_bytes.tolist()))
        _VIEW_HOLDERS.add(vocab)
    return c


def _token_node_or_end(vocab) -> np.ndarray:
    """``vocab.token_node`` with "no node" (special ids, padding) mapped past the last node."""
    cached = getattr(vocab, "_token_node_or_end", None)
    if cached is None:
        cached = vocab.token_node.astype(np.int64)
        cached[cached < 0] = vocab.trie_parent.shape[0]
        vocab._token_node_or_end = cached
        _VIEW_HOLDERS.add(vocab)
    return cached


def compute_rows_batched(pairs: list) -> None:
    """Fill the row/split caches of many (table, state) pairs with one trie walk.

    States whose walks are small (literals, punctuation, key names) cost mostly numpy call
    overhead per trie level; walking them as lanes of one walk pays that overhead once.
    Every table must be a plain :class:`LexemeTable` over the same vocabulary.
    """
    if not pairs:
        return
    vocab = pairs[0][0].vocab
    tables = list({id(t): t for t, _ in pairs}.values())
    offs, flats, accs = {}, [], []
    base = 0
    for t in tables:
        offs[id(t)] = base
        full = t._flat.reshape(t.n_states + 1, t.n_cls)[:-1][:, t._cmap].astype(np.int64)
        flats.append(np.where(full >= t.n_states, -1, full + base))
        accs.append(t._accept_ext[:-1])
        base += t.n_states
    dead = base
    flat = np.concatenate(flats + [np.full((1, 256), -1, dtype=np.int64)])
    flat = np.where(flat < 0, dead, flat).ravel()
    accept = np.concatenate(accs + [np.zeros(1, dtype=bool)])
    starts = np.array([offs[id(t)] + q for t, q in pairs], dtype=np.int64)

    def advance(parent, byts):
        s = flat[parent[0] * 256 + byts]
        return (s, parent[1]), s != dead

    nodes, (st, lane) = walk_trie(vocab, (starts, np.arange(len(pairs))), advance)
    order = np.argsort(lane, kind="stable")
    nodes, st, lane = nodes[order], st[order], lane[order]
    bounds = np.searchsorted(lane, np.arange(len(pairs) + 1))
    has_kids = vocab.child_ptr[nodes + 1] > vocab.child_ptr[nodes]
    split_mask = accept[st] & has_kids
    for i, (t, q) in enumerate(pairs):
        a, b = bounds[i], bounds[i + 1]
        lane_nodes = nodes[a:b]
        row = row_from_nodes(vocab, lane_nodes)
        with t._lock:
            t._rows[q] = row
            t._splits[q] = lane_nodes[split_mask[a:b]].astype(np.int32)


_TABLES: "OrderedDict[tuple[str, str], LexemeTable]" = OrderedDict()
_TABLES_LOCK = threading.Lock()
_TABLES_LIMIT = 4096
# rows kept by all tables together (checked when a table is added; tables grow lazily). Live
# automata hold their own tables, so this bounds only what is kept for later schemas: on a
# 100-schema Tekken sample 256 MiB compiles and decodes as fast as 1 GiB did
ROW_CACHE_BYTES = 256 << 20
_INSERTS = [0]


def _clear_tables() -> None:
    with _TABLES_LOCK:
        _TABLES.clear()


register("constrain.tokens.lexeme_tables", _clear_tables, lambda: len(_TABLES))
register("constrain.tokens.vocab_trie_views", _drop_vocab_views, lambda: len(_VIEW_HOLDERS))


def _cached_row_bytes() -> int:
    return sum(len(t._rows) * t.vocab.n_words * 4 for t in _TABLES.values())


def lexeme_table(lexeme, vocab) -> LexemeTable:
    """The shared table of ``lexeme`` over ``vocab`` (LRU-bounded)."""
    key = (lexeme.key, vocab.fingerprint)
    with _TABLES_LOCK:
        t = _TABLES.get(key)
        if t is not None:
            _TABLES.move_to_end(key)
            return t
    dfa = lexeme.dfa
    base = lexeme_table(lexeme.minus[0], vocab) if USE_DIFFERENCE_TABLES and lexeme.minus else None
    if getattr(dfa, "counted", False):
        from .counted import CountedLexemeTable

        t = CountedLexemeTable(dfa, vocab)
    elif getattr(base, "batchable", False):
        t = DifferenceLexemeTable(dfa, vocab, base, lexeme.minus[1].dfa)
    else:
        t = LexemeTable(dfa, vocab)
    with _TABLES_LOCK:
        t = _TABLES.setdefault(key, t)
        _INSERTS[0] += 1
        if _INSERTS[0] % 64 == 0:  # the sum walks every table: only now and then
            while len(_TABLES) > 64 and _cached_row_bytes() > ROW_CACHE_BYTES:
                for _ in range(16):
                    _TABLES.popitem(last=False)
        while len(_TABLES) > _TABLES_LIMIT:
            _TABLES.popitem(last=False)
    return t
