"""Token-bitmask kernels: torch path and Triton kernels (CPU interpreter) vs a plain reference.

The Triton kernels run under ``TRITON_INTERPRET=1``.  Triton reads that variable when a
function is decorated with ``triton.jit``, and its own helpers (``tl.zeros``, ``tl.max``,
``tl.rand``) are decorated when ``triton`` is first imported - so it must be set before that
import.  Other test modules import triton first, so ``test_triton_kernels_under_interpreter``
re-runs this module's ``[triton]`` cases in a child pytest with the variable set from the
start.  (Run the whole suite with ``TRITON_INTERPRET=1`` and they run in-process instead.)
If Triton or its interpreter cannot run here these tests fail - they never skip.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tests import paths
import torch

from decode.kernels import torch_impl
import decode.kernels as K

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


# --------------------------------------------------------------------------------------------
# reference
# --------------------------------------------------------------------------------------------


def ref_allowed(bitmask: torch.Tensor, V: int) -> np.ndarray:
    """bool[rows, V] via np.unpackbits on little-endian int32 words (independent of the impl)."""
    bm = bitmask.cpu().numpy().astype("<i4")
    bits = np.unpackbits(bm.view(np.uint8), axis=1, bitorder="little").astype(bool)
    out = np.zeros((bm.shape[0], V), dtype=bool)
    k = min(V, bits.shape[1])
    out[:, :k] = bits[:, :k]
    return out


def ref_apply(logits: torch.Tensor, bitmask: torch.Tensor, indices=None) -> torch.Tensor:
    out = logits.clone()
    allowed = torch.from_numpy(ref_allowed(bitmask, logits.shape[1]))
    rows = range(bitmask.shape[0]) if indices is None else list(indices)
    for i, r in enumerate(rows):
        out[r][~allowed[i]] = float("-inf")
    return out


def bits_from_sets(sets: list[list[int]], n_words: int) -> torch.Tensor:
    m = np.zeros((len(sets), n_words), dtype=np.uint32)
    for i, s in enumerate(sets):
        for t in s:
            m[i, t // 32] |= np.uint32(1 << (t % 32))
    return torch.from_numpy(m.view(np.int32))


def random_bitmask(rows: int, V: int, density: float, gen: torch.Generator) -> torch.Tensor:
    n_words = (V + 31) // 32
    allowed = torch.rand(rows, n_words * 32, generator=gen) < density
    allowed[:, 0] = True  # never all-masked
    sets = [allowed[i].nonzero().flatten().tolist() for i in range(rows)]
    return bits_from_sets(sets, n_words)


def assert_same(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    ninf_a, ninf_b = torch.isneginf(a), torch.isneginf(b)
    assert torch.equal(ninf_a, ninf_b), f"-inf positions differ at {(ninf_a != ninf_b).nonzero()[:5].tolist()}"
    assert torch.equal(a[~ninf_a], b[~ninf_b]), "finite logits changed"


# --------------------------------------------------------------------------------------------
# backends: torch always; triton through the CPU interpreter
# --------------------------------------------------------------------------------------------


IN_INTERPRETER = os.environ.get("TRITON_INTERPRET") == "1"


@pytest.fixture(params=["torch", "triton"] if IN_INTERPRETER else ["torch"])
def impl(request):
    if request.param == "torch":
        return torch_impl
    # Fail, do not skip, when Triton is unusable: it is a test dependency.
    assert K.triton_impl is not None, "Triton failed to import (decode.kernels.triton_impl is None)"
    assert K.triton_impl.interpreting() and K.triton_impl._lang_interpreted(), (
        "TRITON_INTERPRET=1 must be set before triton is first imported"
    )
    return K.triton_impl


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B,V", [(1, 1), (2, 31), (3, 33), (4, 1000), (2, 49157)])
def test_apply_matches_reference(impl, dtype, B, V):
    gen = torch.Generator().manual_seed(V * 7 + B)
    logits = torch.randn(B, V, generator=gen).to(dtype)
    bitmask = random_bitmask(B, V, 0.3, gen)
    expected = ref_apply(logits, bitmask)
    got = logits.clone()
    ret = impl.apply_token_bitmask_(got, bitmask)
    assert ret is got
    assert_same(got, expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_apply_256k_vocab(impl, dtype):
    V = 256_019  # not a multiple of 32
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(2, V, generator=gen).to(dtype)
    bitmask = random_bitmask(2, V, 0.01, gen)
    bitmask[1, -1] = -1  # bits past V in the last word must be ignored
    expected = ref_apply(logits, bitmask)
    impl.apply_token_bitmask_(logits, bitmask)
    assert_same(logits, expected)
    assert torch.isfinite(logits[1, V - 1])


def test_apply_indices(impl):
    gen = torch.Generator().manual_seed(2)
    V = 77
    logits = torch.randn(5, V, generator=gen)
    bitmask = random_bitmask(2, V, 0.5, gen)
    for idx in ([3, 1], torch.tensor([3, 1])):
        got = logits.clone()
        impl.apply_token_bitmask_(got, bitmask, indices=idx)
        expected = ref_apply(logits, bitmask, indices=[3, 1])
        assert_same(got, expected)
        for untouched in (0, 2, 4):
            assert torch.equal(got[untouched], logits[untouched])


def test_apply_bitmask_narrower_than_logits(impl):
    # model logits (100) wider than the tokenizer's bitmask (2 words = 64 tokens)
    V = 100
    logits = torch.randn(2, V)
    bitmask = bits_from_sets([[0, 5, 63], [40]], 2)
    impl.apply_token_bitmask_(logits, bitmask)
    allowed = torch.isfinite(logits)
    assert allowed[0].nonzero().flatten().tolist() == [0, 5, 63]
    assert allowed[1].nonzero().flatten().tolist() == [40]


def test_apply_preserves_existing_neg_inf(impl):
    V = 70
    logits = torch.randn(1, V)
    logits[0, [3, 4, 69]] = float("-inf")
    bitmask = bits_from_sets([[3, 5, 69]], 3)
    impl.apply_token_bitmask_(logits, bitmask)
    finite = torch.isfinite(logits[0]).nonzero().flatten().tolist()
    assert finite == [5]
    assert torch.isneginf(logits[0, 3]) and torch.isneginf(logits[0, 69])


@pytest.mark.parametrize("dtype", DTYPES)
def test_single_allowed_token(impl, dtype):
    V = 49157
    logits = torch.randn(3, V).to(dtype)
    sets = [[0], [V - 1], [12345]]
    bitmask = bits_from_sets(sets, (V + 31) // 32)
    masked = logits.clone()
    impl.apply_token_bitmask_(masked, bitmask)
    for i, s in enumerate(sets):
        assert torch.isfinite(masked[i]).nonzero().flatten().tolist() == s
    for T in (0.0, 1.0, 5.0):
        toks = impl.masked_sample(logits, bitmask, temperature=T, generator=torch.Generator().manual_seed(0))
        assert toks.tolist() == [s[0] for s in sets]
        assert toks.dtype == torch.int64


def test_all_masked_row_raises(impl):
    V = 40
    logits = torch.randn(3, V)
    bitmask = bits_from_sets([[1], [2], []], 2)
    bitmask[2, 1] = np.int32(-(2**31))  # only bit 63 set: beyond V, so still all-masked
    before = logits.clone()
    with pytest.raises(ValueError, match="row 2"):
        impl.apply_token_bitmask_(logits, bitmask)
    with pytest.raises(ValueError, match="row 2"):
        impl.masked_sample(logits, bitmask)
    with pytest.raises(ValueError, match="row 2"):
        impl.masked_sample(logits, bitmask, temperature=0.0)
    assert torch.equal(logits, before)
    with pytest.raises(ValueError, match=r"logits row 4"):
        impl.apply_token_bitmask_(torch.randn(5, V), bitmask[[0, 2]], indices=[0, 4])


def test_apply_unchecked_masks_without_the_empty_row_test(impl):
    """``check=False`` (callers that checked on the host): same masking, no raise."""
    V = 40
    logits = torch.randn(3, V)
    bitmask = bits_from_sets([[1], [2, 39], []], 2)
    expected = ref_apply(logits, bitmask)
    got = logits.clone()
    assert impl.apply_token_bitmask_(got, bitmask, check=False) is got
    assert_same(got, expected)
    assert not torch.isfinite(got[2]).any()
    sub = logits.clone()
    impl.apply_token_bitmask_(sub, bitmask[[1]], indices=[2], check=False)
    assert torch.isfinite(sub[2]).nonzero().flatten().tolist() == [2, 39] and torch.equal(sub[:2], logits[:2])


def test_allowed_tokens_all_neg_inf_raises(impl):
    logits = torch.randn(2, 50)
    logits[1, :10] = float("-inf")
    bitmask = bits_from_sets([[0, 1], [2, 9]], 2)
    with pytest.raises(ValueError, match="row 1"):
        impl.masked_sample(logits, bitmask, temperature=1.0)
    with pytest.raises(ValueError, match="row 1"):
        impl.masked_sample(logits, bitmask, temperature=0.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_greedy_is_argmax_over_allowed(impl, dtype):
    gen = torch.Generator().manual_seed(3)
    V = 2085
    logits = torch.randn(6, V, generator=gen).to(dtype)
    bitmask = random_bitmask(6, V, 0.2, gen)
    expected = ref_apply(logits.float(), bitmask).argmax(dim=1)
    got = impl.masked_sample(logits, bitmask, temperature=0.0)
    assert got.tolist() == expected.tolist()
    # ties: the first allowed maximum wins (like torch.argmax)
    tie = torch.zeros(1, 64)
    assert impl.masked_sample(tie, bits_from_sets([[7, 9, 40]], 2), temperature=0).tolist() == [7]
    # masked_sample does not modify its input
    before = logits.clone()
    impl.masked_sample(logits, bitmask, temperature=1.0)
    assert torch.equal(logits, before)


# --------------------------------------------------------------------------------------------
# sampling statistics
# --------------------------------------------------------------------------------------------

N_SAMPLES = 20_000


def chi2_critical(df: int, z: float = 3.719) -> float:
    """Wilson-Hilferty upper quantile of chi-square(df); z=3.719 -> p = 1e-4."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def expected_probs(logits_row: torch.Tensor, allowed: list[int], T: float, top_k=None, top_p=None):
    x = logits_row.double() / T
    keep = sorted(allowed, key=lambda t: -float(x[t]))
    if top_k is not None:
        keep = keep[:top_k]
    if top_p is not None:
        p = torch.softmax(x[keep], 0)
        cum, kept = 0.0, []
        for t, pt in zip(keep, p.tolist()):
            kept.append(t)
            cum += pt
            if cum >= top_p:
                break
        keep = kept
    p = torch.zeros(logits_row.shape[0], dtype=torch.float64)
    p[keep] = torch.softmax(x[keep], 0)
    return p


