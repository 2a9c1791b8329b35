"""``decode.generate(..., sampler="smc" | "awrs", particles=N)`` and ``structgen generate
--sampler``: the bridge from generate's arguments to ``decode.sample`` (decode/weighted.py).

What is claimed, and how each claim is checked:

- the bridge is faithful: generate's particles are *draw for draw* those of ``decode.sample``
  on an ``HFTokenLM`` over the same prompt ids and the same compiled constraint, at the same
  seed, so the distributional guarantees proved for ``sample`` (tests/decode/samplers/
  test_smc.py, test_awrs.py: exact proper weighting, pooled posterior = pi) carry over;
- ``result.text`` is a draw from the weighted posterior: the index draw is checked by a
  chi-square test against the normalised weights (and a uniform draw, the natural mistake,
  fails the same test);
- outputs are valid, weights normalise, runs are reproducible with a seed, a batch is one run
  per prompt, and the arguments a weighted sampler cannot honour raise before any forward pass.

The model is the tiny random Llama of tests/fakes.py with the real SmolLM2 tokenizer (real
compiles, no download).
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

import decode
from decode import weighted as W
from tests.decode.samplers import toys

try:
    from tests import fakes
except ImportError:  # tests/ itself on sys.path
    import fakes

REGEX = r"(yes|no|maybe)"


@pytest.fixture(scope="module")
def smol_tok(smollm2_tokenizer):
    return smollm2_tokenizer


@pytest.fixture(scope="module")
def smol_tiny_model(smol_tok):
    return fakes.make_tiny_model(49152, seed=1, eos_token_id=int(smol_tok.eos_token_id),
                                 pad_token_id=int(smol_tok.pad_token_id or smol_tok.eos_token_id))


@pytest.fixture
def no_forward(monkeypatch, smol_tiny_model):
    """The tiny model, but any forward pass fails the test (argument errors come first)."""
    def boom(*a, **kw):
        raise AssertionError("a forward pass ran before the argument check")

    monkeypatch.setattr(smol_tiny_model, "forward", boom)
    return smol_tiny_model


# ------------------------------------------------------------------------------ the result


@pytest.mark.parametrize("sampler", ["smc", "awrs"])
def test_valid_output_particles_and_normalised_weights(smol_tiny_model, smol_tok, sampler):
    r = decode.generate(smol_tiny_model, smol_tok, "x", decode.Regex(REGEX), sampler=sampler, particles=6,
                        seed=0, max_new_tokens=8)
    assert isinstance(r, decode.GenerationResult) and isinstance(r, W.WeightedGenerationResult)
    s = r.samples
    assert isinstance(s, decode.Samples) and len(s) == 6 and s.method == sampler
    assert r.finished and r.stop_reason == "eos"
    assert re.fullmatch(REGEX, r.text), r.text
    # the text is one of the particles, one that carries weight
    assert r.text == s.texts[r.chosen] and r.token_ids == s.token_ids[r.chosen]
    assert math.isfinite(s.log_weights[r.chosen])
    post = s.posterior()
    assert post and sum(post.values()) == pytest.approx(1.0) and r.text in post
    assert all(re.fullmatch(REGEX, t) for t in post)
    assert s.log_ml is not None and math.isfinite(s.log_ml)
    assert r.timings["particles"] == 6 and r.timings["n_tokens"] == len(r.token_ids)
    assert r.timings["sampler_forward_calls"] == s.stats["forward_calls"] > 0


def test_reproducible_with_a_seed(smol_tiny_model, smol_tok):
    def run(seed):
        r = decode.generate(smol_tiny_model, smol_tok, "x", decode.Regex(REGEX), sampler="smc", particles=8,
                            seed=seed, max_new_tokens=8)
        return r.text, r.chosen, r.samples.texts, r.samples.log_weights

    a = run(3)
    assert run(3) == a
    assert any(run(s) != a for s in (4, 5, 6))  # the seed is used


def test_same_particles_as_decode_sample(smol_tiny_model, smol_tok):
    """generate encodes the prompt and compiles the constraint as the loop does, over the
    logits width, then calls decode.sample: the same seed gives the same particles."""
    from decode.constraints import as_compiled, generation_json_options, get_vocabulary
    from decode.prompts import encode_prompt

    schema = {"type": "object", "properties": {"a": {"enum": ["cat", "dog"]}}, "required": ["a"]}
    msgs = [{"role": "user", "content": "pet?"}]
    r = decode.generate(smol_tiny_model, smol_tok, msgs, schema, sampler="smc", particles=4, seed=11,
                        max_new_tokens=24)
    vocab = get_vocabulary(smol_tok, 49152)
    compiled = as_compiled(schema, vocab, **generation_json_options(None))
    lm = decode.HFTokenLM(smol_tiny_model, smol_tok, vocab=compiled.vocab)
    s = decode.sample(lm, encode_prompt(smol_tok, msgs), compiled, method="smc", n=4, max_new_tokens=24, seed=11)
    assert r.samples.token_ids == s.token_ids
    np.testing.assert_allclose(r.samples.log_weights, s.log_weights, rtol=1e-6)
    if r.finished:
        assert r.value == json.loads(r.text) and r.value["a"] in ("cat", "dog")


def test_smc_options_reach_decode_sample(smol_tiny_model, smol_tok):
    """proposal= and ess_threshold= are decode.sample's: the same seed gives the same particles."""
    from decode.constraints import as_compiled, get_vocabulary
    from decode.prompts import encode_prompt

    r = decode.generate(smol_tiny_model, smol_tok, "x", decode.Regex(REGEX), sampler="smc", particles=4, seed=3,
                        max_new_tokens=8, proposal="masked", ess_threshold=1.0)
    compiled = as_compiled(decode.Regex(REGEX), get_vocabulary(smol_tok, 49152))
    lm = decode.HFTokenLM(smol_tiny_model, smol_tok, vocab=compiled.vocab)
    s = decode.sample(lm, encode_prompt(smol_tok, "x"), compiled, method="smc", proposal="masked",
                      ess_threshold=1.0, n=4, max_new_tokens=8, seed=3)
    assert r.samples.token_ids == s.token_ids and r.samples.stats["tokens_checked"] == 0  # exact masks
    np.testing.assert_allclose(r.samples.log_weights, s.log_weights, rtol=1e-6)


