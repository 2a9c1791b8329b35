"""Deterministic automata over bytes: the currency of every stage below the front-ends.

A :class:`ByteDFA` is always *canonical*: minimized, trimmed (every state can reach an
accepting state) and numbered in BFS order from the start state, exploring bytes in
increasing order. Two DFAs for the same language therefore have identical arrays, which
makes equality a cheap comparison and keeps caches keyed by structure effective.

How DFAs are built:

* :class:`NFA` -- Thompson-style automaton with epsilon edges and symbol-range edges. Regex
  lowering and the union/concat/star/repeat operations build one, then call
  :meth:`NFA.to_dfa`.
* Subset construction runs over *symbol equivalence classes* (symbols no edge tells apart
  share one column), with epsilon closures restricted to "important" states (those with
  symbol edges, or final) so equivalent subsets collapse early.
* Minimization (:mod:`.minimize`): states not reachable from any cycle (the long chains counted repetition
  builds) are merged bottom-up by hashing their signatures, in linear time; the cyclic
  part gets partition refinement -- a few vectorized Moore rounds, then Hopcroft's
  algorithm (adapted to partial DFAs) if the partition is still moving.
* ``x{m,n}`` of a prefix-free ``x`` (a character, a literal) is built as a chain of copies
  directly in numpy; ``a · b`` with a prefix-free ``a`` glues the tables; other
  concatenations, intersections, differences, unions and complements run directly on DFAs
  (products / subset-of-``b`` constructions over the joint symbol classes), so big
  operands are never re-expanded into NFA edges.

Every construction takes ``budget`` (maximum number of DFA states; subset constructions are
also bounded in work, ``_WORK_FACTOR * budget`` subset members, since a few patterns have
small DFAs but huge intermediate subsets) and raises
:class:`~constrain.errors.CompileBudgetError` instead of running away.

This module stays near 950 lines on purpose: the products, concatenation and complement
build :class:`ByteDFA` objects and :class:`ByteDFA`'s methods call them, so splitting them
into a module of their own would make an import circle (minimization, which needs no
automaton objects, is split out).

Internally the alphabet can be wider than 256 symbols (``n_symbols``): the regex compiler
uses symbols >= 256 as zero-width markers for assertions and erases them before a DFA
leaves :mod:`constrain.frontends.regex`. Public DFAs always have ``n_symbols == 256``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..budget import check_deadline, check_size, state_budget
from ..errors import CompileBudgetError
from .minimize import bfs_mark, column_ids, csr, first_occurrence_order, minimize, row_ids

__all__ = ["ByteDFA", "DEFAULT_BUDGET", "NFA", "finalize"]

DEFAULT_BUDGET = 100_000
"""Default maximum number of DFA states one construction may create."""

_NFA_FACTOR = 10
"""An NFA may have up to ``_NFA_FACTOR * budget`` states before we give up."""

_WORK_FACTOR = 20
"""Subset constructions may touch ``_WORK_FACTOR * budget`` set members (a time bound:
some patterns have few DFA states but huge intermediate subsets, e.g. searching for a
long periodic string). Members of cached epsilon closures count too (they are memory)."""

# Byte costs the constructions count against the memory budget before they grow (Python
# objects, measured on CPython 3.11 and rounded up): a member of a frozen set, a set's own
# overhead, one edge in the src/col/dst lists, one entry of an index dict; tables are int64
# and ``finalize`` holds about three copies of one.
_MEMBER_BYTES = 32
_SET_BYTES = 256
_EDGE_BYTES = 96
_INDEX_BYTES = 160
_NFA_STATE_BYTES = 256  # two lists and a few edge tuples
_TABLE_COPIES = 3
_CHECK_EVERY = 1 << 16
"""Work units (subset members, product pairs) between two budget checks in a construction."""
PRODUCT_LEVEL_MIN = 256
"""Pair-columns in a BFS level of :func:`_product` from which the level is expanded in numpy
(narrower levels, long chains, stay a python loop); ``1 << 62`` turns the numpy levels off."""


def _table_bytes(n_states: int, n_cls: int) -> int:
    return n_states * n_cls * 8 * _TABLE_COPIES


def _work_limit(budget: int) -> int:
    return max(_WORK_FACTOR * budget, 1_000_000)


_SMALL = 2000
"""Total size up to which unions go through one NFA rather than pairwise products."""


def finalize(T: np.ndarray, acc: np.ndarray, cmap: np.ndarray, *, minimal: bool = False) -> "ByteDFA":
    """Trim, minimize and canonically renumber a DFA given over symbol classes.

    ``T``: int [S, C] (``-1`` dead), start state 0; ``acc``: bool [S]; ``cmap``: class of
    each symbol. Returns the canonical :class:`ByteDFA` of the language. ``minimal=True``:
    the caller guarantees that no two live states have the same language (it built the
    automaton minimal, e.g. by hashing signatures bottom-up); only trimming and the
    canonical numbering are done.
    """
    n_symbols = int(cmap.shape[0])
    T = np.asarray(T)
    if T.dtype != np.int32:  # int32 tables stay int32: every copy below is then half the size
        T = T.astype(np.int64, copy=False)
    acc = np.asarray(acc, dtype=bool)
    S = T.shape[0]
    if S == 0 or not acc.any():
        return ByteDFA._empty(n_symbols)
    src, cls = np.nonzero(T >= 0)
    dst = T[src, cls]
    # co-reachable (can reach an accepting state); unreachable states are dropped by the
    # BFS numbering below, so no forward pass is needed
    ptr, adj = csr(dst, src, S)
    live = bfs_mark(S, ptr, adj, np.flatnonzero(acc).tolist())
    if not live[0]:
        return ByteDFA._empty(n_symbols)
    old = np.flatnonzero(live)
    remap = np.full(S + 1, -1, dtype=T.dtype)  # remap[-1] == -1
    remap[old] = np.arange(old.size)
    if old.size < S:
        T = remap[T[old]]
    acc = acc[old]
    del src, cls, dst, ptr, adj, live, remap
    # minimize and build the quotient
    blk = np.arange(T.shape[0], dtype=np.int64) if minimal else minimize(T, acc)
    nb = int(blk.max()) + 1
    _, reps = np.unique(blk, return_index=True)
    bx = np.append(blk, -1)
    Tq = bx[T[reps]]
    accq = acc[reps]
    start_block = int(blk[0])
    # canonical BFS numbering, classes explored in order of their smallest symbol
    C = Tq.shape[1]
    corder = np.argsort(first_occurrence_order(cmap, C), kind="stable")  # class ids by first symbol
    # live edges only, per state in class order (row-major nonzero keeps that order)
    Tcq = Tq[:, corder]
    er, ec = np.nonzero(Tcq >= 0)
    targets = Tcq[er, ec].tolist()
    eptr = np.searchsorted(er, np.arange(nb + 1)).tolist()
    new_id = [-1] * nb
    new_id[start_block] = 0
    queue = [start_block]
    i = 0
    while i < len(queue):
        q = queue[i]
        for k in range(eptr[q], eptr[q + 1]):
            t = targets[k]
            if new_id[t] < 0:
                new_id[t] = len(queue)
                queue.append(t)
        i += 1
    perm = np.array(queue, dtype=np.int64)
    nid = np.append(np.array(new_id, dtype=np.int64), -1)
    Tn = nid[Tq[perm]]
    accn = accq[perm]
    # merge identical columns and number classes by their first symbol
    col_ids = column_ids(Tn)
    ncols = int(col_ids.max()) + 1
    sym_cls = col_ids[cmap]
    relabel = first_occurrence_order(sym_cls, ncols)
    sym_cls = relabel[sym_cls]
    Tc = np.empty((Tn.shape[0], ncols), dtype=np.int32)
    Tc[:, relabel[col_ids]] = Tn
    return ByteDFA._make(Tc, accn, sym_cls)


def _edge_table(n_states: int, n_cls: int, src: list, col: list, dst: list) -> np.ndarray:
    """The dense ``[n_states, n_cls]`` table (``-1`` dead) of an edge list, int32 (half of
    int64's peak; :func:`finalize` keeps the width). Empties the lists as it goes."""
    T = np.full((n_states, n_cls), -1, dtype=np.int32 if n_states < 2**31 - 1 else np.int64)
    if src:
        T[np.array(src), np.array(col)] = np.array(dst)
    del src[:], col[:], dst[:]
    return T


def _class_ranges(cmap: np.ndarray, n_classes: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    """For each class, the maximal runs ``(lo, hi)`` of symbols that belong to it.

    Tuples, not lists: cached on every DFA, and tuples of ints drop out of the garbage
    collector's sight after a collection, lists never do."""
    n = cmap.shape[0]
    cuts = np.flatnonzero(np.diff(cmap)) + 1
    starts = np.concatenate(([0], cuts))
    ends = np.concatenate((cuts, [n])) - 1
    out: list[list[tuple[int, int]]] = [[] for _ in range(n_classes)]
    for lo, hi, c in zip(starts.tolist(), ends.tolist(), cmap[starts].tolist()):
        out[c].append((lo, hi))
    return tuple(tuple(r) for r in out)


# --------------------------------------------------------------------------- NFA


class NFA:
    """A Thompson-style NFA over symbols ``0 .. n_symbols-1``.

    States are integers; ``eps[s]`` lists epsilon successors and ``edges[s]`` holds
    ``(lo, hi, dst)`` symbol-range edges. Fragments are built by the caller (regex lowering,
    DFA operations) and determinized with :meth:`to_dfa`.
    """

    __slots__ = ("n_symbols", "eps", "edges", "limit")

    def __init__(self, n_symbols: int = 256, budget: int = DEFAULT_BUDGET):
        self.n_symbols = n_symbols
        self.eps: list[list[int]] = []
        self.edges: list[list[tuple[int, int, int]]] = []
        self.limit = state_budget(max(_NFA_FACTOR * budget, 10_000), _NFA_STATE_BYTES)

    def __len__(self) -> int:
        return len(self.eps)

    def grow(self, k: int) -> int:
        """Add ``k`` states; returns the first one's number (budget-checked)."""
        base = len(self.eps)
        if base + k > self.limit:
            raise CompileBudgetError(f"NFA exceeds {self.limit} states", budget="states")
        self.eps.extend([] for _ in range(k))
        self.edges.extend([] for _ in range(k))
        return base

    def add_state(self) -> int:
        return self.grow(1)

    def add_eps(self, a: int, b: int) -> None:
        self.eps[a].append(b)

    def add_range(self, a: int, lo: int, hi: int, b: int) -> None:
        """Edge ``a -> b`` on every symbol in ``lo..hi`` (inclusive)."""
        self.edges[a].append((lo, hi, b))

    def add_dfa(self, dfa: "ByteDFA") -> tuple[int, int]:
        """Embed a copy of ``dfa``; returns ``(start, end)``, accepting states eps-linked to end."""
        if dfa.n_symbols > self.n_symbols:
            raise ValueError("cannot embed a DFA over a wider alphabet")
        S = dfa.num_states
        base = self.grow(S + 1)
        end = base + S
        ranges = dfa.class_ranges()
        edges = self.edges
        for s, row in enumerate(dfa._T.tolist()):
            el = edges[base + s]
            for k, t in enumerate(row):
                if t >= 0:
                    t += base
                    for lo, hi in ranges[k]:
                        el.append((lo, hi, t))
        for s in np.flatnonzero(dfa.accept).tolist():
            self.eps[base + s].append(end)
        return base, end

    def to_dfa(self, start: int, finals: int | Iterable[int], budget: int = DEFAULT_BUDGET) -> "ByteDFA":
        """Subset construction from ``start``; accepting iff a subset holds a final state."""
        finals = frozenset([finals] if isinstance(finals, int) else finals)
        A = self.n_symbols
        edges, eps = self.edges, self.eps

        # symbol classes: elementary intervals merged when no edge tells them apart
        rng = set()
        for el in edges:
            for lo, hi, _ in el:
                rng.add((lo, hi))
        rng_list = sorted(rng)
        if rng_list:
            los = np.array([r[0] for r in rng_list], dtype=np.int64)
            his = np.array([r[1] for r in rng_list], dtype=np.int64)
            bounds = np.unique(np.concatenate(([0, A], los, his + 1)))
            bounds = bounds[bounds <= A]
            starts = bounds[:-1]
            member = (los[:, None] <= starts[None, :]) & (starts[None, :] <= his[:, None])
            elem_cls = row_ids(member.T.astype(np.int8))
            n_cls = int(elem_cls.max()) + 1
            cmap = np.repeat(elem_cls, np.diff(bounds))
            j_lo = np.searchsorted(bounds, los)
            j_hi = np.searchsorted(bounds, his + 1) - 1
            rclasses = {
                r: np.unique(elem_cls[a : b + 1]).tolist()
                for r, a, b in zip(rng_list, j_lo.tolist(), j_hi.tolist())
            }
        else:
            n_cls = 1
            cmap = np.zeros(A, dtype=np.int64)
            rclasses = {}

        closure_cache: dict[int, frozenset[int]] = {}
        budget = state_budget(budget, n_cls * 8 * _TABLE_COPIES + _SET_BYTES + _INDEX_BYTES)
        work = 0
        work_limit = _work_limit(budget)
        next_check = _CHECK_EVERY
        n_edges = 0

        def charge(k: int) -> None:
            """Count ``k`` more subset members; check the budgets every ``_CHECK_EVERY``."""
            nonlocal work, next_check
            work += k
            if work > work_limit:
                raise CompileBudgetError(
                    f"determinization exceeds its work budget ({work_limit} subset members, "
                    f"{len(sets)} states so far)", budget="work")
            if work >= next_check:
                next_check = work + _CHECK_EVERY
                check_size(work * _MEMBER_BYTES + (len(sets) + len(closure_cache)) * _SET_BYTES
                           + n_edges * _EDGE_BYTES + _table_bytes(len(sets), n_cls), "determinization")
                check_deadline()

        def closure(s: int) -> frozenset[int]:
            c = closure_cache.get(s)
            if c is None:
                seen = {s}
                stack = [s]
                res = []
                while stack:
                    x = stack.pop()
                    if edges[x] or x in finals:
                        res.append(x)
                    for y in eps[x]:
                        if y not in seen:
                            seen.add(y)
                            stack.append(y)
                charge(len(seen))
                c = closure_cache[s] = frozenset(res)
            return c

        out_cache: dict[int, list[tuple[int, frozenset[int]]]] = {}

        def out(s: int) -> list[tuple[int, frozenset[int]]]:
            o = out_cache.get(s)
            if o is None:
                tmp: dict[int, list[frozenset[int]]] = {}
                for lo, hi, d in edges[s]:
                    cl = closure(d)
                    for c in rclasses[(lo, hi)]:
                        lst = tmp.get(c)
                        if lst is None:
                            tmp[c] = [cl]
                        else:
                            lst.append(cl)
                o = out_cache[s] = [
                    (c, lst[0] if len(lst) == 1 else frozenset().union(*lst)) for c, lst in tmp.items()
                ]
            return o

        sets: list[frozenset[int]] = []
        s0 = closure(start)
        index = {s0: 0}
        sets.append(s0)
        src: list[int] = []
        col: list[int] = []
        dst: list[int] = []
        i = 0
        while i < len(sets):
            cur = sets[i]
            charge(len(cur))
            n_edges = len(src)
            if len(cur) == 1:
                (m,) = cur
                moves = out(m)
            else:
                acc: dict[int, list[frozenset[int]]] = {}
                for m in cur:
                    for c, fs in out(m):
                        lst = acc.get(c)
                        if lst is None:
                            acc[c] = [fs]
                        else:
                            lst.append(fs)
                moves = [(c, lst[0] if len(lst) == 1 else frozenset().union(*lst)) for c, lst in acc.items()]
            for c, fs in moves:
                j = index.get(fs)
                if j is None:
                    j = len(sets)
                    if j >= budget:
                        raise CompileBudgetError(f"DFA exceeds {budget} states during determinization",
                                                 budget="states")
                    if not j & 4095:
                        check_deadline()
                    index[fs] = j
                    sets.append(fs)
                src.append(i)
                col.append(c)
                dst.append(j)
            i += 1
        check_size(_table_bytes(len(sets), n_cls), f"a {len(sets)}-state DFA table")
        accept = np.array([not finals.isdisjoint(s) for s in sets], dtype=bool)
        T = _edge_table(len(sets), n_cls, src, col, dst)
        # the subsets and caches are dead weight now: drop them before finalize's copies
        # (on a 16k-state pattern DFA they were 30 MB of the peak)
        sets.clear()
        index.clear()
        closure_cache.clear()
        out_cache.clear()
        return finalize(T, accept, cmap)


# --------------------------------------------------------------------------- ByteDFA


def _as_byte_list(data: bytes | Iterable[int]) -> list[int]:
    out = list(data)
    for b in out:
        if not (isinstance(b, (int, np.integer)) and 0 <= b < 256):
            raise ValueError(f"not a byte value: {b!r}")
    return [int(b) for b in out]


class ByteDFA:
    """A canonical (minimized, trimmed, BFS-numbered) DFA over bytes.

    Attributes (read-only by convention):

    * ``trans``: ``int32 [S, 256]``, ``-1`` = dead;
    * ``accept``: ``bool [S]``; start state is 0.

    The empty language is one non-accepting state without transitions. Instances are
    immutable: every operation returns a new canonical DFA. ``budget`` bounds the number of
    DFA states an operation may create (:class:`CompileBudgetError` beyond it).
    """

    # ``_digest``: automata.sharing's digest of the arrays, kept on the object (a slot holding
    # bytes) rather than in a weak dictionary whose references the garbage collector walks
    __slots__ = ("_trans", "accept", "_T", "_cmap", "_ranges", "_digest", "__weakref__")

    def __init__(self, trans: np.ndarray, accept: np.ndarray):
        """Canonicalize an arbitrary DFA given as full arrays (start state 0).

        ``trans`` may have more than 256 columns only for internal marker alphabets.
        """
        trans = np.asarray(trans, dtype=np.int64)
        accept = np.asarray(accept, dtype=bool)
        if trans.ndim != 2 or accept.shape != (trans.shape[0],):
            raise ValueError("trans must be [S, n_symbols] and accept [S]")
        if trans.size and (trans.max() >= trans.shape[0] or trans.min() < -1):
            raise ValueError("transition target out of range")
        cols = row_ids(trans.T) if trans.shape[0] else np.zeros(trans.shape[1], dtype=np.int64)
        n_cls = int(cols.max()) + 1 if cols.size else 1
        T = np.full((trans.shape[0], n_cls), -1, dtype=np.int64)
        T[:, cols] = trans
        d = finalize(T, accept, cols)
        self._set(d._T, d.accept, d._cmap)

    # -- construction helpers ------------------------------------------------------------

    def _set(self, T: np.ndarray, acc: np.ndarray, cmap: np.ndarray) -> None:
        self._T = np.ascontiguousarray(T, dtype=np.int32)
        self._cmap = np.ascontiguousarray(cmap, dtype=np.int64)
        self.accept = np.ascontiguousarray(acc, dtype=bool)
        self._trans = None
        self._ranges = None
        self._digest = None
        self.accept.setflags(write=False)

    @property
    def trans(self) -> np.ndarray:
        """``int32 [S, n_symbols]`` transition table (``-1`` dead), built on first use."""
        if self._trans is None:
            t = np.ascontiguousarray(self._T[:, self._cmap])
            t.setflags(write=False)
            self._trans = t
        return self._trans

    @property
    def classes(self) -> np.ndarray:
        """``int64 [n_symbols]`` class id of each symbol (shared, not copied: do not write).

        The read-only view hot loops use instead of :meth:`byte_classes`, which copies."""
        return self._cmap

    @property
    def table(self) -> np.ndarray:
        """``int32 [S, C]`` class-compressed transitions, ``trans[s, b] == table[s, classes[b]]``
        (shared, not copied: do not write)."""
        return self._T

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays this DFA holds (what a cache of DFAs counts against its budget)."""
        n = self._T.nbytes + self._cmap.nbytes + self.accept.nbytes
        return n + (self._trans.nbytes if self._trans is not None else 0)

    @classmethod
    def _make(cls, T: np.ndarray, acc: np.ndarray, cmap: np.ndarray) -> "ByteDFA":
        """Wrap already-canonical class-compressed arrays (no checks)."""
        obj = cls.__new__(cls)
        obj._set(T, acc, cmap)
        return obj

    @classmethod
    def _empty(cls, n_symbols: int = 256) -> "ByteDFA":
        return cls._make(np.full((1, 1), -1), np.zeros(1, dtype=bool), np.zeros(n_symbols, dtype=np.int64))

    def class_ranges(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """The symbol ranges ``(lo, hi)`` of each class (cached), for embedding into an NFA."""
        if self._ranges is None:
            self._ranges = _class_ranges(self._cmap, self._T.shape[1])
        return self._ranges

    # -- constructors ----------------------------------------------------------------------

    @classmethod
    def empty(cls) -> "ByteDFA":
        """The empty language (matches nothing)."""
        return cls._empty(256)

    @classmethod
    def epsilon(cls) -> "ByteDFA":
        """The language ``{b""}``."""
        return cls._make(np.full((1, 1), -1), np.ones(1, dtype=bool), np.zeros(256, dtype=np.int64))

    @classmethod
    def literal(cls, data: bytes | Iterable[int]) -> "ByteDFA":
        """Exactly the byte string ``data``."""
        bs = _as_byte_list(data)
        n = len(bs) + 1
        # built canonical: a chain is minimal (its states have different remaining lengths)
        # and already in BFS order; one class per distinct byte plus one dead class for the
        # others, classes numbered by their smallest byte
        used = sorted(set(bs))
        n_cls = len(used) + (len(used) < 256)
        base = np.full(256, len(used), dtype=np.int64)
        base[used] = np.arange(len(used))
        relabel = first_occurrence_order(base, n_cls)
        cmap = relabel[base]
        T = np.full((n, n_cls), -1, dtype=np.int32)
        T[np.arange(n - 1), cmap[bs]] = np.arange(1, n)
        acc = np.zeros(n, dtype=bool)
        acc[-1] = True
        return cls._make(T, acc, cmap)

    @classmethod
    def byte_set(cls, data: bytes | Iterable[int]) -> "ByteDFA":
        """Any single byte of ``data``."""
        bs = _as_byte_list(data)
        if not bs:
            return cls.empty()
        trans = np.full((2, 256), -1, dtype=np.int64)
        trans[0, bs] = 1
        return cls(trans, np.array([False, True]))

    @classmethod
    def byte_range(cls, lo: int, hi: int) -> "ByteDFA":
        """Any single byte in ``lo..hi`` (inclusive)."""
        return cls.byte_set(range(lo, hi + 1))

    @classmethod
    def any_bytes(cls) -> "ByteDFA":
        """All byte strings (``Σ*``)."""
        return cls._make(np.zeros((1, 1)), np.ones(1, dtype=bool), np.zeros(256, dtype=np.int64))

    # -- properties ------------------------------------------------------------------------

    @property
    def num_states(self) -> int:
        return int(self.accept.shape[0])

    @property
    def n_symbols(self) -> int:
        return int(self._cmap.shape[0])

    @property
    def accepts_empty(self) -> bool:
        """Whether ``b""`` is in the language."""
        return bool(self.accept[0])

    def byte_classes(self) -> np.ndarray:
        """``int64 [256]``: class id of each byte; bytes of one class behave identically in
        every state. Classes are numbered by their smallest byte."""
        return self._cmap[:256].copy()

    def class_table(self) -> tuple[np.ndarray, np.ndarray]:
        """``(classes, table)``: ``classes`` int64 [256] as in :meth:`byte_classes` and
        ``table`` int32 [S, C] with ``trans[s, b] == table[s, classes[b]]``.

        The compact form of ``trans`` (C is usually a few dozen): walks over many bytes can
        map bytes to classes once and index the small table.
        """
        return self._cmap[:256].copy(), self._T

    def is_empty(self) -> bool:
        return not bool(self.accept.any())

    def is_epsilon(self) -> bool:
        """Whether the language is exactly ``{b""}``."""
        return self.num_states == 1 and bool(self.accept[0]) and not bool((self._T >= 0).any())

    def walk(self, data: bytes, state: int = 0) -> int:
        """State after reading ``data`` from ``state`` (``-1`` once dead)."""
        trans = self.trans
        for b in data:
            state = int(trans[state, b])
            if state < 0:
                return -1
        return state

    def matches(self, data: bytes) -> bool:
        """Whether ``data`` is in the language."""
        s = self.walk(data)
        return s >= 0 and bool(self.accept[s])

    def equivalent(self, other: "ByteDFA") -> bool:
        """Language equality (canonical forms are identical iff the languages are)."""
        return (
            self.num_states == other.num_states
            and np.array_equal(self.accept, other.accept)
            and np.array_equal(self.trans, other.trans)
        )

    def __repr__(self) -> str:
        return f"ByteDFA(states={self.num_states}, classes={self._T.shape[1]})"

    # -- regular operations (via NFA) --------------------------------------------------------

    def _nfa(self, budget: int) -> NFA:
        return NFA(self.n_symbols, budget)

    def concat(self, other: "ByteDFA", budget: int = DEFAULT_BUDGET) -> "ByteDFA":
        """``self · other``."""
        return ByteDFA.concat_all([self, other], budget=budget)

    @staticmethod
    def concat_all(dfas: Sequence["ByteDFA"], budget: int = DEFAULT_BUDGET) -> "ByteDFA":
        """Concatenation of all ``dfas`` in order (epsilon for none), pairwise at DFA level."""
        dfas = [d for d in dfas if not d.is_epsilon()]
        if not dfas:
            return ByteDFA.epsilon()
        if any(d.is_empty() for d in dfas):
            return ByteDFA._empty(max(d.n_symbols for d in dfas))
        out = dfas[-1]
        for d in reversed(dfas[:-1]):
            out = _concat2(d, out, budget)
        return out

    def union(self, other: "ByteDFA", budget: int = DEFAULT_BUDGET) -> "ByteDFA":
        """``self | other``."""
        return _product(self, other, "or", budget)

    @staticmethod
    def union_all(dfas: Sequence["ByteDFA"], budget: int = DEFAULT_BUDGET) -> "ByteDFA":
        """Union of all ``dfas`` (empty language for none).

        Small operands share one subset construction; large ones are folded with the
        product construction, which avoids re-expanding big DFAs into NFA edges.
        """
        dfas = [d for d in dfas if not d.is_empty()]
        if not dfas:
            return ByteDFA.empty()
        if len(dfas) == 1:
            return dfas[0]
        if sum(d.num_states for d in dfas) > _SMALL:
            out = dfas[0]
            for d in dfas[1:]:
                out = _product(out, d, "or", budget)
            return out
        nfa = NFA(max(d.n_symbols for d in dfas), budget)
        start = nfa.add_state()
        end = nfa.add_state()
        for d in dfas:
            s, e = nfa.add_dfa(d)
            nfa.add_eps(start, s)
            nfa.add_eps(e, end)
        return nfa.to_dfa(start, end, budget)

    def star(self, budget: int = DEFAULT_BUDGET) -> "ByteDFA":
        """Kleene star ``self*``."""
        return self.repeat(0, None, budget)

    def plus(self, budget: int = DEFAULT_BUDGET) -> "ByteDFA":
        """``self+`` (one or more)."""
        return self.repeat(1, None, budget)

    def optional(self, budget: int = DEFAULT_BUDGET) -> "ByteDFA":
        """``self?`` (zero or one)."""
        return self.repeat(0, 1, budget)

    def repeat(self, min: int, max: int | None = None, budget: int = DEFAULT_BUDGET) -> "ByteDFA":
        """``self{min,max}``; ``max=None`` means unbounded."""
        if min < 0 or (max is not None and max < min):
            raise ValueError(f"bad repetition bounds {{{min},{max}}}")
        if max == 0 or self.is_epsilon():
            return ByteDFA._epsilon_like(self)
        if self.is_empty():
            return ByteDFA._epsilon_like(self) if min == 0 else self
        if min == 1 and max == 1:
            return self
        chain = self._repeat_chain(min, max, budget)
        if chain is not None:
            return chain
        nfa = NFA(self.n_symbols, budget)
        copies = (min + 1) if max is None else max
        bounds = f"{{{min},{'' if max is None else max}}}"
        if copies * (self.num_states + 1) > nfa.limit:
            raise CompileBudgetError(
                f"repetition {bounds} of a {self.num_states}-state DFA "
                f"exceeds the NFA budget of {nfa.limit} states", budget="states"
            )
        if self.accept[0] and copies > 1:
            # the body matches the empty string, so from the end of copy i every later copy's
            # start is an epsilon move away: the subset construction would cache closures of
            # about copies**2 / 2 members in all. Refuse now rather than after building them.
            implied = copies * (copies + 1) // 2
            if implied > _work_limit(budget):
                raise CompileBudgetError(
                    f"repetition {bounds} of a sub-pattern that matches the empty string implies "
                    f"{implied:,} subset members (work budget {_work_limit(budget):,})", budget="work")
            check_size(implied * _MEMBER_BYTES, f"repetition {bounds} of a sub-pattern matching the empty string")
        start = cur = nfa.add_state()
        for _ in range(min):
            s, e = nfa.add_dfa(self)
            nfa.add_eps(cur, s)
            cur = e
        final = nfa.add_state()
        nfa.add_eps(cur, final)
        if max is None:
            s, e = nfa.add_dfa(self)
            nfa.add_eps(cur, s)
            nfa.add_eps(e, s)
            nfa.add_eps(e, final)
        else:
            # nested optionals: each copy's end may stop or go on, so closures stay O(1)
            for _ in range(max - min):
                s, e = nfa.add_dfa(self)
                nfa.add_eps(cur, s)
                nfa.add_eps(e, final)
                cur = e
        return nfa.to_dfa(start, final, budget)

    def _repeat_chain(self, min: int, max: int | None, budget: int) -> "ByteDFA | None":
        """Direct construction of ``self{min,max}`` when ``self`` is prefix-free.

        If the only accepting state ``f`` has no outgoing transition (one character, a
        literal...), copies can be glued deterministically: copy ``i``'s ``f`` *is* copy
        ``i+1``'s start. That skips subset construction, which matters for ``{0,5000}``.
        """
        acc = np.flatnonzero(self.accept)
        if acc.size != 1 or acc[0] == 0 or (self._T[acc[0]] >= 0).any():
            return None
        f = int(acc[0])
        body = self._T.astype(np.int64)
        if (body == 0).any():
            # the start is re-entered inside the body: give each copy a fresh start state
            # (only the fresh one gets the "between repetitions" role and accept flag)
            body = np.concatenate([body[:1], body])
            body = np.where(body >= 0, body + 1, -1)
            f += 1
        S, C = body.shape
        q = S - 1  # states per copy (all but f)
        keep = np.array([s for s in range(S) if s != f])
        local = np.full(S + 1, -1, dtype=np.int64)  # local[-1] == -1
        local[keep] = np.arange(q)
        local[f] = q  # "next copy's start": offset q from this copy's start
        Tl = local[body[keep]]  # [q, C]
        copies = min + 1 if max is None else max
        total = copies * q + (0 if max is None else 1)
        if total > budget:
            raise CompileBudgetError(
                f"repetition {{{min},{'' if max is None else max}}} needs {total} states (budget {budget})",
                budget="states"
            )
        check_size(_table_bytes(total, C), f"repetition {{{min},{'' if max is None else max}}} ({total} states)")
        off = (np.arange(copies, dtype=np.int64) * q)[:, None, None]
        T = np.where(Tl[None] >= 0, Tl[None] + off, -1).reshape(copies * q, C)
        if max is None:
            last = slice((copies - 1) * q, copies * q)
            T[last] = np.where(T[last] == copies * q, (copies - 1) * q, T[last])  # loop back
            acc_arr = np.zeros(copies * q, dtype=bool)
            acc_arr[(copies - 1) * q] = True
        else:
            T = np.concatenate([T, np.full((1, C), -1, dtype=np.int64)])
            acc_arr = np.zeros(copies * q + 1, dtype=bool)
            acc_arr[np.arange(min, copies + 1) * q] = True
        return finalize(T, acc_arr, self._cmap)

    @staticmethod
    def _epsilon_like(d: "ByteDFA") -> "ByteDFA":
        return ByteDFA._make(np.full((1, 1), -1), np.ones(1, dtype=bool), np.zeros(d.n_symbols, dtype=np.int64))

    # -- boolean operations (products) ---------------------------------------------------------

    def intersect(self, other: "ByteDFA", budget: int = DEFAULT_BUDGET) -> "ByteDFA":
        """``self ∩ other``."""
        return _product(self, other, "and", budget)

    def difference(self, other: "ByteDFA", budget: int = DEFAULT_BUDGET) -> "ByteDFA":
        """``self \\ other``."""
        return _difference(self, other, budget)

    def symmetric_difference(self, other: "ByteDFA", budget: int = DEFAULT_BUDGET) -> "ByteDFA":
        """Strings in exactly one of the two languages."""
        return _product(self, other, "xor", budget)

    def complement(self, budget: int = DEFAULT_BUDGET) -> "ByteDFA":
        """All byte strings (over this DFA's alphabet) not in the language."""
        S, C = self._T.shape
        if S + 1 > budget:
            raise CompileBudgetError(f"complement exceeds {budget} states", budget="states")
        T = np.full((S + 1, C), S, dtype=np.int64)
        T[:S] = np.where(self._T >= 0, self._T, S)
        acc = np.append(~self.accept, True)
        return finalize(T, acc, self._cmap)

    def is_subset(self, other: "ByteDFA") -> bool:
        """Whether every string of ``self`` is in ``other``."""
        return self.difference(other).is_empty()


def _padded_cmap(d: ByteDFA, n_symbols: int) -> tuple[np.ndarray, np.ndarray]:
    """``(T, cmap)`` of ``d`` widened to ``n_symbols`` (extra symbols dead)."""
    if d.n_symbols == n_symbols:
        return d._T, d._cmap
    C = d._T.shape[1]
    T = np.concatenate([d._T, np.full((d._T.shape[0], 1), -1, dtype=d._T.dtype)], axis=1)
    cmap = np.concatenate([d._cmap, np.full(n_symbols - d.n_symbols, C, dtype=np.int64)])
    return T, cmap


def _joint(a: ByteDFA, b: ByteDFA):
    """Both transition tables over the joint symbol classes of ``a`` and ``b``.

    Returns ``(ta, tb, jc)``: ``ta`` [SA, J], ``tb`` [SB, J] and the joint class of each
    symbol (alphabets are padded to the wider one with dead symbols).
    """
    n = max(a.n_symbols, b.n_symbols)
    TA, ca = _padded_cmap(a, n)
    TB, cb = _padded_cmap(b, n)
    joint = ca * TB.shape[1] + cb
    _, first, jc = np.unique(joint, return_index=True, return_inverse=True)
    return TA[:, ca[first]].astype(np.int64), TB[:, cb[first]].astype(np.int64), jc


def _sparse_rows(t: np.ndarray) -> list[list[tuple[int, int]]]:
    """Per row, the ``(column, target)`` pairs with a live target (skips dead columns in loops)."""
    r, c = np.nonzero(t >= 0)
    v = t[r, c]
    ptr = np.searchsorted(r, np.arange(t.shape[0] + 1)).tolist()
    pairs = list(zip(c.tolist(), v.tolist()))
    return [pairs[ptr[i] : ptr[i + 1]] for i in range(t.shape[0])]


def _final_sink(d: ByteDFA) -> int | None:
    """The accepting state if it is the only one and has no transitions (prefix-free)."""
    acc = np.flatnonzero(d.accept)
    if acc.size == 1 and acc[0] != 0 and not (d._T[acc[0]] >= 0).any():
        return int(acc[0])
    return None


def _concat2(a: ByteDFA, b: ByteDFA, budget: int) -> ByteDFA:
    """``a · b`` directly on DFAs.

    If ``a`` is prefix-free (one accepting state, no way out of it) the two tables are glued
    (that state *becomes* ``b``'s start): no search at all. Otherwise a subset construction
    over pairs (state of ``a``, set of states of ``b``) -- ``a`` stays deterministic, so the
    sets hold only ``b`` states and big operands are never expanded into NFA edges.
    """
    ta, tb, jc = _joint(a, b)
    SA, SB = ta.shape[0], tb.shape[0]
    J = ta.shape[1]
    f = _final_sink(a)
    if f is not None:
        base = SA - 1
        if base + SB > budget:
            raise CompileBudgetError(f"concatenation exceeds {budget} states", budget="states")
        check_size(_table_bytes(base + SB, J), f"concatenation ({base + SB} states)")
        mapa = np.full(SA + 1, -1, dtype=np.int64)  # mapa[-1] == -1
        keep = np.array([s for s in range(SA) if s != f], dtype=np.int64)
        mapa[keep] = np.arange(base)
        mapa[f] = base  # b's start
        T = np.concatenate([mapa[ta[keep]], np.where(tb >= 0, tb + base, -1)])
        acc = np.concatenate([np.zeros(base, dtype=bool), b.accept])
        return finalize(T, acc, jc)
    rows_a = _sparse_rows(ta) + [[]]  # row -1: a is dead
    rows_b = _sparse_rows(tb)
    acc_a = a.accept.tolist() + [False]
    acc_b = b.accept.tolist()
    empty: frozenset[int] = frozenset()
    b0 = frozenset([0])
    start = (0, b0 if acc_a[0] else empty)
    index = {start: 0}
    states = [start]
    src: list[int] = []
    col: list[int] = []
    dst: list[int] = []
    i = 0
    work = 0
    budget = state_budget(budget, J * 8 * _TABLE_COPIES + _SET_BYTES + _INDEX_BYTES)
    work_limit = _work_limit(budget)
    next_check = _CHECK_EVERY
    while i < len(states):
        x, bs = states[i]
        work += len(bs) + 1
        if work > work_limit:
            raise CompileBudgetError(f"concatenation exceeds its work budget ({work_limit})", budget="work")
        if work >= next_check:
            next_check = work + _CHECK_EVERY
            check_size(work * _MEMBER_BYTES + len(states) * (_SET_BYTES + _INDEX_BYTES) + len(src) * _EDGE_BYTES
                       + _table_bytes(len(states), J), "concatenation")
            check_deadline()
        moves: dict[int, list] = {j: [t, None] for j, t in rows_a[x]}
        for y in bs:
            for j, t in rows_b[y]:
                m = moves.get(j)
                if m is None:
                    moves[j] = [-1, {t}]
                elif m[1] is None:
                    m[1] = {t}
                else:
                    m[1].add(t)
        for j, (x2, nb) in moves.items():
            if x2 >= 0 and acc_a[x2]:
                nb = b0 if nb is None else nb | b0
            key = (x2, frozenset(nb) if nb else empty)
            k = index.get(key)
            if k is None:
                k = len(states)
                if k >= budget:
                    raise CompileBudgetError(f"concatenation exceeds {budget} states", budget="states")
                index[key] = k
                states.append(key)
            src.append(i)
            col.append(j)
            dst.append(k)
        i += 1
    check_size(_table_bytes(len(states), J), f"a {len(states)}-state concatenation table")
    acc = np.array([any(acc_b[y] for y in bs) for _, bs in states], dtype=bool)
    T = _edge_table(len(states), J, src, col, dst)
    del states, index, rows_a, rows_b  # before finalize's copies
    return finalize(T, acc, jc)


def _number_pairs(keys: np.ndarray, index: dict, first: list, second: list, width: int) -> np.ndarray:
    """The state number of each pair key (``a * width + b``, ``keys`` sorted and distinct): its
    index in ``first`` / ``second``, a new pair appended there in key order, as a BFS level of a
    product meets them."""
    ids = []
    for key in keys.tolist():
        k = index.get(key)
        if k is None:
            k = index[key] = len(first)
            first.append(key // width)
            second.append(key % width)
        ids.append(k)
    return np.asarray(ids, dtype=np.int64)


def _product(a: ByteDFA, b: ByteDFA, op: str, budget: int) -> ByteDFA:
    """Product automaton of ``a`` and ``b`` accepting by ``op`` in and/or/diff/xor.

    Dead transitions become an explicit sink on each side (index ``S``) except for "and",
    where a dead side kills the pair; pairs that cannot accept under ``op`` are not
    explored. The BFS goes a level at a time: a narrow level (fewer than
    ``PRODUCT_LEVEL_MIN`` pair-columns: long chains) is a python loop over (pair, joint
    class); a wide one is expanded in numpy, every pair's row at once, with a python step
    only per distinct target pair (the loop cost 10% of the slowest compiles, part 2y).
    Both visit the same reachable pairs, so :func:`finalize` returns the same DFA.
    """
    n = max(a.n_symbols, b.n_symbols)
    # quick answers
    if op == "and" and (a.is_empty() or b.is_empty()):
        return ByteDFA._empty(n)
    if op == "diff" and (a.is_empty() or b.is_empty()):
        return a if b.is_empty() else ByteDFA._empty(n)
    if op in ("or", "xor") and (a.is_empty() or b.is_empty()):
        return b if a.is_empty() else a
    ta, tb, jc = _joint(a, b)
    SA, SB = ta.shape[0], tb.shape[0]
    J = ta.shape[1]
    # dead transitions go to an explicit sink (index S) on each side; the loops visit only
    # the columns that can matter for ``op`` (sparse rows), e.g. both sides live for "and"
    dA = np.concatenate([np.where(ta >= 0, ta, SA), np.full((1, J), SA)])
    dB = np.concatenate([np.where(tb >= 0, tb, SB), np.full((1, J), SB)])
    # the pair loop's rows as python lists (dense, and the live columns), made on first use:
    # converting both whole tables up front cost more than the numpy levels' own work
    da: dict[int, list[int]] = {}
    db: dict[int, list[int]] = {}
    sa: dict[int, list[tuple[int, int]]] = {}
    sb: dict[int, list[tuple[int, int]]] = {}

    def rows(d: np.ndarray, sink: int, dense: dict, sparse: dict, s: int) -> list[int]:
        r = dense.get(s)
        if r is None:
            r = dense[s] = d[s].tolist()
            sparse[s] = [(j, t) for j, t in enumerate(r) if t != sink]
        return r
    acc_a = a.accept.tolist() + [False]
    acc_b = b.accept.tolist() + [False]
    W = SB + 1
    budget = state_budget(budget, J * 8 * _TABLE_COPIES + _INDEX_BYTES)
    check_size((SA + SB + 2) * J * 8 * 2, "product operand tables")
    index = {0: 0}
    pa, pb = [0], [0]
    src: list[int] = []
    col: list[int] = []
    dst: list[int] = []
    blocks: list[tuple[int, np.ndarray]] = []  # (first pair, rows) of the levels done in numpy
    wide = PRODUCT_LEVEL_MIN
    lo = 0
    while lo < len(pa):
        hi = len(pa)
        if (hi - lo) * J >= wide:
            A = dA[pa[lo:hi]]
            B = dB[pb[lo:hi]]
            if op == "and":
                live = (A != SA) & (B != SB)
            elif op == "diff":
                live = A != SA
            else:
                live = (A != SA) | (B != SB)
            uk, inv = np.unique(A[live] * W + B[live], return_inverse=True)
            ids = _number_pairs(uk, index, pa, pb, W)
            if len(pa) > budget:
                raise CompileBudgetError(f"product automaton exceeds {budget} states", budget="states")
            R = np.full(A.shape, -1, dtype=np.int64)
            R[live] = ids[inv.reshape(-1)]
            blocks.append((lo, R))
            check_size(len(pa) * _INDEX_BYTES + (len(src) + int(inv.size)) * _EDGE_BYTES
                       + _table_bytes(len(pa), J), "product automaton")
            check_deadline()
            lo = hi
            continue
        for i in range(lo, hi):
            x0, y0 = pa[i], pb[i]
            ra = rows(dA, SA, da, sa, x0)
            rb = rows(dB, SB, db, sb, y0)
            if op == "and":
                moves = [(j, t, rb[j]) for j, t in sa[x0] if rb[j] != SB]
            elif op == "diff":
                moves = [(j, t, rb[j]) for j, t in sa[x0]]
            else:
                cols = {j for j, _ in sa[x0]}
                cols.update(j for j, _ in sb[y0])
                moves = [(j, ra[j], rb[j]) for j in cols]
            for j, x, y in moves:
                key = x * W + y
                k = index.get(key)
                if k is None:
                    k = len(pa)
                    if k >= budget:
                        raise CompileBudgetError(f"product automaton exceeds {budget} states", budget="states")
                    if not k & 4095:
                        check_size(k * _INDEX_BYTES + len(src) * _EDGE_BYTES + _table_bytes(k, J), "product automaton")
                        check_deadline()
                    index[key] = k
                    pa.append(x)
                    pb.append(y)
                src.append(i)
                col.append(j)
                dst.append(k)
        lo = hi
    check_size(_table_bytes(len(pa), J), f"a {len(pa)}-state product table")
    T = _edge_table(len(pa), J, src, col, dst)
    for lo, R in blocks:
        T[lo : lo + R.shape[0]] = R
    blocks.clear()
    xa = np.array([acc_a[x] for x in pa], dtype=bool)
    xb = np.array([acc_b[y] for y in pb], dtype=bool)
    del index, pa, pb, sa, sb, da, db  # before finalize's copies
    if op == "and":
        acc = xa & xb
    elif op == "or":
        acc = xa | xb
    elif op == "diff":
        acc = xa & ~xb
    elif op == "xor":
        acc = xa ^ xb
    else:
        raise ValueError(op)
    return finalize(T, acc, jc)


def _difference(a: ByteDFA, b: ByteDFA, budget: int) -> ByteDFA:
    """``a \\ b`` by a level-synchronous product that stops following ``b`` once it is dead.

    The usual case is a wide ``a`` (any string content, ~20 states) minus a narrow finite
    ``b`` (declared property names: a trie of hundreds of states). Pairs ``(x, y)`` with
    ``y`` live are explored a BFS level at a time with numpy (about one pair per trie state);
    once ``b`` is dead the remaining language is ``a``'s from ``x``, so those targets point
    into one appended copy of ``a``'s table instead of being explored pair by pair (the
    generic :func:`_product` walked every column of every pair in Python, the copy
    included). :func:`finalize` trims and minimizes as before, so the result is the same
    canonical DFA.
    """
    n = max(a.n_symbols, b.n_symbols)
    if a.is_empty() or b.is_empty():
        return a if b.is_empty() else ByteDFA._empty(n)
    ta, tb, jc = _joint(a, b)
    SA, SB = ta.shape[0], tb.shape[0]
    J = ta.shape[1]
    budget = state_budget(budget, J * 8 * _TABLE_COPIES + _INDEX_BYTES)
    check_size((SA + SB + 2) * J * 8 * 2, "product operand tables")
    index = {0: 0}  # key x * SB + y (y live) -> pair state
    px, py = [0], [0]
    rows: list[np.ndarray] = []
    lo = 0
    while lo < len(px):
        hi = len(px)
        X = np.asarray(px[lo:hi], dtype=np.int64)
        Y = np.asarray(py[lo:hi], dtype=np.int64)
        A = ta[X]
        B = tb[Y]
        # a dead: no move; b dead: a's own state x' in the copy, coded -2 - x' until the
        # number of pair states is known
        R = np.where(A >= 0, -2 - A, -1)
        both = (A >= 0) & (B >= 0)
        if both.any():
            keys = A[both] * SB + B[both]
            uk, inv = np.unique(keys, return_inverse=True)
            R[both] = _number_pairs(uk, index, px, py, SB)[inv]
        rows.append(R)
        if len(px) + SA > budget:
            raise CompileBudgetError(f"product automaton exceeds {budget} states", budget="states")
        check_size(len(px) * _INDEX_BYTES + _table_bytes(len(px) + SA, J), "product automaton")
        check_deadline()
        lo = hi
    P = len(px)
    rows.append(np.where(ta >= 0, ta + P, -1))
    T = np.concatenate(rows, dtype=np.int32 if P + SA < 2**31 - 1 else np.int64, casting="same_kind")
    rows.clear()  # int64 level rows: drop them (and the pair index) before finalize's copies
    index.clear()
    head = T[:P]
    np.copyto(head, P - 2 - head, where=head <= -2)
    acc_a = np.asarray(a.accept, dtype=bool)
    acc_b = np.asarray(b.accept, dtype=bool)
    PX = np.asarray(px, dtype=np.int64)
    PY = np.asarray(py, dtype=np.int64)
    acc = np.concatenate([acc_a[PX] & ~acc_b[PY], acc_a])
    return finalize(T, acc, jc)
