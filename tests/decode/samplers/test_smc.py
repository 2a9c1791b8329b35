"""SMC through decode.sample(method="smc"): the weighted particles target pi, exp(log_ml)
is unbiased for Z, on the dead-end toy of toys.py whose masked law is far from pi (TV 0.51);
the same statistics reject plain token masking there (power)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from decode import sample
from tests.decode.samplers import toys

RUNS, PARTICLES = 300, 8


@pytest.fixture(scope="module")
def toy_laws():
    vocab, lm, compiled, N = toys.toy()
    pi, Z, masked = toys.enumerate_laws(lm, compiled, N)
    return lm, compiled, N, pi, Z, masked


@pytest.fixture(scope="module", params=["masked", "awrs"])
def smc_runs(request, toy_laws):
    """RUNS independent SMC runs (seeds 0..RUNS-1) with the given proposal; ESS threshold 0.9
    so that resampling happens often."""
    lm, compiled, N, *_ = toy_laws
    runs = [sample(lm, [], compiled, method="smc", proposal=request.param, n=PARTICLES, max_new_tokens=N,
                   seed=seed, ess_threshold=0.9) for seed in range(RUNS)]
    return request.param, runs


def test_smc_pooled_weighted_posterior_is_pi(toy_laws, smc_runs):
    *_, pi, Z, _ = toy_laws
    proposal, runs = smc_runs
    assert sum(r.stats["resamples"] for r in runs) > RUNS  # resampling was exercised
    masses = [math.exp(r.log_ml) for r in runs]
    estimates = [{t: m * w for t, w in r.posterior().items()} for r, m in zip(runs, masses)]
    t2, df = toys.weighted_t2(estimates, masses, pi)
    assert t2 < toys.chi2_critical(df), (proposal, t2, df)


def test_smc_marginal_likelihood_is_unbiased(toy_laws, smc_runs):
    """z-test of mean exp(log_ml) = Z over the runs; the test can tell Z from 1.25 Z."""
    *_, Z, _ = toy_laws[3:]
    proposal, runs = smc_runs
    ml = np.exp([r.log_ml for r in runs])
    se = ml.std(ddof=1) / math.sqrt(len(ml))
    assert abs(ml.mean() - Z) < toys.Z_ALPHA * se, (proposal, ml.mean(), Z, se)
    assert abs(ml.mean() - 1.25 * Z) > toys.Z_ALPHA * se  # power against a 25% bias


def test_token_masking_fails_the_same_tests(toy_laws):
    """Power: masked samples (weights 0, i.e. equal) are rejected against pi by both the
    Pearson chi-square and the weighted T^2 used above, while they pass against their own
    local law (test_sample_api)."""
    lm, compiled, N, pi, Z, masked = toy_laws
    s = sample(lm, [], compiled, method="masked", n=RUNS * PARTICLES // 4, max_new_tokens=N, seed=0)
    stat, df = toys.pearson(s.texts, pi)
    assert stat > toys.chi2_critical(df)
    t2, df = toys.weighted_t2([{t: 1.0} for t in s.texts], [1.0] * len(s), pi)
    assert t2 > toys.chi2_critical(df)


def test_exact_mask_weights_are_the_product_of_legal_masses(toy_laws):
    """Without resampling, a masked-proposal particle's weight is exactly prod_t Z_t (the
    legal masses along its token sequence, recomputed here from the LM and the matcher):
    the kernel's log Z_t, with no estimation noise."""
    lm, compiled, N, *_ = toy_laws
    vocab = lm.vocab
    s = sample(lm, [], compiled, method="smc", proposal="masked", n=64, max_new_tokens=N, seed=5,
               ess_threshold=0.0)
    assert s.stats["resamples"] == 0 and all(s.finished)
    assert s.stats["masks_computed"] == sum(len(ids) + 1 for ids in s.token_ids)
    for ids, lw in zip(s.token_ids, s.log_weights):
        m, expected = compiled.matcher(), 0.0
        for t, tok in enumerate(ids + [toys.EOS]):
            p = np.exp(lm.logprobs([ids[:t]])[0].numpy())
            expected += math.log(p[vocab.mask_to_ids(m.mask())].sum())
            assert m.advance(tok)
        assert lw == pytest.approx(expected, abs=1e-5)
