"""ASAp (decode.GrammarAligned, decode.sample(method="asap")): exact laws on hand-made toys.

ALGORITHMS.md 2.4-2.5.  Everything distributional is checked first by exact enumeration over the
sampler's own code (``next_token_law`` is the proposal ``_draw`` samples from; ``observe`` is the
update ``sample`` runs after each draw), then by chi-square at fixed seeds:

- the paper's binary toy: the exact total variation to pi of draws 1..8 (a Markov chain over the
  sets of outputs seen), non-monotone, and the sampler's own draws agree with it;
- an empty trie proposes token masking's law, a fully explored one proposes pi (1e-12);
- EFG~ never rises along any prefix across updates and never falls below the exact EFG;
- the unmasked probabilities are what is stored (the classic bug stores masked ones);
- persistence, the memory bound, forward passes only for new prefixes, budgets and dead ends.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import decode
from constrain import Vocabulary, compile_regex
from decode import GenerationArgumentError, GrammarAligned, Predicate, TableLM, sample
from decode.bench.asap import window_kl
from tests.decode.samplers import toys

# --- the binary toy of ALGORITHMS.md 2.4 -------------------------------------------------------

ZERO, ONE, END = 0, 1, 2
BINARY_L = {(0, 0, 0), (1, 0, 0), (1, 0, 1), (1, 1, 0), (1, 1, 1)}
#: exact marginal TV to pi of ASAp's draws 1..8, to 4 decimals.  ALGORITHMS.md 2.4 (verified there
#: with fractions) prints them to 3 as .300 .109 .040 .112 .122 .052 .018 .005, which is these
#: values rounded half up (.0395 -> .040, .1115 -> .112, .0175 -> .018)
PAPER_TV = [0.3000, 0.1088, 0.0395, 0.1115, 0.1224, 0.0524, 0.0175, 0.0053]


def binary_toy():
    vocab = Vocabulary.from_token_bytes([b"0", b"1", None], eos_ids=[END])
    lm = TableLM(vocab, lambda ctx: [0.45, 0.45, 0.1])
    return lm, compile_regex("000|1[01][01]", vocab)


def next_draw_law(g: GrammarAligned) -> dict[tuple[int, ...], float]:
    """The exact law of ``g``'s next draw over token sequences: products of its own proposal."""
    eos = set(g.vocab.eos_ids.tolist())
    out: dict[tuple[int, ...], float] = {}

    def walk(prefix, prob):
        for tok, q in g.next_token_law(prefix).items():
            if tok in eos:
                out[tuple(prefix)] = out.get(tuple(prefix), 0.0) + prob * q
            else:
                walk(prefix + [tok], prob * q)

    walk([], 1.0)
    return out


def draw_marginals(g: GrammarAligned, k: int) -> list[dict]:
    """Exact marginal laws of draws 1..k: a Markov chain whose state is the sampler after the
    outputs drawn so far (branches merged by the set of outputs seen, the state's content)."""
    states = {frozenset(): (1.0, g)}
    marginals = []
    for _ in range(k):
        marg: dict = {}
        nxt: dict = {}
        for seen, (w, state) in states.items():
            for y, q in next_draw_law(state).items():
                marg[y] = marg.get(y, 0.0) + w * q
                key = seen | {y}
                if key in nxt:
                    nxt[key] = (nxt[key][0] + w * q, nxt[key][1])
                else:
                    after = state.copy()
                    after.observe(list(y))
                    nxt[key] = (w * q, after)
        marginals.append(marg)
        states = nxt
    return marginals


def tv(a: dict, b: dict) -> float:
    return 0.5 * sum(abs(a.get(y, 0.0) - b.get(y, 0.0)) for y in set(a) | set(b))


def test_binary_toy_reproduces_the_exact_tv_sequence():
    lm, compiled = binary_toy()
    pi = {y: 0.2 for y in BINARY_L}
    marginals = draw_marginals(GrammarAligned(lm, [], compiled, max_new_tokens=4), len(PAPER_TV))
    tvs = [tv(m, pi) for m in marginals]
    assert tvs == pytest.approx(PAPER_TV, abs=5e-5)
    # draw 1 is token masking: 000 has 1/2, each 1xx 1/8
    assert marginals[0][(0, 0, 0)] == pytest.approx(0.5, abs=1e-12)
    assert all(sum(m.values()) == pytest.approx(1.0, abs=1e-12) for m in marginals)
    assert tvs[3] > tvs[2]  # non-monotone: never chi-square the first draws against pi


