"""Speculative masked sampling is exact: the law of the first L tokens equals sequential
masked sampling's (ALGORITHMS.md 3.2 and 3.7.1).

Exact first: every run of ``run_speculative`` (the driver behind ``decode.sample(...,
speculative=)``, with the real ``Drafter`` and acceptance rule) is enumerated on hand-made
``TableLM``s by replaying every sequence of random choices, each branch carrying its exact
probability, for each draft source and draft lengths 1..3; the result must equal the law
enumerated from the masked next-token distributions (float64, to 1e-12).  Then Monte Carlo
through ``decode.sample`` at fixed seeds, chi-square against the same law; its power check
is a sampler with a wrong acceptance rule, which the same test rejects.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from constrain import Vocabulary, compile_regex
from decode import Speculation, TableLM, sample
from decode.speculative import run_speculative
from tests.decode.samplers import toys

A, B, AB, C, EOS = 0, 1, 2, 3, 4
L = 4


def hashed_lm(vocab, salt: int = 7) -> TableLM:
    """Every token positive, each context's law different (a seeded hash of the context)."""

    def next_token(ctx):
        rng = np.random.default_rng([salt, len(ctx), *ctx])
        return rng.random(vocab.size) + 0.05

    return TableLM(vocab, next_token)


class Branch(Exception):
    def __init__(self, options):
        self.options = options


class ScriptedChooser:
    """Replays a script of choices; past its end, raises :class:`Branch` with the options.

    ``prob`` is the product of the probabilities of the choices made."""

    def __init__(self, script):
        self.script, self.k, self.prob = script, 0, 1.0

    def _choose(self, options):
        if self.k < len(self.script):
            choice = self.script[self.k]
            self.k += 1
            self.prob *= dict(options)[choice]
            return choice
        raise Branch([c for c, p in options if p > 0])

    def accept(self, p):
        return self._choose([(True, p), (False, 1.0 - p)])

    def sample(self, probs):
        return self._choose([(int(t), float(probs[t])) for t in np.flatnonzero(probs.numpy() > 0)])


def enumerate_law(run) -> dict:
    """The law of ``run(chooser)``'s (hashable) result over every sequence of random choices."""
    law: dict = {}
    stack = [[]]
    while stack:
        script = stack.pop()
        chooser = ScriptedChooser(script)
        try:
            key = run(chooser)
        except Branch as b:
            stack.extend(script + [c] for c in b.options)
            continue
        law[key] = law.get(key, 0.0) + chooser.prob
    return law


def speculative_law(lm, compiled, spec, prompt, temperature=1.0) -> dict:
    def run(chooser):
        r = run_speculative(lm, prompt, [compiled.matcher()], spec, max_new_tokens=L,
                            temperature=temperature, chooser=chooser, stats={})
        return tuple(r.token_ids[0]), bool(r.finished[0])

    return enumerate_law(run)


def sequential_law(lm, compiled, prompt, temperature=1.0) -> dict:
    """The first-L-token law of sequential masked sampling (tempered), by enumeration."""
    vocab = lm.vocab
    law: dict = {}

    def walk(seq, matcher, prob):
        logp = lm.logprobs([list(prompt) + seq])[0].double().numpy() / temperature
        allowed = vocab.mask_to_ids(matcher.mask())
        w = np.exp(logp[allowed] - logp[allowed].max())
        w /= w.sum()
        for t, pt in zip(allowed.tolist(), w.tolist()):
            if t in vocab.eos_ids:
                key = (tuple(seq), True)
                law[key] = law.get(key, 0.0) + prob * pt
            elif len(seq) + 1 == L:
                key = (tuple(seq + [t]), False)
                law[key] = law.get(key, 0.0) + prob * pt
            else:
                m = matcher.copy()
                assert m.advance(t)
                walk(seq + [t], m, prob * pt)

    walk([], compiled.matcher(), 1.0)
    return law


def assert_exact(lm, compiled, spec, prompt, temperature=1.0) -> None:
    """The speculative first-L law equals sequential masked sampling's, to 1e-12."""
    spec_law = speculative_law(lm, compiled, spec, prompt, temperature)
    seq_law = sequential_law(lm, compiled, prompt, temperature)
    assert set(spec_law) == set(seq_law)
    for key, p in seq_law.items():
        assert spec_law[key] == pytest.approx(p, abs=1e-12), key
    assert sum(spec_law.values()) == pytest.approx(1.0, abs=1e-12)


