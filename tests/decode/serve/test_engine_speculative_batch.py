"""The server's speculation switches: ``speculative_disable_batch`` (a pass of N rows or more
drafts for none; ``structgen serve --speculative-disable-batch N``) and a ``SuffixStore`` shared by
the requests (``--speculative-suffix``): greedy outputs stay the plain engine's either way, rows
draft below N and never at N or above, the store learns each finished row and later requests
draft from it."""

from __future__ import annotations

import pytest

from decode import GenerationArgumentError, Speculation, SuffixStore
from decode.prompts import encode_prompt
from decode.serve import Engine, SamplingParams
from tests.decode.serve.test_engine_speculative import CONSTRAINTS, compiled, prompts, run_engine

SPEC = Speculation(max_draft=4)


def _requests(tok, vocab, spec, k=6):
    return [(encode_prompt(tok, p), compiled(CONSTRAINTS[i % 4], vocab),
             SamplingParams(max_tokens=14 + 4 * (i % 3), temperature=0.0, speculative=spec))
            for i, p in enumerate(prompts(k))]


def _plain(tok, vocab, k=6):
    return [(p, c, SamplingParams(max_tokens=s.max_tokens, temperature=0.0)) for p, c, s in _requests(tok, vocab, None, k)]


@pytest.fixture(scope="module")
def refs(smol_model, smollm2_tokenizer, vocab):
    return run_engine(smol_model, smollm2_tokenizer, _plain(smollm2_tokenizer, vocab), max_batch=4)[0]


@pytest.fixture(scope="module")
def vocab(smollm2_tokenizer):
    from decode.constraints import get_vocabulary

    return get_vocabulary(smollm2_tokenizer, 49152)


@pytest.mark.parametrize("n", [1, 3, None])
def test_rows_draft_below_the_batch_size_only(smol_model, smollm2_tokenizer, vocab, refs, monkeypatch, n):
    seen = []  # (rows in the pass, drafting allowed, tokens the row drafted)
    chunk = Engine._chunk

    def spy(self, lv, draft=True):
        out = chunk(self, lv, draft)
        if lv.spec is not None:
            seen.append((len(self.live), draft, len(lv.spec.plans[0].tokens)))
        return out

    monkeypatch.setattr(Engine, "_chunk", spy)

    def engine(model, tok, max_batch):
        return Engine(model, tok, max_batch=max_batch, speculative_disable_batch=n)

    monkeypatch.setattr("tests.decode.serve.test_engine_speculative.Engine", engine)
    got, stats = run_engine(smol_model, smollm2_tokenizer, _requests(smollm2_tokenizer, vocab, SPEC), max_batch=4)
    for i, (g, r) in enumerate(zip(got, refs)):
        assert g.token_ids == r.token_ids and g.text == r.text, i
    assert all(d == 0 for rows, _, d in seen if n is not None and rows >= n)
    assert all(allowed == (n is None or rows < n) for rows, allowed, _ in seen)
    if n == 1:
        assert stats["draft_tokens"] == 0 and stats["undrafted_passes"] > 0
    else:  # rows drafted in the passes below n (a batch of 4 rows that finish one by one)
        assert any(d > 0 for rows, _, d in seen if n is None or rows < n)
        assert stats["accepted_tokens"] > 0
    if n == 3:
        assert any(rows >= 3 for rows, _, _ in seen) and stats["undrafted_passes"] > 0
    if n is None:
        assert stats["undrafted_passes"] == 0


def test_the_engine_shares_a_suffix_store(smol_model, smollm2_tokenizer, vocab, refs):
    store = SuffixStore()
    spec = Speculation(max_draft=4, history=store)
    reqs = _requests(smollm2_tokenizer, vocab, spec)
    first, _ = run_engine(smol_model, smollm2_tokenizer, reqs, max_batch=4)
    assert store.sequences == len(reqs) and len(store) == sum(len(g.token_ids) for g in first)
    again, _ = run_engine(smol_model, smollm2_tokenizer, reqs, max_batch=4)
    for g, a, r in zip(first, again, refs):
        assert g.token_ids == a.token_ids == r.token_ids
    assert sum(a.stats["sources"]["suffix"]["accepted"] for a in again) > 0
    assert sum(a.timings["forward_calls"] for a in again) < sum(g.timings["forward_calls"] for g in first)


def test_engine_argument(smol_model, smollm2_tokenizer):
    for bad in (0, -2, True, 1.5):
        with pytest.raises(GenerationArgumentError, match="speculative_disable_batch"):
            Engine(smol_model, smollm2_tokenizer, max_batch=2, speculative_disable_batch=bad)
    assert Engine(smol_model, smollm2_tokenizer, max_batch=2, speculative_disable_batch=2).speculative_disable_batch == 2


def test_cli_serve_flags(run, monkeypatch):
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    seen = {}
    monkeypatch.setattr("decode.serve.app.serve", lambda model, **kw: seen.update(model=model, **kw))
    rc, _, err = run("serve", "--speculative", "--speculative-disable-batch", "3")
    assert rc == 0, err
    assert seen["speculative_disable_batch"] == 3 and seen["speculative"].history is None
    rc, _, err = run("serve", "--speculative", "--speculative-suffix")
    assert rc == 0, err
    store = seen["speculative"].history
    assert isinstance(store, SuffixStore) and store.max_tokens == 100_000 and seen["speculative_disable_batch"] is None
    assert "suffix" in seen["speculative"].draft_names
    rc, _, err = run("serve", "--speculative", "--speculative-suffix", "500", "--max-draft", "6")
    assert rc == 0, err
    assert seen["speculative"].history.max_tokens == 500 and seen["speculative"].max_draft == 6
    for args, word in ((["--speculative-disable-batch", "3"], "--speculative"), (["--speculative-suffix"], "--speculative"),
                       (["--speculative", "--speculative-disable-batch", "0"], "--speculative-disable-batch")):
        rc, _, err = run("serve", *args)
        assert rc == 2 and word in err, (args, err)


def test_serve_config_reaches_the_engine(smol_model, smollm2_tokenizer):
    pytest.importorskip("fastapi")
    from decode.serve.app import ServeConfig, _State

    state = _State(smol_model, smollm2_tokenizer, ServeConfig(max_batch=2, speculative=True, speculative_disable_batch=2))
    try:
        assert state.engine.speculative_disable_batch == 2
    finally:
        state.pool.shutdown()
