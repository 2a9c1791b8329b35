"""DFA minimization over class-compressed tables, and the array helpers it shares.

Pure numpy on ``T`` (int [S, C], ``-1`` dead) and accept vectors, no automaton objects:
states not reachable from any cycle (the long chains counted repetition builds) are merged
bottom-up by hashing their signatures, in linear time; the cyclic part gets partition
refinement -- a few vectorized Moore rounds, then Hopcroft's algorithm (adapted to partial
DFAs) if the partition is still moving. :func:`constrain.automata.dfa.finalize` calls it.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from ..budget import check_deadline

__all__ = ["acyclic_order", "bfs_mark", "column_ids", "csr", "edge_row_ids", "first_occurrence_order", "hopcroft", "minimize",
           "minimize_layered", "refine", "row_ids"]

MOORE_ROUNDS = 6
"""Vectorized Moore rounds tried before switching minimization to Hopcroft."""


def row_ids(m: np.ndarray) -> np.ndarray:
    """Id per row of ``m`` such that equal rows get equal ids (ids in sorted-row order)."""
    n = m.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if m.shape[1] == 1:
        _, inv = np.unique(m[:, 0], return_inverse=True)
        return inv.astype(np.int64, copy=False)
    order = np.lexsort(m.T[::-1])
    s = m[order]
    change = np.any(s[1:] != s[:-1], axis=1)
    ids_sorted = np.concatenate(([0], np.cumsum(change)))
    ids = np.empty(n, dtype=np.int64)
    ids[order] = ids_sorted
    return ids


_WEIGHTS = [np.zeros(0, dtype=np.int64)]


def _weights(n: int) -> np.ndarray:
    """``n`` fixed random hash weights (grown on demand, never recomputed per call)."""
    w = _WEIGHTS[0]
    if w.size < n:
        w = _WEIGHTS[0] = np.random.default_rng(12345).integers(1, 2**61, size=max(n, 4096, 2 * w.size),
                                                                 dtype=np.int64)
    return w[:n]


def column_ids(T: np.ndarray) -> np.ndarray:
    """Id per column of ``T`` such that equal columns get equal ids.

    Hash columns with random weights (one dot product), then confirm equal hashes
    exactly; much cheaper than sorting the columns when ``T`` is tall.
    """
    S, C = T.shape
    w = _weights(S)
    with np.errstate(over="ignore"):
        h = (w[:, None] * (T.astype(np.int64) + 2)).sum(axis=0)
    _, first, inv = np.unique(h, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    if np.array_equal(T, T[:, first[inv]]):
        # no collision (the usual case): number the distinct columns by first occurrence
        rank = np.empty(first.size, dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(first.size)
        return rank[inv]
    ids = np.full(C, -1, dtype=np.int64)
    nxt = 0
    by_hash: dict[int, list[int]] = {}
    for c, hv in enumerate(h.tolist()):
        for d in by_hash.get(hv, ()):
            if np.array_equal(T[:, c], T[:, d]):
                ids[c] = ids[d]
                break
        else:
            by_hash.setdefault(hv, []).append(c)
            ids[c] = nxt
            nxt += 1
    return ids


def first_occurrence_order(labels: np.ndarray, n_labels: int) -> np.ndarray:
    """Relabeling array ``r`` such that ``r[labels]`` numbers labels by first occurrence."""
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(first, kind="stable")
    r = np.empty(n_labels, dtype=np.int64)
    r[order] = np.arange(n_labels)
    return r


def csr(src: np.ndarray, dst: np.ndarray, n: int) -> tuple[list[int], list[int]]:
    """Adjacency lists (CSR as python lists) of the graph ``src -> dst`` on ``n`` nodes."""
    order = np.argsort(src, kind="stable")
    ptr = np.searchsorted(src[order], np.arange(n + 1))
    return ptr.tolist(), dst[order].tolist()


def bfs_mark(n: int, ptr: list[int], adj: list[int], sources: Iterable[int]) -> np.ndarray:
    """Bool mask of nodes reachable from ``sources``."""
    seen = [False] * n
    stack = []
    for s in sources:
        if not seen[s]:
            seen[s] = True
            stack.append(s)
    while stack:
        x = stack.pop()
        for k in range(ptr[x], ptr[x + 1]):
            y = adj[k]
            if not seen[y]:
                seen[y] = True
                stack.append(y)
    return np.array(seen, dtype=bool)


def acyclic_order(n: int, src: np.ndarray, dst: np.ndarray) -> list[int]:
    """The states of an ``n``-state graph (edges ``src -> dst``) not reachable from any
    cycle, in topological order: Kahn's peeling of in-degree-0 states. Fewer than ``n``
    exactly when the graph has a cycle (a trimmed DFA's language is then infinite)."""
    pair = np.unique(src * n + dst)
    esrc, edst = pair // n, pair % n
    indeg = np.bincount(edst, minlength=n).tolist()
    ptr, adj = csr(esrc, edst, n)
    order = [s for s in range(n) if indeg[s] == 0]
    i = 0
    while i < len(order):
        x = order[i]
        for k in range(ptr[x], ptr[x + 1]):
            y = adj[k]
            indeg[y] -= 1
            if indeg[y] == 0:
                order.append(y)
        i += 1
    return order


def minimize(T: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """Block id per state of the trimmed partial DFA ``T`` (Myhill-Nerode classes).

    States not reachable from any cycle (found by peeling in-degree-0 states, Kahn style)
    form an acyclic upstream part ``U``; the rest ``D`` is closed under transitions. ``D``
    is minimized by partition refinement, then ``U`` in reverse topological order by
    hashing each state's signature (accepting flag, classes of its successors) against the
    classes already known -- exact by induction, and linear on the long chains that
    counted repetition builds, where refinement would need one round per link.
    """
    n = T.shape[0]
    if n <= 1:
        return np.zeros(n, dtype=np.int64)
    check_deadline()
    src, cls = np.nonzero(T >= 0)
    dst = T[src, cls]
    order = acyclic_order(n, src, dst)
    blk = np.full(n, -1, dtype=np.int64)
    table: dict[tuple, int] = {}
    nb = 0
    if len(order) < n:
        d_states = np.ones(n, dtype=bool)
        d_states[order] = False
        didx = np.flatnonzero(d_states)
        remap = np.full(n + 1, -1, dtype=np.int64)
        remap[didx] = np.arange(didx.size)
        sub = refine(remap[T[didx]], acc[didx])
        blk[didx] = sub
        nb = int(sub.max()) + 1
        _, reps = np.unique(sub, return_index=True)
        reps = didx[reps]
    if order:
        # signatures over live edges only, (class, block) pairs in class order: the dense
        # rows (``T.tolist()`` and a C-wide key per block) cost S * C Python slots
        eptr = np.searchsorted(src, np.arange(n + 1)).tolist()
        clsl = cls.tolist()
        dstl = dst.tolist()
        accl = acc.tolist()
        bl = blk.tolist()

        def key(x: int) -> tuple:
            k = [accl[x]]
            for e in range(eptr[x], eptr[x + 1]):
                k.append(clsl[e])
                k.append(bl[dstl[e]])
            return tuple(k)

        for b, r in enumerate(reps.tolist() if nb else ()):
            table[key(r)] = b
        for x in reversed(order):
            k = key(x)
            b = table.get(k)
            if b is None:
                b = table[k] = nb
                nb += 1
            bl[x] = b
        blk = np.array(bl, dtype=np.int64)
    return blk


def minimize_layered(T: np.ndarray, acc: np.ndarray, known: np.ndarray, level: np.ndarray) -> np.ndarray | None:
    """Block id per state of the trimmed partial DFA ``T``, the partition of :func:`minimize`,
    when part of it is minimized already: ``known[s] >= 0`` is state ``s``'s block in a part
    closed under transitions (equal blocks there = equal languages), and every other state
    has a ``level`` such that each of its moves goes to a known state or to a lower level.
    ``None`` if two different signatures hashed alike (the caller then uses :func:`minimize`).

    Why: a product of a minimized DFA ``B`` with a finite trie of names (the keys of
    additional properties, :func:`constrain.tokens.lexeme_tables.difference_product`) is
    ``B``'s copy plus acyclic pairs whose levels come with the names' DFA: the copy needs no
    refinement, the pairs no Kahn peeling. A state's signature (accepting flag, block per
    class) is hashed as a sum of one random weight per class times the block; the moves into
    the known part (nearly all of a pair's: it leaves the names on every other byte) are
    summed in one numpy pass, and only the few moves between unknown states are added in
    Python, level by level. Equal signatures hash alike (so equal languages share a block,
    by induction over the levels); every block is then checked to hold one signature.
    """
    n, C = T.shape
    blk = np.append(np.asarray(known, dtype=np.int64), -1)  # blk[-1]: a dead move stays -1
    unknown = np.append(blk[:n] < 0, False)
    w = _weights(C + 1).view(np.uint64)
    inner = unknown[T]  # moves between unknown states (a dead move, T = -1, reads False)
    with np.errstate(over="ignore"):
        part = np.where(inner, np.uint64(0), w[1:][None, :] * (blk[T] + 2).astype(np.uint64))
        h = part.sum(axis=1, dtype=np.uint64) + w[0] * (np.asarray(acc, dtype=np.uint64) + np.uint64(1))
    hl = h.tolist()
    bl = blk.tolist()
    fixed = np.flatnonzero(~unknown[:n])
    table = dict(zip(h[fixed].tolist(), blk[fixed].tolist()))
    nb = int(blk.max()) + 1 if fixed.size else 0
    todo = np.flatnonzero(unknown[:n])
    if todo.size:
        todo = todo[np.argsort(np.asarray(level, dtype=np.int64)[todo], kind="stable")]
        src, col = np.nonzero(inner[todo])
        ptr = np.searchsorted(src, np.arange(todo.size + 1)).tolist()
        dst = T[todo[src], col].tolist()
        wl = w[1:][col].tolist()
        mask = (1 << 64) - 1
        for i, q in enumerate(todo.tolist()):
            x = hl[q]
            for k in range(ptr[i], ptr[i + 1]):
                b = bl[dst[k]]
                if b < 0:
                    raise ValueError("minimize_layered: a move to a state of the same or a higher level")
                x += wl[k] * (b + 2)
            x &= mask
            b = table.get(x)
            if b is None:
                b = table[x] = nb
                nb += 1
            bl[q] = b
    blk = np.asarray(bl, dtype=np.int64)
    sig = np.concatenate([np.asarray(acc, dtype=np.int64)[:, None], blk[T]], axis=1)
    first = np.full(nb, -1, dtype=np.int64)
    first[blk[:n][::-1]] = np.arange(n - 1, -1, -1)  # the first state of each block
    if not np.array_equal(sig, sig[first[blk[:n]]]):
        return None
    return blk[:n]


def edge_row_ids(n: int, ptr: np.ndarray, src: np.ndarray, cls: np.ndarray, val: np.ndarray,
                 head: np.ndarray) -> np.ndarray | None:
    """Id per state (``0 .. k-1``) of its signature ``(head[s], its edges' (cls, val) in order)``,
    from the edge list (``src`` sorted, ``ptr`` its CSR offsets), or ``None`` if two different
    signatures hashed alike (the caller then falls back to :func:`row_ids` on the dense rows).

    Why: :func:`row_ids` on ``[head, val per class]`` sorts an ``[S, C]`` int64 table and
    copies it several times -- 90 MB for a 16k-state, 104-class subset construction whose
    rows are 2% live. Here memory and time are O(S + E): one 64-bit hash per state (sum over
    its edges of a random weight per class times the value, which is exact-checked)."""
    w = _weights(2 * int(cls.max(initial=0)) + 4).view(np.uint64)
    with np.errstate(over="ignore"):
        he = w[2 * cls + 2] * (val.astype(np.uint64) + np.uint64(3)) + w[2 * cls + 3]
        cs = np.concatenate((np.zeros(1, dtype=np.uint64), np.cumsum(he, dtype=np.uint64)))
        h = cs[ptr[1:]] - cs[ptr[:-1]] + w[0] * (head.astype(np.uint64) + np.uint64(1))
    _, first, ids = np.unique(h, return_index=True, return_inverse=True)
    ids = ids.reshape(-1).astype(np.int64, copy=False)
    rep = first[ids]
    deg = np.diff(ptr)
    if not (np.array_equal(deg, deg[rep]) and np.array_equal(head, head[rep])):
        return None
    er = ptr[rep[src]] + (np.arange(src.size) - ptr[src])  # the representative's matching edge
    if not (np.array_equal(cls, cls[er]) and np.array_equal(val, val[er])):
        return None
    return ids


def refine(T: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """Partition refinement: vectorized Moore rounds, then Hopcroft if still moving.

    The rounds hash each state's live edges (:func:`edge_row_ids`, O(edges)) rather than
    sorting dense ``[S, C]`` rows, which are mostly dead in big subset constructions."""
    n = T.shape[0]
    if n <= 1:
        return np.zeros(n, dtype=np.int64)
    src, cls = np.nonzero(T >= 0)
    dst = T[src, cls]
    ptr = np.searchsorted(src, np.arange(n + 1))
    accl = acc.astype(np.int64)
    blk = edge_row_ids(n, ptr, src, cls, np.zeros_like(dst), accl)
    if blk is None:
        key = np.concatenate([accl[:, None], (T >= 0).astype(np.int64)], axis=1)
        blk = row_ids(key)
    nb = int(blk.max()) + 1
    for _ in range(MOORE_ROUNDS):
        if nb == n:
            return blk
        new = edge_row_ids(n, ptr, src, cls, blk[dst], blk)
        if new is None:
            bx = np.append(blk, -1)  # bx[-1] == -1 keeps dead transitions dead
            new = row_ids(np.concatenate([blk[:, None], bx[T]], axis=1))
        nn = int(new.max()) + 1
        blk = new
        if nn == nb:
            return blk
        nb = nn
    return hopcroft(T, blk, nb)


def hopcroft(T: np.ndarray, blk0: np.ndarray, nb: int) -> np.ndarray:
    """Hopcroft refinement of partition ``blk0`` for a partial DFA.

    With missing transitions there is no implicit sink block, so every initial block starts
    in the worklist (Valmari & Lehtinen); afterwards the classic "add the smaller half" rule
    applies. Splitting a block costs only the number of its marked states.
    """
    n = T.shape[0]
    src, cls = np.nonzero(T >= 0)
    dst = T[src, cls]
    order = np.lexsort((cls, dst))
    ptr = np.searchsorted(dst[order], np.arange(n + 1)).tolist()
    preds = src[order].tolist()
    pcls = cls[order].tolist()
    blk = blk0.tolist()
    by_block = np.argsort(blk0, kind="stable")
    bounds = np.searchsorted(blk0[by_block], np.arange(nb + 1)).tolist()
    members = by_block.tolist()
    blocks: list[set[int]] = [set(members[bounds[b] : bounds[b + 1]]) for b in range(nb)]
    work = list(range(nb))
    inwork = [True] * nb
    while work:
        b = work.pop()
        inwork[b] = False
        split_by: dict[int, list[int]] = {}
        for t in blocks[b]:
            for k in range(ptr[t], ptr[t + 1]):
                c = pcls[k]
                lst = split_by.get(c)
                if lst is None:
                    split_by[c] = [preds[k]]
                else:
                    lst.append(preds[k])
        for ps in split_by.values():
            touched: dict[int, list[int]] = {}
            for p in ps:
                bp = blk[p]
                lst = touched.get(bp)
                if lst is None:
                    touched[bp] = [p]
                else:
                    lst.append(p)
            for bp, marked in touched.items():
                whole = blocks[bp]
                if len(marked) == len(whole):
                    continue
                new_id = len(blocks)
                moved = set(marked)
                whole.difference_update(moved)
                blocks.append(moved)
                for p in marked:
                    blk[p] = new_id
                if inwork[bp] or len(moved) <= len(whole):
                    work.append(new_id)
                    inwork.append(True)
                else:
                    work.append(bp)
                    inwork[bp] = True
                    inwork.append(False)
    return np.array(blk, dtype=np.int64)
