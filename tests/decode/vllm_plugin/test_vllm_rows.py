"""The vLLM plugin's core, ``decode.vllm.ConstrainedRows``, driven by fake batch updates.

The fakes (``vllm_fakes.py``) mirror vLLM 0.33's ``BatchUpdate`` / ``MoveDirectionality`` and
its persistent batch's add / remove / condense / swap; no vLLM is needed.  Random runs are
checked against a reference dict model (batch index -> request) and, per row, against a fresh
matcher advanced over that request's outputs: the mask applied must be the matcher's own,
forbidden logits -inf, allowed and unconstrained ones bit-for-bit unchanged.
"""

from __future__ import annotations

import logging
import random

import numpy as np
import pytest
import torch

from constrain.tokens.vocab import Vocabulary
from decode.vllm import ConstrainedRows, spec_from_extra_args
from decode.vllm.spec import compile_spec

from tests.decode.vllm_plugin.vllm_fakes import BatchUpdate, FakeBatch, FakeParams, MoveDirectionality

EOS_A, EOS_B = 0, 1  # two EOS-class ids, like SmolLM2's <|endoftext|> and <|im_end|>


@pytest.fixture(scope="module")
def vocab():
    pieces = [None, None] + [bytes([b]) for b in range(32, 127)]
    pieces += [b'{"', b'":', b'",', b'ab', b'cd', b'abx', b'12', b', ', b'"}', b'}']
    return Vocabulary.from_token_bytes(pieces, eos_ids=[EOS_A, EOS_B])


CONSTRAINTS = [
    {"regex": "(ab|cd){1,3}x?"},
    {"json_schema": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 99},
                                                       "s": {"enum": ["ab", "cd"]}},
                     "required": ["n", "s"]}},
    {"lark": 'start: "[" NUM ("," NUM)* "]"\nNUM: /[0-9]{1,2}/'},
]


def _params(i, *, stop=None):
    return FakeParams(extra_args={"structgen": CONSTRAINTS[i]}, eos_token_id=stop)


def _bits(words: np.ndarray, width: int) -> np.ndarray:
    w = words.view(np.uint32)
    return np.array([(int(w[t >> 5]) >> (t & 31)) & 1 for t in range(width)], dtype=bool)


def _expected_mask(req, vocab) -> np.ndarray:
    """The allowed-token set of a request, from a fresh matcher over its outputs."""
    m = compile_spec(req["spec"], vocab).matcher()
    for t in req["out"]:
        if m.is_finished():
            break
        assert m.advance(t)
    if m.is_finished():
        allowed = np.zeros(vocab.size, dtype=bool)
        allowed[req["stop"]] = True
        return allowed
    allowed = _bits(m.mask(), vocab.size)
    other = [e for e in (EOS_A, EOS_B) if e not in req["stop"]]
    allowed[other] = False
    return allowed


@pytest.mark.parametrize("seed,async_placeholders", [(0, False), (1, True), (2, False), (3, True)])
def test_random_batch_updates_against_reference(vocab, seed, async_placeholders):
    rng = random.Random(seed)
    rows = ConstrainedRows(vocab)
    batch = FakeBatch()
    reqs = {}  # request id -> {"spec", "out", "stop", "constrained"}
    pending = {}  # request id -> token sampled last step, not yet written (async scheduling)
    next_id = 0
    steps_with_moves = 0
    for step in range(60):
        # finished or cancelled requests leave, new ones come (some resuming with outputs)
        for i, rid in enumerate(list(batch.slots)):
            if rid is None:
                continue
            r = reqs[rid]
            done = r["out"] and r["out"][-1] in (EOS_A, EOS_B) and r["constrained"]
            if done or len(r["out"]) >= 14 or rng.random() < 0.08:
                batch.remove(i)
                pending.pop(rid, None)
        for _ in range(rng.randrange(0, 4)):
            rid, next_id = next_id, next_id + 1
            constrained = rng.random() < 0.7
            k = rng.randrange(len(CONSTRAINTS))
            stop = rng.choice([[EOS_A], [EOS_B], [EOS_A, EOS_B]])
            params = (FakeParams(extra_args={"structgen": CONSTRAINTS[k]}, eos_token_id=stop[0],
                                 stop_token_ids=stop[1:]) if constrained else
                      FakeParams(extra_args={"other_plugin": 1} if rng.random() < 0.5 else None))
            out = []
            spec = spec_from_extra_args(params.extra_args)
            if constrained and rng.random() < 0.3:  # resumed after preemption: outputs so far
                m = compile_spec(spec, vocab).matcher()
                for _ in range(rng.randrange(1, 4)):
                    ok = [t for t in range(2, vocab.size) if m.is_allowed(t)]
                    if not ok:
                        break
                    out.append(rng.choice(ok))
                    m.advance(out[-1])
            reqs[rid] = {"spec": spec, "out": out, "stop": stop, "constrained": constrained}
            batch.add(rid, params, out)
        batch.condense()
        for _ in range(rng.randrange(0, 2)):
            if batch.num_reqs >= 2:
                a, b = rng.sample(range(len(batch.slots)), 2)
                batch.swap(a, b)
        bu = batch.get_and_reset()
        if bu is not None and bu.moved:
            steps_with_moves += 1
        rows.update(bu)

        # the reference dict model: which index holds which constrained request
        want = {i: rid for i, rid in enumerate(batch.slots) if rid is not None and reqs[rid]["constrained"]}
        assert set(rows.rows) == set(want)
        for i, rid in want.items():
            assert rows.rows[i].output is reqs[rid]["out"]  # vLLM's own list, by reference

        # async scheduling: the placeholder becomes the real token just before sampling
        for rid, t in pending.items():
            out = reqs[rid]["out"]
            assert out[-1] == -1
            out[-1] = t
        pending.clear()

        n = len(batch.slots)
        if n == 0:
            continue
        logits = torch.randn(n, vocab.size, generator=torch.Generator().manual_seed(step))
        before = logits.clone()
        assert rows.apply(logits) is logits
        for i, rid in enumerate(batch.slots):
            r = reqs[rid]
            if not r["constrained"]:
                assert torch.equal(logits[i], before[i])
                t = rng.randrange(vocab.size)
            else:
                allowed = torch.from_numpy(_expected_mask(r, vocab))
                assert torch.equal(torch.isfinite(logits[i]), allowed), (step, i, r["out"])
                assert torch.equal(logits[i][allowed], before[i][allowed])
                assert bool(torch.isinf(logits[i][~allowed]).all()) and bool((logits[i][~allowed] < 0).all())
                t = rng.choice(torch.nonzero(allowed).flatten().tolist())
            if async_placeholders:
                r["out"].append(-1)
                pending[rid] = t
            else:
                r["out"].append(t)
    assert next_id > 40 and steps_with_moves > 5  # the run exercised adds, removals and moves


