"""``generate(..., speculative=)``: greedy identity with the plain loop, batches whose rows
accept different numbers of drafts, KV-cache rollback, stats, argument errors.

A tiny random Llama as wide as SmolLM2's vocabulary with the real SmolLM2 tokenizer and the
real compiler (fast); the same identity with SmolLM2 itself is the slow test at the end.
"""

from __future__ import annotations

import pytest
import torch

import decode
from decode import GenerationArgumentError, Speculation
from decode.lm import HFCausalLM
from decode.prompts import left_pad
from tests import fakes

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 12},
        "kind": {"enum": ["cat", "dog", "hamster"]},
        "age": {"type": "integer", "minimum": 0, "maximum": 20},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 6}, "maxItems": 3},
    },
    "required": ["name", "kind", "age", "tags"],
    "additionalProperties": False,
}
PROMPTS = ["Describe a cat named Tom, 3 years old, as JSON: name Tom kind cat",
           "x", "A hamster: {\"name\": \"Bo\", \"kind\": \"hamster\"}"]
ALL_SOURCES = Speculation(drafts=("grammar", "ngram", "recycling"), max_draft=4)


def _gen(model, tok, prompts, constraint, **kw):
    kw.setdefault("max_new_tokens", 32)
    return decode.generate(model, tok, prompts, constraint, temperature=0.0, **kw)


@pytest.fixture(scope="module")
def plain(smollm2_tokenizer, smol_model):
    """The plain loop's greedy output for each prompt (computed once)."""
    return [_gen(smol_model, smollm2_tokenizer, p, SCHEMA) for p in PROMPTS]


@pytest.mark.parametrize("spec", [True, ALL_SOURCES, Speculation(max_draft=1, adaptive=False)])
def test_greedy_is_token_identical_to_the_plain_loop(smollm2_tokenizer, smol_model, plain, spec):
    for prompt, ref in zip(PROMPTS, plain):
        got = _gen(smol_model, smollm2_tokenizer, prompt, SCHEMA, speculative=spec)
        assert got.token_ids == ref.token_ids, (prompt, got.text, ref.text)
        assert (got.stop_reason, got.finished) == (ref.stop_reason, ref.finished)
        assert got.stats["forward_calls"] < ref.stats["forward_calls"]
        assert ref.stats["forward_calls"] == len(ref.token_ids) + (ref.stop_reason == "eos")


def test_batch_rows_equal_rows_decoded_alone(smollm2_tokenizer, smol_model):
    """Rows accept different numbers of drafts (masked-out cache positions, per-row position
    ids); each must still equal the same row decoded alone without speculation."""
    constraints = [SCHEMA, decode.Regex(r"(cat|dog|hamster)( [a-z]{1,8}){2,6}\."), None]
    batch = _gen(smol_model, smollm2_tokenizer, PROMPTS, constraints, speculative=ALL_SOURCES)
    accepted = []
    for i, (p, c) in enumerate(zip(PROMPTS, constraints)):
        alone = _gen(smol_model, smollm2_tokenizer, p, c)
        assert batch[i].token_ids == alone.token_ids, i
        accepted.append(batch[i].stats["accepted"])
    assert len(set(accepted)) > 1  # the rows really diverged


def test_stats_on_every_result(smollm2_tokenizer, smol_model):
    plain = _gen(smol_model, smollm2_tokenizer, PROMPTS[0], SCHEMA)
    assert plain.stats == {"forward_calls": plain.stats["forward_calls"], "drafted": 0, "accepted": 0}
    spec = _gen(smol_model, smollm2_tokenizer, PROMPTS[0], SCHEMA, speculative=ALL_SOURCES)
    s = spec.stats
    assert set(s["sources"]) == {"grammar", "ngram", "recycling"}  # siblings: off by default
    assert s["drafted"] == sum(v["drafted"] for v in s["sources"].values()) > 0
    assert s["accepted"] == sum(v["accepted"] for v in s["sources"].values())
    # every token came from a pass's draw, an accepted draft, or was forced by its mask
    assert len(spec.token_ids) + (spec.stop_reason == "eos") <= s["forward_calls"] + s["accepted"] + s["forced"]


