"""AWRS (decode/samplers/awrs.py): exact proper weighting, exact sampling, cost.

The weight identity E[W 1{x = t}] = p(t) c(t) is checked exactly, in rationals, by walking
every sampling-without-replacement order of tiny vocabularies through the very function the
sampler runs (``awrs_select``); then by Monte Carlo through the vectorized proposal, and at
the sequence level through ``decode.sample`` on the dead-end toy of ``toys.py``.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction as F

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from constrain import Vocabulary, compile_regex
from decode import TableLM, sample
from decode.samplers.awrs import AWRSProposal, awrs_select, swor_order
from tests.decode.samplers import toys


def swor_paths(p):
    """Every SWOR order of the live tokens (p > 0) with its exact probability."""
    live = [t for t, pt in enumerate(p) if pt > 0]
    for perm in itertools.permutations(live):
        prob, left = F(1), F(1)
        for t in perm:
            prob *= p[t] / left
            left -= p[t]
        yield perm, prob


def exact_moments(p, c, select=awrs_select):
    """E[W 1{x = t}] per token, P(dead), E[W | dead] and E[checks], exactly."""
    ew = [F(0)] * len(p)
    dead_prob, dead_w, checks = F(0), F(0), F(0)
    for perm, prob in swor_paths(p):
        tok, w, n = select(perm, lambda t: p[t], lambda t: bool(c[t]))
        checks += prob * n
        if tok is None:
            dead_prob += prob
            dead_w += prob * w
        else:
            ew[tok] += prob * w
    return ew, dead_prob, dead_w, checks


CASES = {
    "mixed": ([F(1, 2), F(1, 4), F(1, 8), F(1, 16), F(1, 32), F(1, 32)], [1, 0, 1, 0, 0, 1]),
    "top-rejected": ([F(6, 10), F(1, 10), F(1, 10), F(1, 10), F(1, 10)], [0, 1, 1, 0, 1]),
    "one-legal": ([F(1, 3), F(1, 6), F(1, 6), F(1, 6), F(1, 12), F(1, 12)], [0, 0, 0, 1, 0, 0]),
    "all-legal": ([F(1, 2), F(1, 3), F(1, 6)], [1, 1, 1]),
    "zero-prob-token": ([F(1, 2), F(0), F(1, 4), F(1, 4)], [0, 1, 1, 0]),
    "single-live": ([F(1), F(0), F(0)], [1, 1, 0]),
    "all-rejected": ([F(1, 5), F(2, 5), F(1, 5), F(1, 10), F(1, 10)], [0, 0, 0, 0, 0]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_awrs_is_exactly_properly_weighted(name):
    p, c = CASES[name]
    ew, dead_prob, dead_w, checks = exact_moments(p, c)
    assert ew == [pt * ct for pt, ct in zip(p, c)]
    live = sum(1 for pt in p if pt > 0)
    assert checks <= live  # never more checks than live tokens
    if not any(pt * ct for pt, ct in zip(p, c)):  # all rejected: always dead, weight 0 (log -inf)
        assert dead_prob == 1 and dead_w == 0
    else:
        assert dead_prob == 0


def test_awrs_sample_given_acceptance_is_the_masked_law():
    """The token AWRS returns is distributed as p c / Z (rejected tokens renormalised away)."""
    p, c = CASES["mixed"]
    Z = sum(pt * ct for pt, ct in zip(p, c))
    law = [F(0)] * len(p)
    for perm, prob in swor_paths(p):
        tok, _, _ = awrs_select(perm, lambda t: p[t], lambda t: bool(c[t]))
        law[tok] += prob
    assert law == [pt * ct / Z for pt, ct in zip(p, c)]


def test_the_exact_check_catches_a_wrong_estimator():
    """Power: dropping the look-ahead factor (W = product of (1 - q_r) only) is biased."""

    def no_lookahead(order, prob, accept):
        tok, w, n = awrs_select(order, prob, accept)
        if tok is None:
            return tok, w, n
        remaining, mult = 1, 1
        for x in order:
            if x == tok:
                break
            q = prob(x) / remaining
            mult, remaining = mult * (1 - q), remaining - prob(x)
        return tok, mult, n

    for name in ("mixed", "top-rejected"):
        p, c = CASES[name]
        ew, *_ = exact_moments(p, c, no_lookahead)
        assert ew != [pt * ct for pt, ct in zip(p, c)]


class _FixedWalker:
    def __init__(self, allowed):
        self.ok = allowed

    def allowed(self, t):
        return bool(self.ok[t])


@settings(max_examples=12, deadline=None, derandomize=True)
@given(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=6),
       st.lists(st.booleans(), min_size=6, max_size=6),
       st.floats(0.01, 2.0))
def test_awrs_proposal_monte_carlo_weighting(raw, c, scale):
    """The vectorized proposal (Gumbel-top-k on a tensor) keeps E[W 1{x=t}] = p(t) c(t):
    a z-test per token over 20,000 draws at a fixed seed (p drawn by hypothesis; the
    scale changes nothing since rows are normalised log-probabilities)."""
    p = np.asarray(raw) * scale
    if p.sum() <= 0:
        return
    p = p / p.sum()
    c = np.asarray(c[: len(p)])
    n = 20_000
    with np.errstate(divide="ignore"):
        logp = torch.from_numpy(np.log(np.tile(p, (n, 1))))
    gen = torch.Generator().manual_seed(1)
    stats = {"tokens_checked": 0}
    toks, logw = AWRSProposal(gen).propose(logp, [_FixedWalker(c)] * n, stats)
    toks, w = np.asarray(toks), np.exp(logw)
    for t in range(len(p)):
        x = w * (toks == t)
        se = x.std() / math.sqrt(n) + 1e-9
        assert abs(x.mean() - p[t] * c[t]) <= 4.5 * se + 1e-3, (t, x.mean(), p[t] * c[t])
    if not (p * c).sum():
        assert (toks == -1).all() and np.isneginf(logw).all()
    assert stats["tokens_checked"] <= n * int((p > 0).sum())


def test_awrs_raw_sample_equals_the_masked_law():
    """decode.sample(method='awrs'): the unweighted texts follow token masking's law."""
    vocab, lm, compiled, N = toys.toy()
    _, _, masked = toys.enumerate_laws(lm, compiled, N)
    for seed in (0, 1):
        s = sample(lm, [], compiled, method="awrs", n=3000, max_new_tokens=N, seed=seed)
        stat, df = toys.pearson(s.texts, masked)
        assert stat < toys.chi2_critical(df), (seed, stat, df)


