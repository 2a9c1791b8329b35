"""HFTokenLM: the cached, batched logprobs equal a plain full forward over each context, and the
prefix cache saves exactly the work it claims to (counters), within its memory bound.

The reference is the model run on one context alone, from scratch, no cache, no padding:
whatever the adapter does (left padding, padding between a cached prefix and the new tokens,
prefixes from earlier calls, evictions) must not be visible in the numbers.
"""

from __future__ import annotations

import pytest
import torch

from decode.lms.hf import HFTokenLM
from tests import fakes

WIDTH = 160  # logits wider than the tiny tokenizer (141 ids): the extra columns are cut off


@pytest.fixture(scope="module")
def tok():
    return fakes.make_tiny_tokenizer()


@pytest.fixture(scope="module")
def model(tok):
    return fakes.make_tiny_model(WIDTH, seed=5, eos_token_id=int(tok.eos_token_id))


@pytest.fixture(scope="module")
def vocab(tok):
    """The tiny tokenizer's ids as a vocabulary (``constrain`` cannot classify its toy BPE)."""
    return fakes.FakeVocab.from_tokenizer(tok)


def make_lm(model, tok, vocab, **kw) -> HFTokenLM:
    return HFTokenLM(model, tok, vocab=vocab, **kw)


def plain(model, ctx: list[int], V: int) -> torch.Tensor:
    """Reference: one context, one forward from scratch, log_softmax over the first V logits."""
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ctx]), use_cache=False).logits[0, -1]
    return torch.log_softmax(logits[:V].double(), dim=-1)


def assert_matches(model, lm: HFTokenLM, contexts, out: torch.Tensor) -> None:
    assert out.shape == (len(contexts), lm.vocab.size) and out.dtype == torch.float32
    for i, c in enumerate(contexts):
        ref = plain(model, c, lm.vocab.size)
        err = (out[i].double() - ref).abs().max().item()
        assert err < 1e-4, f"context {i} (len {len(c)}): max |diff| {err:.2e}"


def rand_ctx(gen: torch.Generator, n: int, V: int = 141) -> list[int]:
    return torch.randint(3, V, (n,), generator=gen).tolist()


def test_normalised_over_the_tokenizer_ids(model, tok, vocab):
    lm = make_lm(model, tok, vocab)
    assert lm.vocab.size == len(tok) == 141 < WIDTH
    out = lm.logprobs([[5, 9, 12]])
    # rows are distributions over the tokenizer's ids: the 19 padding columns are cut off
    # and the rest renormalised
    assert abs(out[0].double().exp().sum().item() - 1.0) < 1e-5
    with torch.inference_mode():
        full = torch.log_softmax(model(input_ids=torch.tensor([[5, 9, 12]])).logits[0, -1].double(), -1)
    assert full[141:].exp().sum().item() > 1e-3  # the random model does put mass there ...
    assert_matches(model, lm, [[5, 9, 12]], out)  # ... which the reference also removes
    with pytest.raises(ValueError, match="exceeds"):
        HFTokenLM(model, tok, vocab=fakes.FakeVocab.from_tokenizer(tok, WIDTH + 1))


def test_default_vocabulary_from_the_tokenizer(smollm2_tokenizer):
    """Without ``vocab=``: ``get_vocabulary(tokenizer, n)``, n = the tokenizer's size capped
    at the logits width; a model padded past the tokenizer has its extra columns cut off."""
    tok = smollm2_tokenizer
    n = len(tok)
    m = fakes.make_tiny_model(n + 64, seed=2, eos_token_id=int(tok.eos_token_id))
    lm = HFTokenLM(m, tok)
    assert lm.vocab.size == n and lm.width == n + 64
    ctx = tok("Hello, world")["input_ids"]
    out = lm.logprobs([ctx, ctx[:2]])
    for i, c in enumerate([ctx, ctx[:2]]):
        assert (out[i].double() - plain(m, c, n)).abs().max().item() < 1e-4
    wide = HFTokenLM(m, tok, vocab_size=n + 64)
    assert wide.vocab.size == n + 64
    assert (wide.logprobs([ctx])[0].double() - plain(m, ctx, n + 64)).abs().max().item() < 1e-4


def test_batched_ragged_contexts_match_plain_forward(model, tok, vocab):
    gen = torch.Generator().manual_seed(0)
    lm = make_lm(model, tok, vocab)
    contexts = [rand_ctx(gen, n) for n in (1, 7, 3, 12, 7)]
    contexts.append(list(contexts[1]))  # a duplicate: computed once
    out = lm.logprobs(contexts)
    assert_matches(model, lm, contexts, out)
    assert torch.equal(out[1], out[5])
    assert lm.forward_calls == 1
    assert lm.tokens_computed == 1 + 7 + 3 + 12 + 7
    rows = out.double().exp().sum(dim=1)
    assert torch.allclose(rows, torch.ones_like(rows), atol=1e-5)


