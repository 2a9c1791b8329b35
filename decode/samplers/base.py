"""The sampler protocol and the reference masked sampler.

Why a protocol: the loop stays one loop while sampling strategies multiply (rejection
sampling that checks single tokens before building a mask, particles that resample rows);
each gets the same three things per step and returns one token per row.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import torch

from ..kernels import masked_sample
from .penalties import RepetitionPenalties

__all__ = ["MaskedSampler", "Sampler"]


class Sampler(Protocol):
    """Chooses the next token of each running row."""

    def step(self, logits: torch.Tensor, mask: torch.Tensor, rows: Sequence[int]) -> list[int]:
        """``logits`` ``[n, V]`` and ``mask`` ``[n, n_words]`` (int32 bitmask, on the logits'
        device) of the ``n`` running rows, whose batch indices are ``rows``; one token per row."""
        ...


class MaskedSampler:
    """Temperature (0 = greedy), top-k and top-p sampling among the tokens the mask allows.

    ``generator`` makes it reproducible; ``penalties`` (frequency / presence), when given,
    lower the logits of tokens each row already generated, before the mask applies.
    """

    def __init__(self, *, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                 generator: torch.Generator | None = None, penalties: RepetitionPenalties | None = None):
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        self.generator = generator
        self.penalties = penalties

    def step(self, logits: torch.Tensor, mask: torch.Tensor, rows: Sequence[int]) -> list[int]:
        if self.penalties is not None:
            logits = self.penalties.apply(logits, rows)
        toks = masked_sample(logits, mask, self.temperature, self.top_k, self.top_p, self.generator).tolist()
        if self.penalties is not None:
            self.penalties.observe(rows, toks)
        return toks