def test_binary_toy_draws_follow_the_enumerated_marginal():
    """The sampler's own draws: the second draw of 3000 fresh samplers (seeds 0..2999) against
    the enumerated law of draw 2, and against pi (TV 0.109 away: rejected)."""
    lm, compiled = binary_toy()
    law2 = draw_marginals(GrammarAligned(lm, [], compiled, max_new_tokens=4), 2)[1]
    second = []
    for seed in range(3000):
        s = GrammarAligned(lm, [], compiled, max_new_tokens=4).sample(2, seed=seed)
        second.append(s.texts[1])
    law_text = {"".join(map(str, y)): p for y, p in law2.items()}
    stat, df = toys.pearson(second, law_text)
    assert stat < toys.chi2_critical(df), (stat, df)
    stat_pi, df_pi = toys.pearson(second, {"".join(map(str, y)): 0.2 for y in BINARY_L})
    assert stat_pi > toys.chi2_critical(df_pi)


def test_binary_toy_is_exact_once_every_output_was_seen():
    lm, compiled = binary_toy()
    g = GrammarAligned(lm, [], compiled, max_new_tokens=4)
    s = g.sample(200, seed=1)
    assert {tuple(y) for y in s.token_ids} == BINARY_L
    law = next_draw_law(g)
    assert set(law) == BINARY_L
    assert all(abs(p - 0.2) < 1e-12 for p in law.values())
    assert g.efg([]) == pytest.approx(5 * 0.45 ** 3 * 0.1, abs=1e-15)  # = Z


def test_window_kl_converges_where_masking_stays_biased():
    """ALGORITHMS.md 2.5.4 on the binary toy: ASAp's window KL to pi (last 500 of 2000 draws)
    is near 0; token masking's stays near KL(masked || pi) = 0.223."""
    lm, compiled = binary_toy()
    pi = {"000": 0.2, "100": 0.2, "101": 0.2, "110": 0.2, "111": 0.2}
    a = GrammarAligned(lm, [], compiled, max_new_tokens=4).sample(2000, seed=0).texts
    m = sample(lm, [], compiled, method="masked", n=2000, max_new_tokens=4, seed=0).texts
    kl_a = window_kl(a, pi, 500, stride=100)
    kl_m = window_kl(m, pi, 500, stride=100)
    assert kl_a[-1][0] == 2000 and kl_a[-1][1] < 0.02
    assert min(k for _, k in kl_m) > 0.1


# --- the dead-end toy (toys.py): exactness, bounds, book-keeping -------------------------------

def complete_outputs(lm, compiled, max_new_tokens: int, prompt=()) -> list[tuple[int, ...]]:
    """Every token sequence the constraint completes within the budget with positive probability."""
    vocab = lm.vocab
    out = []

    def walk(ctx, matcher):
        p = np.exp(lm.logprobs([list(prompt) + ctx])[0].double().cpu().numpy())
        for t in vocab.mask_to_ids(matcher.mask()).tolist():
            if p[t] == 0:
                continue
            if t in vocab.eos_ids:
                out.append(tuple(ctx))
            elif len(ctx) + 1 < max_new_tokens:
                m = matcher.copy()
                m.advance(t)
                walk(ctx + [t], m)

    walk([], compiled.matcher())
    return list(dict.fromkeys(out))  # several EOS ids end the same output once


def exact_efg(lm, compiled, prefix, max_new_tokens: int) -> float:
    """Brute-force EFG(prefix) = sum over completions s of p(s | prefix) 1[prefix s in L]."""
    vocab = lm.vocab
    m = compiled.matcher()
    for t in prefix:
        if not m.advance(t):
            return 0.0
    if prefix and prefix[-1] in vocab.eos_ids:
        return 1.0

    def walk(ctx, matcher):
        p = np.exp(lm.logprobs([ctx])[0].numpy())
        total = 0.0
        for t in vocab.mask_to_ids(matcher.mask()).tolist():
            if t in vocab.eos_ids:
                total += p[t]
            elif len(ctx) + 1 < max_new_tokens:
                mm = matcher.copy()
                mm.advance(t)
                total += p[t] * walk(ctx + [t], mm)
        return total

    return walk(list(prefix), m)


