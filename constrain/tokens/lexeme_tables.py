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
Strategy knobs (module attributes read at call time, so tests can compare strategies):
``DENSE_MIN_NODES`` (also read by :mod:`.counted_table`), ``SMALL_WALK_BUDGET``,
``DENSE_LANE_ELEMENTS``.
"""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_left
from functools import cached_property

import numpy as np

from ..automata import DEFAULT_BUDGET
from ..automata.minimize import acyclic_order, bfs_mark, csr, minimize, minimize_layered
from ..budget import check_deadline
from ..errors import CompileBudgetError
from .bitmask import clear_bits
from .shared_rows import share
from .trie import (child_keys, child_lists, class_per_position, csr_positions, dense_trie, row_from_nodes,
                   rows_from_lanes, walk_trie)
from .vocab import Vocabulary

__all__ = ["DifferenceLexemeTable", "LexemeTable", "ProductDFA", "compute_difference_rows", "compute_rows_batched",
           "difference_product", "difference_regions", "fill_rows"]

# a state whose first bytes lead into more than this many trie nodes is walked densely
DENSE_MIN_NODES = 3000
# rows of "B minus F" lexemes derived from B's rows (tests turn it off to compare)
USE_DIFFERENCE_TABLES = True
# Python depth-first walks (few live nodes: literals, keys) give up after this many lookups
SMALL_WALK_BUDGET = 1024
# trie positions x lanes gathered per level by one batched dense walk (bounds its memory)
DENSE_LANE_ELEMENTS = 1 << 21
# a first visit needing at least FILL_BATCH_MIN narrow rows walks them as lanes of one walk
# (tables up to FILL_BATCH_STATES DFA states: the walk copies their transition arrays)
FILL_BATCH_MIN = 3
FILL_BATCH_STATES = 512
# ... and at least DIFFERENCE_BATCH_MIN rows of difference tables as lanes of one numpy walk
# (difference_regions; fewer: each alone, depth-first in Python, cheaper below that)
DIFFERENCE_BATCH_MIN = 8
# tables with at most this many transitions (states x byte classes: keys, name tries,
# literals) get every state's Python row at once on first use (_py_all): built one state at
# a time, each cost 10-15 us of numpy calls, and the first visits of a key's states each
# touched several fresh ones (most of a 200-300 us step). Their viable bytes are read off a
# state's Python row (_viable_from_row), one visited state at a time
PY_ALL_TRANSITIONS = 8192
# ... from the PY_ALL_AFTER-th state asked for on: a state whose threads start a hundred
# keys' lexemes steps one byte out of each table's start state and leaves most of them there
# (a whole table each, 0.2 ms for a 100-state key lexeme, was 50 ms of one such step)
PY_ALL_AFTER = 4


def _py_all(flat: np.ndarray, n_cls: int, n_states: int) -> list[tuple[int, ...]]:
    """Every state's transitions (as :func:`_py_row`), as tuples of Python ints, in one numpy
    call for the whole table."""
    T = flat[:n_states * n_cls].reshape(n_states, n_cls)
    return list(map(tuple, np.where(T >= n_states, -1, T).tolist()))


def _class_bytes(cmap: tuple[int, ...], n_cls: int) -> tuple[tuple[int, ...], ...]:
    """The bytes of each byte class, ascending (``cmap``: the class of each of the 256 bytes)."""
    out: list[list[int]] = [[] for _ in range(n_cls)]
    for b, c in enumerate(cmap[:256]):
        out[c].append(b)
    return tuple(map(tuple, out))


def _viable_from_row(row: tuple[int, ...], class_bytes: tuple[tuple[int, ...], ...]) -> tuple[int, ...]:
    """The bytes with a transition in a state's Python ``row`` (ascending), from its live
    classes. Why not for the whole table at once (the first version: a [states, 256] numpy
    array, nonzero, cut per state): that cost ~220 us per small table inside a first visit
    (100-300 states x 256 bytes, most of them never visited), on the MaskBench sample the
    largest single cost of the steps above its p99 (docs/benchmarks.md part 2x)."""
    live = [class_bytes[c] for c, s in enumerate(row) if s >= 0]
    if len(live) == 1:
        return live[0]
    if not live:
        return ()
    return tuple(sorted([b for bs in live for b in bs]))


def _py_row(flat: np.ndarray, n_cls: int, n_states: int, q: int) -> tuple[int, ...]:
    """State ``q``'s transitions as a tuple of Python ints (``-1`` dead)."""
    if not 0 <= q < n_states:
        raise IndexError(f"DFA state {q} out of range (0..{n_states - 1})")
    r = flat[q * n_cls:(q + 1) * n_cls]
    return tuple(np.where(r >= n_states, -1, r).tolist())


# one lock for every table's row and split dicts (held for a dict store): a lock per table
# was one more object the garbage collector walks for each of thousands of cached tables
TABLE_LOCK = threading.Lock()


