"""The vLLM adapter: ``StructgenLogitsProcessor``, a vLLM v1 ``LogitsProcessor``.

Why thin: everything that can be wrong about vLLM's batch (rows added, removed, moved) is in
:class:`~decode.vllm.ConstrainedRows`, tested without vLLM; this class only maps vLLM's calls
onto it and loads the model's tokenizer.  Importing this module imports vLLM.

vLLM 0.33 runs these processors in its V1 model runner (``VLLM_USE_V2_MODEL_RUNNER=0``); its V2
model runner has a different processor interface and refuses V1 ones at start-up.
"""

from __future__ import annotations

import torch
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor

from .rows import ConstrainedRows
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


class StructgenLogitsProcessor(LogitsProcessor):
    """structgen constraints for vLLM requests that carry ``extra_args={"structgen": {...}}``.

    Pass it to vLLM as ``logits_processors=["decode.vllm:StructgenLogitsProcessor"]`` (or the
    class itself; ``vllm serve --logits-processors decode.vllm:StructgenLogitsProcessor``).
    ``validate_params`` rejects a malformed entry or an uncompilable constraint when the request
    is admitted (a ``ValueError``: an HTTP 400 from vLLM's server), naming the entry and the
    schema keyword or regex position.  Not argmax-invariant: the mask decides greedy picks too.
    """

    @classmethod
    def validate_params(cls, sampling_params) -> None:
        spec = spec_from_extra_args(getattr(sampling_params, "extra_args", None))
        if spec is not None:
            check_spec(spec)

    def __init__(self, vllm_config, device: torch.device, is_pin_memory: bool):
        self.device = device
        # the tokenizer is read when the engine starts, so a model it cannot serve fails there
        vocab = load_vocabulary(vllm_config.model_config)
        self.rows = ConstrainedRows(vocab, pin_memory=is_pin_memory and torch.device(device).type == "cuda")

    def is_argmax_invariant(self) -> bool:
        return False

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        self.rows.update(batch_update)

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        return self.rows.apply(logits)
