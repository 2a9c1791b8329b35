"""What one pass of the decoding loop does: emit at least one token per running row.

Why a protocol: the loop in :mod:`decode.loop` owns the order of things (model pass, emit,
advance the matchers, stop rows) and must not branch per strategy.  A step gets the logits
of the last pass and returns each running row's new tokens, then says what the next pass
feeds.  :class:`TokenStep` is the reference (one token per row per pass, drawn by a
:class:`~decode.samplers.Sampler`); ``decode.speculative.SpeculativeStep`` drafts several
tokens, feeds them in the same pass and keeps those the target verifies.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import torch

__all__ = ["DecodingStep", "TokenStep"]


class DecodingStep(Protocol):
    """A strategy of the loop; rows are the loop's rows (``token_ids``, ``done``, ``matcher``)."""

    def emit(self, logits: torch.Tensor, rows: Sequence, active: Sequence[int], masks) -> dict[int, list[int]]:
        """``logits`` ``[B, k, V]`` of the last pass (the prefill gives ``k = 1``); ``masks``
        (a ``BatchMask``) holds each row's mask at its committed state.  Each running row's
        new tokens (at least one; the loop stops taking them when the row ends)."""
        ...

    def feed(self, rows: Sequence, active: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(ids [B, k], valid [B, k] or None)`` for the next pass (``HFCausalLM.forward``)."""
        ...

    def row_stats(self, i: int) -> dict:
        """Row ``i``'s ``drafted`` / ``accepted`` counts (and whatever else the step measures)."""
        ...


class TokenStep:
    """One token per running row per pass: the sampler's draw from the last position's logits."""

    def __init__(self, sampler, pad: int):
        self.sampler = sampler
        self.pad = pad

    def emit(self, logits, rows, active, masks):
        last = logits[:, -1, :]
        if len(active) == len(rows):
            sub_logits, sub_mask = last, masks.tensor
        else:
            idx = torch.tensor(list(active), dtype=torch.long)
            sub_logits = last.index_select(0, idx.to(last.device))
            sub_mask = masks.tensor.index_select(0, idx)
        toks = self.sampler.step(sub_logits, sub_mask.to(last.device, non_blocking=True), list(active))
        return {i: [t] for i, t in zip(active, toks)}

    def feed(self, rows, active):
        nxt = torch.full((len(rows), 1), self.pad, dtype=torch.long)
        for i, r in enumerate(rows):
            if r.token_ids and not r.done:
                nxt[i, 0] = r.token_ids[-1]
        return nxt, None

    def row_stats(self, i: int) -> dict:
        return {"drafted": 0, "accepted": 0}
