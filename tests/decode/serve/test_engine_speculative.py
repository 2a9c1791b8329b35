"""Speculative rows in the continuous-batching engine (``SamplingParams.speculative``), on the tiny
SmolLM2-wide model: greedy rows give the non-speculative engine's tokens whatever runs beside
them (rows of one batch accept different numbers of drafts, their rejected drafts leave their
own KV slot only), seeded sampled rows draw what ``decode.generate(speculative=...)`` draws, the
sampled law is the plain path's (chi-square), a stop string or ``max_tokens`` inside an accepted
draft ends the row exactly there, streams add up to the final text, cancelling a row leaves the
others exact."""

from __future__ import annotations

import time

import numpy as np
import pytest

import decode
import decode.serve.kv as kv
from decode import Speculation
from decode.constraints import get_vocabulary
from decode.prompts import encode_prompt
from decode.serve import Engine, SamplingParams
from decode.speculative import SpeculativeStep
from tests.decode.samplers import toys

SCHEMA = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}, "n": {"type": "integer"}},
          "required": ["name", "n"], "additionalProperties": False}
PETS = {"type": "object", "properties": {"kind": {"enum": ["cat", "dog", "hamster"]},
                                         "tags": {"type": "array", "items": {"type": "string", "maxLength": 5},
                                                  "maxItems": 3}},
        "required": ["kind", "tags"], "additionalProperties": False}
CONSTRAINTS = [None, SCHEMA, decode.Regex("[a-z]{2,9}( [a-z]{2,9})?"), PETS]
SPEC = Speculation(max_draft=4)


@pytest.fixture(scope="module")
def vocab(smollm2_tokenizer):
    return get_vocabulary(smollm2_tokenizer, 49152)


def prompts(k):
    return [[{"role": "user", "content": f"Item {i}: " + "lorem ipsum " * (i % 5) + '{"kind": "cat"}'}]
            for i in range(k)]


def compiled(c, vocab):
    return None if c is None else decode.as_compiled(c, vocab, **decode.GENERATION_JSON_OPTIONS)


def run_engine(model, tok, requests, *, max_batch=3, stagger=True, on_event=None):
    """Submit ``(prompt ids, compiled, params)`` requests (half of them once the first row runs);
    their results in order, and the engine's stats."""
    with Engine(model, tok, max_batch=max_batch) as eng:
        half = len(requests) // 2 if stagger else len(requests)
        hs = [eng.submit(*r, on_event=on_event) for r in requests[:half]]
        while stagger and hs[0].t_first is None:  # the others join a running batch
            time.sleep(0.001)
        hs += [eng.submit(*r, on_event=on_event) for r in requests[half:]]
        results = [h.result(180) for h in hs]
        assert eng.stats["errors"] == 0
        return results, dict(eng.stats)


@pytest.mark.parametrize("margin", [kv.MARGIN, 2])
def test_greedy_rows_equal_the_plain_engine(smol_model, smollm2_tokenizer, vocab, monkeypatch, margin):
    """8 greedy requests with different constraints and budgets, some speculative and some not,
    through a batch of at most 3 that rows join and leave: every row's tokens, text and stop
    reason are the non-speculative engine's (also when the KV buffer is relaid out at almost
    every join and step), and the speculative rows spent fewer passes than tokens."""
    monkeypatch.setattr(kv, "MARGIN", margin)
    tok = smollm2_tokenizer
    ps = [encode_prompt(tok, p) for p in prompts(8)]
    cs = [compiled(CONSTRAINTS[i % 4], vocab) for i in range(8)]
    lens = [12 + 5 * (i % 4) for i in range(8)]
    plain = [(p, c, SamplingParams(max_tokens=n, temperature=0.0)) for p, c, n in zip(ps, cs, lens)]
    mixed = [(p, c, SamplingParams(max_tokens=n, temperature=0.0, speculative=SPEC if i % 3 else None))
             for i, (p, c, n) in enumerate(zip(ps, cs, lens))]
    refs, _ = run_engine(smol_model, tok, plain)
    got, stats = run_engine(smol_model, tok, mixed)
    assert stats["speculative_rows"] == 5 and stats["max_rows"] == 3
    assert stats["accepted_tokens"] > 0 and stats["draft_tokens"] >= stats["accepted_tokens"]
    for i, (g, r) in enumerate(zip(got, refs)):
        assert g.token_ids == r.token_ids, (i, g.text, r.text)
        assert (g.text, g.stop_reason, g.finish_reason) == (r.text, r.stop_reason, r.finish_reason)
        if i % 3:
            assert g.stats["drafted"] >= g.stats["accepted"] >= 0
            assert g.timings["forward_calls"] <= r.timings["forward_calls"]
        else:
            assert g.stats == {}
    spec_rows = [(g, r) for i, (g, r) in enumerate(zip(got, refs)) if i % 3]
    assert sum(g.timings["forward_calls"] for g, _ in spec_rows) < sum(r.timings["forward_calls"] for _, r in spec_rows)