def all_prefixes(outputs, eos: int) -> list[tuple[int, ...]]:
    pre = {y[:i] for y in outputs for i in range(len(y) + 1)}
    return sorted(pre | {y + (eos,) for y in outputs})


def text_law(law: dict, vocab) -> dict[str, float]:
    out: dict[str, float] = {}
    for y, p in law.items():
        t = vocab.decode_bytes(y).decode()
        out[t] = out.get(t, 0.0) + p
    return out


def test_empty_trie_is_token_masking_and_full_trie_is_pi():
    vocab, lm, compiled, N = toys.toy()
    pi, Z, masked = toys.enumerate_laws(lm, compiled, N)
    g = GrammarAligned(lm, [], compiled, max_new_tokens=N)
    first = text_law(next_draw_law(g), vocab)
    assert set(first) == set(masked) and all(abs(first[t] - masked[t]) < 1e-12 for t in masked)
    for y in complete_outputs(lm, compiled, N):
        g.observe(list(y))
    law = next_draw_law(g)
    full = text_law(law, vocab)
    assert set(full) == set(pi) and all(abs(full[t] - pi[t]) < 1e-12 for t in pi)
    for y, q in law.items():  # per token sequence too: q(y) = p(y) / Z
        p_y = math.prod(math.exp(float(lm.logprobs([list(y[:i])])[0][t])) for i, t in enumerate(y + (toys.EOS,)))
        assert abs(q - p_y / Z) < 1e-12
    assert abs(g.efg([]) - Z) < 1e-12
    assert tv(masked, pi) > 0.5  # the toy is far from masking's law


def test_efg_only_falls_and_stays_above_the_exact_efg():
    vocab, lm, compiled, N = toys.toy()
    outputs = complete_outputs(lm, compiled, N)
    prefixes = all_prefixes(outputs, toys.EOS)
    exact = {w: exact_efg(lm, compiled, w, N) for w in prefixes}
    g = GrammarAligned(lm, [], compiled, max_new_tokens=N)
    before = {w: g.efg(w) for w in prefixes}
    assert set(before.values()) == {1.0}  # nothing learned yet: optimistic everywhere
    for seed in range(80):
        g.sample(1, seed=seed)
        now = {w: g.efg(w) for w in prefixes}
        for w in prefixes:
            assert now[w] <= before[w] + 1e-15, (w, before[w], now[w])
            assert now[w] >= exact[w] - 1e-12, (w, now[w], exact[w])
        before = now
    for y in outputs:
        g.observe(list(y))
    assert all(abs(g.efg(w) - exact[w]) < 1e-12 for w in prefixes)
    assert g.efg([toys.C]) == 0.0 and g.efg([toys.A, toys.EOS, toys.A]) == 0.0  # ruled out


def test_stored_probabilities_are_unmasked():
    """After the output "b": EFG~(b) = p(a|b) + p(b|b) + p(ab|b) + p(EOS|b) = 0.9 and
    EFG~(root) = p(a) + p(ab) + p(b) 0.9 = 0.78.  Masked, renormalised probabilities (the
    classic bug) would give 1 for both.  EOS after an accepting prefix stays exactly 1."""
    vocab, lm, compiled, N = toys.toy()
    g = GrammarAligned(lm, [], compiled, max_new_tokens=N)
    g.observe([toys.B])
    assert g.efg([toys.B]) == pytest.approx(0.9, abs=1e-15)
    assert g.efg([]) == pytest.approx(0.78, abs=1e-15)
    assert g.efg([toys.B, toys.EOS]) == 1.0
    for seed in range(30):
        g.sample(1, seed=seed)
    assert g.efg([toys.B, toys.EOS]) == 1.0 and g.efg([toys.B, toys.A, toys.EOS]) == 1.0
    # the proposal after "b" is p(a|b) EFG~(ba) ... renormalised, over the allowed tokens only
    law = g.next_token_law([toys.B])
    assert set(law) <= {toys.A, toys.B, toys.AB, toys.EOS} and sum(law.values()) == pytest.approx(1.0)


