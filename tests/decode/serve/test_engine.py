"""The continuous-batching engine on the tiny SmolLM2-wide model: a row's output does not depend
on what else runs in the batch (greedy: the same tokens as ``decode.generate`` alone; seeded
sampling: the same draws), rows join and leave mid-run, the slot KV cache survives
relayouts, streaming deltas add up to the final text, and failures stay with their row."""

from __future__ import annotations

import time

import pytest
import torch

import decode
import decode.serve.kv as kv
from constrain import CompileBudgetError
from decode.constraints import get_vocabulary
from decode.prompts import encode_prompt
from decode.serve import Engine, SamplingParams

SCHEMA = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}, "n": {"type": "integer"}},
          "required": ["name", "n"], "additionalProperties": False}
CONSTRAINTS = [None, SCHEMA, decode.Regex("[a-z]{2,9}( [a-z]{2,9})?"), {"type": "array", "items": {"type": "boolean"},
                                                                         "maxItems": 3}]


@pytest.fixture(scope="module")
def vocab(smollm2_tokenizer):
    return get_vocabulary(smollm2_tokenizer, 49152)


def prompts(k):
    return [[{"role": "user", "content": f"Item {i}: " + "lorem ipsum " * (i % 5)}] for i in range(k)]


def compiled(c, vocab):
    return None if c is None else decode.as_compiled(c, vocab, **decode.GENERATION_JSON_OPTIONS)


def reference(model, tok, p, c, **kw):
    return decode.generate(model, tok, p, c, **kw)


@pytest.mark.parametrize("margin", [kv.MARGIN, 2])
def test_greedy_rows_match_generate_alone(smol_model, smollm2_tokenizer, vocab, monkeypatch, margin):
    """8 requests through a batch of at most 3, half of them arriving while others run: each row's
    tokens are exactly decode.generate's for that request alone (also when the KV buffer has
    no spare columns and is relaid out at almost every join and step)."""
    monkeypatch.setattr(kv, "MARGIN", margin)
    tok = smollm2_tokenizer
    ps = prompts(8)
    cs = [CONSTRAINTS[i % 4] for i in range(8)]
    lens = [12 + 3 * (i % 4) for i in range(8)]
    refs = [reference(smol_model, tok, p, c, max_new_tokens=n, temperature=0.0) for p, c, n in zip(ps, cs, lens)]
    with Engine(smol_model, tok, max_batch=3) as eng:
        hs = [eng.submit(encode_prompt(tok, p), compiled(c, vocab), SamplingParams(max_tokens=n, temperature=0.0))
              for p, c, n in zip(ps[:4], cs[:4], lens[:4])]
        while hs[0].t_first is None:  # the others join a running batch
            time.sleep(0.001)
        hs += [eng.submit(encode_prompt(tok, p), compiled(c, vocab), SamplingParams(max_tokens=n, temperature=0.0))
               for p, c, n in zip(ps[4:], cs[4:], lens[4:])]
        results = [h.result(120) for h in hs]
        assert eng.stats["max_rows"] == 3 and eng.stats["errors"] == 0
        if margin == 2:
            assert eng.kv.moves >= 3
    for res, ref in zip(results, refs):
        assert res.token_ids == ref.token_ids
        assert res.text == ref.text
        assert res.stop_reason == ref.stop_reason
        assert res.finish_reason == ("length" if ref.stop_reason == "max_new_tokens" else "stop")


def test_batched_logits_match_alone(smol_model, smollm2_tokenizer):
    """The next-token logits of a row in a left-padded batch equal its logits alone, step after
    step (float tolerance: padding changes the shapes of the attention products only)."""
    tok = smollm2_tokenizer
    ids = [encode_prompt(tok, p) for p in prompts(3)]
    assert len({len(r) for r in ids}) == 3
    steps = 4
    alone = []
    with torch.inference_mode():
        for row in ids:
            eng = Engine(smol_model, tok, max_batch=1)  # not started: driven on this thread
            eng._prefill(_handle(row))
            got = []
            for _ in range(steps):
                eng._step()
                got.append(eng.logits[0].clone())
            alone.append(got)
        eng = Engine(smol_model, tok, max_batch=3)
        for row in ids:
            eng._prefill(_handle(row))
        for s in range(steps):
            eng._step()
            for i in range(3):
                torch.testing.assert_close(eng.logits[i], alone[i][s], rtol=1e-4, atol=1e-4)