class LexemeTable:
    """Lazily computed INSIDE rows and split nodes for every state of one lexeme DFA."""

    batchable = True  # rows may be filled by compute_rows_batched (plain DFA walks)
    counted = False

    def __init__(self, dfa, vocab: Vocabulary):
        self.dfa = dfa
        self.vocab = vocab
        # class-compressed transitions: T[q, cmap[byte]] (-1 dead); a sink row for "dead"
        T = np.asarray(dfa.table, dtype=np.int32)
        cmap = np.asarray(dfa.classes[:256], dtype=np.int64)
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
        self._viable_lists: dict[int, tuple[int, ...]] = {}  # tuples: see T_list
        self._wide: dict[int, bool] = {}
        self._lock = TABLE_LOCK
        # Python sequences for byte-at-a-time stepping in the token layer: T_list[q][cmap_list[b]]
        # for the states built so far (py_row(q) builds a missing one: a tuple per *visited*
        # state, since one for every state up front held more memory than the rest of the
        # tables). A plain dict of tuples of ints, on purpose: a full garbage collection stops
        # tracking the tuples and then the dict, so thousands of cached tables cost it nothing
        # (a dict subclass or lists stay tracked, and were most of a 40 ms full collection
        # after a few hundred schemas)
        self.T_list: dict[int, tuple[int, ...]] = {}
        self.cmap_list: tuple[int, ...] = tuple(cmap.tolist())
        self.accept_list: tuple[bool, ...] = tuple(bool(a) for a in dfa.accept)

    @property
    def state_table(self) -> np.ndarray:
        """``int32 [n_states, n_cls]`` class-compressed transitions, ``n_states`` for "dead"."""
        return self._flat.reshape(self.n_states + 1, self.n_cls)[:-1]

    @property
    def classes(self) -> np.ndarray:
        """``int64 [256]``: the lexeme DFA's class of each byte (do not write)."""
        return self._cmap

    @property
    def n_rows(self) -> int:
        """Rows computed so far."""
        return len(self._rows)

    def py_row(self, q: int) -> tuple[int, ...]:
        """``T_list[q]``, built and kept on first use (``-1``: dead); a small table's rows
        are built all at once (``PY_ALL_TRANSITIONS``)."""
        r = self.T_list.get(q)
        if r is None:
            if self._fill_all(q, self.T_list):
                self.T_list.update(enumerate(_py_all(self._flat, self.n_cls, self.n_states)))
                return self.T_list[q]
            r = self.T_list[q] = _py_row(self._flat, self.n_cls, self.n_states, q)
        return r

    def _fill_all(self, q: int, built: dict) -> bool:
        """Whether asking for state ``q`` builds the small table's every state at once:
        from the ``PY_ALL_AFTER``-th state on (``built``: the states built so far)."""
        return (0 <= q < self.n_states and self.n_states * self.n_cls <= PY_ALL_TRANSITIONS
                and len(built) + 1 >= PY_ALL_AFTER)

    @cached_property
    def _bytes_of_class(self) -> tuple[tuple[int, ...], ...]:
        """Each byte class's bytes (:func:`_class_bytes`), for :meth:`viable_list`."""
        return _class_bytes(self.cmap_list, self.n_cls)

    def viable_list(self, q: int) -> tuple[int, ...]:
        """The bytes with a transition out of ``q``, ascending, as Python ints (a small
        table's read off its Python row, see :func:`_viable_from_row`)."""
        vb = self._viable_lists.get(q)
        if vb is None:
            if 0 <= q < self.n_states and self.n_states * self.n_cls <= PY_ALL_TRANSITIONS:
                vb = _viable_from_row(self.T_list.get(q) or self.py_row(q), self._bytes_of_class)
            else:
                vb = tuple(np.flatnonzero(self.viable_bytes(q)).tolist())
            self._viable_lists[q] = vb
        return vb

    def has_row(self, q: int) -> bool:
        """Whether the row of ``q`` is computed already."""
        return q in self._rows

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

    def split_order(self, q: int) -> tuple[np.ndarray, np.ndarray]:
        """``(order, sorted)``: the argsort of ``splits(q)`` (whose nodes are distinct) and
        the sorted nodes, kept per state with the array they sort (recomputed if the splits
        were)."""
        cache = self.__dict__.setdefault("_split_orders", {})
        s = self.splits(q)
        hit = cache.get(q)
        if hit is None or hit[0] is not s:
            order = np.argsort(s, kind="stable")
            hit = cache[q] = (s, order, s[order])
        return hit[1], hit[2]

    def _dense_cls(self) -> np.ndarray:
        c = getattr(self, "_cls_bfs", None)
        if c is None:
            c = self._cls_bfs = class_per_position(self._cmap, self.vocab)
        return c

    def is_wide(self, q: int) -> bool:
        """Does a walk from ``q`` visit so much of the trie that the dense walk is cheaper?"""
        w = self._wide.get(q)
        if w is None:
            dt = dense_trie(self.vocab)
            w = self._wide[q] = (int(dt.below_first[self.viable_bytes(q)].sum()) > DENSE_MIN_NODES
                                 and dt.estimate(self._flat, self.n_cls, self._cmap, q, self.n_states)
                                 > DENSE_MIN_NODES)
        return w

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
                    self._rows[q] = share(row)
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
                self._rows[q] = share(row)
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
            self._rows[q] = share(row)
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
            vb = viable_of.get(st) or self.viable_list(st)
            moves = T.get(st) or self.py_row(st)
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


class ProductDFA:
    """A trimmed DFA given by its class-compressed arrays, not minimized (what a token table
    reads of a DFA: ``table``, ``classes``, ``accept``). Made by :func:`difference_product`."""

    __slots__ = ("table", "classes", "accept")

    def __init__(self, table: np.ndarray, classes: np.ndarray, accept: np.ndarray):
        self.table, self.classes, self.accept = table, classes, accept

    def is_empty(self) -> bool:
        return not bool(self.accept.any())


