"""Tree drafts: sibling candidates at the first undrafted position, verified in the same pass.

Why: on a CPU a model pass over 4-12 new tokens costs little more than one over 1 (SmolLM2,
one thread: 54 ms for 1, 79 for 4, 91 for 8), and about a third of the passes of a MaskBench
run carry no draft at all (digits of free numbers, whitespace, words of free strings), so
their spare slots held masked-out padding.  Filled with a few *alternatives* for the token
after the draft (the siblings), the pass also computes the law after each of them: when the
target's token there is one of the siblings, the pass yields one more token.

Verification stays exact and simple because every node is a point mass: at each node the
verifier draws the target's token (greedy: its masked argmax) and follows the child equal to
it, if any (:func:`~decode.speculative.verify.verify_tree_sampled`), which is sequential masked
sampling with some laws computed ahead.  In the model pass each node attends to the
committed text and its own ancestors and takes the position id of its depth
(:func:`ancestor_mask`; ``HFCausalLM.forward``'s ``parents``); rollback keeps only the kept
path's cache columns (``HFCausalLM.forget``).
"""

from __future__ import annotations

import numpy as np

from constrain.tokens.bitmask import bits_at, count_bits

__all__ = ["SiblingDraft", "add_siblings", "ancestor_mask", "chunk_parents", "depths"]


class SiblingDraft:
    """Up to ``width`` alternative tokens for one position, each legal there.

    Where the mask allows at most ``width`` tokens (``,`` or ``}`` after a value, a short
    enum), all of them; else the model's top candidates after the previous token from earlier
    passes (token recycling's table, ``recycler``), filtered by the mask, best first.  Tokens
    in ``eos`` and ids the constraint reads as its end are left out (the loop ends a row
    there), as in the :class:`~decode.speculative.drafts.Drafter`."""

    name = "siblings"

    def __init__(self, width: int, recycler, eos: frozenset):
        self.width = width
        self.recycler = recycler
        self.eos = eos

    def candidates(self, walker, history: list) -> list[int]:
        """Legal candidates after ``history``, best guesses first (repeats allowed)."""
        mask = np.asarray(walker.mask())
        if count_bits(mask) <= self.width:
            bits = np.unpackbits(np.ascontiguousarray(mask).view(np.uint8), bitorder="little")
            return np.flatnonzero(bits).tolist()
        if not history:
            return []
        out = []
        ranked = None if self.recycler is None else self.recycler.table.get(int(history[-1]))
        if ranked is not None:
            out = [t for t in ranked.tolist() if walker.is_allowed(t)]
        # then what followed the same token earlier in the prompt or output, latest first
        h = np.asarray(history, dtype=np.int64)
        nxt = h[np.flatnonzero(h[:-1] == h[-1]) + 1][::-1]
        nxt = nxt[nxt < 32 * len(mask)]
        if len(nxt):
            nxt = nxt[bits_at(mask, nxt)]
            _, first = np.unique(nxt, return_index=True)
            out += nxt[np.sort(first)].tolist()
        return out

    def propose(self, walker, history: list, exclude: int | None = None) -> tuple[list[int], list[np.ndarray]]:
        """``(tokens, masks)``: the siblings at ``walker``'s position after ``history`` (the
        walker is left as it was; ``exclude``: a token already drafted there) and the
        constraint's mask after each (the law verified at that node)."""
        tokens: list[int] = []
        masks: list[np.ndarray] = []
        for t in self.candidates(walker, history):
            if len(tokens) >= self.width:
                break
            if t == exclude or t in tokens or t in self.eos or not walker.advance(t):
                continue
            if not walker.is_finished():
                tokens.append(int(t))
                masks.append(walker.mask())
            walker.rollback(1)
        return tokens, masks


def add_siblings(draft, siblings: SiblingDraft, walker, history: list) -> None:
    """Make ``draft`` (a chain from the :class:`~decode.speculative.drafts.Drafter`, drafted at
    ``walker`` after ``history``) a tree in place: siblings at its first position, children
    of the root (alternatives to the chain's first token, or, with no chain, the guesses for
    the position the pass would otherwise leave undrafted).

    Why at the root and not after the chain: measured on the 30 MaskBench greedy outputs
    (docs/benchmarks.md, session 13), siblings after the chain mostly take a token the next
    pass's chain would have drafted anyway (704 -> 673 passes), while alternatives to a
    rejected first token save more (704 -> 653)."""
    n = len(draft.tokens)
    if n:
        tokens, masks = siblings.propose(walker, history, exclude=draft.tokens[0])
    else:
        tokens, masks = siblings.propose(draft.end, history)
    if not tokens:
        return
    draft.parents = list(range(-1, n - 1)) + [-1] * len(tokens)
    draft.tokens = draft.tokens + tokens
    draft.sources = draft.sources + [siblings.name] * len(tokens)
    draft.masks = np.concatenate([draft.masks, np.stack(masks)])


def chunk_parents(pending: int, parents) -> list[int]:
    """The parent column of each column of a row's chunk: ``pending`` committed tokens (each
    after the one before; the first after the cache) then the draft nodes (node ``j`` after
    node ``parents[j]``, or after the last committed token for -1).  -1: the cache."""
    cols = list(range(-1, pending - 1))
    cols += [pending + p if p >= 0 else pending - 1 for p in parents]
    return cols


def ancestor_mask(parent_cols: np.ndarray) -> np.ndarray:
    """``[B, k, k]`` bool: chunk column ``q`` sees column ``c`` iff ``c`` is ``q`` or one of its
    ancestors (``parent_cols`` ``[B, k]``; a parent precedes its child, -1 is the cache)."""
    B, k = parent_cols.shape
    seen = np.zeros((B, k, k), dtype=bool)
    rows = np.arange(B)
    for q in range(k):
        p = parent_cols[:, q]
        has = p >= 0
        seen[rows[has], q] = seen[rows[has], p[has]]
        seen[:, q, q] = True
    return seen


def depths(parent_cols: np.ndarray) -> np.ndarray:
    """``[B, k]``: each chunk column's depth below the cache (1 for a column after the cache)."""
    B, k = parent_cols.shape
    d = np.zeros((B, k), dtype=np.int64)
    rows = np.arange(B)
    for q in range(k):
        p = parent_cols[:, q]
        d[:, q] = np.where(p >= 0, d[rows, np.maximum(p, 0)] + 1, 1)
    return d
