"""Greedy verification over the allowed ids only (``greedy_targets(..., positions)``).

Its claim: at positions whose masks allow few ids, the argmax of the gathered allowed logits
(the lowest id among equal maxima) is the token the masked-argmax kernel picks, and the masks'
packed-word reading (``decode.legal_head.LegalPositions``) allows exactly the ids the
unpacked bits do.  Oracle: the kernel path and ``np.unpackbits``, on random masks of every
width class (one id, a few, a quarter and more of the vocabulary, none past the logits
width), logits with many ties and -inf entries.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from decode.legal_head import LegalPositions
from decode.speculative.verify import greedy_targets


def _masks(rng, n, V, n_words):
    m = np.zeros((n, n_words), dtype=np.uint32)
    for i in range(n):
        count = int(rng.choice([1, 2, 7, 40, V // 4, V // 2]))
        ids = rng.choice(n_words * 32, size=min(count, n_words * 32), replace=False)  # some past V
        ids = ids[ids < V] if (ids < V).any() else ids[:1] % V
        np.bitwise_or.at(m[i], ids >> 5, np.uint32(1) << (ids & 31).astype(np.uint32))
    return m.view(np.int32)


@pytest.mark.parametrize("V", [64, 1000, 4099])
@pytest.mark.parametrize("seed", range(6))
def test_allowed_ids_equal_the_unpacked_bits(V, seed):
    rng = np.random.default_rng(seed)
    n_words = -(-V // 32)
    masks = _masks(rng, 9, V, n_words)
    bits = np.unpackbits(masks.view(np.uint8), axis=1, bitorder="little")[:, :V]
    pos = LegalPositions(masks, V)
    assert pos.counts.tolist() == bits.sum(axis=1).tolist()
    assert pos.narrow.tolist() == ((bits.sum(axis=1) > 0) & (bits.sum(axis=1) <= 0.25 * V)).tolist()
    rows = np.arange(9)
    local, ids = pos.allowed(rows)
    want_local, want_ids = np.nonzero(bits)
    assert local.tolist() == want_local.tolist() and ids.tolist() == want_ids.tolist()
    assert pos.ids.tolist() == np.flatnonzero(bits[pos.narrow].any(axis=0)).tolist()


@pytest.mark.parametrize("V", [64, 1000, 4099])
@pytest.mark.parametrize("seed", range(10))
def test_greedy_over_allowed_ids_is_the_kernels_argmax(V, seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(1, 14))
    masks = _masks(rng, n, V, -(-V // 32))
    logits = torch.from_numpy(rng.integers(-2, 3, size=(n, V)).astype(np.float32))  # ties everywhere
    logits[torch.from_numpy(rng.random((n, V)) < 0.3)] = float("-inf")
    allowed = torch.from_numpy(np.unpackbits(masks.view(np.uint8), axis=1, bitorder="little")[:, :V].astype(bool))
    logits[allowed & ~torch.isfinite(logits)] = 0.0  # the -inf logits fall outside the masks (see below for all -inf)
    want = greedy_targets(logits, torch.from_numpy(masks))
    got = greedy_targets(logits, torch.from_numpy(masks), LegalPositions(masks, V))
    assert got == want
    for i, t in enumerate(got):  # and the kernel picks the lowest allowed id of the maximum
        ids = allowed[i].nonzero().flatten()
        assert t == int(ids[logits[i, ids].argmax()])


def test_a_row_with_no_finite_allowed_logit_raises_as_the_kernel_does():
    V = 64
    masks = np.zeros((1, 2), dtype=np.int32)
    masks[0, 0] = 0b1010
    logits = torch.zeros(1, V)
    logits[0, 1] = logits[0, 3] = float("-inf")
    with pytest.raises(ValueError, match="all tokens are masked"):
        greedy_targets(logits, torch.from_numpy(masks), LegalPositions(masks, V))