# per DFA (weakly): B's own minimization blocks, and F's levels (longest path to a state
# with no move), both shared by every product over the same B (string content, every
# object's keys) or the same F (an object's declared names, cached by the front-end)
_BLOCKS: "weakref.WeakKeyDictionary[object, np.ndarray]" = weakref.WeakKeyDictionary()
_LEVELS: "weakref.WeakKeyDictionary[object, np.ndarray | None]" = weakref.WeakKeyDictionary()
# difference_product merges equal states with minimize_layered (False: minimize, to compare)
LAYERED_MERGE = True


def _per_dfa(cache, dfa, compute):
    try:
        return cache[dfa]
    except KeyError:
        pass
    except TypeError:  # not weakly referenceable: computed every time
        return compute(dfa)
    r = cache[dfa] = compute(dfa)
    return r


def _own_blocks(dfa) -> np.ndarray:
    return minimize(np.asarray(dfa.table, dtype=np.int64), np.asarray(dfa.accept, dtype=bool))


def _levels(dfa) -> np.ndarray | None:
    """Longest path from each state to one with no move (``None`` if there is a cycle): each
    state one more than its highest successor, in reverse topological order
    (:func:`~constrain.automata.minimize.acyclic_order`)."""
    T = np.asarray(dfa.table, dtype=np.int64)
    n = T.shape[0]
    src, col = np.nonzero(T >= 0)
    dst = T[src, col]
    order = acyclic_order(n, src, dst)
    if len(order) < n:
        return None
    ptr, adj = csr(src, dst, n)  # successors
    h = [0] * n
    for x in reversed(order):
        for k in range(ptr[x], ptr[x + 1]):
            hy = h[adj[k]] + 1
            if h[x] < hy:
                h[x] = hy
    return np.asarray(h, dtype=np.int64)


def _difference_blocks(base, excluded, T, acc, g_of, f_of, SF) -> np.ndarray:
    """Blocks of equal languages of :func:`difference_product`'s trimmed states: B's copy
    takes B's own blocks, the pairs are merged level by level along F's levels (a pair
    moves to a pair one F state further, or into the copy), see ``minimize_layered``.
    Over the 100-schema MaskBench sample ``minimize`` (Kahn's peeling and a Python
    signature per pair) was 60% of these products' time."""
    levels = _per_dfa(_LEVELS, excluded, _levels) if LAYERED_MERGE else None
    if levels is None:  # F has a cycle (never for declared names): the general minimization
        return minimize(T, acc)
    own = _per_dfa(_BLOCKS, base, _own_blocks)
    copy = f_of == SF
    known = np.where(copy, own[np.where(copy, g_of, 0)], -1)
    blk = minimize_layered(T, acc, known, np.append(levels, 0)[f_of])
    return minimize(T, acc) if blk is None else blk