def test_greedy_rows_equal_generate_alone(smol_model, smollm2_tokenizer, vocab):
    """All rows speculative: each equals decode.generate for that request alone (the rows'
    different acceptances never leak into each other's KV)."""
    tok = smollm2_tokenizer
    ps = prompts(4)
    reqs = [(encode_prompt(tok, p), compiled(c, vocab), SamplingParams(max_tokens=30, temperature=0.0,
                                                                       speculative=SPEC))
            for p, c in zip(ps, CONSTRAINTS)]
    got, stats = run_engine(smol_model, tok, reqs, max_batch=4, stagger=False)
    assert stats["accepted_tokens"] > 0 and len({g.stats["accepted"] for g in got}) > 1
    for g, p, c in zip(got, ps, CONSTRAINTS):
        ref = decode.generate(smol_model, tok, p, c, max_new_tokens=30, temperature=0.0)
        assert g.token_ids == ref.token_ids and g.text == ref.text


def test_seeded_sampled_rows_draw_what_generate_draws(smol_model, smollm2_tokenizer, vocab, monkeypatch):
    """A seeded speculative row uses SpeculativeStep's verifier with the request's seed: the very
    tokens decode.generate(speculative=..., seed=...) gives alone (whose prompt prefill verifies
    no draft either: ``PREFILL_DRAFT`` off), whatever runs beside it."""
    import decode.loop

    monkeypatch.setattr(decode.loop, "PREFILL_DRAFT", False)
    tok = smollm2_tokenizer
    ps = prompts(4)
    kws = [dict(temperature=0.9, seed=11), dict(temperature=1.3, top_p=0.8, seed=5),
           dict(temperature=0.7, top_k=20, seed=2), dict(temperature=1.0, seed=7)]
    reqs = [(encode_prompt(tok, p), compiled(c, vocab), SamplingParams(max_tokens=20, speculative=SPEC, **kw))
            for p, c, kw in zip(ps, CONSTRAINTS, kws)]
    reqs.append((encode_prompt(tok, ps[0]), None, SamplingParams(max_tokens=20, temperature=0.0)))  # a plain row
    got, _ = run_engine(smol_model, tok, reqs, max_batch=5, stagger=False)
    for g, p, c, kw in zip(got, ps, CONSTRAINTS, kws):
        ref = decode.generate(smol_model, tok, p, c, max_new_tokens=20, speculative=SPEC, **kw)
        assert g.token_ids == ref.token_ids


def _sampled_strings(model, tok, c, ids, spec, temperature, n=240):
    """How often each string comes out of ``n`` seeded sampled rows (speculative with ``spec``, or
    plain when None)."""
    reqs = [(ids, c, SamplingParams(max_tokens=8, temperature=temperature, seed=1000 + k, speculative=spec))
            for k in range(n)]
    got, stats = run_engine(model, tok, reqs, max_batch=8, stagger=False)
    if spec is not None:
        assert stats["draft_tokens"] > 0
    counts = {}
    for g in got:
        counts[g.text] = counts.get(g.text, 0) + 1
    return counts