def test_chi_square_against_pi_after_full_exploration_and_masking_fails_it():
    """2.5.3: a fully explored trie draws i.i.d. from pi (10,000 draws, alpha 1e-3); the same
    test rejects token masking on the dead-end toy (power)."""
    vocab, lm, compiled, N = toys.toy()
    pi, _, _ = toys.enumerate_laws(lm, compiled, N)
    g = GrammarAligned(lm, [], compiled, max_new_tokens=N)
    for y in complete_outputs(lm, compiled, N):
        g.observe(list(y))
    nodes = g.num_nodes
    s = g.sample(10_000, seed=3)
    assert s.stats["forward_calls"] == 0 and s.stats["trie_nodes"] == nodes  # nothing new to learn
    stat, df = toys.pearson(s.texts, pi)
    assert stat < toys.chi2_critical(df), (stat, df)
    m = sample(lm, [], compiled, method="masked", n=10_000, max_new_tokens=N, seed=3)
    stat_m, df_m = toys.pearson(m.texts, pi)
    assert stat_m > toys.chi2_critical(df_m)


# --- the API: decode.sample, forward passes, persistence, memory, budgets ----------------------

def test_sample_method_asap():
    vocab, lm, compiled, N = toys.toy()
    s = sample(lm, [], compiled, method="asap", n=50, max_new_tokens=N, seed=4)
    assert isinstance(s, decode.Samples) and s.method == "asap" and len(s) == 50
    assert all(s.finished) and s.log_weights == [0.0] * 50 and s.log_ml is None
    assert all(re.fullmatch("[ab]{1,3}", t) for t in s.texts)
    assert s.texts == [vocab.decode_bytes(ids).decode() for ids in s.token_ids]
    for key in ("forward_calls", "trie_nodes", "tokens_drawn", "trie_hits", "masks_computed", "seconds"):
        assert key in s.stats
    assert s.stats["tokens_drawn"] == sum(len(y) + 1 for y in s.token_ids)
    assert s.stats["trie_hits"] == s.stats["tokens_drawn"] - s.stats["forward_calls"] > 0
    again = sample(lm, [], compiled, method="asap", n=50, max_new_tokens=N, seed=4)
    assert again.token_ids == s.token_ids
    with pytest.raises(GenerationArgumentError, match="Predicate cannot give a full token mask"):
        sample(lm, [], Predicate(lambda d: True, lambda d: True), method="asap")
    with pytest.raises(GenerationArgumentError) as e:
        sample(lm, [], compiled, method="asap", temperature=0.0)
    assert e.value.argument == "temperature"


def test_forward_passes_only_for_prefixes_new_to_the_trie():
    vocab, lm, compiled, N = toys.toy()
    g = GrammarAligned(lm, [], compiled, max_new_tokens=N)
    s = g.sample(40, seed=0)
    seen = {tuple(y[:i]) for y in s.token_ids for i in range(len(y) + 1)}
    assert s.stats["forward_calls"] == lm.forward_calls == g.num_nodes == len(seen)
    calls = lm.forward_calls
    for y in complete_outputs(lm, compiled, N):
        g.observe(list(y))
    explored = lm.forward_calls
    assert explored > calls
    s2 = g.sample(40, seed=1)
    assert s2.stats["forward_calls"] == 0 and lm.forward_calls == explored
    assert s2.stats["trie_hits"] == s2.stats["tokens_drawn"]


def test_temperature_tempers_what_is_stored():
    vocab, lm, compiled, N = toys.toy()
    g = GrammarAligned(lm, [], compiled, max_new_tokens=N, temperature=2.0)
    law = g.next_token_law([])
    q = np.sqrt([0.4, 0.2, 0.2])  # a, b, ab at T=2 (c and EOS are not allowed at the root)
    expected = dict(zip([toys.A, toys.B, toys.AB], q / q.sum()))
    assert law == pytest.approx(expected, abs=1e-12)


def test_save_and_load_resume_the_same_run(tmp_path):
    vocab, lm, compiled, N = toys.toy()
    g = GrammarAligned(lm, [toys.C], compiled, max_new_tokens=N)
    g.sample(30, seed=2)
    path = tmp_path / "trie.npz"
    g.save(path)
    h = GrammarAligned(lm, [toys.C], compiled, max_new_tokens=N).load(path)
    assert h.num_nodes == g.num_nodes and h.samples_drawn == 30
    prefixes = all_prefixes(complete_outputs(TableLM(vocab, lm.next_token), compiled, N), toys.EOS)
    assert all(h.efg(w) == g.efg(w) for w in prefixes)
    assert h.sample(25, seed=9).token_ids == g.sample(25, seed=9).token_ids
    assert h.efg([]) == g.efg([])