def difference_product(base, excluded, budget: int = DEFAULT_BUDGET):
    """``base minus excluded`` as a trimmed pair product, with each state's (base, excluded) pair.

    Returns ``(dfa, g_of, f_of, dead)``: a :class:`ProductDFA` whose state ``q`` has the
    language of ``base`` from ``g_of[q]`` minus that of ``excluded`` from ``f_of[q]``
    (``f_of[q] == len(excluded states)``: excluded dead there, a copy of ``base``'s state),
    and the reachable pairs (both live) whose language is empty, trimmed away, as sorted keys
    ``g * (len(excluded states) + 1) + f`` (:func:`difference_regions` reads them). The keys of
    additional properties ("any string but the declared names") need exactly this for their
    :class:`DifferenceLexemeTable`; building it directly skips what the canonical
    ``ByteDFA.difference`` adds (minimizing and renumbering, then gluing quotes and whitespace
    around the content), most of each such lexeme's compile cost, and the pair map comes with
    it instead of from a walk of the product. Not minimal, but every state is live, and a
    token table's rows depend only on each state's language: the masks are the same.
    """
    cb = np.asarray(base.classes[:256], dtype=np.int64)
    cf = np.asarray(excluded.classes[:256], dtype=np.int64)
    _, rep, jc = np.unique(cb * (int(cf.max()) + 1) + cf, return_index=True, return_inverse=True)
    jc = jc.reshape(-1).astype(np.int64)
    tb = np.asarray(base.table, dtype=np.int64)[:, cb[rep]]
    tf = np.asarray(excluded.table, dtype=np.int64)[:, cf[rep]]
    SB, SF = tb.shape[0], tf.shape[0]
    acc_b = np.asarray(base.accept, dtype=bool)
    acc_f = np.asarray(excluded.accept, dtype=bool)
    # the pairs (g, f) with f live, depth first in Python along F's few live classes (F is a
    # trie of names: a level-synchronous numpy walk paid a dozen numpy calls per byte of the
    # longest spelling); then every pair's row over all classes in one numpy pass
    fr, fc = np.nonzero(tf >= 0)
    f_cls = [[] for _ in range(SF)]
    for f, j, f2 in zip(fr.tolist(), fc.tolist(), tf[fr, fc].tolist()):
        f_cls[f].append((j, f2))
    tb_list = tb.tolist()
    index = {0: 0}  # g * SF + f (f live) -> pair state
    pg, pf = [0], [0]
    i = 0
    while i < len(pg):
        g, f = pg[i], pf[i]
        row = tb_list[g]
        for j, f2 in f_cls[f]:
            g2 = row[j]
            if g2 >= 0:
                k = g2 * SF + f2
                if k not in index:
                    index[k] = len(pg)
                    pg.append(g2)
                    pf.append(f2)
        i += 1
        if not i & 1023:
            if len(pg) + SB > budget:
                raise CompileBudgetError(f"product automaton exceeds {budget} states", budget="states")
            check_deadline()
    P = len(pg)
    if P + SB > budget:
        raise CompileBudgetError(f"product automaton exceeds {budget} states", budget="states")
    PG, PF = np.asarray(pg, dtype=np.int64), np.asarray(pf, dtype=np.int64)
    G2, F2 = tb[PG], tf[PF]
    both = (G2 >= 0) & (F2 >= 0)
    keys = PG * SF + PF
    order = np.argsort(keys)
    R = np.where(G2 >= 0, G2 + P, -1)  # F dead: B's own state, in the copy after the pairs
    R[both] = order[np.searchsorted(keys[order], G2[both] * SF + F2[both])]
    T = np.concatenate([R, np.where(tb >= 0, tb + P, -1)])
    g_of = np.concatenate([PG, np.arange(SB, dtype=np.int64)])
    f_of = np.concatenate([PF, np.full(SB, SF, dtype=np.int64)])
    acc = np.concatenate([acc_b[PG] & ~acc_f[PF], acc_b])
    # trim: a pair whose B words are all F words (right after a declared name's closing
    # quote) has an empty language and must be no state at all. B's copy is live (B is
    # trimmed), so a pair is live if it accepts, moves into the copy, or moves to a live
    # pair; pairs only move deeper into F's finite names, so the pair graph is acyclic
    live = np.ones(P + SB, dtype=bool)
    direct = acc[:P] | (R >= P).any(axis=1)
    if not direct.all():
        src, col = np.nonzero((R >= 0) & (R < P))
        ptr, adj = csr(R[src, col], src, P)  # reversed pair edges
        live[:P] = bfs_mark(P, ptr, adj, np.flatnonzero(direct).tolist())
    dead = np.sort(PG[~live[:P]] * (SF + 1) + PF[~live[:P]])
    if not live[0]:
        empty = ProductDFA(np.full((1, 1), -1, dtype=np.int32), np.zeros(256, dtype=np.int64), np.zeros(1, dtype=bool))
        return empty, np.zeros(1, dtype=np.int64), np.full(1, SF, dtype=np.int64), dead
    if not live.all():
        old = np.flatnonzero(live)  # state 0 stays first: the start
        remap = np.full(P + SB + 1, -1, dtype=np.int64)
        remap[old] = np.arange(old.size)
        T, acc, g_of, f_of = remap[T[old]], acc[old], g_of[old], f_of[old]
    # merge states with the same language (a pair whose excluded words B cannot spell is
    # its B state's copy): each distinct state costs the token layer its own rows and masks
    blk = _difference_blocks(base, excluded, T, acc, g_of, f_of, SF)
    nb = int(blk.max()) + 1
    if nb < T.shape[0]:
        _, first = np.unique(blk, return_index=True)
        order = np.argsort(first)  # blocks by their first state: the start's block stays 0
        new = np.empty(nb, dtype=np.int64)
        new[order] = np.arange(nb)
        # any state of a block stands for it (same language); the last one, a copy of a B
        # state where the block has one, whose rows are B's own (no correction walk)
        _, last = np.unique(blk[::-1], return_index=True)
        reps = (blk.shape[0] - 1 - last)[order]
        T = np.append(new[blk], -1)[T[reps]]
        acc, g_of, f_of = acc[reps], g_of[reps], f_of[reps]
    return ProductDFA(T.astype(np.int32), jc, acc), g_of, f_of, dead