def check_frequencies(samples: torch.Tensor, p: torch.Tensor) -> None:
    counts = torch.bincount(samples, minlength=p.shape[0]).double()
    n = counts.sum()
    assert int(counts[p == 0].sum()) == 0, f"sampled excluded tokens {(counts * (p == 0)).nonzero().flatten().tolist()}"
    support = p > 0
    exp = p[support] * n
    chi2 = float(((counts[support] - exp) ** 2 / exp).sum())
    df = int(support.sum()) - 1
    tv = 0.5 * float((counts / n - p).abs().sum())
    if df > 0:
        assert chi2 < chi2_critical(df), f"chi2={chi2:.1f} df={df} tv={tv:.4f}"
    assert tv < 0.02, f"total variation {tv:.4f}"


def _sample_many(impl, row: torch.Tensor, bitmask_row: torch.Tensor, seed: int, **kw) -> torch.Tensor:
    logits = row.unsqueeze(0).expand(N_SAMPLES, -1).contiguous()
    bm = bitmask_row.unsqueeze(0).expand(N_SAMPLES, -1).contiguous()
    return impl.masked_sample(logits, bm, generator=torch.Generator().manual_seed(seed), **kw)


@pytest.mark.parametrize("T", [1.0, 0.5, 2.0])
def test_sampling_matches_masked_softmax(impl, T):
    V = 37
    gen = torch.Generator().manual_seed(11)
    row = torch.randn(V, generator=gen) * 1.5
    allowed = [0, 2, 3, 5, 8, 13, 21, 30, 33, 34, 36]
    bm = bits_from_sets([allowed], 2)[0]
    samples = _sample_many(impl, row, bm, seed=100 + int(T * 10), temperature=T)
    check_frequencies(samples, expected_probs(row, allowed, T))