def test_moves_and_swaps_follow_vllm_semantics(vocab):
    rows = ConstrainedRows(vocab)
    outs = [[], [], []]
    rows.update(BatchUpdate(3, [], [(i, _params(i), None, outs[i]) for i in range(3)], []))
    assert {i: r.output for i, r in rows.rows.items()} == {0: outs[0], 1: outs[1], 2: outs[2]}
    rows.update(BatchUpdate(3, [], [], [(0, 2, MoveDirectionality.SWAP)]))
    assert rows.rows[0].output is outs[2] and rows.rows[2].output is outs[0]
    # one-way: 1's request moves to 0, whatever 0 held is gone, 1 is empty
    rows.update(BatchUpdate(2, [2], [], [(1, 0, MoveDirectionality.UNIDIRECTIONAL)]))
    assert set(rows.rows) == {0} and rows.rows[0].output is outs[1]
    # an added request replaces the index's occupant; an unconstrained one clears it
    rows.update(BatchUpdate(1, [], [(0, FakeParams(), None, [])], []))
    assert rows.rows == {}
    rows.update(None)  # no change this step
    assert rows.rows == {}


def test_no_constrained_rows_leaves_logits_alone(vocab):
    rows = ConstrainedRows(lambda: pytest.fail("the vocabulary is not needed"))
    rows.update(BatchUpdate(2, [], [(0, FakeParams(), None, []), (1, FakeParams({"x": 1}), None, [])], []))
    logits = torch.randn(2, 50)
    before = logits.clone()
    assert rows.apply(logits) is logits and torch.equal(logits, before)


def test_eos_only_the_requests_stop_ids_and_forced_when_finished(vocab):
    rows = ConstrainedRows(vocab)
    out = []
    params = FakeParams(extra_args={"structgen": {"regex": "ab"}}, eos_token_id=EOS_B)
    rows.update(BatchUpdate(1, [], [(0, params, None, out)], []))
    ab = vocab.token_bytes.index(b"ab")

    def allowed():
        logits = torch.zeros(1, vocab.size)
        rows.apply(logits)
        return set(torch.nonzero(torch.isfinite(logits[0])).flatten().tolist())

    assert EOS_A not in allowed() and EOS_B not in allowed()  # not accepting yet
    out.append(ab)
    assert allowed() == {EOS_B}  # accepting and nothing else fits: only the stop id
    out.append(EOS_B)
    assert allowed() == {EOS_B}  # finished (e.g. ignore_eos): EOS stays forced
    out.append(EOS_B)
    assert allowed() == {EOS_B}
    # no stop id among the vocabulary's EOS ids: every EOS id may end the output
    rows.update(BatchUpdate(1, [], [(0, FakeParams(extra_args={"structgen": {"regex": "ab"}}), None, [ab])], []))
    assert allowed() == {EOS_A, EOS_B}


def test_broken_rows_are_ended_not_crashed(vocab, caplog):
    rows = ConstrainedRows(vocab)
    bad = FakeParams(extra_args={"structgen": {"json_schema": {"type": "string", "pattern": "(a)\\1"}}},
                     eos_token_id=EOS_A)
    out = []
    with caplog.at_level(logging.ERROR, logger="decode.vllm"):
        rows.update(BatchUpdate(2, [], [(0, bad, None, []), (1, _params(0, stop=EOS_A), None, out)], []))
        logits = torch.zeros(2, vocab.size)
        rows.apply(logits)
        assert torch.isfinite(logits[0]).nonzero().flatten().tolist() == [EOS_A]
        assert "batch row 0" in caplog.text and "backreferences" in caplog.text
        out.append(vocab.token_bytes.index(b"x"))  # a token the constraint never allowed
        logits = torch.zeros(2, vocab.size)
        rows.apply(logits)
        assert torch.isfinite(logits[1]).nonzero().flatten().tolist() == [EOS_A]
        assert "batch row 1" in caplog.text and "position 0" in caplog.text