class DifferenceLexemeTable(LexemeTable):
    """Rows of a lexeme ``C = B minus F`` from ``B``'s rows, for a narrow ``F`` (declared names).

    ``C``'s walk is as wide as ``B``'s (a key of an additional property is almost any string),
    but ``C`` and ``B`` can only disagree on trie nodes whose path from the state is a prefix
    of a word of ``F``: elsewhere ``C``'s remaining language equals ``B``'s. So a row of ``C``
    is ``B``'s row (computed once per vocabulary and shared) corrected on that small region,
    found by a walk of the trie along ``F``'s live bytes (:func:`difference_regions`, which
    walks the regions of many tables' states at once). Built by :meth:`from_product`, ``C``
    is :func:`difference_product`'s automaton and each state's (``B``, ``F``) pair comes with
    it; given ``C``'s own minimized DFA, states are mapped to pairs by a breadth-first walk of
    the product (any pair reaching a state has the same remaining language ``B minus F``).
    """

    batchable = False

    def __init__(self, dfa, vocab: Vocabulary, base: LexemeTable, excluded_dfa, pairs=None, dead_pairs=None):
        """``dfa``: C's DFA; ``pairs``: ``(g_of, f_of)``, each state's (B, F) pair, and
        ``dead_pairs`` where ``dfa`` is :func:`difference_product`'s (else the pairs are found
        by a walk, see _representative, and the dead pairs from the product)."""
        super().__init__(dfa, vocab)
        self.base = base
        F = np.asarray(excluded_dfa.table, dtype=np.int32)
        self._F_cmap_np = np.asarray(excluded_dfa.classes[:256], dtype=np.int64)
        self._F_accept = np.asarray(excluded_dfa.accept, dtype=bool)
        self._F_list: dict[int, tuple[int, ...]] = {}  # as T_list, built by _F_row
        self._F_bytes: dict[int, tuple[int, ...]] = {}  # F state -> its viable bytes (_F_viable)
        self._F_cmap: tuple[int, ...] = tuple(self._F_cmap_np.tolist())
        if dead_pairs is None:
            dead_pairs = difference_product(base.dfa, excluded_dfa)[3]
        self._dead_pairs = dead_pairs
        self._F_flat = np.where(F >= 0, F, F.shape[0]).astype(np.int32)  # cached: int32 halves it
        self._pairs: tuple[np.ndarray, np.ndarray, list] | None = None  # see _representative
        if pairs is not None:
            done = np.zeros(0, dtype=np.int64)
            self._pairs = (pairs[0], pairs[1], [done, done, done])

    @classmethod
    def from_product(cls, vocab: Vocabulary, base: LexemeTable, excluded_dfa) -> "DifferenceLexemeTable":
        """The table of ``base minus excluded`` without C's canonical DFA: its states are
        those of :func:`difference_product`, each with its pair known."""
        dfa, g_of, f_of, dead = difference_product(base.dfa, excluded_dfa)
        return cls(dfa, vocab, base, excluded_dfa, pairs=(g_of, f_of), dead_pairs=dead)

    def _representative(self, q: int) -> tuple[int, int]:
        """A (B state, F state) pair reaching state ``q`` of C (F dead = n_F; ``(-1, -1)``:
        ``q`` unreachable).

        State 0 is (0, 0): the first visit of a state with a key thread per object of a big
        ``anyOf`` needs only that, and building every table's pairs there cost 4 ms each (90
        ms for Github_hard:15). Other states are mapped all at once by a breadth-first walk of
        the product, gathering only the frontier's transitions (the class-compressed tables
        indexed through each DFA's byte classes) instead of three full ``[states, 256]``
        tables. All at once, not level by level up to ``q``: spreading the walk over the
        first visits of a key's states put a share of it in many steps (per-token p99 on
        MaskBench 211 -> 302-330 us, Mistral).
        """
        if q == 0:
            return 0, 0
        pairs = self._pairs
        if pairs is None:
            nC = self.n_states
            pairs = self._pairs = (np.full(nC, -1, dtype=np.int64), np.full(nC, -1, dtype=np.int64),
                                   [np.array([0]), np.array([0]), np.array([0])])
            pairs[0][0] = pairs[1][0] = 0
        g_of, f_of, frontier = pairs
        if g_of[q] >= 0 or not frontier[0].size:
            return int(g_of[q]), int(f_of[q])
        nC, nF = self.n_states, self._F_flat.shape[0]
        B = self.base
        Fx = np.vstack([self._F_flat, np.full((1, self._F_flat.shape[1]), nF, dtype=np.int32)]).ravel()
        c, g, f = frontier
        while c.size:
            c2 = self._flat[(c * self.n_cls)[:, None] + self._cmap[None, :]].ravel()
            g2 = B._flat[(g * B.n_cls)[:, None] + B._cmap[None, :]].ravel()
            f2 = Fx[(f * self._F_flat.shape[1])[:, None] + self._F_cmap_np[None, :]].ravel()
            keep = c2 < nC
            c2, g2, f2 = c2[keep].astype(np.int64), g2[keep].astype(np.int64), f2[keep].astype(np.int64)
            c2, first = np.unique(c2, return_index=True)
            g2, f2 = g2[first], f2[first]
            new = g_of[c2] < 0
            c, g, f = c2[new], g2[new], f2[new]
            g_of[c], f_of[c] = g, f
            frontier[:] = [c, g, f]
        return int(g_of[q]), int(f_of[q])

    def _compute(self, q: int) -> None:
        """One row alone: the region walked depth-first in Python (a key's states, one per
        first visit, have a few F bytes each; the batched numpy walk of
        :func:`difference_regions` pays ~15 numpy calls per trie level, which only many
        rows at once amortize: one row at a time it raised MaskBench's per-token p99 by a third).
        What it finds is taken away from B's arrays as the batched walk's is
        (:meth:`_store_corrected`): where nothing is (a token would have to spell the rest of a
        whole declared name), the row and splits are B's own arrays."""
        g, f = self._representative(q)
        base = self.base
        if not 0 <= g < base.n_states:  # unreachable: never visited, but answer exactly
            super()._compute(q)
            return
        if f < self._F_flat.shape[0]:
            unalive, unsplit = self._region(q, g, f)
        else:  # F dead: C's language from q is B's
            unalive = unsplit = _NO_NODES
        self._store_corrected(q, g, unalive, unsplit)

    def _F_row(self, qf: int) -> tuple[int, ...]:
        nF, n_cls = self._F_flat.shape
        if nF * n_cls <= PY_ALL_TRANSITIONS:  # the names' trie: all of it at once (see py_row)
            self._F_list.update(enumerate(_py_all(self._F_flat.ravel(), n_cls, nF)))
            return self._F_list[qf]
        r = self._F_list[qf] = _py_row(self._F_flat.ravel(), n_cls, nF, qf)
        return r

    @cached_property
    def _F_bytes_of_class(self) -> tuple[tuple[int, ...], ...]:
        """Each of F's byte classes' bytes (:func:`_class_bytes`), for :meth:`_F_viable`."""
        return _class_bytes(self._F_cmap, self._F_flat.shape[1])

    def _F_viable(self, qf: int) -> tuple[int, ...]:
        """The bytes that keep F alive from ``qf``, ascending (kept per F state; a small F's
        read off its Python row, see :func:`_viable_from_row`)."""
        vb = self._F_bytes.get(qf)
        if vb is None:
            nF, n_cls = self._F_flat.shape
            if nF * n_cls <= PY_ALL_TRANSITIONS and 0 <= qf < nF:
                vb = _viable_from_row(self._F_list.get(qf) or self._F_row(qf), self._F_bytes_of_class)
            else:
                vb = tuple(np.flatnonzero(self._F_flat[qf][self._F_cmap_np] < nF).tolist())
            self._F_bytes[qf] = vb
        return vb

    def _region(self, q: int, g: int, f: int) -> tuple[np.ndarray, np.ndarray]:
        """What C's verdicts take away from B's below (q, g, f): ``(unalive, unsplit)``, the
        trie nodes (depth >= 1) where B is alive and C dead, and those where B can end and C
        cannot (as :func:`difference_regions` finds them for many rows at once).

        Both lie where F is alive (elsewhere C's remaining language is B's), so the walk
        follows F's live bytes only, stepping C and B beside F, and stops where B dies (so
        does C). F (the declared names) has a few bytes out of each state while trie nodes
        near the root have hundreds of children, so where F's bytes are fewer they are looked
        up among the node's children (sorted by byte) instead of scanning the children.
        Why B beside C (before: C's verdict at every node of the walk, written over B's row
        and splits in a copy): where nothing differs, the usual case, the row and the splits
        stay B's own arrays, so the crossing of a first visit groups them with every other
        state over B (same split array) instead of walking them alone.
        """
        ptr, ids, byts = child_lists(self.vocab)
        Tc, cc, acc_c = self.T_list, self.cmap_list, self.accept_list
        base = self.base
        Tb, cb, acc_b = base.T_list, base.cmap_list, base.accept_list
        Tf, cf = self._F_list, self._F_cmap
        unalive: list[int] = []
        unsplit: list[int] = []
        work = [(0, q, g, f)]
        while work:
            node, qc, qb, qf = work.pop()
            lo, hi = ptr[node], ptr[node + 1]
            if lo == hi:
                continue
            rf = Tf.get(qf) or self._F_row(qf)
            rc = (Tc.get(qc) or self.py_row(qc)) if qc >= 0 else None
            rb = Tb.get(qb) or base.py_row(qb)
            fvb = self._F_viable(qf)
            if len(fvb) < hi - lo:
                found = []
                for b in fvb:
                    j = bisect_left(byts, b, lo, hi)
                    if j < hi and byts[j] == b:
                        found.append(j)
            else:
                found = [j for j in range(lo, hi) if rf[cf[byts[j]]] >= 0]
            for j in found:
                b = byts[j]
                g2 = rb[cb[b]]
                if g2 < 0:  # B dead here and below: so is C, and B's arrays say so already
                    continue
                child = ids[j]
                q2 = rc[cc[b]] if rc is not None else -1
                if q2 < 0:
                    unalive.append(child)
                if acc_b[g2] and not (q2 >= 0 and acc_c[q2]) and ptr[child + 1] > ptr[child]:
                    unsplit.append(child)
                work.append((child, q2, g2, rf[cf[b]]))
        return np.asarray(unalive, dtype=np.int64), np.asarray(unsplit, dtype=np.int64)

    def _store_corrected(self, q: int, g: int, unalive: np.ndarray, unsplit: np.ndarray) -> None:
        """Store ``q``'s row and splits: B's at ``g`` less the tokens ending at the trie nodes
        ``unalive`` and less the split nodes ``unsplit`` (C's language is a subset of B's, so
        C's verdicts only ever take away). Nothing to take away (the usual case: C and B
        disagree only on tokens that spell a whole declared name): B's arrays themselves."""
        base = self.base
        row = base.row(g)
        splits = base.splits(g)
        if unalive.size:
            v = self.vocab
            row = row.copy()
            clear_bits(row, v.node_token_ids[csr_positions(v.node_token_ptr, unalive)])
        if unsplit.size:
            # B's split nodes sorted once (kept on B, shared by every "B minus F" table over
            # it): a few searches here, not an isin over all of them per table (220 tables
            # over one string lexeme in one first visit, Github_medium:1089)
            order, ordered = base.split_order(g)
            at = np.minimum(np.searchsorted(ordered, unsplit), max(ordered.size - 1, 0))
            hit = ordered[at] == unsplit if ordered.size else np.zeros(unsplit.size, dtype=bool)
            keep = np.ones(splits.size, dtype=bool)
            keep[order[at[hit]]] = False
            splits = splits[keep]
        with self._lock:
            self._rows[q] = share(row)
            self._splits[q] = splits

    def _F_edges(self):
        """F's live transitions by source state, one per byte: ``(ptr, byte, target)`` (CSR
        over F's states, kept): what :func:`difference_regions` expands a node's F state by."""
        e = getattr(self, "_F_edge_csr", None)
        if e is None:
            F, cmap = self._F_flat, self._F_cmap_np
            nF, n_cls = F.shape
            by_class = np.argsort(cmap, kind="stable")  # bytes grouped by class, ascending
            cls_ptr = np.searchsorted(cmap[by_class], np.arange(n_cls + 1))
            flat = F.ravel()
            live = np.flatnonzero(flat < nF)
            pos, owner = csr_positions(cls_ptr, live % n_cls, with_owner=True)
            src = live[owner] // n_cls
            e = self._F_edge_csr = (np.searchsorted(src, np.arange(nF + 1)), by_class[pos],
                                    flat[live[owner]].astype(np.int64))
        return e


