"""The ``suffix`` draft source (``Speculation(history=SuffixStore(...))``): the store's lookup
against a brute-force oracle, its bound, the first-L-token law against sequential masked
sampling by exact enumeration (the harness of test_speculative_exactness), greedy identity with
the plain loop through ``generate``, and what ``generate`` adds to the store."""

from __future__ import annotations

import numpy as np
import pytest

import decode
from decode import GenerationArgumentError, Speculation, SuffixStore
from decode.speculative import SuffixDraft, run_speculative
from tests.decode.samplers import toys
from tests.decode.speculative.test_generate_speculative import PROMPTS, SCHEMA, _gen
from tests.decode.speculative.test_speculative_exactness import (A, AB, B, C, L, PROMPT, _constraints, assert_exact,
                                                                 hashed_lm)


def _mask(allowed, n_words=2) -> np.ndarray:
    m = np.zeros(n_words, dtype=np.uint32)
    for t in allowed:
        m[t >> 5] |= np.uint32(1 << (t & 31))
    return m.view(np.int32)


def _oracle(seqs, history, allowed, k, max_match):
    """The documented rule, by brute force over every stored position."""
    cands = []  # (match length, position order, sequence, index of the next token)
    order = 0
    for s in seqs:
        for j in range(1, len(s)):
            order += 1
            if s[j] not in allowed:
                continue
            n = 0
            while n < min(max_match, len(history), j) and s[j - 1 - n] == history[-1 - n]:
                n += 1
            if n:
                cands.append((n, order, s, j))
    if not cands:
        return []
    best = max(c[0] for c in cands)
    top = [c for c in cands if c[0] == best]
    freq = {}
    for c in top:
        freq[c[2][c[3]]] = freq.get(c[2][c[3]], 0) + 1
    most = max(freq.values())
    n, _, s, j = max((c for c in top if freq[c[2][c[3]]] == most), key=lambda c: c[1])
    return list(s[j:j + k])


def test_continuation_equals_the_brute_force_rule():
    rng = np.random.default_rng(0)
    checked = nonempty = 0
    for _ in range(400):
        seqs = [rng.integers(0, 6, size=rng.integers(1, 12)).tolist() for _ in range(rng.integers(1, 6))]
        max_match = int(rng.integers(1, 5))
        store = SuffixStore(max_tokens=1000, max_match=max_match)
        for s in seqs:
            store.add(s)
        history = rng.integers(0, 6, size=rng.integers(1, 8)).tolist()
        allowed = set(rng.choice(6, size=rng.integers(1, 7), replace=False).tolist())
        k = int(rng.integers(1, 6))
        got = store.continuation(history, _mask(allowed), k)
        assert got == _oracle(seqs, history, allowed, k, max_match), (seqs, history, allowed, k)
        checked += 1
        nonempty += bool(got)
    assert nonempty > 100 and checked == 400  # the oracle's cases are not all empty


def test_longest_match_then_frequency_then_latest():
    store = SuffixStore()
    for s in ([1, 2, 3, 4, 5], [9, 2, 3, 7, 8], [2, 3, 4, 6]):
        store.add(s)
    every = _mask(range(10))
    assert store.continuation([1, 2, 3], every, 5) == [4, 5]      # the 3-token match wins
    assert store.continuation([0, 2, 3], every, 5) == [4, 6]      # 2-token matches: 4 twice, the latest
    assert store.continuation([0, 2, 3], _mask({7, 8}), 5) == [7, 8]  # only 7 is legal there
    assert store.continuation([0, 2, 3], every, 1) == [4]
    assert store.continuation([5], every, 5) == []                # 5 ends a sequence: nothing followed it
    assert store.continuation([42], every, 5) == [] and store.continuation([], every, 5) == []
    assert SuffixStore().continuation([1], every, 3) == []


def test_the_store_is_bounded_and_drops_the_oldest():
    store = SuffixStore(max_tokens=20)
    store.add([1, 2, 3])
    for _ in range(10):
        store.add([4, 5, 6, 7])
        assert len(store) <= 20
    assert len(store) == 20 and store.sequences == 5
    assert store.continuation([1, 2], _mask(range(10)), 3) == []  # the first sequence was dropped
    store.add(list(range(8)) * 5)  # longer than the bound: its last 20 tokens
    assert len(store) == 20 and store.sequences == 1
    store.add([])
    assert store.sequences == 1
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValueError):
            SuffixStore(max_tokens=bad)
        with pytest.raises(ValueError):
            SuffixStore(max_match=bad)


