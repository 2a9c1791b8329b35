"""``decode.attention``: grouped-query attention without copying the KV cache gives the
logits of ``transformers``' ``sdpa`` attention (up to float rounding) on every kind of pass the
decoder makes (padded prefill, multi-token chunks with padding, tree drafts, single tokens)."""

import numpy as np
import pytest
import torch

from decode.attention import GROUPED_SDPA, grouped_sdpa_attention, use_grouped_attention
from decode.lm import HFCausalLM
from decode.prompts import left_pad
from tests.fakes import make_tiny_model



def _passes(model):
    """The logits of one scripted sequence of passes over a batch of two left-padded rows."""
    lm = HFCausalLM(model)
    out = [lm.prefill(*left_pad([[5, 6, 7, 8, 9], [10, 11]], 0))]
    out.append(lm.forward(torch.tensor([[12, 13, 14], [15, 16, 17]]),
                          valid=torch.tensor([[True, True, True], [True, True, False]])))
    out.append(lm.forward(torch.tensor([[18], [19]])))
    lm.retract([1, 0])
    # a tree draft: two children of the first node, then a grandchild
    out.append(lm.forward(torch.tensor([[20, 21, 22, 23], [24, 25, 26, 27]]),
                          parents=np.array([[-1, 0, 0, 1], [-1, 0, 1, 1]])))
    lm.forget([[2], []], 4)
    out.append(lm.forward(torch.tensor([[28, 29], [30, 31]])))
    return out


def test_grouped_attention_gives_sdpa_logits():
    plain, grouped = make_tiny_model(40, seed=3), make_tiny_model(40, seed=3)
    assert plain.config.num_key_value_heads < plain.config.num_attention_heads  # grouped heads
    assert use_grouped_attention(grouped)
    assert grouped.config._attn_implementation == GROUPED_SDPA
    assert plain.config._attn_implementation == "sdpa"
    with torch.inference_mode():
        a, b = _passes(plain), _passes(grouped)
    assert len(a) == len(b) == 5
    for x, y in zip(a, b):
        assert torch.allclose(x, y, atol=1e-5, rtol=0)
        assert torch.equal(x.argmax(-1), y.argmax(-1))


def test_the_grouped_path_is_taken_and_matches_repeated_heads():
    """The function itself on random tensors: several query tokens under a mask (the case it
    exists for) against attention over explicitly repeated key/value heads."""
    torch.manual_seed(0)
    B, H, G, q, L, d = 2, 6, 2, 4, 11, 8

    class Module:
        num_key_value_groups = H // G

    query = torch.randn(B, q, H, d).transpose(1, 2)  # not contiguous, as the model makes it
    key, value = torch.randn(B, G, L, d), torch.randn(B, G, L, d)
    allowed = torch.rand(B, 1, q, L) > 0.3
    allowed[..., 0] = True
    mask = torch.zeros(B, 1, q, L).masked_fill_(~allowed, torch.finfo(torch.float32).min)
    out, _ = grouped_sdpa_attention(Module(), query, key, value, mask, scaling=0.5)
    rep = lambda t: t.repeat_interleave(H // G, dim=1)  # noqa: E731
    ref = torch.nn.functional.scaled_dot_product_attention(query, rep(key), rep(value), attn_mask=mask, scale=0.5)
    assert out.shape == (B, q, H, d)
    assert torch.allclose(out, ref.transpose(1, 2), atol=1e-6)
    # a wrong head order (query heads grouped round-robin instead of by block) would differ
    wrong = torch.nn.functional.scaled_dot_product_attention(query, key.repeat(1, H // G, 1, 1),
                                                             value.repeat(1, H // G, 1, 1), attn_mask=mask, scale=0.5)
    assert not torch.allclose(out, wrong.transpose(1, 2), atol=1e-3)


@pytest.mark.parametrize("heads,kv_heads,impl", [(4, 4, "sdpa"), (4, 2, "eager")])
def test_models_it_does_not_apply_to_are_left_alone(heads, kv_heads, impl):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=20, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=heads, num_key_value_heads=kv_heads, attn_implementation=impl)
    model = LlamaForCausalLM(cfg)
    assert not use_grouped_attention(model)
    assert model.config._attn_implementation == impl