def compute_rows_batched(pairs: list) -> None:
    """Fill the row/split caches of many (table, state) pairs with one trie walk.

    States whose walks are small (literals, punctuation, key names) cost mostly numpy call
    overhead per trie level; walking them as lanes of one walk pays that overhead once.
    Every table must be a plain :class:`LexemeTable` over the same vocabulary. The tables'
    transitions are joined as they are (no per-table conversion) and the lanes' rows packed
    with a constant number of numpy calls, not a few per table and per lane. Why: a state
    whose threads start 229 key lexemes (``Github_ultra:131``) spent 12 ms here, most of it
    in those per-table and per-lane calls around a 2 ms walk (docs/benchmarks.md part 2u).
    """
    if not pairs:
        return
    vocab = pairs[0][0].vocab
    tables = list({id(t): t for t, _ in pairs}.values())
    index = {id(t): i for i, t in enumerate(tables)}
    # the tables' class-compressed transitions side by side as they are (each with its dead
    # sink row): a lane's state is its table, its local state and where that state's row
    # starts; only the lanes' live frontier is ever converted
    n_states = np.array([t.n_states for t in tables], dtype=np.int64)
    n_cls = np.array([t.n_cls for t in tables], dtype=np.int64)
    row_base = np.concatenate(([0], np.cumsum((n_states + 1) * n_cls)[:-1]))
    acc_base = np.concatenate(([0], np.cumsum(n_states + 1)[:-1]))
    flat = np.concatenate([t._flat for t in tables])
    accept = np.concatenate([t._accept_ext for t in tables])
    cmaps = np.stack([t._cmap for t in tables])
    tab0 = np.array([index[id(t)] for t, _ in pairs], dtype=np.int64)
    q0 = np.array([q for _, q in pairs], dtype=np.int64)

    def advance(parent, byts):
        ptr, tab, _, ln = parent
        s = flat[ptr + cmaps[tab, byts]].astype(np.int64)
        return (row_base[tab] + s * n_cls[tab], tab, s, ln), s != n_states[tab]

    nodes, (_, tab, st, lane) = walk_trie(vocab, (row_base[tab0] + q0 * n_cls[tab0], tab0, q0, np.arange(len(pairs))),
                                          advance)
    st = acc_base[tab] + st
    order = np.argsort(lane, kind="stable")
    nodes, st, lane = nodes[order], st[order], lane[order]
    has_kids = vocab.child_ptr[nodes + 1] > vocab.child_ptr[nodes]
    split = accept[st] & has_kids
    split_nodes, split_lane = nodes[split].astype(np.int32), lane[split]
    bounds = np.searchsorted(split_lane, np.arange(len(pairs) + 1)).tolist()
    rows = rows_from_lanes(vocab, nodes, lane, len(pairs))
    for i, (t, q) in enumerate(pairs):
        row = share(rows[i].copy())  # a copy: a kept view would hold every lane's rows
        with t._lock:
            t._rows[q] = row
            t._splits[q] = split_nodes[bounds[i]:bounds[i + 1]].copy()