def _handle(row, **kw):
    from decode.serve.engine import RequestHandle

    return RequestHandle(row, None, SamplingParams(max_tokens=8, temperature=0.0, **kw), None)


def test_seeded_sampling_matches_generate(smol_model, smollm2_tokenizer, vocab):
    """A seeded row draws what decode.generate draws with that seed, whatever runs beside it."""
    tok = smollm2_tokenizer
    ps = prompts(4)
    kws = [dict(temperature=0.9, seed=11), dict(temperature=1.3, top_p=0.8, seed=5),
           dict(temperature=0.7, top_k=20, seed=2), dict(temperature=1.0, seed=7, frequency_penalty=0.5)]
    cs = [SCHEMA, None, CONSTRAINTS[2], None]
    refs = [reference(smol_model, tok, p, c, max_new_tokens=14, **kw) for p, c, kw in zip(ps, cs, kws)]
    with Engine(smol_model, tok, max_batch=4) as eng:
        hs = [eng.submit(encode_prompt(tok, p), compiled(c, vocab), SamplingParams(max_tokens=14, **kw))
              for p, c, kw in zip(ps, cs, kws)]
        got = [h.result(60) for h in hs]
    for g, r in zip(got, refs):
        assert g.token_ids == r.token_ids


def test_streaming_deltas_and_stop_strings(smol_model, smollm2_tokenizer, vocab):
    tok = smollm2_tokenizer
    ref = reference(smol_model, tok, prompts(1)[0], None, max_new_tokens=30, temperature=0.0)
    stop = ref.text[10:13]  # a stop string the greedy text reaches
    cut = reference(smol_model, tok, prompts(1)[0], None, max_new_tokens=30, temperature=0.0, stop=[stop])
    for s, want in ((None, ref), ([stop], cut)):
        events = []
        with Engine(smol_model, tok, max_batch=2) as eng:
            h = eng.submit(encode_prompt(tok, prompts(1)[0]), None,
                           SamplingParams(max_tokens=30, temperature=0.0, stop=tuple(s or ())),
                           on_event=lambda k, p: events.append((k, p)))
            res = h.result(60)
        deltas = [p for k, p in events if k == "delta"]
        assert events[-1] == ("done", res)
        assert "".join(deltas) == res.text == want.text
        assert len(deltas) > (1 if s else 10)  # streamed as it came, not at the end
        assert res.stop_reason == want.stop_reason
        if s:
            assert stop not in res.text and res.finish_reason == "stop"


def test_finish_within_budget_and_grammar_complete(smol_model, smollm2_tokenizer, vocab):
    tok = smollm2_tokenizer
    with Engine(smol_model, tok) as eng:
        h = eng.submit(encode_prompt(tok, "x"), compiled(SCHEMA, vocab),
                       SamplingParams(max_tokens=12, temperature=0.0, finish_within_budget=True))
        done = eng.submit(encode_prompt(tok, "x"), compiled({"const": "ok"}, vocab), SamplingParams(temperature=0.0))
        r, d = h.result(60), done.result(60)
    import json

    assert r.stop_reason == "budget" and r.finish_reason == "stop"
    assert set(json.loads(r.text)) == {"name", "n"}
    assert d.text.strip() == '"ok"' and d.stop_reason == "grammar_complete"  # leading blanks are JSON


class _FailingMatcher:
    """A matcher that raises a budget error at its ``k``-th advance (a mask over its budget)."""

    def __init__(self, inner, k):
        self.inner, self.k = inner, k

    def advance(self, t):
        self.k -= 1
        if self.k == 0:
            raise CompileBudgetError("mask over budget", budget="time")
        return self.inner.advance(t)

    def __getattr__(self, name):
        return getattr(self.inner, name)


class _Failing:
    def __init__(self, inner, k):
        self.inner, self.k, self.vocab, self.kind = inner, k, inner.vocab, inner.kind

    def matcher(self):
        return _FailingMatcher(self.inner.matcher(), self.k)


