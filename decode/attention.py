"""Attention over grouped key/value heads without copying the KV cache.

Why: models with grouped-query attention (SmolLM2-135M: 9 query heads share 3 key/value
heads) keep one cached K and V per group.  ``transformers``' ``sdpa`` attention avoids copying
them for a single query token, but for several query tokens under an attention mask (every
speculative verification pass, every multi-token pass of a padded batch) it repeats each
layer's whole cached K and V once per query head of the group before attending: on CPU that
copy is a large part of a 4- to 8-token pass over a long prompt, the passes speculative
decoding is made of.

The same attention without the copy: the ``n_rep`` query heads of a group become ``n_rep``
times as many query rows of that group's key/value head (``[B, H, q, d]`` ->
``[B, H/n_rep, n_rep*q, d]``), the ``[B, 1, q, kv]`` mask repeated along the rows (a small
tensor), and the output reshaped back.  Every query row meets the same keys and values under
the same mask row, so each row's scores, softmax and weighted sum are the ones the repeated
layout computes, up to float rounding (kernels may block a longer row count differently: ~1e-6
on the tests' tiny model, none at all on SmolLM2's 4- and 8-token passes measured on CPU;
tests/decode/test_attention.py).

:func:`use_grouped_attention` switches a model from ``sdpa`` to this implementation
(``GROUPED_SDPA``); :func:`decode.models.load_model` and :func:`~decode.models.load_default_model`
do it for the models they load.  Other cases (one query token, no mask, per-head masks,
position biases) go to ``transformers``' own ``sdpa`` function unchanged.
"""

from __future__ import annotations

import torch

__all__ = ["GROUPED_SDPA", "grouped_sdpa_attention", "use_grouped_attention"]

#: the name the implementation is registered under with ``transformers``
GROUPED_SDPA = "structgen_sdpa"

_registered = False


def grouped_sdpa_attention(module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                           attention_mask: torch.Tensor | None, dropout: float = 0.0,
                           scaling: float | None = None, is_causal: bool | None = None, **kwargs):
    """``transformers``' attention-function signature: ``(output [B, q, H, d], None)``."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    n_rep = getattr(module, "num_key_value_groups", 1)
    B, H, q, d = query.shape
    if (n_rep == 1 or q == 1 or attention_mask is None or attention_mask.dim() != 4
            or attention_mask.shape[1] != 1 or kwargs.get("position_bias") is not None
            or kwargs.get("softcap") is not None or key.shape[1] * n_rep != H):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, is_causal=is_causal, **kwargs)
    rows = query.reshape(B, H // n_rep, n_rep * q, d)  # head h = group * n_rep + r -> row r * q + i
    mask = attention_mask.expand(B, 1, q, attention_mask.shape[-1]).repeat(1, 1, n_rep, 1)
    out = torch.nn.functional.scaled_dot_product_attention(rows, key, value, attn_mask=mask,
                                                           dropout_p=dropout, scale=scaling)
    return out.reshape(B, H, q, value.shape[-1]).transpose(1, 2).contiguous(), None


def _register() -> bool:
    global _registered
    if not _registered:
        try:
            from transformers import AttentionInterface
            from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
        except ImportError:  # transformers before the attention interface (4.48)
            return False
        AttentionInterface.register(GROUPED_SDPA, grouped_sdpa_attention)
        # masks built exactly as for ``sdpa`` (an unknown name would get none at all)
        AttentionMaskInterface.register(GROUPED_SDPA, sdpa_mask)
        _registered = True
    return True


def use_grouped_attention(model) -> bool:
    """Switch ``model`` (a ``transformers`` model using ``sdpa`` attention with grouped
    key/value heads) to :data:`GROUPED_SDPA`; True when it uses it now.  Models with other
    attention implementations, or one key/value head per query head, are left as they are."""
    config = getattr(model, "config", None)
    impl = getattr(config, "_attn_implementation", None)
    if impl == GROUPED_SDPA:
        return True
    heads = getattr(config, "num_attention_heads", None)
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    if impl != "sdpa" or not heads or kv_heads >= heads or not _register():
        return False
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(GROUPED_SDPA)
    else:
        config._attn_implementation = GROUPED_SDPA
    return getattr(model.config, "_attn_implementation", None) == GROUPED_SDPA