def _homogeneity(a: dict, b: dict) -> tuple[float, float]:
    """Two-sample Pearson chi-square of two string counts (cells under 10 pooled): ``(stat, critical)``."""
    keys = sorted(set(a) | set(b))
    assert len(keys) >= 4 and all(len(k) == 3 for k in keys)
    table = np.array([[counts.get(k, 0) for k in keys] for counts in (a, b)])
    small = table.sum(axis=0) < 10  # cells too small for the test are pooled into one
    table = np.concatenate([table[:, ~small], table[:, small].sum(axis=1, keepdims=True)], axis=1)
    table = table[:, table.sum(axis=0) > 0]
    assert table.shape[1] >= 3
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    return float(((table - expected) ** 2 / expected).sum()), toys.chi2_critical(table.shape[1] - 1)


def test_sampled_law_is_the_plain_engines(smol_model, smollm2_tokenizer, vocab):
    """Chi-square (fixed seeds): the strings of speculative sampled rows and of plain sampled
    rows, 240 requests each, come from one law; and the same test tells plain rows at another
    temperature apart (its power here)."""
    tok = smollm2_tokenizer
    c = compiled(decode.Regex("(a|b|c)(a|b|c)(a|b)"), vocab)
    ids = encode_prompt(tok, "abc" * 3)  # n-gram drafts have something to copy
    plain = _sampled_strings(smol_model, tok, c, ids, None, 1.5)
    spec = _sampled_strings(smol_model, tok, c, ids, Speculation(max_draft=3), 1.5)
    stat, critical = _homogeneity(plain, spec)
    assert stat < critical, (stat, plain, spec)
    colder = _sampled_strings(smol_model, tok, c, ids, None, 0.5)
    stat, critical = _homogeneity(colder, spec)
    assert stat > critical, (stat, colder, spec)


class _Oracle:
    """A draft source that proposes the reference continuation (so every draft is accepted)."""

    name = "oracle"

    def __init__(self, prompt_len: int, ref: list[int]):
        self.n, self.ref = prompt_len, ref

    def propose(self, context, k):
        out = list(context.history[self.n:])
        if out != self.ref[:len(out)]:
            return []
        return self.ref[len(out):len(out) + k]


@pytest.fixture
def emits(monkeypatch):
    """The token lists every SpeculativeStep.emit returns, in order."""
    seen = []
    real = SpeculativeStep.emit

    def spy(self, *a, **k):
        out = real(self, *a, **k)
        seen.append(list(out[0]))
        return out

    monkeypatch.setattr(SpeculativeStep, "emit", spy)
    return seen


def _reference(model, tok, ids, c, n, **kw):
    (r,), _ = run_engine(model, tok, [(ids, c, SamplingParams(max_tokens=n, temperature=0.0, **kw))], stagger=False)
    return r


def test_stop_string_inside_an_accepted_draft(smol_model, smollm2_tokenizer, emits):
    """A stop string that ends inside a pass's accepted draft: the row ends exactly where the
    plain engine ends it (text cut before the stop, the same tokens), nothing of the rest of
    that pass is kept, and the stream adds up to that text."""
    tok = smollm2_tokenizer
    ids = encode_prompt(tok, prompts(1)[0])
    ref = _reference(smol_model, tok, ids, None, 40)
    spec = Speculation(drafts=(_Oracle(len(ids), ref.token_ids),), max_draft=6, min_pass=1)
    full = _reference(smol_model, tok, ids, None, 40, speculative=spec)
    assert full.token_ids == ref.token_ids and full.stats["accepted"] > 10
    # a stop string strictly inside a pass that committed several tokens (not its first token),
    # whose first occurrence in the output is there
    full, stop, pos = ref.text, None, 0
    for e in emits:
        lo, hi = len(tok.decode(ref.token_ids[:pos + 1])), len(tok.decode(ref.token_ids[:pos + len(e) - 1]))
        if len(e) >= 4 and pos > 0 and full.startswith(tok.decode(ref.token_ids[:pos + len(e) - 1])):
            stop = next((full[i:i + 2] for i in range(lo, hi - 1) if full.find(full[i:i + 2]) == i), None)
            if stop:
                start, n_pass = pos, len(e)
                break
        pos += len(e)
    assert stop
    plain_cut = _reference(smol_model, tok, ids, None, 40, stop=(stop,))
    emits.clear()
    events = []
    with Engine(smol_model, tok, max_batch=2) as eng:
        h = eng.submit(ids, None, SamplingParams(max_tokens=40, temperature=0.0, stop=(stop,), speculative=spec),
                       on_event=lambda k, p: events.append((k, p)))
        got = h.result(60)
    assert got.text == plain_cut.text and got.token_ids == plain_cut.token_ids
    assert got.stop_reason == "stop" and got.finish_reason == "stop" and stop not in got.text
    # the pass that met the stop committed more tokens than the row kept
    assert start + 1 < len(got.token_ids) < start + n_pass  # the row ended inside that pass
    assert sum(len(x) for x in emits) > len(got.token_ids)
    assert "".join(p for k, p in events if k == "delta") == got.text


