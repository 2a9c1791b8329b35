"""The vLLM adapter: ``StructgenLogitsProcessor``, for both of vLLM 0.33's model runners.

Why one class for two interfaces: vLLM 0.33 runs its V2 model runner by default where Triton is
available and falls back to the V1 runner otherwise (or with ``VLLM_USE_V2_MODEL_RUNNER=0``);
each loads only processors of its own interface (``vllm.v1.sample.logits_processor`` /
``vllm.v1.worker.gpu.sample.logits_processor``) and refuses the other's at start-up.  The class
subclasses both, so one name works whichever runner vLLM picks, and tells them apart by the
constructor's arguments: ``(vllm_config, device, is_pin_memory)`` from V1,
``(vllm_config, req_states)`` from V2.

Why thin: what can go wrong about the batch is in :class:`~decode.vllm.ConstrainedRows`
(rows added, removed, moved; V1) and :class:`~decode.vllm.slots.SlotOutputs` (output ids read
from the device; V2), both tested without vLLM.  Importing this module imports vLLM.
"""

from __future__ import annotations

import torch
from vllm.v1.sample.logits_processor import BatchUpdate
from vllm.v1.sample.logits_processor import LogitsProcessor as V1LogitsProcessor
from vllm.v1.worker.gpu.sample.logits_processor import LogitsProcessor as V2LogitsProcessor

from .rows import ConstrainedRows
from .slots import SlotOutputs
from .spec import check_spec, spec_from_extra_args

__all__ = ["StructgenLogitsProcessor", "load_vocabulary"]


def load_vocabulary(model_config):
    """The ``constrain.Vocabulary`` of vLLM's tokenizer, padded to the model's logits width."""
    from transformers import AutoTokenizer

    from constrain.tokens.vocab import Vocabulary

    tok = AutoTokenizer.from_pretrained(
        model_config.tokenizer,
        revision=getattr(model_config, "tokenizer_revision", None),
        trust_remote_code=bool(getattr(model_config, "trust_remote_code", False)),
    )
    return Vocabulary.from_hf(tok, vocab_size=int(model_config.get_vocab_size()))


class StructgenLogitsProcessor(V1LogitsProcessor, V2LogitsProcessor):
    """structgen constraints for vLLM requests that carry ``extra_args={"structgen": {...}}``.

    ``LLM(..., logits_processors=["decode.vllm:StructgenLogitsProcessor"])`` or
    ``vllm serve --logits-processors decode.vllm:StructgenLogitsProcessor``; either model
    runner.  ``validate_params`` rejects a malformed entry or an uncompilable constraint when
    the request is admitted (a ``ValueError``, which vLLM reports as a validation error / HTTP
    400), naming the entry and the schema keyword or regex position.  Not argmax-invariant (the
    mask decides greedy picks too).  Not with speculative decoding (vLLM's V1 runner refuses
    custom processors then; under V2 this class refuses at start-up).
    """

    @classmethod
    def validate_params(cls, sampling_params) -> None:
        spec = spec_from_extra_args(getattr(sampling_params, "extra_args", None))
        if spec is not None:
            check_spec(spec)

    def __init__(self, vllm_config, device_or_req_states, is_pin_memory: bool | None = None):
        if is_pin_memory is None:  # V2: (vllm_config, req_states)
            if getattr(vllm_config, "speculative_config", None) is not None:
                raise ValueError("decode.vllm: StructgenLogitsProcessor does not support speculative "
                                 "decoding (it masks one logits row per request)")
            req_states = device_or_req_states
            self.slots: SlotOutputs | None = SlotOutputs(req_states)
            device = torch.device(req_states.device)
        else:  # V1: (vllm_config, device, is_pin_memory)
            self.slots = None
            device = torch.device(device_or_req_states)
        # the tokenizer is read when the engine starts, so a model it cannot serve fails there
        self.rows = ConstrainedRows(load_vocabulary(vllm_config.model_config),
                                    pin_memory=bool(is_pin_memory) or (self.slots is not None and device.type == "cuda"))

    def is_argmax_invariant(self) -> bool:
        return False

    # V1 model runner: persistent batch rows, BatchUpdate each step
    def update_state(self, batch_update: BatchUpdate | None) -> None:
        self.rows.update(batch_update)

    # V2 model runner: recycled slots, a new row layout each step
    def add_request(self, req_idx: int, sampling_params) -> bool:
        if self.rows.add(req_idx, sampling_params, self.slots.reset(req_idx)):
            return True
        self.slots.drop(req_idx)
        return False

    def apply(self, logits: torch.Tensor, ctx=None) -> torch.Tensor:
        if ctx is None:  # V1
            return self.rows.apply(logits)
        positions = {s: p for p, s in enumerate(ctx.idx_mapping_np.tolist()) if s in self.rows.rows}
        if not positions:
            return logits
        self.slots.read(sorted(positions))
        return self.rows.apply(logits, positions)
