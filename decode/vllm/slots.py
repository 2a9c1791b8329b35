"""Output ids of requests in vLLM's V2 model runner, read from its device buffers.

Why: the V2 runner keeps no Python list of a request's outputs for logits processors; committed
ids are in ``req_states.all_token_ids[slot]`` (the prompt first, valid up to
``req_states.total_len[slot]``, both on the device, updated after each sampling step) and the
prompt's length in ``req_states.prompt_len.np`` on the host.  ``SlotOutputs`` keeps one list per
slot and appends what is new, for every constrained slot of a step at once: two small device
reads, only in steps with a constrained request.  A request that resumes after preemption
re-enters through ``reset`` and finds its earlier outputs in the buffer, so they are read too.
No vLLM import: the buffers are plain tensors here.
"""

from __future__ import annotations

import torch

__all__ = ["SlotOutputs"]


class SlotOutputs:
    """Per-slot output lists mirrored from a V2 runner's ``LogitsProcRequestState``."""

    def __init__(self, req_states):
        self.req_states = req_states
        self.outputs: dict[int, list[int]] = {}

    def reset(self, slot: int) -> list[int]:
        """A new request took ``slot``: its (empty) list, to be filled by :meth:`read`."""
        out: list[int] = []
        self.outputs[slot] = out
        return out

    def drop(self, slot: int) -> None:
        self.outputs.pop(slot, None)

    def read(self, slots: list[int]) -> None:
        """Append each slot's committed output ids that its list does not hold yet."""
        if not slots:
            return
        rs = self.req_states
        all_ids, total_len = rs.all_token_ids.gpu, rs.total_len.gpu
        idx = torch.tensor(slots, dtype=torch.long, device=total_len.device)
        total = total_len.index_select(0, idx).tolist()  # stream-ordered after the last step's update
        start = [int(rs.prompt_len.np[s]) + len(self.outputs[s]) for s in slots]
        new = [t - b for t, b in zip(total, start)]
        k = max(new)
        if k <= 0:
            return
        cols = (torch.tensor(start, dtype=torch.long)[:, None] + torch.arange(k)).clamp_(max=all_ids.shape[1] - 1)
        ids = all_ids[idx.to(all_ids.device)[:, None], cols.to(all_ids.device)].tolist()
        for s, n, row in zip(slots, new, ids):
            if n > 0:
                self.outputs[s].extend(int(t) for t in row[:n])