@pytest.mark.parametrize("change, match", [
    (dict(prompt_ids=[toys.B]), "prompt_ids"),
    (dict(max_new_tokens=3), "max_new_tokens"),
    (dict(temperature=0.5), "temperature"),
    (dict(model=True), "another model"),
])
def test_load_refuses_a_trie_from_another_setting(tmp_path, change, match):
    vocab, lm, compiled, N = toys.toy()
    g = GrammarAligned(lm, [toys.A], compiled, max_new_tokens=N)
    g.sample(5, seed=0)
    g.save(tmp_path / "t.npz")
    other_lm = TableLM(vocab, lambda ctx: [0.1, 0.5, 0.2, 0.1, 0.1]) if change.get("model") else lm
    kw = dict(prompt_ids=[toys.A], max_new_tokens=N, temperature=1.0)
    kw.update({k: v for k, v in change.items() if k != "model"})
    h = GrammarAligned(other_lm, kw.pop("prompt_ids"), compiled, **kw)
    with pytest.raises(GenerationArgumentError, match=match):
        h.load(tmp_path / "t.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a trie")
    with pytest.raises(GenerationArgumentError, match="not an ASAp trie file"):
        h.load(tmp_path / "junk.npz")


def test_memory_bound_evicts_leaves_and_keeps_what_they_taught():
    vocab, lm, compiled, N = toys.toy()
    outputs = complete_outputs(lm, compiled, N)
    exact = {w: exact_efg(lm, compiled, w, N) for w in all_prefixes(outputs, toys.EOS)}
    g = GrammarAligned(lm, [], compiled, max_new_tokens=N, max_nodes=4)
    roots = [1.0]
    evictions = 0
    for seed in range(60):
        s = g.sample(1, seed=seed)
        evictions += s.stats["evictions"]
        assert s.stats["trie_nodes"] <= 4 and all(s.finished)
        assert re.fullmatch("[ab]{1,3}", s.texts[0])
        for w, e in exact.items():
            assert g.efg(w) >= e - 1e-12
        roots.append(g.efg([]))
    assert evictions > 0
    assert all(b <= a + 1e-15 for a, b in zip(roots, roots[1:]))  # evictions never raise an estimate
    root_only = GrammarAligned(lm, [], compiled, max_new_tokens=N, max_nodes=1)
    root_only.sample(20, seed=0)
    assert root_only.num_nodes == 1  # the root always stays
    from decode.samplers.asap import NODE_OVERHEAD

    budget = 3 * NODE_OVERHEAD + 200  # room for the root and two or three small nodes
    by_bytes = GrammarAligned(lm, [], compiled, max_new_tokens=N, max_bytes=budget)
    for seed in range(30):
        s = by_bytes.sample(1, seed=seed)
        assert s.stats["trie_bytes"] == by_bytes.trie_bytes <= budget and by_bytes.num_nodes >= 1
    assert 1 < by_bytes.num_nodes < 6
    with pytest.raises(GenerationArgumentError, match="max_nodes"):
        GrammarAligned(lm, [], compiled, max_nodes=0)


def test_budget_is_part_of_the_language_and_dead_ends_are_learned():
    vocab, lm, compiled, _ = toys.toy()
    # 2 tokens: one token + EOS, so only a, b, ab; pi restricted to them, exactly, once explored
    g = GrammarAligned(lm, [], compiled, max_new_tokens=2)
    s = g.sample(300, seed=0)
    assert set(s.texts) == {"a", "b", "ab"} and all(s.finished)
    pi2 = {"a": 0.4 * 0.05, "b": 0.2 * 0.3, "ab": 0.2 * 0.05}
    z = sum(pi2.values())
    assert text_law(next_draw_law(g), vocab) == pytest.approx({t: v / z for t, v in pi2.items()}, abs=1e-12)
    # a model whose only legal continuations have probability 0: no output, never an exception
    dead = TableLM(vocab, lambda ctx: [0, 0, 0, 1, 1])
    d = GrammarAligned(dead, [], compiled, max_new_tokens=4).sample(3, seed=0)
    assert d.finished == [False] * 3 and d.log_weights == [-math.inf] * 3 and d.stats["root_efg"] == 0.0
    # dead ends met on the way are learned: "a" then only c is likely, EOS impossible -> a restart
    lm2 = TableLM(vocab, lambda ctx: [0, 1, 0, 1, 0] if ctx == (toys.A,) else [1, 1, 0, 0, 1])
    r = GrammarAligned(lm2, [], compile_regex("a|b|bb", vocab), max_new_tokens=3).sample(40, seed=1)
    assert all(r.finished) and set(r.texts) <= {"b", "bb"} and r.stats["restarts"] <= 1


