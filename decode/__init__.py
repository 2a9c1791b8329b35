"""structgen decoding: constrained generation on top of ``constrain`` matchers.

Public API:
- ``generate`` / ``generate_object``: our own KV-cached loop (batching, per-row constraints).
- ``LogitsProcessor``: the same constraint inside ``transformers`` ``model.generate``.
- ``apply_token_bitmask_`` / ``masked_sample``: the mask kernels (torch, Triton on CUDA).
- ``Regex`` / ``Lark``: wrappers that say how to read a constraint given as text.
"""

from .generate import (
    GENERATION_JSON_OPTIONS,
    GenerationArgumentError,
    GenerationError,
    GenerationResult,
    Lark,
    Regex,
    as_compiled,
    generate,
    generate_object,
)
from .kernels import apply_token_bitmask_, masked_sample

_LAZY_HF = {"LogitsProcessor", "load_default_model", "load_model"}


def __getattr__(name):
    # decode.hf imports transformers (seconds); load it on first use so that the CLI's --help
    # and kernel-only users stay fast.
    if name in _LAZY_HF:
        from . import hf

        return getattr(hf, name)
    raise AttributeError(f"module 'decode' has no attribute {name!r}")

__all__ = [
    "generate",
    "generate_object",
    "GenerationResult",
    "GenerationError",
    "GenerationArgumentError",
    "Regex",
    "Lark",
    "as_compiled",
    "GENERATION_JSON_OPTIONS",
    "LogitsProcessor",
    "load_default_model",
    "load_model",
    "apply_token_bitmask_",
    "masked_sample",
]