class FixedDraft:
    """A point-mass source that ignores the context: always ``a b ab c`` (mostly illegal)."""

    name = "fixed"

    def propose(self, context, k):
        return [A, B, AB, C][:k]


def _constraints(vocab):
    # "[ac]abc?": after the first token the grammar forces "ab" (drafted as the token "ab",
    # while "a" is legal too), then c or the end; "[ab]{1,3}": nothing forced, n-gram and
    # recycling drafts only
    return {"forced": compile_regex("[ac]abc?", vocab), "free": compile_regex("[ab]{1,3}", vocab)}


SOURCES = ["grammar", "ngram", "recycling", "fixed", "model"]
PROMPT = [C, A, B, A, B]


@pytest.fixture(scope="module")
def setup():
    vocab = toys.toy_vocab()
    return vocab, hashed_lm(vocab), _constraints(vocab)


def _spec(source: str, gamma: int, adaptive: bool = True, siblings: int = 0) -> Speculation:
    """One draft source alone (linear drafts: ``siblings=0``; tree drafts are
    tests/decode/speculative/test_tree_drafts.py's)."""
    if source == "model":  # the draft model: another hashed LM, so its guesses are often wrong
        return Speculation(drafts=("model",), max_draft=gamma, adaptive=adaptive,
                           draft_model=hashed_lm(toys.toy_vocab(), salt=8), siblings=siblings)
    drafts = (FixedDraft(),) if source == "fixed" else (source,)
    return Speculation(drafts=drafts, max_draft=gamma, adaptive=adaptive, siblings=siblings)


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("gamma", [1, 2, 3])
@pytest.mark.parametrize("which", ["forced", "free"])
def test_first_tokens_law_equals_sequential_masked_sampling(setup, source, gamma, which):
    vocab, lm, cons = setup
    assert_exact(lm, cons[which], _spec(source, gamma), PROMPT)


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_exact_under_temperature_with_all_sources(setup, temperature):
    vocab, lm, cons = setup
    spec = Speculation(drafts=("grammar", "ngram", "recycling", FixedDraft()), max_draft=3, adaptive=False)
    for c in cons.values():
        assert_exact(lm, c, spec, PROMPT, temperature)


def test_drafts_are_really_verified(setup):
    """The enumeration is not vacuous: drafts were made and some rejected, and calls saved."""
    vocab, lm, cons = setup
    stats: dict = {}
    matchers = [cons["forced"].matcher() for _ in range(200)]
    run_speculative(lm, PROMPT, matchers, _spec("grammar", 3), max_new_tokens=L, temperature=1.0,
                    chooser=__import__("decode").speculative.TorchChooser(), stats=stats)
    assert stats["sources"]["grammar"]["drafted"] > 0
    assert 0 < stats["accepted"] < stats["drafted"]


def _key(text: str, finished: bool) -> str:
    return text + ("$" if finished else "")


def _mc_counts(lm, compiled, spec, seed, n):
    s = sample(lm, PROMPT, compiled, n=n, max_new_tokens=L, seed=seed, speculative=spec)
    return [_key(t, f) for t, f in zip(s.texts, s.finished)], s


def _text_law(vocab, law):
    out: dict = {}
    for (ids, fin), p in law.items():
        k = _key(vocab.decode_bytes(list(ids)).decode(), fin)
        out[k] = out.get(k, 0.0) + p
    return out


CHI2_CASES = [("grammar", 2, "forced", 11), ("ngram", 3, "free", 12), ("recycling", 1, "free", 13),
              ("fixed", 3, "forced", 14), ("model", 3, "free", 15)]


@pytest.mark.parametrize("source,gamma,which,seed", CHI2_CASES)
def test_chi_square_at_fixed_seeds(setup, source, gamma, which, seed):
    vocab, lm, cons = setup
    law = _text_law(vocab, sequential_law(lm, cons[which], PROMPT))
    texts, s = _mc_counts(lm, cons[which], _spec(source, gamma), seed, 4000)
    stat, df = toys.pearson(texts, law)
    # alpha = 1e-3 per test, Bonferroni over the cases
    assert stat < toys.chi2_critical(df, z=3.54), (stat, df)
    assert s.stats["forward_calls"] < L  # several tokens per LM call


