"""Token language models for the weighted samplers (``decode.sample``).

A :class:`TokenLM` maps contexts to next-token log-probabilities over a
``constrain.Vocabulary``; :class:`TableLM` is a hand-made one (a Python function of the
context), ``HFTokenLM`` adapts a Hugging Face causal LM with a prefix-shared KV cache.
``HFTokenLM`` loads on first use, so importing this package imports no transformers.
"""

from __future__ import annotations

from .base import TableLM, TokenLM

__all__ = ["HFTokenLM", "TableLM", "TokenLM"]


def __getattr__(name: str):
    if name == "HFTokenLM":
        from .hf import HFTokenLM

        return HFTokenLM
    raise AttributeError(f"module 'decode.lms' has no attribute {name!r}")
