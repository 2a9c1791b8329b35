"""Rollback integrity (ALGORITHMS.md 3.3 and 3.7.3), property-tested.

Speculative decoding advances the constraint through drafts and must forget the rejected
ones exactly.  For random interleavings of advances (legal tokens, EOS included), rollbacks
of any depth and copies, on a JSON schema and a Lark grammar (stack states) over SmolLM2's
vocabulary, the matcher must be indistinguishable from a fresh one fed the committed tokens:
the same mask bit for bit, the same forced bytes and accepting flag, the same verdict on
tokens it allows and tokens it does not.  And the ``Drafter`` never moves the matcher it
drafts from.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import constrain
from constrain import grammars
from decode.speculative import Drafter, GrammarDraft, NgramDraft

SCHEMA = {"type": "object", "properties": {
    "id": {"type": "integer"}, "label": {"enum": ["alpha", "beta", "gamma delta"]},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 5}, "maxItems": 3},
    "child": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}},
    "required": ["id", "label"], "additionalProperties": False}


@pytest.fixture(scope="module")
def compiled(smollm2_vocab):
    v = smollm2_vocab
    return {"json": constrain.compile_json_schema(SCHEMA, v, options=constrain.JsonOptions.GENERATION),
            "lark": constrain.compile_lark(grammars.load("arithmetic"), v)}


def same_behaviour(m, fresh, vocab, probes) -> None:
    assert m.num_consumed == fresh.num_consumed
    assert m.is_finished() == fresh.is_finished()
    assert m.is_accepting() == fresh.is_accepting()
    assert np.array_equal(m.mask(), fresh.mask())
    assert m.forced_bytes() == fresh.forced_bytes()
    for t in probes:
        assert m.is_allowed(t) == fresh.is_allowed(t), t


OPS = st.lists(st.tuples(st.sampled_from(["advance", "advance", "advance", "rollback", "copy"]),
                         st.integers(0, 10 ** 6)), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(which=st.sampled_from(["json", "lark"]), ops=OPS)
def test_random_advance_rollback_interleavings(compiled, smollm2_vocab, which, ops):
    vocab = smollm2_vocab
    c = compiled[which]
    m = c.matcher()
    committed: list[int] = []
    rng = np.random.default_rng(len(ops))
    for op, r in ops:
        if op == "advance":
            allowed = vocab.mask_to_ids(m.mask())
            if len(allowed) == 0:
                continue
            t = int(allowed[r % len(allowed)])
            assert m.advance(t)
            committed.append(t)
        elif op == "rollback":
            n = r % (len(committed) + 1)
            m.rollback(n)
            del committed[len(committed) - n:]
        else:
            m = m.copy()
        fresh = c.matcher()
        for t in committed:
            assert fresh.advance(t)
        allowed = vocab.mask_to_ids(fresh.mask())
        probes = set(allowed[:: max(1, len(allowed) // 50)].tolist()) | set(rng.integers(0, vocab.size, 50).tolist())
        same_behaviour(m, fresh, vocab, probes)


@settings(max_examples=30, deadline=None)
@given(k=st.integers(1, 12), seed=st.integers(0, 10 ** 6))
def test_advance_k_then_rollback_is_never_advanced(compiled, smollm2_vocab, k, seed):
    vocab = smollm2_vocab
    rng = np.random.default_rng(seed)
    for c in compiled.values():
        m = c.matcher()
        before = c.matcher()
        n = 0
        for _ in range(k):
            allowed = vocab.mask_to_ids(m.mask())
            allowed = allowed[~np.isin(allowed, vocab.eos_ids)]
            if len(allowed) == 0:
                break
            assert m.advance(int(rng.choice(allowed)))
            n += 1
        rejected = [t for t in rng.integers(0, vocab.size, 200).tolist() if not before.is_allowed(t)][:5]
        m.rollback(n)
        same_behaviour(m, before, vocab, set(vocab.mask_to_ids(before.mask())[:100].tolist()) | set(rejected))
        assert all(not m.advance(t) for t in rejected)


def test_drafting_leaves_the_matcher_unmoved(compiled, smollm2_vocab):
    vocab = smollm2_vocab
    eos = frozenset(int(e) for e in vocab.eos_ids)
    drafter = Drafter([GrammarDraft(vocab), NgramDraft(3)], vocab, eos)
    out = vocab.encode('{"id": 3, "label": "')
    history = vocab.encode('Example: {"id": 3, "label": "alpha"}\n') + out
    m = compiled["json"].matcher()
    for t in out:
        assert m.advance(t)
    snapshot = m.copy()
    d = drafter.draft(m, history, budget=8, limit=16)
    assert d.tokens  # the grammar forces nothing here, but the n-gram guesses "alpha"
    same_behaviour(m, snapshot, vocab, d.tokens)
    walk = m.copy()  # the recorded masks are the masks along the draft
    for t, mask in zip(d.tokens, d.masks):
        assert np.array_equal(walk.mask(), mask)
        assert walk.advance(t)
    assert np.array_equal(walk.mask(), d.masks[len(d.tokens)])