def test_shared_prefixes_cost_only_new_tokens(model, tok, vocab):
    """Particles: a prompt, then several continuations per step, resampled copies included."""
    gen = torch.Generator().manual_seed(1)
    lm = make_lm(model, tok, vocab)
    prompt = rand_ctx(gen, 20)
    out = lm.logprobs([prompt])
    assert lm.tokens_computed == 20 and lm.forward_calls == 1
    parts = [list(prompt) for _ in range(4)]
    for step in range(5):
        for p in parts:
            p.append(int(torch.randint(3, 141, (1,), generator=gen)))
        if step == 2:
            parts[3] = list(parts[0])  # resampling: particle 3 becomes a copy of particle 0
        before = lm.tokens_computed
        out = lm.logprobs(parts)
        distinct = len({tuple(p) for p in parts})
        assert lm.tokens_computed - before == distinct  # one token per distinct new context
        assert_matches(model, lm, parts, out)
    assert lm.forward_calls == 6
    # asking again costs nothing
    before = (lm.tokens_computed, lm.forward_calls)
    again = lm.logprobs(parts)
    assert (lm.tokens_computed, lm.forward_calls) == before and lm.cache_hits >= 4
    assert torch.equal(again, out)
    # a context two tokens past a lock-step one: lock-step contexts keep no KV copy, so it
    # starts from the last context that has one (the prompt, answered alone)
    longer = [parts[1] + [7, 8]]
    assert_matches(model, lm, longer, lm.logprobs(longer))
    assert lm.tokens_computed == before[0] + len(longer[0]) - len(prompt)
    # ... and one computed that way keeps its KV: two more tokens cost two
    longer2 = [longer[0] + [11, 12]]
    before = lm.tokens_computed
    assert_matches(model, lm, longer2, lm.logprobs(longer2))
    assert lm.tokens_computed == before + 2
    # a fresh context in the same call as cached-prefix ones: padded past + from scratch
    mixed = [parts[2] + [9], rand_ctx(gen, 3), prompt[:5] + [10]]
    assert_matches(model, lm, mixed, lm.logprobs(mixed))


def test_without_cache_the_same_calls_cost_more(model, tok, vocab):
    """The counter test above could pass with a counter that lies: the same workload against a
    cache too small to hold anything computes every context from scratch."""
    gen = torch.Generator().manual_seed(2)
    prompt = rand_ctx(gen, 15)
    suffix = rand_ctx(gen, 5)
    steps = [prompt + suffix[:k] for k in range(1, 6)]
    cached = make_lm(model, tok, vocab)
    uncached = make_lm(model, tok, vocab, max_cache_bytes=0, lock_step=False)
    for lm in (cached, uncached):
        for c in [prompt] + steps:
            lm.logprobs([c])
    assert uncached.cached_bytes == 0
    assert uncached.tokens_computed == sum(len(c) for c in [prompt] + steps) == 15 * 6 + 15
    # each step extends the previous context by one token
    assert cached.tokens_computed == 15 + 5


def test_eviction_keeps_results_exact(model, tok, vocab):
    gen = torch.Generator().manual_seed(3)
    probe = make_lm(model, tok, vocab)
    probe.logprobs([rand_ctx(gen, 10)])
    per_entry = probe.cached_bytes  # one context of 10 tokens
    lm = make_lm(model, tok, vocab, max_cache_bytes=int(per_entry * 2.5), max_batch=3)
    contexts = [rand_ctx(gen, 10) for _ in range(5)]
    assert_matches(model, lm, contexts, lm.logprobs(contexts))  # two batches (max_batch=3)
    assert lm.forward_calls == 2
    assert lm.cached_bytes <= lm.max_cache_bytes
    assert len(lm._entries) == 2  # the LRU kept the last two
    # extensions of evicted contexts recompute from scratch, of kept ones from the prefix
    ext = [c + [4] for c in contexts]
    before = lm.tokens_computed
    assert_matches(model, lm, ext, lm.logprobs(ext))
    assert lm.tokens_computed - before == 3 * 11 + 2 * 1
    assert lm.cached_bytes <= lm.max_cache_bytes
    # the trie holds only the cached contexts' paths (evicted branches pruned)
    def count(node):
        return 1 + sum(count(c) for c in node.children.values())
    assert count(lm._root) - 1 <= sum(len(k) for k in lm._entries)
    # an evicted prefix: the longest cached one is used instead
    lm.clear_cache()
    base = rand_ctx(gen, 8)
    lm.logprobs([base[:4]])
    lm.logprobs([base])
    before = lm.tokens_computed
    lm.logprobs([base[:6]])  # base[:4] is cached, base (longer) does not help
    assert lm.tokens_computed - before == 2


def test_empty_context_is_refused(model, tok, vocab):
    lm = make_lm(model, tok, vocab)
    with pytest.raises(ValueError, match="context 1 is empty"):
        lm.logprobs([[3], []])
    assert lm.logprobs([]).shape == (0, lm.vocab.size)


def test_lock_step_rows_fork_and_drop_out(model, tok, vocab):
    """The last batch's cache is reused when every context extends one of its rows by a
    token: rows may be duplicated (SMC resampling, a particle forking) or drop out (a
    finished particle), and each new context still costs one token and sees exactly its own
    past."""
    gen = torch.Generator().manual_seed(4)
    lm = make_lm(model, tok, vocab)
    a, b = rand_ctx(gen, 12), rand_ctx(gen, 7)
    assert_matches(model, lm, [a, b], lm.logprobs([a, b]))  # ragged: the padded general path
    steps = [
        [a + [5], a + [6], b + [7]],             # row a forks into two
        [b + [7, 8], a + [6, 9]],                # a+[5] drops out, order swapped
        [a + [6, 9, 10], a + [6, 9, 11], b + [7, 8, 12]],
    ]
    for ctxs in steps:
        before = (lm.tokens_computed, lm.forward_calls)
        assert_matches(model, lm, ctxs, lm.logprobs(ctxs))
        assert (lm.tokens_computed, lm.forward_calls) == (before[0] + len(ctxs), before[1] + 1)
