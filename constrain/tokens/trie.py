"""The vocabulary's token trie, walked: the primitives every token table is built from.

A token table asks "which tokens stay alive through this automaton from state q?". The
answer is a walk of the vocabulary's byte trie that expands only live nodes. This module
holds the walks (sparse level-by-level :func:`walk_trie`, the breadth-first
:class:`DenseTrie` that gathers every node of a level with one ``np.take``) and the views
of the trie they need, cached on the vocabulary (recomputed on demand, dropped by
``clear_caches()``). It knows nothing of lexemes or grammars.
"""

from __future__ import annotations

import weakref

import numpy as np

from ..cache import register
from ..budget import check_deadline
from .bitmask import pack_bits, set_bits
from .vocab import Vocabulary

__all__ = ["DenseTrie", "child_keys", "child_lists", "class_per_position", "csr_positions", "dense_trie",
           "row_from_nodes", "rows_from_lanes", "tokens_at_nodes", "walk_trie"]


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


def walk_trie(vocab: Vocabulary, init: tuple, advance):
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

    def __init__(self, vocab: Vocabulary):
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

    def estimate(self, flat: np.ndarray, n_cls: int, cmap: np.ndarray, q: int, dead: int) -> int:
        """Trie nodes below the live depth-2 nodes from ``q``: bounds a pruned walk's size.

        ``cmap`` is the lexeme's 256-entry byte -> class map: only the first two trie levels
        are looked at, so a narrow table never builds a class per trie position (a copy of
        the trie per table, which a dense walk needs but a key's table does not).
        """
        b = self.bounds
        if len(b) <= 3:
            return 0
        cmap = np.asarray(cmap, dtype=np.int64)
        s1 = flat[cmap[self.byte[b[1]:b[2]]] + q * n_cls]
        s2 = flat[s1[self.parent[b[2] - 1:b[3] - 1] - b[1]].astype(np.int64) * n_cls + cmap[self.byte[b[2]:b[3]]]]
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


def class_per_position(cmap: np.ndarray, vocab: Vocabulary) -> np.ndarray:
    """A lexeme's byte class at every breadth-first trie position, in the smallest dtype.

    Each table keeps one (a trie position's class is needed by every dense walk and estimate),
    so at int64 thousands of cached tables over a 131k vocabulary held gigabytes; classes
    fit a byte. Callers widen before mixing with Python ints (NumPy keeps uint8 there).
    """
    c = cmap[dense_trie(vocab).byte]
    return c.astype(np.uint8 if int(cmap.max(initial=0)) < 256 else np.int32)


# trie views derived from a vocabulary, cached on it as attributes (recomputed on demand);
# clear_caches() drops them from every vocabulary that has some
_VOCAB_VIEWS = ("_dense_trie", "_node_token_direct", "_child_lists", "_child_keys", "_token_node_or_end")
_VIEW_HOLDERS: "weakref.WeakSet" = weakref.WeakSet()


def _drop_vocab_views() -> None:
    for v in list(_VIEW_HOLDERS):
        for name in _VOCAB_VIEWS:
            v.__dict__.pop(name, None)
    _VIEW_HOLDERS.clear()


def dense_trie(vocab: Vocabulary) -> DenseTrie:
    d = getattr(vocab, "_dense_trie", None)
    if d is None:
        d = vocab._dense_trie = DenseTrie(vocab)
        _VIEW_HOLDERS.add(vocab)
    return d


def _node_token_direct(vocab: Vocabulary):
    """``(one, multi)``: the token ending at each node (-1: none), and which nodes end
    several (None if no node does), cached on the vocabulary."""
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
    return direct


def tokens_at_nodes(vocab: Vocabulary, nodes: np.ndarray) -> np.ndarray:
    """Ids of the tokens whose bytes end at ``nodes``.

    A node ends at most one token unless the vocabulary spells one string with several ids
    (rare), so a direct node -> token map (cached on the vocabulary) answers without the
    CSR bookkeeping in the common case.
    """
    one, multi = _node_token_direct(vocab)
    if multi is not None and multi[nodes].any():
        return vocab.node_token_ids[csr_positions(vocab.node_token_ptr, nodes)]
    ids = one[nodes]
    return ids[ids >= 0]


def rows_from_lanes(vocab: Vocabulary, nodes: np.ndarray, lanes: np.ndarray, n_lanes: int) -> np.ndarray:
    """``uint32 [n_lanes, n_words]``: row ``i`` the packed mask of the tokens ending at the
    ``nodes`` whose lane is ``i`` (:func:`row_from_nodes` of each lane's nodes, in one pass)."""
    one, multi = _node_token_direct(vocab)
    if multi is not None and multi[nodes].any():
        pos, owner = csr_positions(vocab.node_token_ptr, nodes, with_owner=True)
        ids, lanes = vocab.node_token_ids[pos].astype(np.int64), lanes[owner]
    else:
        ids = one[nodes]
        keep = ids >= 0
        ids, lanes = ids[keep], lanes[keep]
    rows = np.zeros((n_lanes, vocab.n_words), dtype=np.uint32)
    np.bitwise_or.at(rows, (lanes, ids >> 5), np.left_shift(np.uint32(1), (ids & 31).astype(np.uint32)))
    return rows


def row_from_nodes(vocab: Vocabulary, nodes: np.ndarray) -> np.ndarray:
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


def child_lists(vocab: Vocabulary):
    """The trie's children CSR as Python sequences (cached on the vocabulary) for depth-first
    walks; tuples, which the garbage collector stops tracking (a full collection would
    otherwise visit every trie node)."""
    c = getattr(vocab, "_child_lists", None)
    if c is None:
        c = vocab._child_lists = (tuple(vocab.child_ptr.tolist()), tuple(vocab.child_ids.tolist()),
                                  tuple(vocab.child_bytes.tolist()))
        _VIEW_HOLDERS.add(vocab)
    return c


def child_keys(vocab: Vocabulary):
    """``(keys, ids)``: every trie edge as ``parent * 256 + byte``, ascending, and its child
    node (cached on the vocabulary), so that a batch of (node, byte) lookups is one
    ``np.searchsorted`` (children are stored by parent, each node's sorted by byte)."""
    c = getattr(vocab, "_child_keys", None)
    if c is None:
        ptr = vocab.child_ptr.astype(np.int64)
        parent = np.repeat(np.arange(ptr.size - 1, dtype=np.int64), np.diff(ptr))
        keys = parent * 256 + vocab.child_bytes.astype(np.int64)
        c = vocab._child_keys = (keys, vocab.child_ids.astype(np.int64))
        _VIEW_HOLDERS.add(vocab)
    return c


def _token_node_or_end(vocab: Vocabulary) -> np.ndarray:
    """``vocab.token_node`` with "no node" (special ids, padding) mapped past the last node."""
    cached = getattr(vocab, "_token_node_or_end", None)
    if cached is None:
        cached = vocab.token_node.astype(np.int64)
        cached[cached < 0] = vocab.trie_parent.shape[0]
        vocab._token_node_or_end = cached
        _VIEW_HOLDERS.add(vocab)
    return cached



register("constrain.tokens.vocab_trie_views", _drop_vocab_views, lambda: len(_VIEW_HOLDERS))