def test_max_tokens_inside_a_draft(smol_model, smollm2_tokenizer, vocab, emits):
    """A budget that runs out in a pass that commits several tokens: exactly ``max_tokens``
    tokens, the plain engine's, finish ``length``; drafts never go past the budget."""
    tok = smollm2_tokenizer
    ids = encode_prompt(tok, prompts(2)[1])
    c = compiled(PETS, vocab)
    ref = _reference(smol_model, tok, ids, c, 60)
    spec = Speculation(drafts=(_Oracle(len(ids), ref.token_ids),), max_draft=8, min_pass=1)
    for n in (9, 14, 17):
        if n >= len(ref.token_ids):
            continue
        emits.clear()
        got = _reference(smol_model, tok, ids, c, n, speculative=spec)
        plain = _reference(smol_model, tok, ids, c, n)
        assert got.token_ids == plain.token_ids == ref.token_ids[:n]
        assert got.finish_reason == "length" and got.stop_reason == "max_new_tokens"
        assert sum(len(x) for x in emits) == n  # no pass committed past the budget
        assert len(emits[-1]) > 1 and len(emits) < n


def test_streaming_chunks_add_up(smol_model, smollm2_tokenizer, vocab):
    """Speculative rows stream as their tokens are accepted: the deltas of each row add up to
    its final text, several per row, and their tokens are the plain engine's."""
    tok = smollm2_tokenizer
    ps = [encode_prompt(tok, p) for p in prompts(3)]
    events: dict[int, list] = {}
    with Engine(smol_model, tok, max_batch=3) as eng:
        hs = []
        for p, c in zip(ps, CONSTRAINTS[1:]):
            box = []
            h = eng.submit(p, compiled(c, vocab), SamplingParams(max_tokens=40, temperature=0.0, speculative=SPEC),
                           on_event=lambda k, x, box=box: box.append((k, x)))
            hs.append(h)
            events[h.id] = box
        got = [h.result(60) for h in hs]
    for h, g, p, c in zip(hs, got, ps, CONSTRAINTS[1:]):
        ev = events[h.id]
        deltas = [x for k, x in ev if k == "delta"]
        assert ev[-1] == ("done", g) and "".join(deltas) == g.text and len(deltas) >= 3
        assert g.token_ids == _reference(smol_model, tok, p, compiled(c, vocab), 40).token_ids


