"""Token-bitmask kernels: mask logits in place, or mask + sample in one pass.

Why two implementations: ``torch_impl`` runs anywhere and is the reference; ``triton_impl``
avoids unpacking the mask into a [B, V] tensor on GPU.  CUDA tensors go to Triton when it
imports; everything else (or ``STRUCTGEN_KERNELS=torch``) goes to torch.
"""

from __future__ import annotations

import os

import torch

from . import torch_impl

try:  # Triton is optional: without it (or without a usable build) only the torch path exists
    from . import triton_impl
except ImportError:  # pragma: no cover - depends on the environment
    triton_impl = None

__all__ = ["apply_token_bitmask_", "masked_sample", "HAS_TRITON", "torch_impl", "triton_impl"]

HAS_TRITON = triton_impl is not None


def _use_triton(t: torch.Tensor) -> bool:
    if triton_impl is None or not t.is_cuda:
        return False
    return os.environ.get("STRUCTGEN_KERNELS", "auto").lower() != "torch"


def apply_token_bitmask_(logits: torch.Tensor, bitmask: torch.Tensor, indices=None) -> torch.Tensor:
    """Set logits of disallowed tokens to -inf, in place; returns ``logits``.

    logits [B, V] fp32/fp16/bf16; bitmask [R, ceil(V/32)] int32 (bit t%32 of word t//32 =
    token t allowed); with ``indices`` bitmask row i masks logits row indices[i].  Tokens
    beyond the bitmask's width are disallowed.  A row allowing nothing raises ValueError.
    """
    if _use_triton(logits):
        return triton_impl.apply_token_bitmask_(logits, bitmask, indices)
    return torch_impl.apply_token_bitmask_(logits, bitmask, indices)


def masked_sample(
    logits: torch.Tensor,
    bitmask: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One token per row from softmax(logits/T) over the allowed tokens -> int64 [B].

    Exact (Gumbel-max); temperature 0 = greedy argmax over allowed tokens; top_k/top_p are
    applied after masking.  ``logits`` is left unchanged.  Raises ValueError naming the row if
    a row has no allowed token with a finite logit.
    """
    if _use_triton(logits):
        return triton_impl.masked_sample(logits, bitmask, temperature, top_k, top_p, generator)
    return torch_impl.masked_sample(logits, bitmask, temperature, top_k, top_p, generator)
