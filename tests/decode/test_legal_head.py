"""The plain loop's narrow output layer (``decode.legal_head``, ``decode.loop.LEGAL_HEAD``).

Its claim: computing only the logits of the ids the next position's masks allow changes no
output.  Checked with the switch on and off on tiny random Llamas (the tiny character
tokenizer with a regex, and the shared SmolLM2-wide ``smol_model`` with a JSON schema):
greedy outputs identical, seeded samples identical (the Gumbel noise is drawn over the whole
row either way, so the random stream is the same), the narrow logits equal to the full
layer's at the allowed ids and -inf elsewhere, and the narrow path actually taken.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import decode
import decode.loop as loop
import decode.steps as steps
from decode.legal_head import SHARE, legal_logits_at
from tests import fakes

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 10},
        "kind": {"enum": ["cat", "dog", "hamster"]},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "score": {"type": "number"},
        "ok": {"type": "boolean"},
    },
    "required": ["name", "kind", "age", "score", "ok"],
    "additionalProperties": False,
}
PROMPTS = ["Describe a cat named Tom, 3 years old, as JSON:", "x", "A hamster called Bo, age 2"]


def _bits(ids, n_words):
    m = np.zeros(n_words, dtype=np.uint32)
    for t in ids:
        m[t // 32] |= np.uint32(1) << np.uint32(t % 32)
    return m.view(np.int32)


def test_legal_logits_at_cuts_the_mask_at_the_logits_width_and_refuses_wide_masks():
    torch.manual_seed(0)
    hidden, weight = torch.randn(1, 1, 16), torch.randn(100, 16)
    m = _bits([0, 5, 33, 64, 127], 4)[None]  # 127: past the logits width
    out = legal_logits_at(hidden, weight, [0], [0], m, share=1.0)
    assert torch.isfinite(out[0, 0]).nonzero().flatten().tolist() == [0, 5, 33, 64]
    torch.testing.assert_close(out[0, 0, [0, 5, 33, 64]], (hidden @ weight.T)[0, 0, [0, 5, 33, 64]])
    assert legal_logits_at(hidden, weight, [0], [0], m, share=3 / 100) is None  # 4 ids > 3
    assert legal_logits_at(hidden, weight, [0], [0], m, share=4 / 100) is not None
    assert legal_logits_at(hidden, weight, [0], [0], np.zeros((1, 4), dtype=np.int32)) is None  # nothing allowed
    assert SHARE == 0.25


def test_legal_logits_at_narrows_each_position_on_its_own():
    """Narrow positions: the union of the narrow masks' ids; a wide position: every logit;
    unlisted positions: -inf; no narrow position: None."""
    torch.manual_seed(1)
    V, W = 64, 2
    hidden, weight = torch.randn(2, 3, 8), torch.randn(V, 8)
    full = torch.nn.functional.linear(hidden, weight)
    wide = np.full(W, -1, dtype=np.int32)
    masks = np.stack([_bits([3, 9], W), wide, _bits([9, 40], W)])
    out = legal_logits_at(hidden, weight, [0, 0, 1], [0, 2, 1], masks)
    union = torch.tensor([3, 9, 40])
    for r, c in ((0, 0), (1, 1)):
        torch.testing.assert_close(out[r, c, union], full[r, c, union])
        assert int(torch.isfinite(out[r, c]).sum()) == 3
    torch.testing.assert_close(out[0, 2], full[0, 2])
    for r, c in ((0, 1), (1, 0), (1, 2)):
        assert bool(torch.isneginf(out[r, c]).all())
    assert legal_logits_at(hidden, weight, [0], [0], wide[None]) is None
    assert legal_logits_at(hidden, weight, [], [], masks[:0]) is None


def check_against_full(out, hidden, weight, rows, cols, masks):
    """Every listed position: finite at least at the ids its mask allows, and equal to the
    full output layer wherever finite."""
    full = torch.nn.functional.linear(hidden, weight)
    V = weight.shape[0]
    for r, c, m in zip(rows, cols, masks):
        allowed = torch.from_numpy(np.unpackbits(m.view(np.uint8), bitorder="little")[:V].astype(bool))
        got, ref = out[r, c], full[r, c]
        fin = torch.isfinite(got)
        assert bool(fin[allowed].all())
        torch.testing.assert_close(got[fin], ref[fin], rtol=1e-5, atol=1e-5)


@pytest.fixture
def spy(monkeypatch):
    """Records the plain loop's narrow passes (the logits computed at their narrowest row), each
    checked against the full output layer."""
    seen = []

    def checked(hidden, weight, rows, cols, masks, **kw):
        out = legal_logits_at(hidden, weight, rows, cols, masks, **kw)
        if out is not None:
            check_against_full(out, hidden, weight, rows, cols, masks)
            seen.append(min(int(torch.isfinite(out[r, c]).sum()) for r, c in zip(rows, cols)))
        return out

    monkeypatch.setattr(steps, "legal_logits_at", checked)
    return seen


def _both(monkeypatch, fn):
    """``fn()`` with the narrow head on, then off."""
    monkeypatch.setattr(loop, "LEGAL_HEAD", True)
    on = fn()
    monkeypatch.setattr(loop, "LEGAL_HEAD", False)
    off = fn()
    monkeypatch.setattr(loop, "LEGAL_HEAD", True)
    return on, off


def _same(on, off):
    for a, b in zip(on, off):
        assert a.token_ids == b.token_ids, (a.text, b.text)
        assert (a.stop_reason, a.stats["forward_calls"]) == (b.stop_reason, b.stats["forward_calls"])


@pytest.mark.parametrize("kw", [dict(temperature=0.0),
                                dict(temperature=0.7, seed=3),
                                dict(temperature=1.0, seed=11, top_k=5, top_p=0.9),
                                dict(temperature=0.8, seed=2, frequency_penalty=0.4, presence_penalty=0.2)])
def test_smol_outputs_identical_with_and_without_the_narrow_head(smollm2_tokenizer, smol_model, spy,
                                                                 monkeypatch, kw):
    # a batch: rows run at different lengths, one row unconstrained (its mask allows everything,
    # so passes where it runs keep the whole layer)
    cons = [SCHEMA, decode.Regex(r"(cat|dog|hamster)( [a-z]{1,8}){2,6}\."), SCHEMA]
    go = lambda: decode.generate(smol_model, smollm2_tokenizer, PROMPTS, cons, max_new_tokens=40,  # noqa: E731
                                 batch=True, **kw)
    on, off = _both(monkeypatch, go)
    _same(on, off)
    assert spy and max(spy) <= SHARE * 49152
    narrow = len(spy)
    spy.clear()
    unconstrained = [SCHEMA, None]
    on, off = _both(monkeypatch, lambda: decode.generate(smol_model, smollm2_tokenizer, PROMPTS[:2], unconstrained,
                                                         max_new_tokens=12, batch=True, **kw))
    _same(on, off)
    assert narrow > 0


def test_smol_greedy_single_prompts_take_the_narrow_head(smollm2_tokenizer, smol_model, spy, monkeypatch):
    for p in PROMPTS:
        on, off = _both(monkeypatch, lambda: [decode.generate(smol_model, smollm2_tokenizer, p, SCHEMA,
                                                              max_new_tokens=48, temperature=0.0)])
        _same(on, off)
    # keys, punctuation, enum values and digits: most passes of these outputs are narrow
    assert len(spy) >= 10


@pytest.mark.parametrize("seed", [0, 4])
def test_tiny_tokenizer_outputs_identical(monkeypatch, spy, seed):
    """The tiny character tokenizer (~150 ids) with a finite-language constraint (``fakes``)."""
    tok = fakes.make_tiny_tokenizer()
    model = fakes.make_tiny_model(150, seed=seed)
    lang = fakes.FakeCompiled(["yes", "yesterday", "no", "nope", "maybe", '{"name": "abc"}', "abc abc abc"],
                              fakes.FakeVocab.from_tokenizer(tok, 150))
    for kw in (dict(temperature=0.0), dict(temperature=1.5, seed=seed), dict(temperature=1.0, seed=seed, top_k=3)):
        on, off = _both(monkeypatch, lambda: decode.generate(model, tok, ["a", "b c", "hello"], lang,
                                                             max_new_tokens=20, batch=True, **kw))
        _same(on, off)
    # after the first bytes, a few of the ~150 ids continue a string of the language
    assert spy and max(spy) <= SHARE * 150


def test_models_without_a_plain_head_run_the_whole_forward(smollm2_tokenizer, smol_model, monkeypatch, spy):
    """A model type outside ``split_head``'s list keeps ``model(...)``: no narrow pass."""
    monkeypatch.setattr(smol_model.config, "model_type", "gemma2")  # restored after the test
    decode.generate(smol_model, smollm2_tokenizer, PROMPTS[0], SCHEMA, max_new_tokens=16, temperature=0.0)
    assert not spy