def test_speculation_places_the_source_after_prompt_lookup():
    store = SuffixStore()
    assert Speculation(history=store).draft_names == ("grammar", "ngram", "suffix", "recycling")
    assert Speculation(drafts=("grammar",), history=store).draft_names == ("grammar", "suffix")
    assert Speculation(drafts=("suffix", "grammar"), history=store).draft_names == ("suffix", "grammar")
    assert "SuffixStore of 0 tokens" in repr(Speculation(history=store))
    with pytest.raises(GenerationArgumentError, match="needs history"):
        Speculation(drafts=("suffix",))
    with pytest.raises(GenerationArgumentError, match="SuffixStore"):
        Speculation(history=[[1, 2]])


# exact law: a store of earlier "outputs" that often, not always, agree with the target
STORED = [[A, B, AB, C], [C, AB, C], [A, A, B], [B, AB], [A, AB, C]]


@pytest.fixture(scope="module")
def setup():
    vocab = toys.toy_vocab()
    store = SuffixStore()
    for s in STORED:
        store.add(s)
    return vocab, hashed_lm(vocab), _constraints(vocab), store


@pytest.mark.parametrize("gamma", [1, 2, 3])
@pytest.mark.parametrize("which", ["forced", "free"])
def test_first_tokens_law_equals_sequential_masked_sampling(setup, gamma, which):
    vocab, lm, cons, store = setup
    assert_exact(lm, cons[which], Speculation(drafts=("suffix",), max_draft=gamma, history=store), PROMPT)
    assert len(store) == sum(map(len, STORED))  # decode.sample's driver reads the store only


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_exact_under_temperature_beside_the_other_sources(setup, temperature):
    vocab, lm, cons, store = setup
    spec = Speculation(drafts=("grammar", "ngram", "recycling"), max_draft=3, adaptive=False, history=store)
    for c in cons.values():
        assert_exact(lm, c, spec, PROMPT, temperature)


def test_suffix_drafts_are_really_verified(setup):
    """Not vacuous: the store's drafts were made, some kept and some rejected."""
    vocab, lm, cons, store = setup
    stats: dict = {}
    matchers = [cons["free"].matcher() for _ in range(200)]
    run_speculative(lm, PROMPT, matchers, Speculation(drafts=("suffix",), max_draft=3, history=store),
                    max_new_tokens=L, temperature=1.0, chooser=decode.speculative.TorchChooser(), stats=stats)
    s = stats["sources"]["suffix"]
    assert 0 < s["accepted"] < s["drafted"]


def test_source_filters_by_the_walker_mask(setup):
    vocab, lm, cons, store = setup
    walker = cons["free"].matcher()  # [ab]{1,3}: c is never legal
    ctx = decode.speculative.DraftContext(walker, [B, AB], vocab)
    assert SuffixDraft(store).propose(ctx, 3) == []  # after "ab" the store has only c
    ctx = decode.speculative.DraftContext(walker, [A, B], vocab)
    # "a b" then "ab c" (a 2-token match; the other "a b" ends its sequence): c is illegal, but
    # legality past the first token is the Drafter's to check
    assert SuffixDraft(store).propose(ctx, 3) == [AB, C]


def test_generate_greedy_identity_and_the_store_learns(smollm2_tokenizer, smol_model):
    """Greedy outputs equal the plain loop's with a store, empty or holding the same outputs;
    each call adds its output, and a second pass over the same prompts drafts from them and
    needs fewer model passes."""
    store = SuffixStore()
    spec = Speculation(history=store)
    first, second = [], []
    for prompt in PROMPTS:
        ref = _gen(smol_model, smollm2_tokenizer, prompt, SCHEMA)
        got = _gen(smol_model, smollm2_tokenizer, prompt, SCHEMA, speculative=spec)
        assert got.token_ids == ref.token_ids, prompt
        first.append(got)
    assert store.sequences == len(PROMPTS) and len(store) == sum(len(r.token_ids) for r in first)
    for prompt, before in zip(PROMPTS, first):
        got = _gen(smol_model, smollm2_tokenizer, prompt, SCHEMA, speculative=spec)
        assert got.token_ids == before.token_ids
        second.append(got)
    assert sum(r.stats["sources"]["suffix"]["accepted"] for r in second) > 0
    assert sum(r.stats["forward_calls"] for r in second) < sum(r.stats["forward_calls"] for r in first)
    batch = _gen(smol_model, smollm2_tokenizer, PROMPTS, SCHEMA, speculative=spec)
    assert [r.token_ids for r in batch] == [r.token_ids for r in first]
    assert store.sequences == 3 * len(PROMPTS)