def test_sampling_fp16_bf16(impl):
    V = 45
    gen = torch.Generator().manual_seed(12)
    allowed = list(range(0, 45, 3))
    bm = bits_from_sets([allowed], 2)[0]
    for dtype in (torch.float16, torch.bfloat16):
        row = (torch.randn(V, generator=gen)).to(dtype)
        samples = _sample_many(impl, row, bm, seed=7, temperature=1.0)
        check_frequencies(samples, expected_probs(row.float(), allowed, 1.0))


def test_top_k_after_masking(impl):
    V = 40
    gen = torch.Generator().manual_seed(13)
    row = torch.randn(V, generator=gen)
    allowed = [1, 4, 6, 9, 10, 20, 39]
    bm = bits_from_sets([allowed], 2)[0]
    # the best 3 *allowed* tokens, even if disallowed tokens have higher logits
    row[0] = 10.0
    samples = _sample_many(impl, row, bm, seed=5, temperature=1.0, top_k=3)
    p = expected_probs(row, allowed, 1.0, top_k=3)
    assert int((p > 0).sum()) == 3
    check_frequencies(samples, p)


def test_top_p_after_masking(impl):
    V = 40
    row = torch.tensor([5.0] + [0.0] * (V - 1))
    row[[2, 3, 4, 7]] = torch.tensor([2.0, 1.5, 1.0, -1.0])
    allowed = [2, 3, 4, 7, 11]
    bm = bits_from_sets([allowed], 2)[0]
    samples = _sample_many(impl, row, bm, seed=9, temperature=1.0, top_p=0.8)
    p = expected_probs(row, allowed, 1.0, top_p=0.8)
    assert (p > 0).nonzero().flatten().tolist() == [2, 3, 4]
    check_frequencies(samples, p)
    # top_p tiny: only the best allowed token
    s = _sample_many(impl, row, bm, seed=1, temperature=1.0, top_p=1e-6)
    assert set(s.tolist()) == {2}