def test_observe_and_next_token_law_check_their_input():
    vocab, lm, compiled, N = toys.toy()
    g = GrammarAligned(lm, [], compiled, max_new_tokens=N)
    with pytest.raises(GenerationArgumentError, match="not a complete output"):
        g.observe([toys.C])
    with pytest.raises(GenerationArgumentError, match="not a complete output"):
        g.observe([toys.A, toys.A, toys.A, toys.A])  # beyond the budget
    with pytest.raises(GenerationArgumentError, match="not a prefix"):
        g.next_token_law([toys.C])
    with pytest.raises(GenerationArgumentError, match="token_ids"):
        g.efg([99])
    with pytest.raises(GenerationArgumentError, match="n"):
        g.sample(0)
    assert repr(g).startswith("GrammarAligned(")


def test_over_a_hugging_face_model(smollm2_tokenizer):
    """HFTokenLM under ASAp (the tiny random model, SmolLM2's vocabulary): valid outputs, and
    the model runs once per prefix new to the trie."""
    from decode.constraints import as_compiled, get_vocabulary
    from tests import fakes

    tok = smollm2_tokenizer
    model = fakes.make_tiny_model(49152, seed=1, eos_token_id=int(tok.eos_token_id),
                                  pad_token_id=int(tok.pad_token_id or tok.eos_token_id))
    vocab = get_vocabulary(tok, 49152)
    compiled = as_compiled(decode.Regex("(yes|no|maybe)"), vocab)
    lm = decode.HFTokenLM(model, tok, vocab=vocab)
    g = GrammarAligned(lm, tok("x")["input_ids"], compiled, max_new_tokens=8)
    s = g.sample(30, seed=0)
    assert all(s.finished) and set(s.texts) <= {"yes", "no", "maybe"}
    assert lm.forward_calls == s.stats["forward_calls"] == g.num_nodes
    assert s.stats["trie_hits"] > 0


@pytest.mark.slow
def test_smollm2_fully_explored_trie_proposes_pi():
    """The real model (SmolLM2-135M) on yes|no|maybe, every tokenization within 8 tokens:
    once every output was observed, ASAp's law over token sequences is p(y) / Z (float32
    forward passes: 1e-6), and 400 draws from it pass a chi-square against pi over texts."""
    import torch

    from decode.constraints import as_compiled, get_vocabulary
    from decode.lm import logits_width
    from decode.prompts import encode_prompt

    torch.set_num_threads(1)
    model, tok = decode.load_default_model(progress=None)
    vocab = get_vocabulary(tok, logits_width(model))
    compiled = as_compiled(decode.Regex("(yes|no|maybe)"), vocab)
    prompt = encode_prompt(tok, [{"role": "user", "content": "Is a tomato a vegetable? Answer yes, no or maybe."}])
    lm = decode.HFTokenLM(model, tok, vocab=vocab)
    N = 8
    outputs = complete_outputs(lm, compiled, N, prompt)
    assert len(outputs) > 3  # non-canonical tokenizations included
    eos = vocab.eos_ids.tolist()

    def logp(y):
        rows = lm.logprobs([prompt + list(y[:i]) for i in range(len(y) + 1)]).double().cpu().numpy()
        return sum(rows[i][t] for i, t in enumerate(y)) + float(np.logaddexp.reduce(rows[len(y)][eos]))

    p = {y: math.exp(logp(y)) for y in outputs}
    Z = sum(p.values())
    g = GrammarAligned(lm, prompt, compiled, max_new_tokens=N)
    for y in outputs:
        g.observe(list(y))
    law = next_draw_law(g)
    assert set(law) == set(outputs)
    assert max(abs(law[y] - p[y] / Z) for y in outputs) < 1e-6
    assert g.efg([]) == pytest.approx(Z, rel=1e-5)
    pi_text = text_law({y: p[y] / Z for y in outputs}, vocab)
    s = g.sample(400, seed=0)
    assert s.stats["forward_calls"] == 0
    stat, df = toys.pearson(s.texts, pi_text)
    assert stat < toys.chi2_critical(df), (stat, df, pi_text)
