"""Matcher.fill_mask writes the packed mask into numpy arrays and torch tensors alike
(constrain itself never imports torch: the tensor's own ``new_tensor`` carries the words)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from constrain import Vocabulary, compile_regex


@pytest.fixture(scope="module")
def matcher():
    toks = [bytes([b]) for b in range(32, 127)] + [None] * 40 + [None]  # 136 ids: 5 words
    vocab = Vocabulary.from_token_bytes(toks, eos_ids=[len(toks) - 1])
    m = compile_regex("[ab]c", vocab).matcher()
    assert m.advance(vocab.encode("a")[0])
    return m


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_fill_mask_one_and_two_dimensional(matcher, kind):
    words = matcher.mask()
    assert words.dtype == np.int32 and words.any()
    zeros = np.zeros if kind == "numpy" else (lambda shape, dtype: torch.zeros(shape, dtype=torch.int32))
    flat = zeros((words.size,), dtype=np.int32)
    matcher.fill_mask(flat)
    grid = zeros((3, words.size), dtype=np.int32)
    matcher.fill_mask(grid, row=2)
    as_np = (lambda x: x) if kind == "numpy" else (lambda x: x.numpy())
    assert np.array_equal(as_np(flat), words)
    assert np.array_equal(as_np(grid)[2], words) and not as_np(grid)[:2].any()