def test_sampling_is_valid_and_reproducible(smollm2_tokenizer, smol_model):
    import jsonschema

    kw = dict(max_new_tokens=40, temperature=0.9, seed=5, speculative=ALL_SOURCES, top_p=0.95)
    a = decode.generate(smol_model, smollm2_tokenizer, PROMPTS, SCHEMA, **kw)
    b = decode.generate(smol_model, smollm2_tokenizer, PROMPTS, SCHEMA, **kw)
    for x, y in zip(a, b):
        assert x.token_ids == y.token_ids
        if x.finished:
            jsonschema.validate(x.value, SCHEMA)
        else:  # a valid prefix: the constraint still allows it
            m = decode.as_compiled(SCHEMA, __import__("constrain").Vocabulary.from_hf(smollm2_tokenizer)).matcher()
            assert all(m.advance(t) for t in x.token_ids)


def test_speculative_arguments_are_checked(smollm2_tokenizer, smol_model):
    with pytest.raises(GenerationArgumentError, match="speculative"):
        _gen(smol_model, smollm2_tokenizer, "x", SCHEMA, speculative="yes")
    with pytest.raises(GenerationArgumentError, match="penalties"):
        _gen(smol_model, smollm2_tokenizer, "x", SCHEMA, speculative=True, frequency_penalty=0.5)
    with pytest.raises(GenerationArgumentError, match="sampler"):
        decode.generate(smol_model, smollm2_tokenizer, "x", SCHEMA, speculative=True, sampler="smc")
    for bad in (dict(max_draft=0), dict(drafts=()), dict(drafts=("oracle",)), dict(drafts=("ngram", "ngram")),
                dict(drafts="grammar"), dict(adaptive=1)):
        with pytest.raises(GenerationArgumentError, match="speculative"):
            Speculation(**bad)


def test_retract_masks_rejected_positions_per_row():
    """Row 0 keeps 1 of 3 fed tokens, row 1 keeps 3: the next logits equal a fresh run fed
    only the kept tokens; a batch of one crops instead of masking."""
    model = fakes.make_tiny_model(40, seed=3)
    prompts = [[5, 9, 12, 3], [7, 2]]
    kept = [[11], [4, 8, 20]]

    def fresh():
        lm = HFCausalLM(model)
        lm.prefill(*left_pad(prompts, 0))
        return lm

    with torch.inference_mode():
        lm = fresh()
        lm.forward(torch.tensor([[11, 30, 31], [4, 8, 20]]))
        lm.retract([2, 0])
        got = lm.forward(torch.tensor([[6, 0], [9, 0]]), valid=torch.tensor([[True, False], [True, False]]))[:, 0]
        for b in range(2):
            ref_lm = HFCausalLM(model)
            ref_lm.prefill(*left_pad([prompts[b]], 0))
            ref = ref_lm.forward(torch.tensor([kept[b] + [[6], [9]][b]]))[:, -1]
            assert torch.allclose(got[b], ref[0], atol=1e-4), b
        one = HFCausalLM(model)
        one.prefill(*left_pad(prompts[:1], 0))
        one.forward(torch.tensor([[11, 30, 31]]))
        width = one.attention_mask.shape[1]
        one.retract([2])
        assert one.attention_mask.shape[1] == width - 2 and bool(one.attention_mask.all())
        with pytest.raises(ValueError):
            one.retract([100])


@pytest.mark.slow
def test_greedy_identity_with_smollm2():
    """SmolLM2: speculative greedy equals plain greedy on schemas and a Lark grammar, and
    saves passes."""
    from constrain import grammars

    model, tok = decode.load_default_model()
    cases = [
        ("Extract as JSON: Alice Smith is 31 and lives in Berlin.",
         {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                                           "city": {"enum": ["Paris", "London", "Berlin"]}},
          "required": ["name", "age", "city"]}),
        ("List three fruits with their colours as JSON.",
         {"type": "object", "properties": {"fruits": {"type": "array", "items": {
             "type": "object", "properties": {"name": {"type": "string"}, "colour": {"type": "string"}},
             "required": ["name", "colour"]}, "minItems": 3, "maxItems": 3}}, "required": ["fruits"]}),
        ("Write an SQL query listing the names of users older than 30 from the table users.",
         decode.Lark(grammars.load("sql"))),
    ]
    saved = tried = 0
    for prompt, c in cases:
        ref = decode.generate(model, tok, prompt, c, temperature=0.0, max_new_tokens=60)
        got = decode.generate(model, tok, prompt, c, temperature=0.0, max_new_tokens=60,
                              speculative=ALL_SOURCES)
        assert got.token_ids == ref.token_ids, (prompt, got.text, ref.text)
        saved += ref.stats["forward_calls"] - got.stats["forward_calls"]
        # tree drafts: wider sibling sets, and linear drafts only, give the same tokens
        for siblings in (0, 6):
            spec = Speculation(drafts=("grammar", "ngram", "recycling"), max_draft=4, siblings=siblings)
            other = decode.generate(model, tok, prompt, c, temperature=0.0, max_new_tokens=60, speculative=spec)
            assert other.token_ids == ref.token_ids, (prompt, siblings, other.text, ref.text)
            tried += other.stats["sources"].get("siblings", {}).get("drafted", 0)
    batch = decode.generate(model, tok, [p for p, _ in cases], [c for _, c in cases], temperature=0.0,
                            max_new_tokens=60, speculative=True)
    for (prompt, c), b in zip(cases, batch):
        assert b.token_ids == decode.generate(model, tok, prompt, c, temperature=0.0, max_new_tokens=60).token_ids
    assert saved > 0
    assert tried > 0  # the trees were really fed


