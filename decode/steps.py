"""What one pass of the decoding loop does: emit at least one token per running row.

Why a protocol: the loop in :mod:`decode.loop` owns the order of things (model pass, emit,
advance the matchers, stop rows) and must not branch per strategy.  A step gets the logits
of the last pass and returns each running row's new tokens, then says what the next pass
feeds.  :class:`TokenStep` is the reference (one token per row per pass, drawn by a
:class:`~decode.samplers.Sampler`); ``decode.speculative.SpeculativeStep`` drafts several
tokens, feeds them in the same pass and keeps those the target verifies.

A step may also own the pass's output layer (``head(hidden, weight)``, see
``decode.lm.HFCausalLM.forward``): :class:`TokenStep` with ``legal_head=True`` computes only
the logits of the ids the next position's masks allow (:mod:`decode.legal_head`), since its
sampler reads nothing else.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import torch

from .legal_head import legal_logits_at

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
    """One token per running row per pass: the sampler's draw from the last position's logits.

    ``masks`` (the loop's ``BatchMask``) and ``legal_head=True``: the next pass's output
    layer computes only the ids some running row's mask allows, when they are few
    (:func:`~decode.legal_head.legal_logits_at`).  The masks are known before that pass (each is
    filled as its row takes a token), and the masked sampler reads the allowed logits only.
    """

    def __init__(self, sampler, pad: int, masks=None, legal_head: bool = False):
        self.sampler = sampler
        self.pad = pad
        self.masks = masks
        self.legal_head = bool(legal_head) and masks is not None
        self._active: list[int] = []
        self.narrow_passes = 0  # passes whose output layer took the allowed ids only

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
        self._active = list(active)
        return nxt, None

    def head(self, hidden: torch.Tensor, weight: torch.Tensor) -> torch.Tensor | None:
        """The output layer of the next pass (``HFCausalLM.forward``'s ``head``): for each
        running row whose mask allows few ids, only the logits of those (of the ids such rows
        allow together), -inf elsewhere; every logit for the other rows; None (every logit)
        when no row's mask is narrow or ``legal_head`` is off."""
        if not self.legal_head or not self._active:
            return None
        m = self.masks.array
        sub = m if len(self._active) == m.shape[0] else m[self._active]
        out = legal_logits_at(hidden, weight, self._active, [hidden.shape[1] - 1] * len(self._active), sub)
        self.narrow_passes += out is not None
        return out

    def row_stats(self, i: int) -> dict:
        return {"drafted": 0, "accepted": 0}