def test_sampling_uses_generator(impl):
    V = 500
    logits = torch.zeros(4, V)
    bm = torch.full((4, 16), -1, dtype=torch.int32)
    a = impl.masked_sample(logits, bm, generator=torch.Generator().manual_seed(42))
    b = impl.masked_sample(logits, bm, generator=torch.Generator().manual_seed(42))
    c = impl.masked_sample(logits, bm, generator=torch.Generator().manual_seed(43))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


# --------------------------------------------------------------------------------------------
# the masked log-normaliser (return_log_z)
# --------------------------------------------------------------------------------------------


def ref_log_z(logits: torch.Tensor, bitmask: torch.Tensor, T: float) -> np.ndarray:
    """float64 numpy: log of the allowed mass of softmax(logits/T) (T <= 0 -> T = 1)."""
    x = logits.float().cpu().numpy().astype(np.float64) / (T if T > 0 else 1.0)
    allowed = ref_allowed(bitmask, x.shape[1])

    def lse(a):
        m = a.max(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            m_safe = np.where(np.isfinite(m), m, 0.0)
            return (m_safe + np.log(np.exp(a - m_safe).sum(axis=1, keepdims=True)))[:, 0]

    return lse(np.where(allowed, x, -np.inf)) - lse(x)


def _log_z_rows(V: int, B: int, gen: torch.Generator) -> tuple[torch.Tensor, list[list[int]]]:
    """Bitmask rows: random ones, plus an all-masked row, a one-legal-token row (the last id),
    and an all-allowed row (log_z must be 0)."""
    n_words = (V + 31) // 32
    sets = []
    for _ in range(B):
        a = (torch.rand(V, generator=gen) < 0.3).nonzero().flatten().tolist() or [0]
        sets.append(a)
    sets += [[], [V - 1], list(range(V))]
    return bits_from_sets(sets, n_words), sets


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("V", [1, 31, 33, 1000, 32001])
@pytest.mark.parametrize("T", [0.0, 0.7, 1.0, 2.0])
def test_log_z_matches_reference(impl, dtype, V, T):
    gen = torch.Generator().manual_seed(V * 31 + int(T * 10))
    bitmask, sets = _log_z_rows(V, 3, gen)
    B = bitmask.shape[0]
    # a slice of a wider tensor: row stride != V, and the extra columns must not count
    wide = (torch.randn(B, V + 7, generator=gen) * 3).to(dtype)
    logits = wide[:, :V]
    if V == 1:
        sets[0] = [0]
        bitmask = bits_from_sets(sets, 1)
    before = logits.clone()
    toks, log_z = impl.masked_sample(logits, bitmask, temperature=T, return_log_z=True,
                                     generator=torch.Generator().manual_seed(1))
    assert torch.equal(logits, before)
    assert toks.dtype == torch.int64 and log_z.dtype == torch.float32
    assert toks.shape == log_z.shape == (B,)
    expected = ref_log_z(logits, bitmask, T)
    got = log_z.double().numpy()
    assert np.array_equal(np.isneginf(got), np.isneginf(expected)), (got, expected)
    fin = np.isfinite(expected)
    np.testing.assert_allclose(got[fin], expected[fin], rtol=1e-5, atol=2e-5)
    for i, s in enumerate(sets):
        if s:
            assert int(toks[i]) in set(s), (i, int(toks[i]))
        else:
            assert int(toks[i]) == -1 and np.isneginf(got[i])  # dead row: sentinel, no error
    # the all-allowed row has all the mass; the one-legal-token row is that token's log-prob
    assert abs(got[-1]) < 2e-5
    x = logits[-2].double() / (T if T > 0 else 1.0)
    assert int(toks[-2]) == V - 1
    assert abs(got[-2] - float(torch.log_softmax(x, 0)[V - 1])) < 2e-5 + 1e-5 * abs(got[-2])


def test_log_z_does_not_change_the_draws(impl):
    """Same generator seed: same tokens with and without return_log_z (sampled and greedy)."""
    V = 777
    gen = torch.Generator().manual_seed(21)
    logits = torch.randn(64, V, generator=gen)
    bm = random_bitmask(64, V, 0.2, gen)
    for T in (0.0, 0.5, 1.0):
        a = impl.masked_sample(logits, bm, temperature=T, generator=torch.Generator().manual_seed(3))
        b, lz = impl.masked_sample(logits, bm, temperature=T, generator=torch.Generator().manual_seed(3),
                                   return_log_z=True)
        assert torch.equal(a, b)
        np.testing.assert_allclose(lz.double().numpy(), ref_log_z(logits, bm, T), rtol=1e-5, atol=2e-5)


def test_log_z_with_existing_neg_inf_and_top_k(impl):
    """-inf logits count for nothing; a row whose allowed logits are all -inf is dead (-inf);
    top_k/top_p truncate the draw but log_z stays the masked tempered normaliser."""
    V = 70
    gen = torch.Generator().manual_seed(5)
    logits = torch.randn(3, V, generator=gen)
    logits[0, [3, 4]] = float("-inf")
    logits[1, :10] = float("-inf")
    bm = bits_from_sets([[3, 5, 9, 69], [2, 9], [0, 1, 2, 3, 4, 5]], 3)
    expected = ref_log_z(logits, bm, 1.5)
    assert np.isneginf(expected[1]) and np.isfinite(expected[0])
    for kw in ({}, {"top_k": 2}, {"top_p": 0.3}):
        toks, lz = impl.masked_sample(logits, bm, temperature=1.5, return_log_z=True,
                                      generator=torch.Generator().manual_seed(0), **kw)
        got = lz.double().numpy()
        assert np.isneginf(got[1]) and int(toks[1]) == -1
        np.testing.assert_allclose(got[[0, 2]], expected[[0, 2]], rtol=1e-5, atol=2e-5)
        assert int(toks[0]) in (5, 9, 69) and int(toks[2]) in range(6)
    # without return_log_z the dead row is still an error
    with pytest.raises(ValueError, match="row 1"):
        impl.masked_sample(logits, bm, temperature=1.5)


def test_log_z_weights_correct_masked_sampling(impl):
    """What the weights are for: masked draws weighted by exp(log_z) estimate the allowed mass
    of each token under the unmasked law, E[Z 1{x = t}] = p(t) m(t) (proper weighting,
    ALGORITHMS.md section 1.2).  Rows share one logits row but alternate between two masks,
    so a per-row normaliser is needed; a z-test per token at a fixed seed."""
    V, N = 12, 40_000
    row = torch.tensor([2.0, 1.0, 0.5, 0.0, -0.5, 1.5, -1.0, 0.3, 0.8, -2.0, 0.1, 1.2])
    masks = [[0, 3, 4, 7], [1, 2, 3, 10, 11]]
    bm = bits_from_sets(masks, 1)
    logits = row.unsqueeze(0).expand(N, -1).contiguous()
    which = torch.arange(N) % 2
    toks, lz = impl.masked_sample(logits, bm[which], generator=torch.Generator().manual_seed(17),
                                  return_log_z=True)
    p = torch.softmax(row.double(), 0)
    w = lz.double().exp()
    for k, allowed in enumerate(masks):
        sel = which == k
        for t in range(V):
            ind = (toks[sel] == t).double() * w[sel]
            target = float(p[t]) if t in allowed else 0.0
            se = float(ind.std()) / math.sqrt(int(sel.sum())) + 1e-12
            assert abs(float(ind.mean()) - target) < 4.5 * se + 1e-9, (k, t, float(ind.mean()), target)


# --------------------------------------------------------------------------------------------
# dispatch
# --------------------------------------------------------------------------------------------


def test_dispatch_cpu_uses_torch_and_triton_importable():
    assert K.HAS_TRITON, "triton is a test dependency and must import"
    logits = torch.randn(2, 33)
    bm = bits_from_sets([[1, 32], [0]], 2)
    out = K.apply_token_bitmask_(logits.clone(), bm)
    assert_same(out, ref_apply(logits, bm))
    best0 = 1 if logits[0, 1] >= logits[0, 32] else 32
    assert K.masked_sample(logits, bm, temperature=0).tolist() == [best0, 0]


def test_triton_on_cpu_without_interpreter_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET"):
        K.triton_impl.apply_token_bitmask_(torch.randn(1, 8), bits_from_sets([[0]], 1))


def test_triton_kernels_under_interpreter():
    """Every [triton] case above, in a child pytest that sets TRITON_INTERPRET=1 before import."""
    if IN_INTERPRETER:
        return  # the [triton] cases ran in this process
    env = dict(os.environ, TRITON_INTERPRET="1")
    root = str(paths.ROOT)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", os.path.abspath(__file__),
           "-k", "triton and not under_interpreter and not without_interpreter", "-rfEs"]
    r = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    m = re.search(r"(\d+) passed", out)
    assert m and int(m.group(1)) >= 30, out[-3000:]
    assert "skipped" not in out and "failed" not in out, out[-3000:]