def test_text_is_a_draw_from_the_weighted_posterior():
    """_draw picks index i with probability w_i / sum w (chi-square, 4000 draws, alpha 1e-3);
    weight-0 particles are never drawn; all-zero weights give -1.  A uniform draw fails."""
    lw = [math.log(0.5), math.log(0.3), -math.inf, math.log(0.15), math.log(0.05)]
    law = {str(i): math.exp(x) for i, x in enumerate(lw) if math.isfinite(x)}
    rng = np.random.default_rng(0)
    draws = [str(W._draw(lw, rng)) for _ in range(4000)]
    assert "2" not in draws
    stat, df = toys.pearson(draws, law)
    assert stat < toys.chi2_critical(df), stat
    uniform = [str(i) for i in np.random.default_rng(0).choice([0, 1, 3, 4], 4000)]
    stat_u, df_u = toys.pearson(uniform, law)
    assert stat_u > toys.chi2_critical(df_u)
    assert W._draw([-math.inf, -math.inf], rng) == -1


def test_batch_is_one_run_per_prompt(smol_tiny_model, smol_tok):
    pats = [r"[a-c]{2}", r"(yes|no)"]
    rs = decode.generate(smol_tiny_model, smol_tok, ["a", "bb"], [decode.Regex(p) for p in pats],
                         sampler="awrs", particles=3, seed=0, max_new_tokens=8)
    assert isinstance(rs, list) and len(rs) == 2
    for r, p in zip(rs, pats):
        assert len(r.samples) == 3 and r.finished and re.fullmatch(p, r.text), (p, r.text)
        assert all(re.fullmatch(p, t) for t in r.samples.posterior())


def test_masked_default_is_unchanged(smol_tiny_model, smol_tok):
    r = decode.generate(smol_tiny_model, smol_tok, "x", decode.Regex(REGEX), seed=0, max_new_tokens=8)
    assert type(r) is decode.GenerationResult and re.fullmatch(REGEX, r.text)


# ------------------------------------------------------------------------------ argument errors