def difference_regions(items) -> list:
    """What C's verdicts take away from B's rows, for many ``(table, q, g, f)`` items (a
    :class:`DifferenceLexemeTable`, a state ``q`` of C and its pair: B at ``g``, F at
    ``f``), in one walk: per item ``(unalive, unsplit)``, the trie nodes (depth >= 1) where
    B is alive and C dead, and those where B can end and C cannot.

    Both lie where F is alive: elsewhere C's remaining language is B's (and below a node
    where C died with B alive, every B byte keeps F alive: C dead means B's words from
    there are all F's). So each item walks the trie along F's live bytes only (its edges,
    :meth:`DifferenceLexemeTable._F_edges`), stepping B beside F and dropping a node where
    B dies; C is dead at a node exactly when its pair is one of the product's empty pairs
    (kept by :func:`difference_product`: the product enumerated every pair reachable with
    both alive, and a pair reached from an empty one with B alive is empty too), and C can
    end where B can and F cannot. The items are lanes of one level-by-level numpy walk: children are found by
    one ``searchsorted`` over the trie's edge keys, every table's F edges and empty pairs
    side by side, every distinct B's transitions side by side.

    Why: the first visit of a state after ``{`` of an object in a big ``anyOf``/``oneOf``
    needs the row of state 0 of a hundred or more "any key but these names" tables, each
    its own names F; walked one table at a time, depth-first in Python, the F-alive part
    of the trie (every blank run before the opening quote, then the names) cost ~2 ms per
    table (``Github_medium:574``: 190 ms in one step; ``:1089``: 220 tables).
    """
    vocab = items[0][0].vocab
    keys, kid_ids = child_keys(vocab)
    has_kids = np.diff(vocab.child_ptr) > 0
    tables = list({id(t): t for t, _, _, _ in items}.values())
    tab_index = {id(t): i for i, t in enumerate(tables)}
    bases = list({id(t.base): t.base for t in tables}.values())
    base_index = {id(b): i for i, b in enumerate(bases)}
    # F states numbered globally (f_off per table), an empty pair of table i as the key
    # i * 2**40 + g * (n_F + 1) + f, B rows at b_row[base] + g * n_cls[base]
    f_ptr, f_byte, f_dst, f_acc, f_off, dead, f_width = [], [], [], [], [], [], []
    n_f = n_e = 0
    for i, t in enumerate(tables):
        ptr, byts, dst = t._F_edges()
        f_ptr.append(ptr[:-1] + n_e)
        f_byte.append(byts)
        f_dst.append(dst + n_f)
        f_acc.append(t._F_accept)
        f_off.append(n_f)
        f_width.append(ptr.size)  # n_F + 1
        dead.append(t._dead_pairs + (i << 40))
        n_f += ptr.size - 1
        n_e += byts.size
    f_ptr = np.concatenate(f_ptr + [np.array([n_e])]).astype(np.int64)
    f_byte = np.concatenate(f_byte).astype(np.int64)
    f_dst, f_acc = np.concatenate(f_dst), np.concatenate(f_acc)
    f_off, f_width = np.array(f_off, dtype=np.int64), np.array(f_width, dtype=np.int64)
    dead = np.concatenate(dead)  # sorted: tables in order, each table's keys sorted
    b_flat = np.concatenate([b._flat for b in bases]) if len(bases) > 1 else bases[0]._flat
    b_row = np.cumsum([0] + [b._flat.size for b in bases])[:-1]
    b_acc = np.concatenate([b._accept_ext for b in bases])
    b_acc_off = np.cumsum([0] + [b._accept_ext.size for b in bases])[:-1]
    b_dead, b_ncls = np.array([b.n_states for b in bases]), np.array([b.n_cls for b in bases])
    b_cmap = np.stack([b._cmap for b in bases])
    lane_tab = np.array([tab_index[id(t)] for t, _, _, _ in items], dtype=np.int64)
    lane_base = np.array([base_index[id(tables[i].base)] for i in lane_tab.tolist()], dtype=np.int64)

    def is_dead(tab, g, f_local):
        k = (tab << 40) + g * f_width[tab] + f_local
        j = np.minimum(np.searchsorted(dead, k), max(dead.size - 1, 0))
        return (dead[j] == k) if dead.size else np.zeros(k.size, dtype=bool)

    lane = np.arange(len(items), dtype=np.int64)
    node = np.zeros(len(items), dtype=np.int64)
    g = np.array([it[2] for it in items], dtype=np.int64)
    f = np.array([it[3] for it in items], dtype=np.int64) + f_off[lane_tab]
    out = []
    while lane.size:
        check_deadline()
        pos, owner = csr_positions(f_ptr, f, with_owner=True)
        if pos.size == 0:
            break
        byts = f_byte[pos]
        key = node[owner] * 256 + byts
        j = np.minimum(np.searchsorted(keys, key), keys.size - 1)
        hit = keys[j] == key
        pos, owner, j, byts = pos[hit], owner[hit], j[hit], byts[hit]
        l = lane[owner]
        bi = lane_base[l]
        g2 = b_flat[b_row[bi] + g[owner] * b_ncls[bi] + b_cmap[bi, byts]].astype(np.int64)
        b_alive = g2 < b_dead[bi]  # B dead: so is C, and B's row says so already
        pos, owner, j, l, bi, g2 = pos[b_alive], owner[b_alive], j[b_alive], l[b_alive], bi[b_alive], g2[b_alive]
        f2 = f_dst[pos]
        tab = lane_tab[l]
        child = kid_ids[j]
        cd = is_dead(tab, g2, f2 - f_off[tab])
        b_split = b_acc[b_acc_off[bi] + g2] & has_kids[child]
        unsplit = b_split & (cd | f_acc[f2])
        if cd.any() or unsplit.any():
            out.append((l[cd], child[cd], l[unsplit], child[unsplit]))
        lane, node, g, f = l, child, g2, f2
    n = len(items)
    if not out:
        empty = np.zeros(0, dtype=np.int64)
        return [(empty, empty)] * n
    res = []
    for which in (0, 2):
        lanes = np.concatenate([o[which] for o in out])
        nodes = np.concatenate([o[which + 1] for o in out])
        order = np.argsort(lanes, kind="stable")
        bounds = np.searchsorted(lanes[order], np.arange(n + 1)).tolist()
        nodes = nodes[order]
        res.append([nodes[a:b] for a, b in zip(bounds[:-1], bounds[1:])])
    return list(zip(*res))


