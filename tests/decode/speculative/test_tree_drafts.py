"""Tree drafts (``Speculation.siblings``): exact verification and KV-cache rollback.

The verifier first: on explicit trees of width 2-3 and depth 1-2 every branch of
``verify_tree_sampled`` is enumerated with its probability and must give each emitted
sequence the probability sequential sampling gives it.  Then the whole driver
(``run_speculative`` with siblings, on the hand-made ``TableLM``s of
test_speculative_exactness.py): the law of the first L tokens by exact enumeration and
chi-square at fixed seeds (with a power check: a verifier that keeps a sibling too often is
caught), greedy identity.  Last, the model side on a tiny random Llama: a tree pass's logits
at every node equal a fresh run's over that node's path, and after ``HFCausalLM.forget`` the
next logits equal a fresh run's over the kept text, for one row and for two rows with
different trees and padding.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from decode import Speculation
from decode.lm import HFCausalLM
from decode.prompts import left_pad
from decode.speculative import TorchChooser, run_speculative
from decode.speculative.tree import ancestor_mask, chunk_parents, depths
from decode.speculative.verify import verify_tree_greedy, verify_tree_sampled
from tests import fakes
from tests.decode.samplers import toys
from tests.decode.speculative.test_speculative_exactness import (L, PROMPT, _constraints, assert_greedy_identity,
                                                                 chi_square, enumerate_law, hashed_lm, sequential_law,
                                                                 speculative_law)

V = 5

# (tokens, parents): width 2-3, depth 1-2; a parent precedes its children
TREES = [
    ([1, 3], [-1, -1]),                   # two siblings at the root
    ([0, 2, 4], [-1, -1, -1]),            # three
    ([2, 0, 1], [-1, 0, 0]),              # a draft, then two siblings after it
    ([2, 0, 1, 3], [-1, 0, 0, 0]),        # a draft, then three
    ([2, 4, 0, 1], [-1, -1, 0, 0]),       # width 2 at both depths
    ([3, 1], [-1, 0]),                    # a plain chain (the linear case through the tree code)
]


def _law(context: tuple) -> np.ndarray:
    """A hand-made next-token law per context (some zeros: a token the target never takes)."""
    rng = np.random.default_rng([3, len(context), *context])
    p = rng.random(V) + 0.02
    p[(sum(context) + len(context)) % V] = 0.0
    return p / p.sum()


def _paths(tokens, parents):
    out = []
    for j in range(len(tokens)):
        path, node = [], j
        while node >= 0:
            path.append(tokens[node])
            node = parents[node]
        out.append(tuple(path[::-1]))
    return out


def _tree_outcomes(tokens, parents) -> dict:
    """Every (emitted sequence) of verify_tree_sampled with its exact probability."""
    rows = torch.tensor(np.stack([_law(())] + [_law(p) for p in _paths(tokens, parents)]), dtype=torch.float64)

    def run(chooser):
        path, y = verify_tree_sampled(rows, tokens, parents, chooser)
        return tuple(tokens[j] for j in path) + (y,)

    return enumerate_law(run)


@pytest.mark.parametrize("tokens,parents", TREES)
def test_tree_verification_has_the_sequential_law(tokens, parents):
    law = _tree_outcomes(tokens, parents)
    assert sum(law.values()) == pytest.approx(1.0, abs=1e-12)
    inner = set(_paths(tokens, parents))
    for seq, p in law.items():
        # the emitted sequence runs along the tree, then leaves it with its last token
        assert seq[:-1] == () or seq[:-1] in inner, seq
        assert seq not in inner
        expect = math.prod(float(_law(seq[:k])[seq[k]]) for k in range(len(seq)))
        assert p == pytest.approx(expect, abs=1e-12), seq
    # and every such sequence with positive probability is reached
    for seq in set(itertools.chain.from_iterable(
            [q + (t,) for t in range(V)] for q in [()] + list(inner))) - inner:
        expect = math.prod(float(_law(seq[:k])[seq[k]]) for k in range(len(seq)))
        assert law.get(seq, 0.0) == pytest.approx(expect, abs=1e-12), seq


@pytest.mark.parametrize("tokens,parents", TREES)
def test_greedy_tree_verification_follows_the_argmax(tokens, parents):
    best = [int(np.argmax(_law(()))) ] + [int(np.argmax(_law(p))) for p in _paths(tokens, parents)]
    path, y = verify_tree_greedy(best, tokens, parents)
    seq, ctx = [tokens[j] for j in path] + [y], ()
    for t in seq:  # sequential greedy from the root emits the same tokens
        assert t == int(np.argmax(_law(ctx)))
        ctx += (t,)
    assert tuple(seq) not in set(_paths(tokens, parents))


def test_a_wrong_tree_rule_is_caught_by_the_enumeration():
    """Power of the check above: trying the children with their unconditioned probability
    (instead of the probability left by the earlier ones) changes the law."""
    from decode.speculative import verify

    tokens, parents = TREES[1]
    good = _tree_outcomes(tokens, parents)
    orig = verify._draw_among

    def wrong(probs, candidates, chooser):
        for j, d in enumerate(candidates):
            if chooser.accept(float(probs[d])):
                return j, d
        return orig(probs, [], chooser)

    verify._draw_among = wrong
    try:
        bad = _tree_outcomes(tokens, parents)
    finally:
        verify._draw_among = orig
    assert any(abs(bad.get(k, 0.0) - p) > 1e-3 for k, p in good.items())


@pytest.fixture(scope="module")
def setup():
    vocab = toys.toy_vocab()
    return vocab, hashed_lm(vocab), _constraints(vocab)


def _tree_spec(source: str, gamma: int, siblings: int) -> Speculation:
    return Speculation(drafts=(source,), max_draft=gamma, siblings=siblings)


@pytest.mark.parametrize("source", ["grammar", "ngram", "recycling"])
@pytest.mark.parametrize("gamma", [1, 2])
@pytest.mark.parametrize("siblings", [2, 3])
@pytest.mark.parametrize("which", ["forced", "free"])
def test_first_tokens_law_with_siblings(setup, source, gamma, siblings, which):
    vocab, lm, cons = setup
    spec = _tree_spec(source, gamma, siblings)
    spec_law = speculative_law(lm, cons[which], spec, PROMPT)
    seq_law = sequential_law(lm, cons[which], PROMPT)
    assert set(spec_law) == set(seq_law)
    for key, p in seq_law.items():
        assert spec_law[key] == pytest.approx(p, abs=1e-12), key


def test_siblings_are_really_drafted_and_verified(setup):
    """Not vacuous: trees were fed, some siblings kept and some not, and LM calls saved."""
    vocab, lm, cons = setup
    for which in ("forced", "free"):
        stats: dict = {}
        matchers = [cons[which].matcher() for _ in range(200)]
        run_speculative(lm, PROMPT, matchers, _tree_spec("ngram", 2, 3), max_new_tokens=L, temperature=1.0,
                        chooser=TorchChooser(torch.Generator().manual_seed(0)), stats=stats)
        sib = stats["sources"]["siblings"]
        assert 0 < sib["accepted"] < sib["drafted"], which


@pytest.mark.parametrize("which,seed", [("forced", 21), ("free", 22)])
def test_chi_square_with_siblings_at_fixed_seeds(setup, which, seed):
    stat, df, s = chi_square(setup, which, _tree_spec("ngram", 2, 3), seed)
    assert stat < toys.chi2_critical(df, z=3.54), (stat, df)
    assert s.stats["sources"]["siblings"]["accepted"] > 0


def test_chi_square_catches_a_sibling_kept_too_often(setup, monkeypatch):
    from decode.speculative import verify

    orig = verify._draw_among

    def greedy_first(probs, candidates, chooser):  # keeps a second candidate whenever it is tried
        if len(candidates) > 1:
            j, d = orig(probs, candidates[:1], chooser)
            return (0, d) if j == 0 else (1, candidates[1])
        return orig(probs, candidates, chooser)

    monkeypatch.setattr(verify, "_draw_among", greedy_first)
    stat, df, _ = chi_square(setup, "free", _tree_spec("ngram", 2, 3), 22)
    assert stat > toys.chi2_critical(df, z=3.54)


def test_greedy_with_siblings_matches_sequential_greedy(setup):
    assert_greedy_identity(setup, {(source, siblings): _tree_spec(source, 2, siblings)
                                   for source in ("grammar", "ngram", "recycling") for siblings in (1, 2, 3)})


def test_ancestor_mask_and_depths():
    # chunk: 2 committed tokens, a draft (node 0), two siblings after it (nodes 1, 2), one pad
    cols = chunk_parents(2, [-1, 0, 0])
    assert cols == [-1, 0, 1, 2, 2]
    par = np.array([cols + [-1]])
    seen = ancestor_mask(par)[0]
    assert seen[3].tolist() == [True, True, True, True, False, False]
    assert seen[4].tolist() == [True, True, True, False, True, False]
    assert seen[5].tolist() == [False] * 5 + [True]
    assert depths(par)[0].tolist() == [1, 2, 3, 4, 4, 1]


def _fresh_last(model, ids):
    lm = HFCausalLM(model)
    return lm.prefill(*left_pad([ids], 0))[0]


def _fresh_logits(model, ids):
    return model(input_ids=torch.tensor([ids])).logits[0]


def test_tree_pass_and_forget_match_fresh_runs():
    """One row: each node's logits are a fresh run's over its path; after forgetting the
    rejected nodes (not at the end of the chunk) the cache holds only the kept text."""
    model = fakes.make_tiny_model(40, seed=3)
    prompt = [5, 9, 12, 3]
    pending = [11]
    tokens, parents = [30, 7, 8, 21], [-1, 0, 0, -1]   # 30 then {7 | 8}, or 21
    with torch.inference_mode():
        lm = HFCausalLM(model)
        lm.prefill(*left_pad([prompt], 0))
        cols = chunk_parents(len(pending), parents)
        out = lm.forward(torch.tensor([pending + tokens]), parents=np.array([cols]))[0]
        full = prompt + pending
        for j, path in enumerate(_paths(tokens, parents)):
            ref = _fresh_logits(model, full + list(path))[-1]
            assert torch.allclose(out[len(pending) + j], ref, atol=1e-4), j
        # keep 30, 8 (node 2): forget nodes 1 and 3 (chunk columns 2 and 4)
        lm.forget([[2, 4]], k=len(pending) + len(tokens))
        assert lm.attention_mask.shape[1] == len(full) + 2 and bool(lm.attention_mask.all())
        assert lm.cache.get_seq_length() == len(full) + 2
        got = lm.forward(torch.tensor([[19]]))[0, -1]
        assert torch.allclose(got, _fresh_logits(model, full + [30, 8, 19])[-1], atol=1e-4)


def test_tree_pass_and_forget_in_a_batch_with_padding():
    """Two rows with different trees (one a plain chain, one padded) and different kept
    nodes: each row's next logits equal its own fresh run's."""
    model = fakes.make_tiny_model(40, seed=4)
    prompts = [[5, 9, 12, 3, 6], [7, 2]]
    pending = [[11], [14, 15]]
    trees = [([30, 7, 8], [-1, 0, 0]), ([22], [-1])]
    keep = [[0, 2], []]                       # row 0 keeps 30, 8; row 1 rejects its draft
    with torch.inference_mode():
        lm = HFCausalLM(model)
        lm.prefill(*left_pad(prompts, 0))
        chunks = [p + t for p, (t, _) in zip(pending, trees)]
        k = max(len(c) for c in chunks)
        ids = torch.zeros((2, k), dtype=torch.long)
        valid = torch.zeros((2, k), dtype=torch.bool)
        par = np.full((2, k), -1)
        for b, c in enumerate(chunks):
            ids[b, :len(c)] = torch.tensor(c)
            valid[b, :len(c)] = True
            par[b, :len(c)] = chunk_parents(len(pending[b]), trees[b][1])
        lm.forward(ids, valid, parents=par)
        dead = [[len(pending[b]) + j for j in range(len(trees[b][0])) if j not in keep[b]] for b in range(2)]
        lm.forget(dead, k)
        got = lm.forward(torch.tensor([[19], [19]]))[:, -1]
        for b in range(2):
            kept = prompts[b] + pending[b] + [trees[b][0][j] for j in keep[b]] + [19]
            assert torch.allclose(got[b], _fresh_logits(model, kept)[-1], atol=1e-4), b