def test_failures_stay_with_their_row(smol_model, smollm2_tokenizer, vocab, monkeypatch):
    tok = smollm2_tokenizer
    ids = encode_prompt(tok, "x")
    with Engine(smol_model, tok, max_batch=4) as eng:
        bad = eng.submit(ids, _Failing(compiled(SCHEMA, vocab), 3), SamplingParams(max_tokens=20, temperature=0.0))
        good = eng.submit(ids, compiled(SCHEMA, vocab), SamplingParams(max_tokens=20, temperature=0.0))
        rb, rg = bad.result(60), good.result(60)
        assert rb.finish_reason == "error" and isinstance(rb.error, CompileBudgetError)
        assert rg.finish_reason in ("stop", "length") and rg.error is None
        # a model failure ends the rows of that step, and the thread goes on (the decoder's
        # forward fails: the whole model's and the narrow output layer's passes both call it)
        dec = smol_model.get_decoder()
        real = dec.forward
        calls = {"n": 0}

        def flaky(*a, **k):
            calls["n"] += 1
            if calls["n"] == 3:
                raise RuntimeError("device lost")
            return real(*a, **k)

        monkeypatch.setattr(dec, "forward", flaky)
        r1 = eng.submit(ids, None, SamplingParams(max_tokens=10, temperature=0.0)).result(60)
        assert r1.finish_reason == "error" and "device lost" in str(r1.error)
        monkeypatch.setattr(dec, "forward", real)
        r2 = eng.submit(ids, None, SamplingParams(max_tokens=10, temperature=0.0)).result(60)
        assert r2.finish_reason == "length" and len(r2.token_ids) == 10
        assert eng.alive


def test_cancel_and_stop(smol_model, smollm2_tokenizer):
    tok = smollm2_tokenizer
    ids = encode_prompt(tok, "x")
    eng = Engine(smol_model, tok, max_batch=1).start()
    long = eng.submit(ids, None, SamplingParams(max_tokens=400, temperature=0.0))
    waiting = eng.submit(ids, None, SamplingParams(max_tokens=5, temperature=0.0))
    while long.t_first is None:
        time.sleep(0.001)
    long.cancel()
    assert long.result(30).finish_reason == "cancelled"
    assert waiting.result(30).finish_reason == "length"  # its slot freed, it ran
    queued = [eng.submit(ids, None, SamplingParams(max_tokens=400, temperature=0.0)) for _ in range(2)]
    eng.stop()
    assert {h.result(30).finish_reason for h in queued} == {"cancelled"}
    with pytest.raises(RuntimeError, match="stopped"):
        eng.submit(ids)


def test_bad_arguments_raise_before_queueing(smol_model, smollm2_tokenizer, tekken_vocab):
    tok = smollm2_tokenizer
    eng = Engine(smol_model, tok, max_batch=2)
    with pytest.raises(decode.GenerationArgumentError, match="temperature"):
        eng.submit([1, 2], None, SamplingParams(temperature=-1))
    with pytest.raises(decode.GenerationArgumentError, match="context"):
        eng.submit([1] * 500, None, SamplingParams(max_tokens=100))
    with pytest.raises(decode.GenerationArgumentError, match="max_batch"):
        Engine(smol_model, tok, max_batch=0)
    other = decode.as_compiled(decode.Regex("a+"), tekken_vocab)
    with pytest.raises(Exception, match="vocabulary"):
        eng.submit([1, 2], other, SamplingParams())
    assert not eng._pending


@pytest.mark.slow
@pytest.mark.model
def test_real_model_rows_match_generate_alone():
    """On SmolLM2-135M: six greedy requests through a batch of at most 4, three joining while
    the others run, each gives exactly decode.generate's tokens for it alone."""
    model, tok = decode.load_default_model(progress=None)
    vocab = get_vocabulary(tok, 49152)
    ps = [[{"role": "user", "content": c}] for c in (
        "Describe Paris as JSON.", "Name three colors.", "Invent a person as JSON.",
        "What is 2 + 2?", "A product for an online shop, as JSON.", "Write a haiku about rain.")]
    cs = [SCHEMA, None, SCHEMA, decode.Regex("[0-9]+"), {"type": "object", "properties": {
        "product": {"type": "string"}, "price": {"type": "number"}}, "required": ["product", "price"]}, None]
    refs = [decode.generate(model, tok, p, c, max_new_tokens=24, temperature=0.0) for p, c in zip(ps, cs)]
    with Engine(model, tok, max_batch=4) as eng:
        hs = [eng.submit(encode_prompt(tok, p), compiled(c, vocab), SamplingParams(max_tokens=24, temperature=0.0))
              for p, c in zip(ps[:3], cs[:3])]
        while hs[0].t_first is None:
            time.sleep(0.01)
        hs += [eng.submit(encode_prompt(tok, p), compiled(c, vocab), SamplingParams(max_tokens=24, temperature=0.0))
               for p, c in zip(ps[3:], cs[3:])]
        got = [h.result(600) for h in hs]
    for g, r in zip(got, refs):
        assert g.token_ids == r.token_ids, (g.text, r.text)
