"""structgen decoding: constrained generation on top of ``constrain`` matchers.

Public API:
- ``generate`` / ``generate_object``: our own KV-cached loop (batching, per-row constraints).
- ``LogitsProcessor``: the same constraint inside ``transformers`` ``model.generate``.
- ``load_model`` / ``load_default_model``: a Hugging Face causal LM, or the bundled SmolLM2.
- ``apply_token_bitmask_`` / ``masked_sample``: the mask kernels (torch, Triton on CUDA).
- ``Regex`` / ``Lark``: wrappers that say how to read a constraint given as text.
"""

from .constraints import GENERATION_JSON_OPTIONS, Lark, Regex, as_compiled
from .generate import generate, generate_object
from .kernels import apply_token_bitmask_, masked_sample
from .result import GenerationArgumentError, GenerationError, GenerationResult

# transformers takes seconds to import: these load on first use, so that the CLI's --help and
# kernel-only users stay fast
_LAZY = {"LogitsProcessor": "integrations.hf", "load_default_model": "models", "load_model": "models"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'decode' has no attribute {name!r}")


__all__ = [
    "GENERATION_JSON_OPTIONS",
    "GenerationArgumentError",
    "GenerationError",
    "GenerationResult",
    "Lark",
    "LogitsProcessor",
    "Regex",
    "apply_token_bitmask_",
    "as_compiled",
    "generate",
    "generate_object",
    "load_default_model",
    "load_model",
    "masked_sample",
]
