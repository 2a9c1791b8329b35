"""decode.sample's contract: the masked law, argument errors, Samples, Predicate, budgets,
dead ends, TableLM."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from constrain import Vocabulary, compile_regex
from decode import GenerationArgumentError, Predicate, Samples, TableLM, TokenLM, sample
from tests.decode.samplers import toys


def test_masked_sampling_follows_its_local_law():
    vocab, lm, compiled, N = toys.toy()
    _, _, masked = toys.enumerate_laws(lm, compiled, N)
    for seed in (0, 1):
        s = sample(lm, [], compiled, method="masked", n=3000, max_new_tokens=N, seed=seed)
        assert s.log_ml is None and set(s.log_weights) == {0.0} and all(s.finished)
        stat, df = toys.pearson(s.texts, masked)
        assert stat < toys.chi2_critical(df), (seed, stat, df)
        assert s.stats["tokens_checked"] == 0 and s.stats["masks_computed"] > 0


def test_samples_fields_posterior_and_reproducibility():
    vocab, lm, compiled, N = toys.toy()
    s = sample(lm, [], compiled, method="smc", n=16, max_new_tokens=N, seed=7)
    assert isinstance(s, Samples) and len(s) == 16
    assert s.texts == [vocab.decode_bytes(ids).decode() for ids in s.token_ids]
    assert all(re.fullmatch("[ab]{1,3}", t) for t in s.texts)
    post = s.posterior()
    assert set(post) == set(s.texts) and sum(post.values()) == pytest.approx(1.0)
    assert len(post) < len(s.texts)  # duplicates merged
    assert s.log_ml == pytest.approx(math.log(np.mean(np.exp(s.log_weights))))
    for key in ("forward_calls", "masks_computed", "tokens_checked", "resamples", "seconds"):
        assert key in s.stats
    assert s.stats["forward_calls"] <= N
    again = sample(lm, [], compiled, method="smc", n=16, max_new_tokens=N, seed=7)
    assert again.token_ids == s.token_ids and again.log_weights == s.log_weights


def test_prompt_is_the_context():
    vocab = toys.toy_vocab()
    # after a prompt ending in C the model only wants "b" then EOS; otherwise only "a" then EOS
    lm = TableLM(vocab, lambda ctx: [0, 1, 0, 0, 0] if ctx[-1:] == (toys.C,) else
                 ([0, 0, 0, 0, 1] if ctx[-1:] in ((toys.A,), (toys.B,)) else [1, 0, 0, 0, 0]))
    compiled = compile_regex("[ab]", vocab)
    assert sample(lm, [toys.C], compiled, method="awrs", n=4, seed=0).texts == ["b"] * 4
    assert sample(lm, [], compiled, method="masked", n=4, seed=0).texts == ["a"] * 4


def test_predicate_is_checked_token_by_token():
    """A Predicate equal to the compiled regex gives the same AWRS draws and weights (same
    seed, same checks; the compiled one without full masks, which a Predicate cannot give),
    and SMC with proposal='awrs' accepts it."""
    vocab, lm, compiled, N = toys.toy()
    pred = Predicate(lambda d: re.fullmatch(rb"[ab]{0,3}", d) is not None,
                     lambda d: re.fullmatch(rb"[ab]{1,3}", d) is not None)
    a = sample(lm, [], compiled, method="awrs", n=50, max_new_tokens=N, seed=2, max_rejects=None)
    b = sample(lm, [], pred, method="awrs", n=50, max_new_tokens=N, seed=2)
    assert a.token_ids == b.token_ids and a.log_weights == b.log_weights
    assert a.stats["tokens_checked"] == b.stats["tokens_checked"]
    s = sample(lm, [], pred, method="smc", n=8, max_new_tokens=N, seed=2)
    assert all(re.fullmatch("[ab]{1,3}", t) for t in s.texts)


@pytest.mark.parametrize("kwargs", [dict(method="masked"), dict(method="smc", proposal="masked")])
def test_predicate_needs_a_single_token_sampler(kwargs):
    vocab, lm, _, _ = toys.toy()
    pred = Predicate(lambda d: True, lambda d: True)
    with pytest.raises(GenerationArgumentError, match="Predicate cannot give a full token mask"):
        sample(lm, [], pred, **kwargs)


@pytest.mark.parametrize("kwargs, argument", [
    (dict(method="beam"), "method"),
    (dict(method="smc", proposal="gumbel"), "proposal"),
    (dict(n=0), "n"),
    (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(temperature=-1.0), "temperature"),
    (dict(method="awrs", temperature=0.0), "temperature"),
    (dict(method="smc", ess_threshold=1.5), "ess_threshold"),
])
def test_bad_arguments_raise_before_any_lm_call(kwargs, argument):
    vocab, lm, compiled, _ = toys.toy()
    with pytest.raises(GenerationArgumentError) as e:
        sample(lm, [], compiled, **kwargs)
    assert e.value.argument == argument
    assert lm.forward_calls == 0


def test_constraint_and_lm_are_checked():
    vocab, lm, compiled, _ = toys.toy()
    other = compile_regex("a", Vocabulary.from_token_bytes([b"a", None], eos_ids=[1]))
    with pytest.raises(GenerationArgumentError, match="vocabulary of 2"):
        sample(lm, [], other)
    with pytest.raises(GenerationArgumentError, match="constraint"):
        sample(lm, [], "[ab]+")
    with pytest.raises(GenerationArgumentError, match="lm"):
        sample(object(), [], compiled)
    with pytest.raises(GenerationArgumentError, match="prompt_ids"):
        sample(lm, [99], compiled)


def test_out_of_budget_and_dead_ends_get_weight_zero():
    vocab, lm, compiled, _ = toys.toy()
    # 1 token cannot hold text + EOS: weighted methods give weight 0, masked keeps a truncated sample
    s = sample(lm, [], compiled, method="awrs", n=4, max_new_tokens=1, seed=0)
    assert not any(s.finished) and all(w == -math.inf for w in s.log_weights)
    assert s.log_ml == -math.inf and s.posterior() == {}
    m = sample(lm, [], compiled, method="masked", n=4, max_new_tokens=1, seed=0)
    assert not any(m.finished) and m.log_weights == [0.0] * 4
    # the only legal continuation has probability 0 under the model: a dead end, never an error
    dead = TableLM(vocab, lambda ctx: [0, 0, 0, 1, 1])  # only c and EOS; the language needs a/b
    for kwargs in (dict(method="masked"), dict(method="awrs"), dict(method="smc", proposal="masked")):
        s = sample(dead, [], compiled, n=3, seed=0, **kwargs)
        assert s.log_weights == [-math.inf] * 3 and s.token_ids == [[]] * 3, kwargs


def test_temperature_tempers_the_next_token_law():
    """At T the masked law is softmax(log p / T) restricted: one step, exact check."""
    vocab = toys.toy_vocab()
    lm = TableLM(vocab, lambda ctx: [0.6, 0.3, 0.05, 0.05, 0] if not ctx else [0, 0, 0, 0, 1])
    compiled = compile_regex("[ab]", vocab)
    s = sample(lm, [], compiled, method="masked", n=4000, max_new_tokens=2, temperature=2.0, seed=0)
    q = np.sqrt([0.6, 0.3])
    law = {"a": q[0] / q.sum(), "b": q[1] / q.sum()}
    stat, df = toys.pearson(s.texts, law)
    assert stat < toys.chi2_critical(df)
    assert sample(lm, [], compiled, method="masked", n=3, temperature=0.0).texts == ["a"] * 3


def test_table_lm():
    vocab = toys.toy_vocab()
    lm = TableLM(vocab, lambda ctx: [3, 1, 0, 0, 0])
    assert isinstance(lm, TokenLM)
    out = lm.logprobs([[], [0], []])
    assert out.shape == (3, 5)
    assert np.allclose(np.exp(out.numpy()), [[0.75, 0.25, 0, 0, 0]] * 3)
    assert lm.forward_calls == 1 and lm.contexts_computed == 2
    log = TableLM(vocab, lambda ctx: np.log([6, 2, 1, 1, 1]) - [0, 0, 0, 0, np.inf], log=True)  # unnormalised, a -inf
    assert np.allclose(np.exp(log.logprobs([[]]).numpy()), [[0.6, 0.2, 0.1, 0.1, 0]])
    with pytest.raises(ValueError, match="gave 2 values"):
        TableLM(vocab, lambda ctx: [1, 1]).logprobs([[]])
    with pytest.raises(ValueError, match="probability 0"):
        TableLM(vocab, lambda ctx: [0] * 5).logprobs([[]])