class _WildDraft:
    """Proposes EOS, illegal and legal tokens alike (ALGORITHMS.md 3.7.2: drafts that are
    illegal, cross EOS, or run past the end of the grammar)."""

    name = "wild"

    def __init__(self, tok):
        self.eos = int(tok.eos_token_id)
        self.cat = tok.encode("cat", add_special_tokens=False)
        self.space_cat = tok.encode(" cat", add_special_tokens=False)

    def propose(self, context, k):
        return ([*self.space_cat, *self.space_cat, self.eos, 17, *self.cat] * k)[:k]


WILD_CASES = [decode.Regex(r"(cat|dog)( (cat|dog)){1,3}"), decode.Regex(r"cat( cat){0,2}"), SCHEMA]


@pytest.mark.parametrize("constraint", WILD_CASES)
def test_wild_drafts_past_the_grammar_keep_greedy_identical(smollm2_tokenizer, smol_model, constraint):
    spec = Speculation(drafts=("grammar", _WildDraft(smollm2_tokenizer), "ngram"), max_draft=8, adaptive=False)
    wild = 0
    for prompt in PROMPTS[:2]:
        ref = _gen(smol_model, smollm2_tokenizer, prompt, constraint, max_new_tokens=16)
        got = _gen(smol_model, smollm2_tokenizer, prompt, constraint, max_new_tokens=16, speculative=spec)
        assert got.token_ids == ref.token_ids, (prompt, got.text, ref.text)
        assert (got.stop_reason, got.finished) == (ref.stop_reason, ref.finished)
        assert int(smollm2_tokenizer.eos_token_id) not in got.token_ids
        wild += got.stats["sources"]["wild"]["drafted"]
    if constraint is WILD_CASES[0]:
        assert wild > 0  # " cat cat" then EOS: the legal prefix was drafted, the rest dropped


def test_the_output_layer_computes_legal_ids_only_and_changes_nothing(smollm2_tokenizer, smol_model, plain, monkeypatch):
    """Speculative passes compute, at each verified position, the logits of the ids it allows
    when they are few (a schema's keys, numbers, punctuation), the full output layer's there (to
    float rounding: another matmul shape); greedy output stays identical to the plain loop's
    (the first test), and at least one pass took the narrow path."""
    import decode.speculative.step as step_mod
    from decode.lm import split_head
    from tests.decode.test_legal_head import check_against_full

    assert split_head(smol_model) is not None
    seen = []
    real = step_mod.legal_logits_at

    def spy(hidden, weight, rows, cols, masks):
        out = real(hidden, weight, rows, cols, masks)
        if out is not None:
            check_against_full(out, hidden, weight, rows, cols, masks)
            seen.append(int(torch.isfinite(out).any(dim=(0, 1)).sum()))
        return out

    monkeypatch.setattr(step_mod, "legal_logits_at", spy)
    for p, ref in zip(PROMPTS, plain):
        assert _gen(smol_model, smollm2_tokenizer, p, SCHEMA, speculative=True).token_ids == ref.token_ids
    assert seen and min(seen) < 0.25 * 49152


def test_models_with_a_scaled_or_biased_head_keep_the_whole_forward():
    from decode.lm import split_head

    class Other(torch.nn.Module):
        config = type("C", (), {"model_type": "gemma2"})()

    assert split_head(Other()) is None
