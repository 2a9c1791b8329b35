"""One bitmask buffer for a batch: each constrained row filled from its matcher.

Why: the masks of all rows go to the device in one copy (from pinned memory on CUDA) and into
one fused mask+sample kernel; rows whose vocabulary is narrower than the buffer, and rows
without a constraint (every id the tokenizer can decode), are filled here so the loop does not
have to care.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["BatchMask", "eos_mask", "prefix_mask"]


def eos_mask(vocab, n_words: int) -> np.ndarray:
    """Bitmask words with exactly the vocabulary's EOS ids set."""
    m = np.zeros(n_words, dtype=np.uint32)
    for t in np.asarray(vocab.eos_ids).tolist():
        if t < n_words * 32:
            m[t >> 5] |= np.uint32(1 << (t & 31))
    return m.view(np.int32)


def prefix_mask(n: int, n_words: int) -> np.ndarray:
    """Bitmask words allowing exactly tokens [0, n)."""
    m = np.zeros(n_words, dtype=np.uint32)
    full, rem = divmod(n, 32)
    m[:full] = 0xFFFFFFFF
    if rem:
        m[full] = (1 << rem) - 1
    return m.view(np.int32)


class BatchMask:
    """``[B, n_words]`` int32 bitmask; ``tensor`` (pinned on CUDA) and ``array`` share memory.

    ``n_words`` is the widest constrained row's (or the logits width's, unconstrained).
    Unconstrained rows stay at their initial value: all ones, or, when the tokenizer has
    fewer ids than the buffer, the ids it has (the embedding's padding rows never decode).
    """

    def __init__(self, vocabs, *, width: int, n_tokenizer: int | None, device: torch.device):
        self.n_words = max([v.n_words for v in vocabs if v is not None] or [(width + 31) // 32])
        masks = torch.full((len(vocabs), self.n_words), -1, dtype=torch.int32)
        if n_tokenizer is not None and n_tokenizer < self.n_words * 32:
            masks[:, :] = torch.from_numpy(prefix_mask(min(n_tokenizer, width), self.n_words))
        if device.type == "cuda":
            masks = masks.pin_memory()
        self.tensor = masks
        self.array = masks.numpy()
        self._eos_only: dict[int, np.ndarray] = {}

    def fill(self, i: int, matcher, vocab) -> None:
        """Row ``i`` := the tokens ``matcher`` allows next."""
        if vocab.n_words == self.n_words:
            matcher.fill_mask(self.array, i)
        else:
            tmp = np.zeros((1, vocab.n_words), dtype=np.int32)
            matcher.fill_mask(tmp, 0)
            self.array[i, :] = 0
            k = min(self.n_words, vocab.n_words)
            self.array[i, :k] = tmp[0, :k]

    def only_eos(self, i: int, vocab) -> bool:
        """True if row ``i`` allows nothing but EOS ids (call after :meth:`fill`)."""
        m = self._eos_only.get(i)
        if m is None:
            m = self._eos_only[i] = eos_mask(vocab, self.n_words)
        return not np.any(self.array[i] & ~m)
