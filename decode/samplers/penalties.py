"""Frequency and presence penalties (OpenAI's and vLLM's meaning).

Why: small models under a constraint loop inside unbounded strings and arrays when the token
they prefer is not allowed; lowering the logits of tokens a row already generated breaks such
loops, and the constraint's forced tokens are unaffected.  The prompt does not count.
"""

from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["RepetitionPenalties"]


class RepetitionPenalties:
    """Per-row counts of generated tokens; each logit drops by ``frequency * count`` plus
    ``presence`` if the count is not zero."""

    def __init__(self, frequency: float, presence: float, batch_size: int):
        self.frequency = float(frequency)
        self.presence = float(presence)
        self.batch_size = batch_size
        self.counts: torch.Tensor | None = None  # [B, V] float32, made on the first step

    def apply(self, logits: torch.Tensor, rows: Sequence[int]) -> torch.Tensor:
        """The penalized float32 logits of ``rows`` (``logits`` holds exactly those rows)."""
        if self.counts is None:
            self.counts = torch.zeros((self.batch_size, logits.shape[1]), dtype=torch.float32, device=logits.device)
        c = self.counts
        if len(rows) != self.batch_size:
            c = c.index_select(0, torch.tensor(list(rows), dtype=torch.long, device=c.device))
        return logits.float() - self.frequency * c - self.presence * (c > 0).float()

    def observe(self, rows: Sequence[int], tokens: Sequence[int]) -> None:
        """Count ``tokens[j]`` as generated in row ``rows[j]``."""
        dev = self.counts.device
        self.counts.index_put_((torch.tensor(list(rows), dtype=torch.long, device=dev),
                                torch.tensor(list(tokens), dtype=torch.long, device=dev)),
                               torch.ones(len(tokens), device=dev), accumulate=True)
