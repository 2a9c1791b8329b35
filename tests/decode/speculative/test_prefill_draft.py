"""The prompt's prefill verifying a draft of the output's first tokens (``decode.loop.PREFILL_DRAFT``,
``SpeculativeStep.prefill_draft``, ``BridgeDraft``): the first token's guess, greedy outputs
token-identical to the plain loop's with and without it (single rows and a left-padded batch),
fewer passes where the guess is the model's, and the sampled law unchanged (chi-square)."""

from __future__ import annotations

import numpy as np
import pytest

import decode
import decode.loop as L
from decode.constraints import get_vocabulary
from decode.speculative import SpeculativeStep
from decode.speculative.drafts import BridgeDraft, DraftContext
from tests.decode.samplers import toys

OBJ = decode.Regex(r'\{"(a|b)": [0-9]+\}')
ARR = decode.Regex(r'\["[a-z]{2,6}"(, "[a-z]{2,6}"){0,3}\]')
PETS = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 12}, "kind": {"enum": ["cat", "dog"]}},
        "required": ["name", "kind"], "additionalProperties": False}
PROMPTS = ["x", "Describe a cat", "hello", "JSON please", "[1, 2]"]


@pytest.fixture(scope="module")
def vocab(smollm2_tokenizer):
    return get_vocabulary(smollm2_tokenizer, 49152)


def _first(vocab, constraint, history=(), start=0):
    c = decode.as_compiled(constraint, vocab, **decode.GENERATION_JSON_OPTIONS)
    return BridgeDraft(vocab, start).propose(DraftContext(c.matcher(), list(history), vocab), 4)


def test_bridge_guess(vocab):
    """``{"`` where the grammar forces ``{`` (or nothing: whitespace may come first) and then the
    first key; nothing away from the first position, nothing where the forced bytes are a token
    of their own (the grammar source drafts those), nothing for free text (too many candidates)."""
    tb = vocab.token_bytes
    assert [tb[t] for t in _first(vocab, PETS)] == [b'{"']
    assert [tb[t] for t in _first(vocab, decode.Regex(r'\{ ?"a": [0-9]\}'))] == [b'{"']
    assert _first(vocab, PETS, history=[1, 2], start=1) == []
    assert _first(vocab, OBJ) == []  # ``{"`` forced: no longer legal token starts with it
    assert _first(vocab, decode.Regex("[a-z ]{1,20}")) == []


@pytest.fixture
def prefill_drafts(monkeypatch):
    """Every SpeculativeStep.prefill_draft answer, in order."""
    seen = []
    real = SpeculativeStep.prefill_draft

    def spy(self, rows):
        out = real(self, rows)
        seen.append(out)
        return out

    monkeypatch.setattr(SpeculativeStep, "prefill_draft", spy)
    return seen


def _gen(model, tok, p, c, flag, monkeypatch, **kw):
    monkeypatch.setattr(L, "PREFILL_DRAFT", flag)
    return decode.generate(model, tok, p, c, max_new_tokens=20, **kw)


def test_greedy_identity_and_fewer_passes(smol_model, smollm2_tokenizer, monkeypatch, prefill_drafts):
    """Greedy: with or without the prefill draft, every output is the plain loop's; where the
    draft's first token is the output's, the run spends fewer passes in all."""
    tok = smollm2_tokenizer
    off = on = 0
    kept = 0
    for c in (OBJ, ARR, PETS):
        for p in PROMPTS:
            ref = _gen(smol_model, tok, p, c, True, monkeypatch, temperature=0.0)
            a = _gen(smol_model, tok, p, c, False, monkeypatch, temperature=0.0, speculative=True)
            n = len(prefill_drafts)
            b = _gen(smol_model, tok, p, c, True, monkeypatch, temperature=0.0, speculative=True)
            assert a.token_ids == b.token_ids == ref.token_ids, (c, p)
            assert len(prefill_drafts) == n + 1 and prefill_drafts[-1] is not None  # the draft was fed
            kept += prefill_drafts[-1][0][0] == ref.token_ids[0]
            off, on = off + a.stats["forward_calls"], on + b.stats["forward_calls"]
    assert kept >= 3 and on < off


def test_batch_rows_with_prefill_drafts(smol_model, smollm2_tokenizer, monkeypatch, prefill_drafts):
    """Left-padded prompts of different lengths, drafts cut to one length: each row is the plain
    loop's alone."""
    tok = smollm2_tokenizer
    cs = [OBJ, ARR, PETS]
    batch = _gen(smol_model, tok, PROMPTS[1:4], cs, True, monkeypatch, temperature=0.0, speculative=True)
    assert prefill_drafts[-1] is not None and len({len(d) for d in prefill_drafts[-1]}) == 1
    for p, c, got in zip(PROMPTS[1:4], cs, batch):
        assert got.token_ids == _gen(smol_model, tok, p, c, True, monkeypatch, temperature=0.0).token_ids


def test_sampled_law_unchanged(smol_model, smollm2_tokenizer, monkeypatch, prefill_drafts):
    """Chi-square (fixed seeds): 300 speculative samples with the prefill draft against 300 plain
    ones come from one law; the same test tells the law at another temperature apart."""
    tok = smollm2_tokenizer
    c = decode.Regex(r'\{"(a|b)": [0-9]\}')

    def counts(temperature, **kw):
        out = {}
        for s in range(300):
            r = _gen(smol_model, tok, "hello", c, True, monkeypatch, temperature=temperature, seed=s, **kw)
            out[r.text] = out.get(r.text, 0) + 1
        return out

    spec, plain, cold = counts(1.0, speculative=True), counts(1.0), counts(0.5)
    assert all(d is not None for d in prefill_drafts)

    def stat(x, y):
        keys = sorted(set(x) | set(y))
        table = np.array([[x.get(k, 0) for k in keys], [y.get(k, 0) for k in keys]])
        small = table.sum(axis=0) < 10  # pooled into one cell
        table = np.concatenate([table[:, ~small], table[:, small].sum(axis=1, keepdims=True)], axis=1)
        table = table[:, table.sum(axis=0) > 0]
        exp = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
        return float(((table - exp) ** 2 / exp).sum()), table.shape[1] - 1

    s, df = stat(spec, plain)
    assert df >= 3 and s < toys.chi2_critical(df), (s, df)
    s_cold, df_cold = stat(plain, cold)
    assert s_cold > toys.chi2_critical(df_cold), (s_cold, df_cold)


def test_draft_model_guesses_the_first_tokens_itself(smol_model, smollm2_tokenizer, monkeypatch, prefill_drafts):
    """Beside a draft model the prefill's draft is the draft model's own (here the target drafting
    for itself: every drafted token kept), not the bridge's ``{"`` guess, after which the model
    would draft the rest of a start its target does not write."""
    tok = smollm2_tokenizer
    spec = decode.Speculation(drafts=("grammar", "model"), draft_model=smol_model)
    for c in (PETS, decode.Regex(r'\{ ?"a": [0-9]\}')):
        for p in PROMPTS:
            ref = _gen(smol_model, tok, p, c, True, monkeypatch, temperature=0.0)
            got = _gen(smol_model, tok, p, c, True, monkeypatch, temperature=0.0, speculative=spec)
            assert got.token_ids == ref.token_ids, (c, p)
            assert prefill_drafts[-1] is not None and prefill_drafts[-1][0][0] == ref.token_ids[0], (c, p)
            m = got.stats["sources"]["model"]
            assert m["accepted"] == m["drafted"] > 0, (c, p, got.stats)