def test_chi_square_has_power_against_a_wrong_acceptance_rule(setup, monkeypatch):
    """Accepting drafts with probability sqrt(p~) (too often) is caught by the same test."""
    import decode.speculative.particles as P
    from decode.speculative import verify

    def biased(probs, drafts, chooser):
        probs = probs.clone()
        for i, d in enumerate(drafts):
            p = float(probs[i, d])
            if 0 < p < 1:
                probs[i] *= (1 - math.sqrt(p)) / (1 - p)
                probs[i, d] = math.sqrt(p)
        return verify.verify_sampled(probs, drafts, chooser)

    monkeypatch.setattr(P, "verify_sampled", biased)
    stat, df, _ = chi_square(setup, "forced", _spec("grammar", 2), 11)
    assert stat > toys.chi2_critical(df, z=3.54)


def chi_square(setup, which: str, spec, seed: int):
    """``(statistic, df, result)``: 4000 draws of ``decode.sample`` against the enumerated law."""
    vocab, lm, cons = setup
    law = _text_law(vocab, sequential_law(lm, cons[which], PROMPT))
    texts, s = _mc_counts(lm, cons[which], spec, seed, 4000)
    stat, df = toys.pearson(texts, law)
    return stat, df, s


def assert_greedy_identity(setup, specs: dict) -> None:
    """Speculative greedy under each of ``specs`` (name -> Speculation) is the plain greedy's."""
    vocab, lm, cons = setup
    for which, c in cons.items():
        ref = sample(lm, PROMPT, c, n=1, max_new_tokens=L, temperature=0.0)
        for name, spec in specs.items():
            got = sample(lm, PROMPT, c, n=1, max_new_tokens=L, temperature=0.0, speculative=spec)
            assert got.token_ids == ref.token_ids, (which, name)
            assert got.finished == ref.finished


def test_greedy_matches_sequential_greedy(setup):
    assert_greedy_identity(setup, {source: _spec(source, 3) for source in SOURCES})


def test_model_drafts_are_really_verified(setup):
    """The "model" source drafts (legal tokens only) and its wrong guesses are rejected;
    a draft model equal to the target is always right under greedy verification."""
    from decode.speculative import TorchChooser

    vocab, lm, cons = setup
    stats: dict = {}
    matchers = [cons["free"].matcher() for _ in range(200)]
    run_speculative(lm, PROMPT, matchers, _spec("model", 3), max_new_tokens=L, temperature=1.0,
                    chooser=TorchChooser(), stats=stats)
    assert stats["sources"]["model"]["drafted"] > 0
    assert 0 < stats["accepted"] < stats["drafted"]
    same = Speculation(drafts=("model",), max_draft=3, draft_model=hashed_lm(vocab))
    for c in cons.values():
        stats = {}
        run_speculative(lm, PROMPT, [c.matcher()], same, max_new_tokens=L, temperature=0.0,
                        chooser=TorchChooser(), stats=stats)
        model = stats["sources"]["model"]
        assert model["accepted"] == model["drafted"] > 0  # siblings, alternatives by design, may be rejected


def test_draft_model_errors(setup):
    from decode import GenerationArgumentError

    vocab, lm, cons = setup
    with pytest.raises(GenerationArgumentError, match="needs draft_model"):
        Speculation(drafts=("grammar", "model"))
    with pytest.raises(GenerationArgumentError, match="draft_model must be"):
        Speculation(draft_model="SmolLM2")
    assert Speculation(draft_model=lm).draft_names == ("grammar", "ngram", "recycling", "model")
    assert Speculation(draft_model=lm, siblings=3).source_names == ("grammar", "ngram", "recycling", "model", "siblings")
    assert Speculation(draft_model=lm).source_names == ("grammar", "ngram", "recycling", "model")  # off by default
    other = TableLM(Vocabulary.from_token_bytes([b"a", b"b", None], eos_ids=[2]), lambda ctx: [1, 1, 1])
    with pytest.raises(GenerationArgumentError, match="share"):
        sample(lm, PROMPT, cons["free"], n=1, max_new_tokens=L, speculative=Speculation(draft_model=other))