def test_awrs_weights_target_pi():
    """Importance weights of independent AWRS samples: unbiased for Z * pi (Hotelling T^2),
    while the same samples unweighted are rejected (the toy's masked law is far from pi)."""
    vocab, lm, compiled, N = toys.toy()
    pi, Z, _ = toys.enumerate_laws(lm, compiled, N)
    s = sample(lm, [], compiled, method="awrs", n=4000, max_new_tokens=N, seed=3)
    w = np.exp(np.asarray(s.log_weights))
    t2, df = toys.weighted_t2([{t: wi} for t, wi in zip(s.texts, w)], list(w), pi)
    assert t2 < toys.chi2_critical(df), (t2, df)
    t2_raw, df = toys.weighted_t2([{t: 1.0} for t in s.texts], [1.0] * len(s.texts), pi)
    assert t2_raw > toys.chi2_critical(df), t2_raw
    assert abs(w.mean() - Z) < 4 * w.std() / math.sqrt(len(w))


def test_awrs_checks_few_tokens_on_a_peaked_model():
    """Cost: on a model that puts most of its mass on legal tokens, AWRS checks a handful of
    tokens per step, far below |V|, and within the bound E[checks] <= 1/Z_t + 1 (ARS's
    distinct checks are at most with-replacement rejection sampling's 1/Z_t; one look-ahead
    check for the weight)."""
    letters = [bytes([b]) for b in range(ord("a"), ord("a") + 63)]
    vocab = Vocabulary.from_token_bytes(letters + [None], eos_ids=[63])
    p = np.full(64, 0.05 / 55)
    p[:8] = 0.9 / 8  # a..h: the legal letters
    p[63] = 0.05  # EOS
    lm = TableLM(vocab, lambda ctx: p)
    compiled = compile_regex("[a-h]{4}", vocab)
    s = sample(lm, [], compiled, method="awrs", n=500, max_new_tokens=5, seed=0)
    steps = sum(len(ids) + 1 for ids in s.token_ids)
    assert all(s.finished) and steps == 500 * 5
    per_step = s.stats["tokens_checked"] / steps
    bound = (4 * (1 / 0.9 + 1) + (1 / 0.05 + 1)) / 5
    assert per_step < bound
    assert per_step < vocab.size / 8
    assert s.stats["masks_computed"] == 0


