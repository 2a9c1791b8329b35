"""Draft length and pass width: ``Speculation.next_length`` (the adaptive rule shared by both
drivers) and ``Speculation.min_pass`` (passes filled with drafts, then masked-out padding,
cropped after the pass), which must leave greedy output token-identical to the plain loop."""

from __future__ import annotations

import pytest
import torch

import decode
from decode import Speculation
from decode.lm import HFCausalLM
from decode.prompts import left_pad
from tests import fakes

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 12}, "kind": {"enum": ["cat", "dog", "hamster"]},
                   "age": {"type": "integer", "minimum": 0, "maximum": 20}},
    "required": ["name", "kind", "age"],
    "additionalProperties": False,
}
PROMPTS = ["Describe a cat named Tom, 3 years old, as JSON: name Tom kind cat", "x"]


def test_next_length_shortens_by_one_and_grows_by_two_within_bounds():
    s = Speculation(max_draft=12)
    assert s.next_length(12, 3, 12) == 11          # a rejection: one shorter
    assert s.next_length(2, 0, 2) == 2            # not below 2
    assert s.next_length(5, 5, 5) == 7            # all kept: two longer
    assert s.next_length(11, 11, 11) == 12        # not past max_draft
    assert s.next_length(6, 0, 0) == 6            # nothing drafted: unchanged
    assert Speculation(max_draft=1).next_length(1, 0, 1) == 1
    assert Speculation(max_draft=8, adaptive=False).next_length(8, 0, 8) == 8


def test_retract_crops_trailing_padding_without_a_rejection():
    """A batch of one fed 2 tokens and 2 masked-out pads keeps no dead column, and the next
    logits equal a fresh run fed only the real tokens."""
    model = fakes.make_tiny_model(40, seed=5)
    prompt = [5, 9, 12, 3]
    with torch.inference_mode():
        lm = HFCausalLM(model)
        lm.prefill(*left_pad([prompt], 0))
        lm.forward(torch.tensor([[11, 30, 0, 0]]), valid=torch.tensor([[True, True, False, False]]))
        lm.retract([0])
        assert lm.attention_mask.shape[1] == len(prompt) + 2 and bool(lm.attention_mask.all())
        got = lm.forward(torch.tensor([[7]]))[:, -1]
        ref_lm = HFCausalLM(model)
        ref_lm.prefill(*left_pad([prompt], 0))
        ref = ref_lm.forward(torch.tensor([[11, 30, 7]]))[:, -1]
        assert torch.allclose(got, ref, atol=1e-4)


def _widths(monkeypatch):
    seen = []
    orig = HFCausalLM.forward

    def forward(self, new_ids, valid=None, head=None, **kw):
        seen.append(int(new_ids.shape[1]))
        return orig(self, new_ids, valid, head=head, **kw)

    monkeypatch.setattr(HFCausalLM, "forward", forward)
    return seen


@pytest.mark.parametrize("prompt", PROMPTS)
def test_min_pass_fills_passes_and_keeps_greedy_identical(smollm2_tokenizer, smol_model, monkeypatch, prompt):
    kw = dict(temperature=0.0, max_new_tokens=40)
    plain = decode.generate(smol_model, smollm2_tokenizer, prompt, SCHEMA, **kw)
    seen = _widths(monkeypatch)
    narrow = decode.generate(smol_model, smollm2_tokenizer, prompt, SCHEMA,
                             speculative=Speculation(max_draft=2, min_pass=1), **kw)
    narrow_widths = list(seen)
    seen.clear()
    got = decode.generate(smol_model, smollm2_tokenizer, prompt, SCHEMA,
                          speculative=Speculation(max_draft=2, min_pass=4), **kw)
    assert got.token_ids == plain.token_ids == narrow.token_ids
    assert (got.stop_reason, got.finished) == (plain.stop_reason, plain.finished)
    # without min_pass the drafts of at most 2 give 2- and 3-token passes; with it, none
    assert any(k in (2, 3) for k in narrow_widths)
    assert seen and all(k == 1 or k >= 4 for k in seen), seen


def test_min_pass_is_checked():
    with pytest.raises(decode.GenerationArgumentError, match="min_pass"):
        Speculation(min_pass=0)