def test_cancel_mid_generation(smol_model, smollm2_tokenizer, vocab):
    """Cancelling a speculative row mid-run: it ends ``cancelled``, the rows beside it (one of
    them joining after) still give the plain engine's tokens, and the engine keeps serving."""
    tok = smollm2_tokenizer
    ps = [encode_prompt(tok, p) for p in prompts(3)]
    c = compiled(SCHEMA, vocab)
    refs = [_reference(smol_model, tok, p, c, 30) for p in ps[1:]]
    with Engine(smol_model, tok, max_batch=3) as eng:
        long = eng.submit(ps[0], None, SamplingParams(max_tokens=400, temperature=0.0, speculative=SPEC))
        other = eng.submit(ps[1], c, SamplingParams(max_tokens=30, temperature=0.0, speculative=SPEC))
        while long.t_first is None:
            time.sleep(0.001)
        long.cancel()
        late = eng.submit(ps[2], c, SamplingParams(max_tokens=30, temperature=0.0, speculative=SPEC))
        r_long, r_other, r_late = long.result(60), other.result(60), late.result(60)
        assert eng.alive and not eng.live
    assert r_long.finish_reason == "cancelled" and len(r_long.token_ids) < 400
    assert r_other.token_ids == refs[0].token_ids and r_late.token_ids == refs[1].token_ids


def test_speculative_argument_errors(smol_model, smollm2_tokenizer):
    eng = Engine(smol_model, smollm2_tokenizer, max_batch=2)
    for bad, match in ((SamplingParams(speculative=SPEC, frequency_penalty=0.5), "penalties"),
                       (SamplingParams(speculative=Speculation(siblings=2)), "siblings"),
                       (SamplingParams(speculative=True), "Speculation")):
        with pytest.raises(decode.GenerationArgumentError, match=match):
            eng.submit([1, 2], None, bad)
    assert not eng._pending


def test_slot_kv_retract():
    """SlotKV.retract: each row forgets its own last positions (masked out, position ids
    rewound) and the columns no row attends to leave the right end."""
    import torch

    s = kv.SlotKV(3, torch.device("cpu"))
    for length in (5, 3, 4):
        s.insert([(torch.ones(1, 1, length, 2), torch.ones(1, 1, length, 2))], length, length)
    valid = torch.tensor([[True] * 4, [True, True, False, False], [True, True, True, False]])
    _, attn, pos = s.prepare_step(4, valid)
    assert pos.tolist() == [[5, 6, 7, 8], [3, 4, 5, 5], [4, 5, 6, 7]]
    s.commit_step(4, valid)
    end = s.end
    s.retract([3, 1, 2])  # each row keeps one new position
    assert s.positions[:3].tolist() == [6, 4, 5]
    assert s.end == end - 3
    assert s.mask[:3, s.end - 1].tolist() == [1, 1, 1]
    s.retract([0, 0, 0])
    assert s.end == end - 3
    with pytest.raises(ValueError):
        s.retract([0, 99, 0])


def test_legal_head_gives_the_full_layers_tokens(smol_model, smollm2_tokenizer, vocab):
    """The output layer restricted to the ids a pass's readers may read (on by default) gives the
    tokens the whole layer gives: greedy and seeded rows, plain and speculative, constrained and
    free, in one batch; and it is really taken (the test would compare the full layer with
    itself otherwise)."""
    tok = smollm2_tokenizer
    cs = [SCHEMA, None, CONSTRAINTS[2], PETS, SCHEMA, PETS]
    kws = [dict(temperature=0.0), dict(temperature=0.0), dict(temperature=0.9, seed=3),
           dict(temperature=0.0, speculative=SPEC), dict(temperature=1.1, seed=4, speculative=SPEC),
           dict(temperature=0.8, top_p=0.9, seed=9, speculative=SPEC)]
    ps = [encode_prompt(tok, [{"role": "user", "content": f"Item {i}: " + "lorem ipsum " * i}]) for i in range(6)]

    def run(legal_head):
        with Engine(smol_model, tok, max_batch=6, legal_head=legal_head) as eng:
            hs = [eng.submit(p, None if c is None else decode.as_compiled(c, vocab, **decode.GENERATION_JSON_OPTIONS),
                             SamplingParams(max_tokens=16, **kw)) for p, c, kw in zip(ps, cs, kws)]
            return [h.result(120).token_ids for h in hs], dict(eng.stats)

    on, stats_on = run(True)
    off, stats_off = run(False)
    assert on == off
    assert stats_on["narrow_passes"] > 0 and stats_off["narrow_passes"] == 0
    assert stats_on["draft_tokens"] > 0