@pytest.mark.parametrize("kw, arg", [
    ({"sampler": "beam"}, "sampler"),
    ({"sampler": "smc", "particles": 0}, "particles"),
    ({"sampler": "smc", "particles": 2.0}, "particles"),
    ({"sampler": "smc", "top_p": 0.9}, "top_p"),
    ({"sampler": "awrs", "top_k": 5}, "top_k"),
    ({"sampler": "smc", "frequency_penalty": 0.3}, "frequency_penalty"),
    ({"sampler": "smc", "presence_penalty": 0.3}, "presence_penalty"),
    ({"sampler": "smc", "finish_within_budget": True}, "finish_within_budget"),
    ({"sampler": "smc", "stop": "\n"}, "stop"),
    ({"sampler": "smc", "temperature": 0.0}, "temperature"),
    ({"sampler": "smc", "temperature": -1.0}, "temperature"),
    ({"sampler": "smc", "max_new_tokens": 0}, "max_new_tokens"),
    ({"sampler": "smc", "proposal": "beam"}, "proposal"),
    ({"sampler": "smc", "ess_threshold": 1.5}, "ess_threshold"),
    ({"proposal": "masked"}, "proposal"),              # SMC options with another sampler
    ({"sampler": "awrs", "ess_threshold": 0.3}, "ess_threshold"),
])
def test_argument_errors_before_any_forward(no_forward, smol_tok, kw, arg):
    with pytest.raises(decode.GenerationArgumentError) as e:
        decode.generate(no_forward, smol_tok, "x", decode.Regex(REGEX), **kw)
    assert e.value.argument == arg, e.value


def test_a_weighted_sampler_needs_a_constraint(no_forward, smol_tok):
    with pytest.raises(decode.GenerationArgumentError, match="constraint"):
        decode.generate(no_forward, smol_tok, "x", None, sampler="smc")
    with pytest.raises(decode.GenerationArgumentError, match="constraint 1"):
        decode.generate(no_forward, smol_tok, ["x", "y"], [decode.Regex("a"), None], sampler="smc")


# ------------------------------------------------------------------------------ the CLI


def test_cli_sampler_flags_reach_generate(run, generate_calls):
    seen, schema = generate_calls
    assert run("generate", "--schema", str(schema), "--sampler", "smc", "--particles", "5", "x")[0] == 0
    kw = seen[-1]
    assert kw["sampler"] == "smc" and kw["particles"] == 5
    # token masking's defaults that a weighted sampler refuses are off unless given
    assert kw["temperature"] == 1.0 and kw["frequency_penalty"] == 0.0 and kw["finish_within_budget"] is False
    assert run("generate", "--regex", "a", "--sampler", "awrs", "--temperature", "0.7", "x")[0] == 0
    assert seen[-1]["sampler"] == "awrs" and seen[-1]["particles"] == 8 and seen[-1]["temperature"] == 0.7
    assert run("generate", "--regex", "a", "--sampler", "smc", "--proposal", "masked", "--ess-threshold", "0.9",
               "x")[0] == 0
    assert seen[-1]["proposal"] == "masked" and seen[-1]["ess_threshold"] == 0.9
    rc, _, err = run("generate", "--regex", "a", "--sampler", "awrs", "--proposal", "masked", "x")
    assert rc == 2 and "--proposal needs --sampler smc" in err
    # without --sampler: today's call, unchanged
    assert run("generate", "--schema", str(schema), "x")[0] == 0
    kw = seen[-1]
    assert not {"sampler", "particles", "proposal", "ess_threshold"} & set(kw)
    assert kw["temperature"] == 0.0 and kw["frequency_penalty"] == 0.5 and kw["finish_within_budget"] is True


def test_cli_smc_end_to_end(run):
    rc, out, err = run("generate", "--regex", REGEX, "--sampler", "smc", "--particles", "4", "--seed", "0",
                       "--max-new-tokens", "8", "--no-chat", "--timings", "x")
    assert rc == 0 and re.fullmatch(REGEX, out.strip()), (out, err)
    post = json.loads(err[err.index('{\n  "posterior"'):])
    assert out.strip() in post["posterior"] and sum(post["posterior"].values()) == pytest.approx(1.0)
    rc, out2, _ = run("generate", "--regex", REGEX, "--sampler", "smc", "--particles", "4", "--seed", "0",
                      "--max-new-tokens", "8", "--no-chat", "x")
    assert rc == 0 and out2 == out


def test_cli_refused_option_is_one_line(run):
    rc, _, err = run("generate", "--regex", "a", "--sampler", "smc", "--top-p", "0.9", "x")
    lines = [ln for ln in err.splitlines() if ln.startswith("structgen: error:")]
    assert rc == 2 and len(lines) == 1 and "top_p" in lines[0] and "Traceback" not in err
    rc, _, err = run("generate", "--regex", "a", "--sampler", "smc", "--particles", "0", "x")
    assert rc == 2 and "particles" in err


def test_cli_particles_without_a_weighted_sampler_is_refused(run):
    """--particles means nothing to token masking: say so instead of ignoring it."""
    rc, out, err = run("generate", "--regex", "a", "--particles", "4", "x")
    lines = [ln for ln in err.splitlines() if ln.startswith("structgen: error:")]
    assert rc == 2 and not out and len(lines) == 1 and "--sampler" in lines[0]