@pytest.mark.slow
def test_smollm2_greedy_and_seeded_samples_identical_with_and_without_the_narrow_head(monkeypatch, spy):
    """SmolLM2 itself (tied embeddings, the real head): the narrow head changes no output."""
    from constrain import grammars

    model, tok = decode.load_default_model(progress=None)
    prompts = ["Extract as JSON: Alice Smith is 31 and lives in Berlin.", "Describe a pet as JSON.",
               "Write an SQL query listing the names of users older than 30 from the table users."]
    cons = [SCHEMA, SCHEMA, decode.Lark(grammars.load("sql"))]
    for kw in (dict(temperature=0.0), dict(temperature=0.7, seed=1)):
        on, off = _both(monkeypatch, lambda: decode.generate(model, tok, prompts, cons, max_new_tokens=48,
                                                             batch=True, **kw))
        _same(on, off)
        if not kw.get("seed"):  # greedy batch rows equal single rows (a seeded batch draws other noise)
            for p, c, a in zip(prompts, cons, on):
                assert decode.generate(model, tok, p, c, max_new_tokens=48, **kw).token_ids == a.token_ids
    assert len(spy) >= 20


def test_a_hooked_output_layer_keeps_the_whole_forward(smollm2_tokenizer, smol_model, spy):
    """A forward hook on the model or its output layer (a user's logit edit) must run, so the
    narrow head, which reads the weight directly, is not used."""
    from decode.lm import split_head

    assert split_head(smol_model) is not None
    for module in (smol_model.lm_head, smol_model):
        handle = module.register_forward_hook(lambda m, i, out: out)
        try:
            assert split_head(smol_model) is None
            decode.generate(smol_model, smollm2_tokenizer, PROMPTS[0], SCHEMA, max_new_tokens=8, temperature=0.0)
        finally:
            handle.remove()
    assert not spy and split_head(smol_model) is not None