# ---------------------------------------------------------------- the rejection cap


def exact_moments_capped(p, c, max_rejects, fallback_weight=None):
    """E[W 1{x = t}] and the worst number of checks of AWRS capped at ``max_rejects`` rejections,
    exactly: the fallback's own draw (the masked law, weight Z unless ``fallback_weight``) is
    enumerated analytically."""
    Z = sum(pt * ct for pt, ct in zip(p, c))
    ew = [F(0)] * len(p)
    worst = 0
    fell_prob = F(0)
    for perm, prob in swor_paths(p):
        fell = []
        tok, w, n = awrs_select(perm, lambda t: p[t], lambda t: bool(c[t]), max_rejects,
                                lambda: fell.append(1) or ("fallback", Z))
        worst = max(worst, n)
        if fell:
            fell_prob += prob
            for t in range(len(p)):
                if Z:
                    law = p[t] * c[t] / Z
                    ew[t] += prob * law * (Z if fallback_weight is None else fallback_weight)
        elif tok is not None:
            ew[tok] += prob * w
    return ew, worst, fell_prob


@pytest.mark.parametrize("max_rejects", [0, 1, 2, 3])
@pytest.mark.parametrize("name", ["mixed", "top-rejected", "one-legal", "zero-prob-token"])
def test_capped_awrs_is_exactly_properly_weighted(name, max_rejects):
    p, c = CASES[name]
    ew, worst, fell_prob = exact_moments_capped(p, c, max_rejects)
    assert ew == [pt * ct for pt, ct in zip(p, c)]
    assert worst <= max_rejects + 2  # the rejections, one accepted token, one look-ahead
    if max_rejects == 0:
        assert fell_prob == 1


def test_the_capped_check_catches_a_wrong_fallback_weight():
    """Power: an unweighted fallback (W = 1 instead of the exact legal mass Z) is biased."""
    p, c = CASES["top-rejected"]
    ew, _, fell_prob = exact_moments_capped(p, c, 1, fallback_weight=F(1))
    assert fell_prob > 0 and ew != [pt * ct for pt, ct in zip(p, c)]