def test_columns_past_the_vocabulary_are_masked(vocab):
    rows = ConstrainedRows(vocab)
    rows.update(BatchUpdate(1, [], [(0, _params(0, stop=EOS_A), None, [])], []))
    logits = torch.zeros(1, 32 * vocab.n_words)  # the model's logits padded past the tokenizer
    rows.apply(logits)
    assert not torch.isfinite(logits[0, vocab.size:]).any()
    assert torch.isfinite(logits[0, : vocab.size]).any()


def test_a_vocabulary_wider_than_the_logits_is_refused(vocab):
    from constrain.errors import VocabularyError

    rows = ConstrainedRows(vocab)
    rows.update(BatchUpdate(1, [], [(0, _params(0, stop=EOS_A), None, [])], []))
    with pytest.raises(VocabularyError, match="decode.vllm"):
        rows.apply(torch.zeros(1, vocab.size - 5))


def test_one_compile_per_constraint_and_vocabulary(vocab, monkeypatch):
    import decode.vllm.spec as spec_mod

    calls = []
    real = spec_mod.as_compiled
    monkeypatch.setattr(spec_mod, "as_compiled", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    spec_mod._COMPILED.clear()
    rows = ConstrainedRows(vocab)
    schema = {"json_schema": {"type": "array", "items": {"type": "boolean"}, "maxItems": 3}}
    same = {"json_schema": '{"maxItems": 3, "items": {"type": "boolean"}, "type": "array"}'}  # same schema, as text
    rows.update(BatchUpdate(3, [], [(0, FakeParams({"structgen": schema}), None, []),
                                    (1, FakeParams({"structgen": same}), None, []),
                                    (2, FakeParams({"structgen": schema}), None, [])], []))
    assert len(calls) == 1
    # another Vocabulary object for the same tokens (another worker's) shares the compile
    twin = Vocabulary.from_token_bytes(list(vocab.token_bytes), eos_ids=[EOS_A, EOS_B])
    assert twin is not vocab and twin.fingerprint == vocab.fingerprint
    compile_spec(spec_from_extra_args({"structgen": schema}), twin)
    assert len(calls) == 1
    compile_spec(spec_from_extra_args({"structgen": {"regex": "ab"}}), twin)
    assert len(calls) == 2


def test_rows_keyed_by_slot_masked_at_their_positions(vocab):
    """vLLM's V2 runner: requests keyed by a slot, each step's logits rows laid out anew."""
    rows = ConstrainedRows(vocab)
    out5, out2, out7 = [], [vocab.token_bytes.index(b"ab")], []
    assert rows.add(5, _params(0, stop=EOS_A), out5)
    assert rows.add(2, FakeParams(extra_args={"structgen": {"regex": "ab"}}, eos_token_id=EOS_A), out2)
    assert rows.add(7, _params(1, stop=EOS_A), out7)  # tracked, but not in this step's batch
    assert not rows.add(3, FakeParams(), [])
    logits = torch.zeros(3, vocab.size)
    rows.apply(logits, {2: 0, 5: 2, 3: 1})
    assert torch.isfinite(logits[0]).nonzero().flatten().tolist() == [EOS_A]  # slot 2: "ab" read, only EOS
    assert torch.isfinite(logits[1]).all()  # slot 3: unconstrained
    allowed = torch.from_numpy(_expected_mask({"spec": rows.rows[5].spec, "out": out5, "stop": [EOS_A]}, vocab))
    assert torch.equal(torch.isfinite(logits[2]), allowed)  # slot 5 at row 2


def test_a_mask_with_no_token_ends_the_row_instead_of_failing_the_step(vocab, caplog):
    """Masks are checked on the host (the kernel's own check would wait for the GPU)."""
    rows = ConstrainedRows(vocab)
    rows.update(BatchUpdate(2, [], [(0, _params(0, stop=EOS_B), None, []), (1, _params(2, stop=EOS_A), None, [])], []))

    class Empty:  # a matcher whose mask allows nothing
        def is_finished(self):
            return False

        def fill_mask(self, out, row):
            out[row] = 0

    rows.rows[0].matcher = Empty()
    logits = torch.zeros(2, vocab.size)
    with caplog.at_level(logging.ERROR, logger="decode.vllm"):
        rows.apply(logits)
    assert torch.isfinite(logits[0]).nonzero().flatten().tolist() == [EOS_B]
    other = {"spec": rows.rows[1].spec, "out": [], "stop": [EOS_A]}
    assert torch.equal(torch.isfinite(logits[1]), torch.from_numpy(_expected_mask(other, vocab)))  # as usual
    assert "allows no token" in caplog.text
