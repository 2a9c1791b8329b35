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


def apply_token_bitmask_(logits: torch.Tensor, bitmask: torch.Tensor, indices=None, *,
                         check: bool = True) -> torch.Tensor:
    """Set logits of disallowed tokens to -inf, in place; returns ``logits``.

    logits [B, V] fp32/fp16/bf16; bitmask [R, ceil(V/32)] int32 (bit t%32 of word t//32 =
    token t allowed); with ``indices`` bitmask row i masks logits row indices[i].  Tokens
    beyond the bitmask's width are disallowed.  A row allowing nothing raises ValueError.
    ``check=False`` skips that test, which on a GPU reads a flag back and so waits for the
    device: for callers that checked their masks on the host (``decode.vllm``).
    """
    if _use_triton(logits):
        return triton_impl.apply_token_bitmask_(logits, bitmask, indices, check=check)
    return torch_impl.apply_token_bitmask_(logits, bitmask, indices, check=check)


def masked_sample(
    logits: torch.Tensor,
    bitmask: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    return_log_z: bool = False,
):
    """One token per row from softmax(logits/T) over the allowed tokens -> int64 [B].

    Exact (Gumbel-max); temperature 0 = greedy argmax over allowed tokens; top_k/top_p are
    applied after masking.  ``logits`` is left unchanged.  Raises ValueError naming the row if
    a row has no allowed token with a finite logit.

    ``return_log_z=True`` returns ``(tokens, log_z)``, ``log_z`` float32 [B], computed in the
    same pass over the row (so exact importance weights cost nothing extra):

        log_z[b] = logsumexp_{t allowed} x[b, t] / T  -  logsumexp_{t < W} x[b, t] / T

    with ``W = logits.shape[1]`` (every column the caller passes is part of the model's
    distribution; pass ``logits[:, :V]`` to normalise over the first V).  That is log Z_t, the
    log of the legal mass of the model's next-token distribution at temperature T, the
    incremental weight of exact-weight SMC (ALGORITHMS.md sections 0 and 4).  Temperature 0
    has no sampling law to weight: ``log_z`` is then taken at T = 1 (the model's own
    distribution).  ``top_k`` / ``top_p`` truncate the proposal after the mask but do not
    enter ``log_z`` (it is the normaliser of the masked tempered distribution; weights are
    exact only without truncation).  A dead row (nothing allowed, or every allowed logit
    -inf) does not raise here: its token is -1 and its ``log_z`` is -inf, since a dead-end
    particle is an outcome (weight zero) for a weighted sampler, not an error.
    """
    if _use_triton(logits):
        return triton_impl.masked_sample(logits, bitmask, temperature, top_k, top_p, generator,
                                         return_log_z=return_log_z)
    return torch_impl.masked_sample(logits, bitmask, temperature, top_k, top_p, generator,
                                    return_log_z=return_log_z)
