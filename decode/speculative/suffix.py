"""``SuffixStore`` and ``SuffixDraft``: drafts from earlier generations (SuffixDecoding).

Why: the positions where no source of a request has a guess (no forced bytes, no match in the
prompt or the output so far) are often text that *earlier* outputs wrote: the same spelling of
a key's value, a common word, the spacing a model puts between fields.  A store shared across
requests (a server keeps one per model) remembers finished outputs' token ids and proposes the
continuation of the longest suffix of the current history that it has seen (Oliaro et al.
2024, SuffixDecoding; vLLM's ``suffix`` speculative method).  A draft is a function of the past,
so the output law is unchanged (ALGORITHMS.md 3.2); only how many tokens a pass yields moves.

The store is one flat ``int32`` array of sequences separated by ``-1`` plus its positions sorted
by token, rebuilt on each :meth:`SuffixStore.add` (one ``argsort`` per finished output), so a
lookup is vectorized: the occurrences of the history's last token, their match lengths
backwards (at most ``max_match`` columns), the legal next tokens by the mask's bits.  Bounded:
past ``max_tokens`` the oldest sequences are dropped.
"""

from __future__ import annotations

import threading
from typing import Sequence

import numpy as np

from constrain.tokens.bitmask import bits_at

__all__ = ["SuffixDraft", "SuffixStore"]

_SEP = -1


class SuffixStore:
    """Earlier generations' token ids, bounded, for :class:`SuffixDraft` to draft from.

    ``max_tokens``: most tokens kept (the oldest sequences go first); ``max_match``: the longest
    suffix of the history compared.  :meth:`add` is called with each finished output
    (``decode.generate`` does it for ``Speculation(history=store)``, the server for its own
    store); lookups see only what was added before they run, so a request never drafts from
    its own output through the store (it has prompt lookup for that).  Thread-safe.
    """

    def __init__(self, max_tokens: int = 100_000, max_match: int = 8):
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise ValueError(f"max_tokens must be an integer >= 1, got {max_tokens!r}")
        if isinstance(max_match, bool) or not isinstance(max_match, int) or max_match < 1:
            raise ValueError(f"max_match must be an integer >= 1, got {max_match!r}")
        self.max_tokens = max_tokens
        self.max_match = max_match
        self._seqs: list[np.ndarray] = []
        self._n = 0
        self._lock = threading.Lock()
        self._index = (np.zeros(1, np.int32) + _SEP, np.zeros(0, np.int64), np.zeros(0, np.int32))

    def __len__(self) -> int:
        """Tokens held (separators not counted)."""
        return self._n

    @property
    def sequences(self) -> int:
        return len(self._seqs)

    def add(self, tokens: Sequence[int]) -> None:
        """Remember one finished output (empty ones are ignored; one longer than ``max_tokens``
        keeps its last ``max_tokens`` tokens)."""
        seq = np.asarray(tokens, dtype=np.int64)
        seq = seq[seq >= 0][-self.max_tokens:].astype(np.int32)
        if not len(seq):
            return
        with self._lock:
            self._seqs.append(seq)
            self._n += len(seq)
            while self._n > self.max_tokens:
                self._n -= len(self._seqs.pop(0))
            # the flat array starts and ends with a separator, so a match never runs off an end
            parts = [np.full(1, _SEP, np.int32)]
            for s in self._seqs:
                parts += [s, np.full(1, _SEP, np.int32)]
            flat = np.concatenate(parts)
            order = np.argsort(flat, kind="stable")  # positions by token, ascending within a token
            self._index = (flat, order, flat[order])

    def continuation(self, history: Sequence[int], mask: np.ndarray, k: int) -> list[int]:
        """Up to ``k`` tokens that followed the longest stored match of ``history``'s suffix,
        among the occurrences whose next token the packed ``mask`` allows; among matches of
        that length, the next token seen most often there, then its latest occurrence.
        ``[]`` when the history's last token was never followed by a legal one."""
        flat, order, by_token = self._index
        if k < 1 or not len(history) or len(flat) < 3:
            return []
        last = int(history[-1])
        lo, hi = np.searchsorted(by_token, [last, last + 1])
        if lo == hi:
            return []
        occ = order[lo:hi]                    # positions of the history's last token
        nxt = flat[occ + 1]                   # what followed each (a separator at an end)
        words = np.asarray(mask).view(np.uint32)
        ok = (nxt >= 0) & (nxt < 32 * len(words))
        ok &= bits_at(words, np.where(ok, nxt, 0))
        occ, nxt = occ[ok], nxt[ok]
        if not len(occ):
            return []
        # match length backwards: 1 + how many earlier tokens agree with the history's
        length = np.ones(len(occ), dtype=np.int64)
        alive = np.ones(len(occ), dtype=bool)
        h = np.asarray(history[-self.max_match:], dtype=np.int64)
        for j in range(2, len(h) + 1):
            alive &= flat[np.maximum(occ - (j - 1), 0)] == h[-j]
            alive &= occ - (j - 1) >= 0
            if not alive.any():
                break
            length += alive
        best = length == length.max()
        occ, nxt = occ[best], nxt[best]
        tokens, counts = np.unique(nxt, return_counts=True)
        top = tokens[counts == counts.max()]
        pick = np.isin(nxt, top)
        start = int(occ[pick].max()) + 1      # the latest occurrence of a most frequent next token
        out = flat[start:start + k]
        stop = np.flatnonzero(out < 0)
        return (out[:stop[0]] if len(stop) else out).tolist()


class SuffixDraft:
    """The draft source over a :class:`SuffixStore` (``Speculation(history=store)``: asked
    after prompt lookup, so it fills the positions the request's own text has no guess for)."""

    name = "suffix"

    def __init__(self, store: SuffixStore):
        self.store = store

    def propose(self, context, k: int) -> list[int]:
        return self.store.continuation(context.history, context.walker.mask(), k)
