"""``Speculation(draft_model=...)``: a Hugging Face model as the ``"model"`` draft source.

A tiny random Llama as wide as SmolLM2's vocabulary is the target; drafting for itself, its
guesses are the target's own argmax (acceptance ~1), and another random Llama's guesses are
mostly wrong; either way greedy output is the plain loop's, token for token, alone and in a
batch (the draft model's KV caches follow each row through rollbacks).  The law under
sampling is tested exactly on hand-made TokenLMs in ``test_speculative_exactness.py``; the
slow test drafts SmolLM2 with itself.
"""

from __future__ import annotations

import pytest

import decode
from decode import GenerationArgumentError, Speculation
from tests import fakes

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 12}, "kind": {"enum": ["cat", "dog", "hamster"]},
                   "age": {"type": "integer", "minimum": 0, "maximum": 20}},
    "required": ["name", "kind", "age"],
    "additionalProperties": False,
}
PROMPTS = ["Describe a cat named Tom, 3 years old, as JSON: name Tom kind cat", "x",
           "A hamster: {\"name\": \"Bo\", \"kind\": \"hamster\"}"]
CONSTRAINTS = [SCHEMA, decode.Regex(r"(cat|dog|hamster)( [a-z]{1,8}){2,6}\."), None]


@pytest.fixture(scope="module")
def smol_tok():
    from constrain.tokenizers import load_smollm2_tokenizer

    return load_smollm2_tokenizer()


def _tiny(tok, seed):
    return fakes.make_tiny_model(49152, seed=seed, eos_token_id=int(tok.eos_token_id),
                                 pad_token_id=int(tok.pad_token_id or tok.eos_token_id))


@pytest.fixture(scope="module")
def models(smol_tok):
    return _tiny(smol_tok, 1), _tiny(smol_tok, 2)


def _gen(model, tok, prompts, constraint, **kw):
    return decode.generate(model, tok, prompts, constraint, temperature=0.0, max_new_tokens=24, **kw)


@pytest.fixture(scope="module")
def plain(smol_tok, models):
    """The target's plain greedy output for each prompt alone (computed once)."""
    return [_gen(models[0], smol_tok, p, c) for p, c in zip(PROMPTS, CONSTRAINTS)]


def _model_stats(r):
    return r.stats["sources"]["model"]


def test_self_drafting_is_identical_and_mostly_accepted(smol_tok, models, plain):
    target, _ = models
    spec = Speculation(drafts=("model",), max_draft=4, draft_model=target)
    batch = _gen(target, smol_tok, PROMPTS, CONSTRAINTS, speculative=spec)
    drafted = accepted = 0
    for i, alone in enumerate(plain):
        assert batch[i].token_ids == alone.token_ids, i
        drafted += _model_stats(batch[i])["drafted"]
        accepted += _model_stats(batch[i])["accepted"]
    assert drafted > 20 and accepted >= 0.9 * drafted
    one = _gen(target, smol_tok, PROMPTS[0], SCHEMA, speculative=spec)
    assert one.token_ids == plain[0].token_ids
    assert one.stats["forward_calls"] < plain[0].stats["forward_calls"] / 2


def test_another_model_drafting_is_identical(smol_tok, models, plain):
    target, other = models
    spec = Speculation(max_draft=3, draft_model=other)  # grammar, ngram, then the model
    batch = _gen(target, smol_tok, PROMPTS, CONSTRAINTS, speculative=spec)
    for i, alone in enumerate(plain):
        assert batch[i].token_ids == alone.token_ids, i
    s = [_model_stats(r) for r in batch]
    assert sum(x["drafted"] for x in s) > sum(x["accepted"] for x in s)  # wrong guesses were rejected


def test_draft_model_must_share_the_tokenizer(smol_tok, models):
    target, _ = models
    narrow = fakes.make_tiny_model(1000, seed=1)
    with pytest.raises(GenerationArgumentError, match="share the target's tokenizer"):
        _gen(target, smol_tok, "x", SCHEMA, speculative=Speculation(draft_model=narrow))


@pytest.mark.slow
def test_smollm2_drafting_for_itself():
    """SmolLM2 drafts for itself: greedy identical to the plain loop, acceptance high."""
    model, tok = decode.load_default_model(progress=None)
    spec = Speculation(drafts=("grammar", "model"), draft_model=model)
    prompt = "Extract as JSON: Alice Smith is 31 and lives in Berlin."
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                                               "city": {"enum": ["Paris", "London", "Berlin"]}},
              "required": ["name", "age", "city"]}
    ref = decode.generate(model, tok, prompt, schema, temperature=0.0, max_new_tokens=48)
    got = decode.generate(model, tok, prompt, schema, temperature=0.0, max_new_tokens=48, speculative=spec)
    assert got.token_ids == ref.token_ids
    m = _model_stats(got)
    assert m["drafted"] >= 10 and m["accepted"] >= 0.9 * m["drafted"]
    assert got.stats["forward_calls"] * 3 <= ref.stats["forward_calls"]
