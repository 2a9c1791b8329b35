"""The adapter for vLLM 0.33's V2 model runner: ``StructgenLogitsProcessorV2``.

Why a second adapter: vLLM 0.33 runs its V2 model runner by default where Triton is available,
and that runner takes only processors of its own interface
(``vllm.v1.worker.gpu.sample.logits_processor``): requests live in recycled *slots*
(``add_request(slot, params)``, no removal), each step's logits rows are laid out anew
(``ctx.idx_mapping_np``: row -> slot), and committed tokens are on the device
(``req_states.all_token_ids`` up to ``total_len``) rather than in a Python list.  This class
copies each constrained slot's new tokens to the host once per step (two small device reads,
only when a constrained request is in the batch) into its own output lists, and hands the rest
to the same :class:`~decode.vllm.ConstrainedRows` as the V1 adapter, keyed by slot.
Importing this module imports vLLM's (import-light) V2 interface module.
"""

from __future__ import annotations

import torch
from vllm.v1.worker.gpu.sample.logits_processor import LogitsProcessor

from .processor import load_vocabulary
from .rows import ConstrainedRows
from .spec import check_spec, spec_from_extra_args

__all__ = ["StructgenLogitsProcessorV2"]


class StructgenLogitsProcessorV2(LogitsProcessor):
    """structgen constraints for vLLM's V2 model runner (vLLM 0.33's default on CUDA).

    ``LLM(..., logits_processors=["decode.vllm:StructgenLogitsProcessorV2"])``; the request side
    is the same as :class:`~decode.vllm.StructgenLogitsProcessor`'s
    (``extra_args={"structgen": {...}}``, checked by ``validate_params`` at admission).
    Not with speculative decoding (one logits row per request is assumed; refused at start-up).
    """

    @classmethod
    def validate_params(cls, sampling_params) -> None:
        spec = spec_from_extra_args(getattr(sampling_params, "extra_args", None))
        if spec is not None:
            check_spec(spec)

    def __init__(self, vllm_config, req_states):
        if getattr(vllm_config, "speculative_config", None) is not None:
            raise ValueError("decode.vllm: StructgenLogitsProcessorV2 does not support speculative "
                             "decoding (it masks one logits row per request)")
        self.req_states = req_states
        device = torch.device(req_states.device)
        self.rows = ConstrainedRows(load_vocabulary(vllm_config.model_config),
                                    pin_memory=device.type == "cuda")
        self._outputs: dict[int, list[int]] = {}  # slot -> output ids read so far

    def add_request(self, req_idx: int, sampling_params) -> bool:
        out: list[int] = []
        if self.rows.add(req_idx, sampling_params, out):
            self._outputs[req_idx] = out
            return True
        self._outputs.pop(req_idx, None)
        return False

    def apply(self, logits: torch.Tensor, ctx) -> torch.Tensor:
        slots = ctx.idx_mapping_np
        positions = {int(s): p for p, s in enumerate(slots.tolist()) if int(s) in self.rows.rows}
        if not positions:
            return logits
        self._read_new_tokens(sorted(positions))
        return self.rows.apply(logits, positions)

    def _read_new_tokens(self, slots: list[int]) -> None:
        """Append each slot's committed output ids that its list does not hold yet."""
        rs = self.req_states
        dev = rs.total_len.gpu.device
        idx = torch.tensor(slots, dtype=torch.long, device=dev)
        total = rs.total_len.gpu.index_select(0, idx).tolist()  # a device read, after the last step's update
        prompt = [int(rs.prompt_len.np[s]) for s in slots]
        start = [p + len(self._outputs[s]) for s, p in zip(slots, prompt)]
        new = [t - b for t, b in zip(total, start)]
        k = max(new)
        if k <= 0:
            return
        width = rs.all_token_ids.gpu.shape[1]
        cols = (torch.tensor(start, dtype=torch.long)[:, None] + torch.arange(k)).clamp_(max=width - 1)
        ids = rs.all_token_ids.gpu[idx[:, None], cols.to(dev)].tolist()
        for s, n, row in zip(slots, new, ids):
            if n > 0:
                self._outputs[s].extend(int(t) for t in row[:n])