def test_capped_awrs_bounds_checks_where_the_legal_mass_is_tiny():
    """One legal token with probability 1e-4 among 2,048: plain AWRS checks ~|V| tokens, the
    capped one at most the cap plus one full mask, and both stay properly weighted."""
    V = 2048
    toks = [bytes([65 + i % 26]) * (1 + i // 26) for i in range(V - 1)] + [None]
    vocab = Vocabulary.from_token_bytes(toks, eos_ids=[V - 1])
    c = compile_regex("A", vocab)
    logits = torch.zeros(V, dtype=torch.float64)
    logits[0] = math.log(1e-4 * (V - 1) / (1 - 1e-4))  # token "A": 1e-4 of the mass
    lp = torch.log_softmax(logits, 0).unsqueeze(0)

    class W:
        def __init__(self):
            self.m = c.matcher()

        def allowed(self, t):
            return self.m.is_allowed(t)

        def fill_mask(self, out, row):
            self.m.fill_mask(out, row)

    for cap, bound in ((None, V), (32, 34)):
        stats = {"tokens_checked": 0, "masks_computed": 0}
        prop = AWRSProposal(torch.Generator().manual_seed(0), max_rejects=cap)
        tokens, logw = [], []
        for _ in range(50):
            t, lw = prop.propose(lp, [W()], stats)
            tokens += t
            logw += list(lw)
        assert set(tokens) == {0}
        assert stats["tokens_checked"] <= 50 * bound
        if cap is None:
            assert stats["tokens_checked"] > 50 * 200 and stats["masks_computed"] == 0
        else:
            assert stats["masks_computed"] >= 45  # nearly every draw falls back
            assert np.allclose(np.exp(logw), 1e-4, rtol=1e-6)  # the exact legal mass


@pytest.mark.parametrize("first,growth", [(1, 2), (3, 4), (32, 8), (10_000, 2)])
def test_swor_order_is_the_full_sort_of_the_live_keys(first, growth):
    """The top-k slices hand over exactly the descending order of the finite keys, each id
    once, whatever the slice sizes; ties included (the slices may order them differently)."""
    gen = torch.Generator().manual_seed(first)
    keys = torch.randn(500, generator=gen, dtype=torch.float64)
    keys[::7] = -math.inf           # impossible tokens
    keys[10:20] = keys[5]           # ties
    n_live = int(torch.isfinite(keys).sum())
    order = list(swor_order(keys, n_live, first=first, growth=growth))
    assert len(order) == len(set(order)) == n_live
    assert all(math.isfinite(keys[t]) for t in order)
    got = keys[order]
    assert torch.all(got[:-1] >= got[1:])  # non-increasing
    # reading only a prefix stops early (the generator is lazy)
    it = swor_order(keys, n_live, first=first, growth=growth)
    assert [next(it) for _ in range(3)] == order[:3]


def test_a_peaked_illegal_row_is_drawn_exactly():
    """Where the model's top token (p >= 2/3) is illegal, AWRS's single-token weight is at its
    noisiest; a constraint with masks then draws exactly, with the exact legal mass as the
    weight: one check (the top token) and one mask per row, every weight equal to Z."""
    from decode.samplers.predicate import MatcherWalker

    vocab = toys.toy_vocab()
    compiled = compile_regex("[ab]{1,3}", vocab)
    p = torch.tensor([[0.04, 0.04, 0.02, 0.85, 0.05]] * 200, dtype=torch.float64)  # 'c' is illegal
    walkers = [MatcherWalker(compiled.matcher()) for _ in range(200)]
    stats = {"tokens_checked": 0, "masks_computed": 0}
    toks, logw = AWRSProposal(torch.Generator().manual_seed(0)).propose(p.log(), walkers, stats)
    assert stats == {"tokens_checked": 200, "masks_computed": 200}
    np.testing.assert_allclose(logw, math.log(0.1), rtol=1e-12)
    counts = np.bincount(toks, minlength=5)
    assert counts[3] == counts[4] == 0 and counts[0] > counts[2]  # the masked law 0.4/0.4/0.2
    # without the exact branch the same rows get single-token weights that scatter around Z
    stats = {"tokens_checked": 0, "masks_computed": 0}
    _, logw = AWRSProposal(torch.Generator().manual_seed(0), peaked=None).propose(p.log(), walkers, stats)
    assert stats["masks_computed"] == 0 and np.ptp(logw) > 1.0
    assert abs(np.exp(logw).mean() - 0.1) < 4 * np.exp(logw).std() / math.sqrt(200)  # still unbiased
