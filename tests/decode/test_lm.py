"""The model adapter: several tokens per forward, row reordering and cropping give the same
logits as the plain one-token-at-a-time path (what SMC resampling and speculative rollback
will rely on)."""

from __future__ import annotations

import pytest
import torch

from decode.lm import HFCausalLM
from decode.prompts import left_pad
from tests import fakes

PROMPTS = [[5, 9, 12, 3], [7, 2]]  # unequal lengths: left padding and position ids matter


@pytest.fixture(scope="module")
def model():
    return fakes.make_tiny_model(40, seed=3)


def _fresh(model, prompts=PROMPTS) -> tuple[HFCausalLM, torch.Tensor]:
    lm = HFCausalLM(model)
    with torch.inference_mode():
        logits = lm.prefill(*left_pad(prompts, 0))
    return lm, logits


def _steps(lm: HFCausalLM, columns: list[list[int]]) -> list[torch.Tensor]:
    """One forward per column of tokens (one token per row each)."""
    with torch.inference_mode():
        return [lm.forward(torch.tensor([[t] for t in col]))[:, -1, :] for col in columns]


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, atol=1e-4, rtol=1e-4)


def test_padded_rows_match_rows_alone(model):
    _, both = _fresh(model)
    for i, p in enumerate(PROMPTS):
        _, alone = _fresh(model, [p])
        assert _close(both[i], alone[0])


def test_several_tokens_per_forward_match_single_steps(model):
    lm, _ = _fresh(model)
    singles = _steps(lm, [[11, 4], [6, 8], [1, 20]])
    lm2, _ = _fresh(model)
    with torch.inference_mode():
        block = lm2.forward(torch.tensor([[11, 6, 1], [4, 8, 20]]))
    assert block.shape[:2] == (2, 3)
    for k in range(3):
        assert _close(block[:, k, :], singles[k])


def test_crop_forgets_the_last_positions(model):
    lm, _ = _fresh(model)
    ref = _steps(lm, [[11, 4], [6, 8]])[-1]
    lm2, _ = _fresh(model)
    _steps(lm2, [[11, 4], [30, 31], [32, 33]])  # two rejected draft tokens per row
    lm2.crop(2)
    again = _steps(lm2, [[6, 8]])[-1]
    assert _close(again, ref)
    with pytest.raises(ValueError):
        lm2.crop(10_000)


def test_reorder_selects_and_duplicates_rows(model):
    lm, _ = _fresh(model)
    ref = _steps(lm, [[11, 4], [6, 8]])[-1]
    lm2, _ = _fresh(model)
    _steps(lm2, [[11, 4]])
    lm2.reorder([1, 1, 0])  # resampling: row 1 twice, then row 0
    out = _steps(lm2, [[8, 8, 6]])[-1]
    assert out.shape[0] == 3
    assert _close(out[0], ref[1]) and _close(out[1], ref[1]) and _close(out[2], ref[0])