def compute_difference_rows(pairs) -> None:
    """Rows and splits of ``(DifferenceLexemeTable, q)`` pairs, what C takes away from B's
    rows found for all of them by one batched walk (:func:`difference_regions`)."""
    walk = []
    for t, q in pairs:
        g, f = t._representative(q)
        if not 0 <= g < t.base.n_states:  # unreachable: never visited, but answer exactly
            LexemeTable._compute(t, q)
        elif f >= t._F_flat.shape[0]:  # F dead: C's language from q is B's
            t._store_corrected(q, g, _NO_NODES, _NO_NODES)
        else:
            walk.append((t, q, g, f))
    if walk:
        for (t, q, g, _), (unalive, unsplit) in zip(walk, difference_regions(walk)):
            t._store_corrected(q, g, unalive, unsplit)


_NO_NODES = np.zeros(0, dtype=np.int64)


def fill_rows(pairs) -> None:
    """Compute the missing rows of ``(table, state)`` pairs a first visit needs, together.

    A state after ``{`` or ``,`` of a big object has a thread per key, and each key's first
    row is a small trie walk that costs mostly per-call overhead; one batched walk
    (:func:`compute_rows_batched`) pays that once. Wide states (string content) and other
    kinds of tables are left to :meth:`LexemeTable.row`, which computes them alone.
    """
    narrow = []
    differences = []
    seen = set()
    for t, q in pairs:
        if isinstance(t, DifferenceLexemeTable):
            if (id(t), q) not in seen and not t.has_row(q):
                seen.add((id(t), q))
                differences.append((t, q))
            continue
        if (not t.batchable or t.n_states > FILL_BATCH_STATES or (id(t), q) in seen
                or t.has_row(q) or t.is_wide(q)):
            continue
        seen.add((id(t), q))
        narrow.append((t, q))
    if len(narrow) >= FILL_BATCH_MIN:
        compute_rows_batched(narrow)
    if len(differences) >= DIFFERENCE_BATCH_MIN:
        compute_difference_rows(differences)
