"""Canonical tokenizations: ``Vocabulary.is_canonical`` and ``canonical_tokens=True`` masks.

The oracle is always the tokenizer's own ``encode``: on random texts and re-segmentations of
them for the three shipped families, and by exact enumeration on a small hand-made byte-level
BPE (every token sequence up to a length, every continuation up to a length).
"""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from constrain import OptionError, Vocabulary, VocabularyError, compile_json_schema, compile_lark, compile_regex
from constrain.matcher import CanonicalMatcher
from constrain.tokens.canonical import canonical_filter

ALPHABETS = {
    "ascii": [chr(i) for i in range(32, 127)] + ["\n", "\t"],
    "json": list('{}[]":, \n') + list("abcdefghijklmnopqrstuvwxyz0123456789")
    + ["true", "false", "null", '"name"', '"id"', " ", "  ", "Id", "order"],
    "unicode": list("aé東京😀—ñü ß\nЖ中文") + ["ab", " the", "ing", "Ab"],
}


def random_texts(seed: int, n: int):
    rng = random.Random(seed)
    for kind, alphabet in ALPHABETS.items():
        for _ in range(n):
            yield kind, "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))


def resegment(vocab: Vocabulary, ids: list[int], rng: random.Random) -> list[int]:
    """``ids`` with a few tokens cut in two (the same bytes, another tokenization)."""
    ids = list(ids)
    for _ in range(rng.randint(1, 3)):
        k = rng.randrange(len(ids))
        b = vocab.token_bytes[ids[k]]
        if len(b) < 2:
            continue
        cut = rng.randint(1, len(b) - 1)
        try:
            ids[k:k + 1] = vocab.greedy_encode(b[:cut]) + vocab.greedy_encode(b[cut:])
        except VocabularyError:
            continue
    return ids


# --------------------------------------------------------------------------- is_canonical


def test_is_canonical_matches_the_tokenizers_encode(family):
    name, tok, vocab = family
    rng = random.Random(7)
    seen_false = 0
    for kind, text in random_texts(11, 40):
        # (SentencePiece prepends "▁": its ids are then the encoding of " " + text, which
        # is_canonical judges as the bytes they spell)
        hf = tok.encode(text, add_special_tokens=False)
        assert vocab.is_canonical(hf), (name, kind, text)
        other = resegment(vocab, hf, rng)
        if other != hf:
            assert not vocab.is_canonical(other), (name, kind, text, other)
            seen_false += 1
    assert seen_false > 20  # the re-segmentations did test something


def test_is_canonical_edges(smollm2_vocab):
    v = smollm2_vocab
    ids = v.encode('{"orderId": 1}')
    eos = int(v.eos_ids[0])
    assert v.is_canonical(ids + [eos])  # an output may end with EOS
    assert not v.is_canonical(ids[:1] + [eos] + ids[1:])  # a special id inside: no text
    assert v.is_canonical([])
    with pytest.raises(VocabularyError, match="position 1"):
        v.is_canonical([ids[0], v.size + 5])
    cut = v.encode("東")  # a partial character is not text
    assert not v.is_canonical(v.greedy_encode("東".encode()[:2]))
    assert v.is_canonical(cut)


# --------------------------------------------------------------------------- the filter, random texts


def _filter_accepts(f, ids) -> bool:
    st = f.state_of(ids)
    return st is not None and bool(st[3])


def _check_filter_on_random_texts(vocab, n, seed):
    f = canonical_filter(vocab)
    rng = random.Random(seed)
    checked = canonical = 0
    for kind, text in random_texts(seed, n):
        ids = vocab.encode(text)
        for seq in (ids, resegment(vocab, ids, rng)):
            truth = vocab.is_canonical(seq)
            assert _filter_accepts(f, seq) == truth, (kind, text, [vocab.token_bytes[i] for i in seq])
            checked += 1
            canonical += truth
    assert 0 < canonical < checked


def test_filter_agrees_with_encode_smollm2(smollm2_vocab):
    _check_filter_on_random_texts(smollm2_vocab, 15, 3)


def test_filter_agrees_with_encode_mistral_sp(mistral_sp_vocab):
    _check_filter_on_random_texts(mistral_sp_vocab, 40, 4)


def test_tiktoken_converted_bpe_is_refused(tekken_vocab):
    """Tekken's merges are converted from tiktoken ranks (``ignore_merges``): whether a pair
    merges depends on text around it that the pair test does not see (in the blank chunk
    ``"\\n\\n \\n\\n"`` the tokenizer keeps ``" "`` apart where the filter expected a merge), so
    the filter would forbid canonical outputs. Refused with a clear error instead; exact
    ``is_canonical`` still works there."""
    with pytest.raises(OptionError, match="not exact .* tiktoken"):
        canonical_filter(tekken_vocab)
    ids = tekken_vocab.tokenizer.encode("{\"a\": [1, 2]}", add_special_tokens=False)
    assert tekken_vocab.is_canonical(ids)


@pytest.mark.slow
def test_filter_agrees_with_encode_many(smollm2_vocab, mistral_sp_vocab):
    _check_filter_on_random_texts(smollm2_vocab, 500, 6)
    _check_filter_on_random_texts(mistral_sp_vocab, 500, 7)


# --------------------------------------------------------------------------- hand-made BPE, exact


@pytest.fixture(scope="module")
def toy():
    """Byte-level BPE over ``a b ␠ !`` with GPT-2's pre-tokenizer: letters, blanks and
    punctuation chunk apart, blank runs split before a word, ``b!`` never merges across."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    base = ["a", "b", "Ġ", "!"]
    merges = [("a", "b"), ("Ġ", "a"), ("ab", "a"), ("b", "b"), ("Ġ", "Ġ"), ("!", "!"), ("Ġa", "b"),
              ("a", "a"), ("Ġ", "!"), ("b", "!")]
    vocab = {p: i for i, p in enumerate(base)}
    for u, v in merges:
        vocab.setdefault(u + v, len(vocab))
    vocab["<eos>"] = len(vocab)
    tk = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tk.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<eos>")
    return tok, Vocabulary.from_hf(tok)


def _prefix_canonical(tok, vocab, seq, continuations) -> bool:
    """Whether ``seq`` starts the tokenizer's encoding of its text plus some continuation."""
    text = vocab.decode_bytes(seq).decode()
    enc = tok.backend_tokenizer.encode
    return any(enc(text + c, add_special_tokens=False).ids[: len(seq)] == list(seq) for c in continuations)


def walk_between_oracles(vocab, canonical, plain, depth, leads, upper_ok, may_end, where=None):
    """Every path of up to ``depth`` tokens through the ``canonical`` and ``plain`` matchers
    (the same grammar): each mask lies between ``lower`` (tokens ``t`` with ``seq + [t]`` in
    ``leads``, EOS where ``may_end(seq)``) and ``upper`` (``upper_ok(seq + [t])``), or is the
    grammar's mask where both are empty.  Returns (states, forbidden, between)."""
    eos = int(vocab.eos_ids[0])
    frontier = [(canonical, plain, [])]
    states = forbidden = between = 0
    for _depth in range(depth):
        nxt = []
        for cm, pm, seq in frontier:
            grammar = set(vocab.mask_to_ids(pm.mask()).tolist())
            got = set(vocab.mask_to_ids(cm.mask()).tolist())
            lower = {t for t in grammar if t != eos and tuple(seq + [t]) in leads}
            upper = {t for t in grammar if t != eos and upper_ok(seq + [t])}
            if eos in grammar and may_end(seq):
                lower.add(eos)
                upper.add(eos)
            states += 1
            if lower or upper:
                names = (where, [vocab.token_bytes[i] for i in seq])
                assert lower <= got, (names, "forbidden", [vocab.token_bytes[i] for i in lower - got])
                assert got <= upper, (names, "allowed", [vocab.token_bytes[i] for i in got - upper])
                forbidden += len(grammar - got)
                between += len(got - lower)
            else:  # no canonical continuation is valid: the grammar's mask, counted
                assert got == grammar
            for t in sorted(got - {eos}):
                c2, p2 = cm.copy(), pm.copy()
                assert c2.advance(t) and p2.advance(t)
                nxt.append((c2, p2, seq + [t]))
        frontier = nxt
    return states, forbidden, between


def test_masks_match_enumeration_on_a_handmade_bpe(toy):
    """Every mask along every path of up to 4 tokens, against two exact oracles.

    ``leads``: ``seq + [t]`` starts the canonical encoding of some complete valid output (all
    4^1 + ... + 4^7 of them enumerated): such a token is never forbidden.  ``prefix``:
    ``seq + [t]`` starts the encoding of its text plus some continuation: a token outside it
    is never allowed.  Between the two lie canonical tokens after which the grammar leaves no
    canonical way on; the one-token lookahead removes those it can see.
    """
    tok, vocab = toy
    pattern = r"[ab !]{1,7}"
    texts = ["".join(p) for k in range(1, 8) for p in itertools.product("ab !", repeat=k)]
    leads = set()
    for e in tok.backend_tokenizer.encode_batch(texts, add_special_tokens=False):
        leads.update(tuple(e.ids[:k]) for k in range(1, len(e.ids) + 1))
    conts = ["".join(p) for k in range(3) for p in itertools.product("ab !", repeat=k)]
    compiled = compile_regex(pattern, vocab, canonical_tokens=True)
    plain = compile_regex(pattern, vocab)
    states, forbidden, between = walk_between_oracles(
        vocab, compiled.matcher(), plain.matcher(), 4, leads,
        upper_ok=lambda seq: _prefix_canonical(tok, vocab, seq, conts), may_end=vocab.is_canonical)
    assert states > 300 and forbidden > 100, (states, forbidden)
    assert between < forbidden / 4, (between, forbidden)  # dead ends the lookahead missed are few


def test_dead_ends(toy):
    tok, vocab = toy
    c = compile_regex(r" a", vocab, canonical_tokens=True)
    m = c.matcher()
    space, a, space_a = (vocab.encode(s)[0] for s in (" ", "a", " a"))
    # " " is a canonical start (" !" encodes as " ", "!"), but here only "a" may follow and
    # " " + "a" would merge: the lookahead leaves the one canonical spelling
    assert set(vocab.mask_to_ids(m.mask()).tolist()) == {space_a}
    # a caller that takes " " anyway (a forced token): no canonical token fits, so the
    # grammar's own mask rather than none; the non-canonical step is counted
    assert m.advance(space) and m.fallbacks == 0
    assert set(vocab.mask_to_ids(m.mask()).tolist()) == {a}
    assert m.advance(a) and m.fallbacks == 1 and m.is_accepting()


def test_matcher_history_ops(toy):
    tok, vocab = toy
    c = compile_regex(r"[ab !]{1,9}", vocab, canonical_tokens=True)
    m = c.matcher()
    assert isinstance(m, CanonicalMatcher)
    ids = vocab.encode("ab ab!")
    for i in ids:
        assert m.is_allowed(i) and m.advance(i)
    snap = m.mask().copy()
    k = m.copy()
    m.rollback(2)
    assert m.advance(ids[-2]) and m.advance(ids[-1])
    assert np.array_equal(m.mask(), snap) and np.array_equal(k.mask(), snap)
    m.reset()
    assert m.num_consumed == 0 and np.array_equal(m.mask(), c.matcher().mask())
    assert m.advance_bytes(b"ab") and m.advance(vocab.encode(" ")[0])


def test_options_are_checked(toy):
    hand = Vocabulary.from_token_bytes([b"a", b"b", None], eos_ids=[2])
    with pytest.raises(OptionError, match="Hugging Face BPE"):
        compile_regex("a+", hand, canonical_tokens=True)
    with pytest.raises(OptionError, match="True or False"):
        compile_regex("a+", toy[1], canonical_tokens="yes")


# --------------------------------------------------------------------------- real vocabularies, sampled states

SCHEMA = {
    "type": "object",
    "properties": {
        "orderId": {"type": "integer"},
        "name": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "paid": {"type": "boolean"},
    },
    "required": ["orderId", "name"],
}
INSTANCES = ['{"orderId": 12, "name": "Bob Smith", "tags": ["alpha", "beta gamma"], "paid": true}',
             '{\n  "orderId": 7,\n  "name": "Żółw 東京",\n  "paid": false\n}']
CONTINUATIONS = ["", " ", "a", "A", "0", "!", "\n", '"', ",", "}", " a", "  "]


def _check_sampled_states(tok, vocab, per_state, seed):
    c = compile_json_schema(SCHEMA, vocab, canonical_tokens=True)
    p = compile_json_schema(SCHEMA, vocab)
    rng = np.random.default_rng(seed)
    eos = set(vocab.eos_ids.tolist())
    compared = pruned = 0
    for text in INSTANCES:
        ids = vocab.encode(text)
        cm, pm = c.matcher(), p.matcher()
        for k, true_next in enumerate(ids):
            got = vocab.mask_to_ids(cm.mask())
            assert true_next in set(got.tolist())  # the canonical spelling is never forbidden
            grammar = vocab.mask_to_ids(pm.mask())
            sample = rng.choice(grammar, size=min(per_state, len(grammar)), replace=False)
            allowed = set(got.tolist())
            for t in sample.tolist():
                if t in eos:
                    continue
                try:  # a token ending inside a character: no text for the oracle to encode
                    vocab.decode_bytes(ids[:k] + [t]).decode()
                except UnicodeDecodeError:
                    continue
                truth = _prefix_canonical(tok, vocab, ids[:k] + [t], CONTINUATIONS)
                if t in allowed:  # never a token that leaves the canonical encoding
                    assert truth, (text, k, vocab.token_bytes[t])
                else:  # a canonical token is dropped only as a dead end (lookahead)
                    pruned += truth
                compared += 1
            assert cm.advance(true_next) and pm.advance(true_next)
        assert cm.fallbacks == 0
    assert compared > 1000 and pruned < compared / 50, (compared, pruned)


def test_sampled_states_smollm2(smollm2_tokenizer, smollm2_vocab):
    _check_sampled_states(smollm2_tokenizer, smollm2_vocab, 40, 0)


def test_lark_takes_the_option(smollm2_vocab):
    c = compile_lark('start: "order" "Id"', smollm2_vocab, canonical_tokens=True)
    m = c.matcher()
    for t in smollm2_vocab.encode("orderId"):
        assert m.advance(t)
    assert m.is_accepting() and "canonical" in repr(c)


def test_cached_rows_match_fresh(smollm2_vocab, monkeypatch):
    """The packed rows the masks read (a class row per previous-token signature and context,
    a merge-conflict row per crossing set, word operations between them, LRU caches) equal
    the rows computed fresh from the outcome and conflict tests, also while the caches evict;
    ``next_states`` equals ``next_state`` token by token."""
    import constrain.tokens.canonical as canon

    vocab = smollm2_vocab
    f = canonical_filter(vocab)
    monkeypatch.setattr(canon, "ROW_CACHE_BYTES", 1)  # 16 rows per cache: evictions mid-walk
    rng = random.Random(11)
    states = [f.start]
    for _, text in random_texts(11, 4):
        ids = vocab.encode(text)
        for seq in (ids, resegment(vocab, ids, rng)):
            st = f.start
            for t in seq:
                nxt = f.next_state(st, t)
                st = nxt if nxt is not None else f.restart(t)
                states.append(st)
    states = list(dict.fromkeys(states))
    rng.shuffle(states)
    probe = np.array(sorted(rng.sample(range(vocab.size), 400)) + vocab.eos_ids.tolist(), dtype=np.int64)
    for st in states[:150]:
        split, join, end = f.split_join(st)
        both = split | join
        both[vocab.eos_ids] = end
        # a narrow grammar mask refined token by token (no row cached) == mask AND the row
        f._rows.clear()
        f._class_rows.clear()
        grammar = vocab.ids_to_mask(probe)
        assert np.array_equal(f.restrict(st, grammar), grammar & f._pack(both)), st
        for _ in range(2):  # computed, then (if not evicted meanwhile) from the cache
            allowed, ps, pj = f._entry(st)
            assert np.array_equal(allowed, f._pack(both)), st
            assert np.array_equal(ps, f._pack(split)) and np.array_equal(pj, f._pack(join)), st
        assert f.next_states(st, probe) == [f.next_state(st, int(t)) for t in probe], st
        f._rows.clear()  # the class's rows are cached now: refined from them
        assert np.array_equal(f.restrict(st, grammar), grammar & f._pack(both)), st
        prev = st[0]
        if prev >= 0:
            words = f.conflict_words(prev)
            assert np.array_equal(words, f._pack(f._conflicts(prev))), prev
            assert np.array_equal(f.conflicts_among(prev, probe), f._conflicts(prev)[probe])
    assert len(states) > 150 and len(f._rows) <= 16 and len(f._class_rows) <= 16


def test_state_class_merges_only_equal_states(smollm2_vocab):
    """``CanonicalFilter.state_class`` keys the row cache and the lexeme verdicts: states of
    one class must allow the same tokens (split and join rows computed fresh) with the same
    next states.  The sample holds, for each part of the key (outcome class, context after
    the token, crossing set), two states equal in the other parts that behave differently:
    a key without that part would merge them, and the first check would fail."""
    from constrain.tokens.canonical import EITHER, JOIN, SPLIT

    vocab = smollm2_vocab
    f = canonical_filter(vocab)
    rng = random.Random(3)
    ids = vocab.text_ids[f.singleton[vocab.text_ids]]
    by_sig: dict[int, list[int]] = {}
    for t in ids.tolist():
        by_sig.setdefault(int(f.sig[t]), []).append(t)
    one_char = [s for s, ts in by_sig.items() if f.sig_len1[s] and len(ts) >= 2]
    longer = [s for s, ts in by_sig.items() if not f.sig_len1[s] and len(ts) >= 8]
    sigs = rng.sample(one_char, 4) + rng.sample(longer, 6) + [int(f.sig[vocab.encode(" the")[0]])]
    ctxs = [f.ctx_id(c) for c in ("", "a", "0", " ", "!")]
    probe = np.array(sorted(rng.sample(ids.tolist(), 600)) + [t for t in range(vocab.size) if vocab.token_lens[t] == 1],
                     dtype=np.int64)
    groups: dict[tuple, list] = {}
    behaviour = {}
    for s in sigs:
        for prev in rng.sample(by_sig[s], min(6, len(by_sig[s]))):
            for ctx in ctxs:
                for mode in (SPLIT, JOIN, EITHER):
                    st = (prev, ctx, mode, True)
                    split, join, _ = f.split_join(st)  # fresh: no cached row
                    f._rows.clear()
                    nxt = [None if n is None else n[1:] for n in f._next_states(st, probe)]
                    behaviour[st] = (np.packbits(split).tobytes(), np.packbits(join).tobytes(),
                                     tuple(None if n is None else (f.ctx_chars[n[0]],) + n[1:] for n in nxt))
                    groups.setdefault(f.state_class(st), []).append(st)
    merged = 0
    for key, members in groups.items():
        first = behaviour[members[0]]
        for st in members[1:]:
            assert behaviour[st] == first, (key[:2], members[0], st)
            merged += 1
    assert merged > 100  # the class does merge states
    # teeth: for each part of the key, two states equal in the rest that behave differently
    keys = {st: f.state_class(st) for st in behaviour}
    for part in range(3):
        differ = 0
        seen: dict[tuple, tuple] = {}
        for st, key in keys.items():
            if len(key) != 3:
                continue
            rest = key[:part] + key[part + 1:]
            other = seen.setdefault(rest, st)
            if keys[other][part] != key[part] and behaviour[other] != behaviour[st]:
                differ += 1
        assert differ, f"no pair of states told apart only by part {part} of the class"


def test_mask_cache_is_bounded_in_bytes(toy, monkeypatch):
    """With the mask cache's byte budget at zero and its floor at 4 entries, a walk over
    more states than that keeps the cache at the floor and gives the same masks as with the
    default budget (a clear happens after a mask's lookahead entries, so the cache never
    holds more than the floor once a mask is returned)."""
    import constrain.matcher as matcher_mod

    tok, vocab = toy
    pattern = r"[ab !]{1,9}"
    texts = ["ab ab!", "a! b a", "  ab!!", "bab a b", "!a!b a"]

    def walk():
        c = compile_regex(pattern, vocab, canonical_tokens=True)
        masks, sizes = [], []
        for text in texts:
            m = c.matcher()
            for i in vocab.encode(text):
                masks.append(m.mask().copy())
                sizes.append(len(canonical_filter(vocab).mask_cache))
                assert m.advance(i)
        return masks, max(sizes)

    canonical_filter(vocab).mask_cache.clear()
    ref, unbounded = walk()
    monkeypatch.setattr(matcher_mod, "LOOKAHEAD_CACHE_BYTES", 0)
    monkeypatch.setattr(matcher_mod, "LOOKAHEAD_CACHE_MIN", 4)
    canonical_filter(vocab).mask_cache.clear()
    got, biggest = walk()
    assert unbounded > 4, unbounded  # unbounded, the walk outgrows the floor
    assert biggest <= 4, biggest
    assert all(np.array_equal(a, b) for a, b in zip(ref, got)) and len(ref) == len(got)


def test_stored_outcomes_match_fresh(smollm2_vocab, tmp_path, monkeypatch):
    """The pre-tokenizer outcomes one process writes (``canonical_store``) and the next reads
    give the rows and states computed from scratch: full rows, rows judged for a few classes
    only (completed later from the pre-tokenizer), and a damaged file (ignored)."""
    from constrain.tokens.canonical import CanonicalFilter

    vocab = smollm2_vocab
    rng = random.Random(5)
    seqs = []
    for _, text in random_texts(17, 3):
        ids = vocab.encode(text)
        seqs += [ids, resegment(vocab, ids, rng)]

    def states(f):  # a filter's own states (context ids are per filter) along ``seqs``
        out = []
        for seq in seqs:
            st = f.start
            for t in seq:
                nxt = f.next_state(st, t)
                st = nxt if nxt is not None else f.restart(t)
                out.append(st)
        return out[:80]

    probe = np.array(sorted(rng.sample(range(vocab.size), 300)), dtype=np.int64)
    monkeypatch.setenv("STRUCTGEN_CANONICAL_STORE", str(tmp_path))
    first = CanonicalFilter(vocab)
    assert first._stored == {}
    for k, st in enumerate(states(first)):  # some keys judged over a few classes only
        if k % 3:
            first.allowed_among(st, probe)
        else:
            first.split_join(st)
    first.save_outcomes()
    assert len(list(tmp_path.glob("*.npz"))) == 1
    second = CanonicalFilter(vocab)
    assert len(second._stored) == len(first._outcomes) > 20
    monkeypatch.setenv("STRUCTGEN_CANONICAL_STORE", "0")
    fresh = CanonicalFilter(vocab)
    assert fresh._store is None
    for a, b in zip(states(second), states(fresh), strict=True):
        assert np.array_equal(second.allowed_among(a, probe), fresh.allowed_among(b, probe)), a
        got, want = second.split_join(a), fresh.split_join(b)
        assert all(np.array_equal(x, y) for x, y in zip(got, want)), a
        assert all(np.array_equal(x, y) for x, y in zip(second._outcome_row(int(second.sig[a[0]]), a[1], a[2]),
                                                        fresh._outcome_row(int(fresh.sig[b[0]]), b[1], b[2]))), a
        assert np.array_equal(second.row(a), fresh.row(b)), a
    assert not second._stored or len(second._stored) < len(first._outcomes)  # read from the store
    # a damaged file is ignored (and replaced at the next save)
    path = next(tmp_path.glob("*.npz"))
    path.write_bytes(b"not a table")
    monkeypatch.setenv("STRUCTGEN_CANONICAL_STORE", str(tmp_path))
    third = CanonicalFilter(vocab)
    assert third._stored == {}
    third.split_join(third.restart(int(seqs[0][0])))
    third.save_outcomes()
    assert len(CanonicalFilter(vocab)._stored) >= 1


@pytest.mark.parametrize("which", ["toy", "smollm2"])
def test_byte_witnesses_match_the_pair_test(which, toy, smollm2_vocab):
    """The lookahead's one-byte witnesses (``CanonicalFilter.byte_witnesses``: a class table
    and the merges across the junction, batched) equal the pair test ``allowed_among`` on the
    one-byte tokens, for filter states reached along random texts and re-segmentations (so
    non-canonical restarts too), and ``byte_conflicts`` equals ``conflicts_pairs``."""
    vocab = toy[1] if which == "toy" else smollm2_vocab
    f = canonical_filter(vocab)
    rng = random.Random(5)
    states = []
    texts = (["".join(rng.choice("ab !") for _ in range(12)) for _ in range(30)] if which == "toy"
             else [t for _, t in random_texts(5, 6)])
    for text in texts:
        ids = vocab.encode(text)
        for seq in (ids, resegment(vocab, ids, rng)):
            st = f.start
            for t in seq:
                nxt = f.next_state(st, t)
                st = nxt if nxt is not None else f.restart(t)
                states.append(st)
    states = list(dict.fromkeys(states))
    assert len(states) > 40
    ids, ok, _, _ = f._byte_tokens()
    assert ok.sum() == 4 if which == "toy" else ok.sum() > 200
    got = f.byte_witnesses(states)
    b = np.flatnonzero(ok)
    for st, row in zip(states, got):
        assert np.array_equal(row[b], f.allowed_among(st, ids[b])), st
        assert not row[~ok].any()
    prevs = np.array(sorted({st[0] for st in states}), dtype=np.int64)
    conf = f.byte_conflicts(prevs)
    for p, row in zip(prevs.tolist(), conf):
        assert np.array_equal(row[b], f.conflicts_pairs(np.full(len(b), p), ids[b])), p
    assert conf.any()  # the test has teeth: some merges cross



@pytest.mark.parametrize("which", ["toy", "smollm2"])
def test_byte_conflict_bits_match_the_pair_test(which, toy, smollm2_vocab):
    """``CanonicalFilter.byte_conflict_bits`` (the witness rows' merge part, memoized per
    previous token) equals ``conflicts_pairs`` on the one-byte tokens for every token of the
    toy and for 400 random SmolLM2 tokens (reachable or not, with and without text) plus the
    one-byte ones, asked twice (the memo); where it is set, some merge does cross."""
    vocab = toy[1] if which == "toy" else smollm2_vocab
    f = canonical_filter(vocab)
    ids, ok, _, _ = f._byte_tokens()
    b = np.flatnonzero(ok)
    rng = random.Random(11)
    prevs = (list(range(vocab.size)) if which == "toy" else
             rng.sample(range(vocab.size), 400) + [t for t in range(vocab.size) if vocab.token_lens[t] == 1])
    set_rows = 0
    for p in prevs + prevs[:50]:
        x = f.byte_conflict_bits(p)
        bits = np.array([x >> k & 1 for k in range(256)], dtype=bool)
        want = f.conflicts_pairs(np.full(len(b), p), ids[b])
        assert np.array_equal(bits[b], want), p
        assert not bits[~ok].any()
        set_rows += bool(want.any())
    assert set_rows >= (2 if which == "toy" else 50), set_rows

def test_lookahead_shortcuts_match_the_full_next_mask(smollm2_vocab):
    """``CanonicalMatcher._alive`` answers most tokens without the next state's full mask
    (the forced bytes, the tokens starting with them, the witnesses); every answer equals the
    exact one from that mask (some valid token canonical in the next filter state), for every
    token of every narrow mask along JSON instances written with blank runs (dead ends: a
    blank run before ``"`` is split by the pre-tokenizer) and keywords (``" t"`` before
    ``rue``).  ``vocab_prefixed`` equals a scan of the vocabulary."""
    vocab = smollm2_vocab
    f = canonical_filter(vocab)
    c = compile_json_schema(SCHEMA, vocab, canonical_tokens=True)
    a = c.automaton
    pad = "\n" + " " * 16
    texts = INSTANCES + ["{" + pad + '"orderId": 3,' + pad + '"name": "x",' + pad + '"paid": true}',
                         '{"orderId": 1, "name": "", "tags": [], "paid": false}']
    checked = dead = 0
    for text in texts:
        m = c.matcher()
        for t in vocab.encode(text):
            st, fst = m._history[-1], m._filter_state()
            grammar = vocab.mask_to_ids(m._automaton.mask(st).view(np.int32))
            toks = grammar[vocab.token_lens[grammar] > 0]
            if 2 <= len(toks) <= 512:
                for u, fnext in zip(toks.tolist(), f.next_states(fst, toks)):
                    nxt = a.advance(st, u)
                    if fnext is None or nxt is a.dead or not nxt.threads:
                        continue
                    valid = vocab.mask_to_ids(a.mask(nxt).view(np.int32))
                    valid = valid[vocab.token_lens[valid] > 0]
                    if len(valid) > 2048:  # _alive takes a wide next mask as alive unchecked
                        continue
                    want = bool(f.allowed_among(fnext, valid).any())
                    assert m._alive(nxt, fnext) == want, (vocab.token_bytes[u], text)
                    checked += 1
                    dead += not want
            m.advance(t)
    assert checked > 1000 and dead > 20, (checked, dead)
    tb = vocab.token_bytes
    for heads in ([b'"'], [b",", b"}"], [b" t"], [b"zzzzqx"], [b"\n   ", b"name"], [b""]):
        got = f.vocab_prefixed(heads, 10**6)
        # each head's tokens in byte order (ties by id): the order the witness tries follow
        want = [t for h in heads for t in sorted((t for t in vocab.text_ids.tolist() if tb[t].startswith(h)),
                                                 key=lambda t: (tb[t], t))]
        assert got.tolist() == want
        assert want or heads == [b"zzzzqx"]
    assert f.vocab_prefixed([b"a"], 10) is None
    assert f.vocab_prefixed([b'"', b"a"], len(f.vocab_prefixed([b'"'], 10**6))) is None


def _reference_mask(m: CanonicalMatcher) -> np.ndarray:
    """The canonical mask of ``m``'s state as the lookahead computed it with numpy rows:
    each token's next filter state by :meth:`next_state`, its one-byte witnesses by the pair
    test (``allowed_among`` on the one-byte tokens) and its next grammar state's first bytes
    as the union of its threads' lexeme viable bytes, ANDed as bool[256] rows."""
    from constrain.matcher import LOOKAHEAD_MAX, _without
    from constrain.tokens import count_bits

    a, f, vocab = m._automaton, m._filter, m.vocab
    st, fst = m._history[-1], m._filter_state()
    grammar = a.mask(st).view(np.int32)
    out = f.restrict(fst, grammar)
    if not out.any() and grammar.any():
        return grammar
    n = count_bits(out)
    if n > LOOKAHEAD_MAX or n < 2:
        return out
    ids = vocab.mask_to_ids(out)
    byte_ids, ok, _, _ = f._byte_tokens()
    bytes_ok = np.flatnonzero(ok)
    dead = []
    for t in ids.tolist():
        fnext = None if a.is_eos(t) else f.next_state(fst, t)
        if fnext is None:
            continue
        nxt = a.advance(st, t)
        if nxt is a.dead or (nxt.can_end and fnext[3]):
            continue
        witness = np.zeros(256, dtype=bool)
        witness[bytes_ok] = f.allowed_among(fnext, byte_ids[bytes_ok])
        first = np.zeros(256, dtype=bool)
        for _, x, q in nxt.threads:
            first |= a.tables[x].viable_bytes(q)
        if not (witness & first).any() and not m._alive(nxt, fnext):
            dead.append(t)
    return out if not dead or len(dead) == len(ids) else _without(out, dead)


def test_lookahead_bit_sets_match_the_row_form(smollm2_vocab):
    """The lookahead tests each token's one-byte witnesses against its next grammar state's
    first bytes as 256-bit ints (``CanonicalFilter.witness_bits`` cached per filter state,
    ``TokenAutomaton.first_bits`` per state); the masks equal those of the row form written
    out independently (:func:`_reference_mask`: the pair test, the threads' viable bytes) at
    every step of JSON instances with blank runs and keywords (narrow masks with dead ends),
    and ``first_bits`` equals the threads' viable bytes."""
    vocab = smollm2_vocab
    c = compile_json_schema(SCHEMA, vocab, canonical_tokens=True)
    pad = "\n" + " " * 12
    texts = INSTANCES + ["{" + pad + '"orderId": 3,' + pad + '"name": "x y",' + pad + '"paid": false}',
                         '{"orderId": 7, "name": "", "tags": [" a", "b "], "paid": true}']
    narrow = dropped = 0
    for text in texts:
        m = c.matcher()
        for t in vocab.encode(text):
            got = m.mask()
            ref = _reference_mask(m.copy())
            assert np.array_equal(got, ref), (text, vocab.token_bytes[t])
            st = m._history[-1]
            first = np.zeros(256, dtype=bool)
            for _, x, q in st.threads:
                first |= c.automaton.tables[x].viable_bytes(q)
            bits = c.automaton.first_bits(st)
            assert [b for b in range(256) if bits >> b & 1] == np.flatnonzero(first).tolist()
            g = c.automaton.mask(st).view(np.int32)
            k = int(np.unpackbits(m._filter.restrict(m._filter_state(), g).view(np.uint8)).sum())
            narrow += 2 <= k <= 512
            dropped += k - int(np.unpackbits(got.view(np.uint8)).sum()) if 2 <= k <= 512 else 0
            assert m.advance(t)
    assert narrow > 50 and dropped > 5, (narrow, dropped)


def test_lexeme_level_lookahead_equals_the_stepped_one(smollm2_vocab, monkeypatch):
    """``CanonicalMatcher._lexeme_alive`` keeps tokens from lexeme-level facts cached on the
    filter across grammar states and schemas (key: lexeme, its DFA state, the follow
    state's first bytes and whether it may end, the filter state).  Two schemas that share
    lexemes but not what follows them (an object whose keys are followed by different
    values, an array of it) are walked one after the other with the cache shared; every
    mask equals the one of the stepped lookahead (the shortcut off, caches cleared), the
    cache is hit across grammar states, and it keeps most narrow-mask tokens (the key's
    follow part is tested on its own: ``test_lexeme_verdict_key_holds_what_follows``)."""
    import constrain.matcher as matcher

    vocab = smollm2_vocab
    f = canonical_filter(vocab)
    f.lexeme_verdicts.clear()
    other = {"type": "array", "items": {"type": "object", "properties": {
        "orderId": {"type": "string"}, "paid": {"type": "integer"}}, "required": ["orderId"]}}
    pad = "\n" + " " * 12
    walks = [(SCHEMA, t) for t in INSTANCES + ["{" + pad + '"orderId": 3,' + pad + '"name": "x y",'
                                                + pad + '"paid": false}']]
    walks += [(other, '[{"orderId": "7", "paid": 3},' + pad + '{ "orderId": "x" }]'),
              (other, "[\n  {\n    " + '"orderId": "a b"\n  }\n]')]
    kept = hits = 0
    seen = set()
    for schema, text in walks:
        ids = vocab.encode(text)
        masks = {}
        for on in (True, False):
            monkeypatch.setattr(matcher, "LEXEME_SHORTCUT", on)
            f.mask_cache.clear()
            c = compile_json_schema(schema, vocab, canonical_tokens=True)
            m = c.matcher()
            got = []
            for t in ids:
                if on:
                    before = set(f.lexeme_verdicts)
                    hits += len(before & seen)
                got.append(m.mask().copy())
                assert m.advance(t)
            masks[on] = got
            seen |= set(f.lexeme_verdicts)
        for i, (x, y) in enumerate(zip(masks[True], masks[False])):
            assert np.array_equal(x, y), (text, i)
    for yes, judged, opened in f.lexeme_verdicts.values():
        assert not (yes & ~judged).any() and not (opened & ~judged).any()  # only judged tokens
        assert not (yes & opened).any()
        kept += int(np.unpackbits(yes.view(np.uint8)).sum())
    assert hits > 0 and kept > 500, (hits, kept)


def test_lexeme_walk_matches_stepping(smollm2_vocab):
    """``TokenAutomaton.lexeme_walk`` (memoized per lexeme, DFA state and token, no stacks)
    equals walking the token's bytes through the lexeme's DFA table, and where the lexeme's
    threads are the only ones to take a token's first byte and accept nowhere inside it,
    the state after the token holds exactly that DFA state (and the follow state's threads
    where it accepts at the end)."""
    vocab = smollm2_vocab
    c = compile_json_schema(SCHEMA, vocab)
    a = c.automaton
    checked = 0
    m = c.matcher()
    for t in vocab.encode(INSTANCES[1]):
        st = m._history[-1]
        ids = vocab.mask_to_ids(a.mask(st).view(np.int32))
        ids = ids[vocab.token_lens[ids] > 0][:200]
        for stack, x, q in list(st.threads)[:6]:
            if a._trans[x] is None:
                continue
            table = a.tables[x].state_table
            cls = a.tables[x].classes
            n = a.tables[x].n_states
            for u in ids.tolist():
                q_end, accepts, mid = a.lexeme_walk(x, q, u)
                r = q
                for b in vocab.token_bytes[u]:
                    r = int(table[r, cls[b]])
                    if r >= n:
                        r = -1
                        break
                assert q_end == r
                if r >= 0:
                    assert accepts == bool(a._accept[x][r])
                only = [g for g in st.threads if a.viable_bits(g[1], g[2]) >> vocab.token_bytes[u][0] & 1]
                if r >= 0 and not mid and all(g[1:] == (x, q) for g in only):
                    nxt = a.advance(st, u)
                    mine = {(s, x, r) for s, _, _ in only}
                    if accepts:
                        mine |= set(a.follow_state(x, [s for s, _, _ in only]).threads)
                    assert set(nxt.threads) == mine
                    checked += 1
        assert m.advance(t)
    assert checked > 50, checked


def test_lexeme_verdict_key_holds_what_follows(smollm2_vocab, monkeypatch):
    """Two grammars share the lexeme ``{`` at its start state and the filter state (the
    start), and differ only in what may follow it: a line feed or ``"x"`` (B), only ``"x"``
    (A).  After ``{`` the one-byte ``\\n`` is canonical and ``"`` is not (``{"`` is one
    chunk that BPE merges), so ``{`` is kept in B and a dead end in A.  With the verdict
    cache shared (B walked first, then A) the masks equal the stepped lookahead's; a key
    without the follow state's first bytes carries B's "kept" over to A and fails here."""
    import constrain.matcher as matcher

    vocab = smollm2_vocab
    f = canonical_filter(vocab)
    f.lexeme_verdicts.clear()
    brace = vocab.encode("{")[0]
    grammars = {"B": 'start: "{" ("\\n" | "\\"x\\"") "}"', "A": 'start: "{" "\\"x\\"" "}"'}
    kept = {}
    for name in ("B", "A", "B", "A"):
        masks = []
        for on in (True, False):
            monkeypatch.setattr(matcher, "LEXEME_SHORTCUT", on)
            f.mask_cache.clear()
            masks.append(compile_lark(grammars[name], vocab, canonical_tokens=True).matcher().mask().copy())
        assert np.array_equal(masks[0], masks[1]), name
        kept[name] = brace in vocab.mask_to_ids(masks[0]).tolist()
    assert kept == {"B": True, "A": False}
    assert f.lexeme_verdicts  # the shortcut ran and cached


def test_lexeme_verdict_key_names_one_dfa(smollm2_vocab):
    """The lexeme-level verdicts name a lexeme by its key and DFA size and a state by its
    number, and outlive the compiled grammar (they live on the vocabulary's filter): a
    lexeme rebuilt from empty caches must have the very same DFA (same numbering, same
    transitions, same accepting states) for the key to mean one thing."""
    from constrain import clear_caches

    def tables():
        a = compile_json_schema(SCHEMA, smollm2_vocab, canonical_tokens=True).automaton
        return {lx.key: (a.tables[x].state_table.copy(), a.tables[x].classes.copy(),
                         tuple(a._accept[x] or ())) for x, lx in enumerate(a.rtn.lexemes)}

    first = tables()
    clear_caches()
    second = tables()
    assert first.keys() == second.keys() and len(first) > 5
    for key, (t1, c1, a1) in first.items():
        t2, c2, a2 = second[key]
        assert np.array_equal(t1, t2) and np.array_equal(c1, c2) and a1 == a2, key


def test_lexeme_walks_kept_on_the_filter_match_another_compile(smollm2_vocab):
    """The lookahead's lexeme walks are kept on the vocabulary's filter
    (``CanonicalFilter.lexeme_walks``, keyed by lexeme key, DFA size and state), so a walk
    made under one compiled schema is reused under another: each kept walk equals the
    walk of the same lexeme state in a second schema compiled from empty caches."""
    from constrain import clear_caches

    f = canonical_filter(smollm2_vocab)
    f._walks.clear()
    for text in INSTANCES:
        m = compile_json_schema(SCHEMA, smollm2_vocab, canonical_tokens=True).matcher()
        for t in smollm2_vocab.encode(text):
            m.mask()
            assert m.advance(t)
    assert f._walks
    clear_caches()
    other = {"type": "array", "items": {"type": "object", "properties": {"paid": {"type": "boolean"}}}}
    a = compile_json_schema(other, smollm2_vocab, canonical_tokens=True).automaton
    index = {(lx.key, a.tables[x].n_states): x for x, lx in enumerate(a.rtn.lexemes) if a._trans[x] is not None}
    compared = 0
    for (key, n, q), walks in f._walks.items():
        x = index.get((key, n))
        if x is None:
            continue
        for t, w in walks.items():
            assert a.lexeme_walk(x, q, t) == w, (key, q, t)
            compared += 1
    assert compared > 100, compared


def test_lexeme_dead_ends_match_the_stepped_lookahead(smollm2_vocab, monkeypatch):
    """``CanonicalMatcher._lexeme_alive`` also drops tokens without a grammar step: where a
    lexeme accepts neither inside a token nor at its end, every valid continuation starts
    with the bytes the lexeme forces (``TokenAutomaton.lexeme_forced``), and no canonical
    token along or after them proves the token dead from that lexeme state; a token every
    lexeme state drops or cannot take is dropped, the verdicts cached per lexeme state like
    the kept ones.  At every step of walks with 16-blank runs (the pre-tokenizer splits the
    last blank off before ``"``: dead ends), keywords and arrays, two schemas sharing the
    cache: each dropped token is absent from the stepped lookahead's mask (the shortcut
    off, caches cleared), each kept one present, the masks equal, and dead ends are
    dropped this way (not only stepped)."""
    import constrain.matcher as matcher

    vocab = smollm2_vocab
    f = canonical_filter(vocab)
    f.lexeme_verdicts.clear()
    other = {"type": "array", "items": {"type": "object", "properties": {
        "orderId": {"type": "string"}, "paid": {"type": "boolean"}}, "required": ["orderId"]}}
    pad, pad2 = "\n" + " " * 15, " " * 16
    walks = [(SCHEMA, "{" + pad + '"orderId": 3,' + pad2 + '"name": "x y",' + pad + '"paid": true' + pad + "}"),
             (SCHEMA, '{"orderId":' + pad2 + '1, "name": "", "tags": [' + pad2 + '"a"], "paid": false}'),
             (other, "[" + pad + '{"orderId": "7", "paid": true},' + pad2 + '{ "orderId": "x",' + pad + '"paid": false}]')]
    dropped = checked = 0
    for schema, text in walks:
        ids = vocab.encode(text)
        stepped = []
        monkeypatch.setattr(matcher, "LEXEME_SHORTCUT", False)
        f.mask_cache.clear()
        m = compile_json_schema(schema, vocab, canonical_tokens=True).matcher()
        for t in ids:
            stepped.append(m.mask().copy())
            assert m.advance(t)
        monkeypatch.setattr(matcher, "LEXEME_SHORTCUT", True)
        f.mask_cache.clear()
        m = compile_json_schema(schema, vocab, canonical_tokens=True).matcher()
        for i, t in enumerate(ids):
            st, fst = m._history[-1], m._filter_state()
            out = f.restrict(fst, m._automaton.mask(st).view(np.int32))
            if 2 <= int(np.unpackbits(out.view(np.uint8)).sum()) <= matcher.LOOKAHEAD_MAX:
                alive, dead, _ = m._lexeme_alive(st, fst, out)
                want = set(vocab.mask_to_ids(stepped[i]).tolist())
                for row, inside in ((alive, True), (dead, False)):
                    got = [] if row is None else vocab.mask_to_ids(row).tolist()
                    assert all((u in want) == inside for u in got), (text, i, inside)
                    checked += len(got)
                dropped += 0 if dead is None else len(vocab.mask_to_ids(dead))
            assert np.array_equal(m.mask(), stepped[i]), (text, i)
            assert m.advance(t)
    assert dropped > 20 and checked > 500, (dropped, checked)
    for kept, judged, opened in f.lexeme_verdicts.values():
        assert not ((kept | opened) & ~judged).any() and not (kept & opened).any()


def test_lexeme_forced_bytes(smollm2_vocab):
    """``TokenAutomaton.lexeme_forced``: from a lexeme state, the bytes with the only
    transition, up to an accepting state (``true`` after ``t``: ``rue``; a blank run
    before ``"``: nothing forced while more blanks may come, ``"`` after the 16th)."""
    c = compile_lark('start: "true" | /[ ]{0,16}"x"/', smollm2_vocab)
    a = c.automaton
    for text, want in (("t", b"rue"), ("tr", b"ue"), ("true", b""), (" ", b""), (" " * 16, b'"x"'), (" \"", b'x"')):
        st = a.walk(c.matcher()._history[-1], text.encode())
        got = {a.lexeme_forced(x, q, 64) for _, x, q in st.threads}
        assert got == {want}, (text, got)
    st = a.walk(c.matcher()._history[-1], b" " * 16)
    (_, x, q), = st.threads
    assert a.lexeme_forced(x, q, 2) == b'"x'


def _random_grammar_masks(vocab, monkeypatch, seed: int, n: int, extra: tuple = (), fixed: tuple = ()) -> int:
    """Masks of ``n`` random Lark grammars over the hand-made BPE, the lexeme shortcut on
    against off, at every state along every path of up to 4 tokens, one verdict cache
    shared by all of them (the ``fixed`` grammars first): asserts they are equal and returns
    how many were compared."""
    import constrain.matcher as matcher

    f = canonical_filter(vocab)
    f.lexeme_verdicts.clear()
    rng = random.Random(seed)
    atoms = ['"a"', '"b"', '" "', '"!"', '"ab"', '" a"', '"aba"', '"b!"', '" !"', '"  "', '"bb"',
             "/a+/", "/[ab]{1,3}/", "/ +/", "/[ !]{1,2}/", "/b?a/", "/a[ ]?b/", "/(ab)+/", "/!+/", *extra]
    compared = 0
    for i in range(len(fixed) + n):
        items = []
        for _ in range(rng.randint(2, 4) if i >= len(fixed) else 0):
            p = rng.choice(atoms)
            r = rng.random()
            items.append(f"({p} | {rng.choice(atoms)})" if r < 0.25 else f"{p}?" if r < 0.4 else p)
        grammar = fixed[i] if i < len(fixed) else "start: " + " ".join(items)
        masks = {}
        for on in (False, True):
            monkeypatch.setattr(matcher, "LEXEME_SHORTCUT", on)
            f.mask_cache.clear()
            frontier, got = [(compile_lark(grammar, vocab, canonical_tokens=True).matcher(), ())], {}
            for _depth in range(4):
                nxt = []
                for m, seq in frontier:
                    mask = m.mask()
                    got[seq] = mask.copy()
                    for t in vocab.mask_to_ids(mask).tolist():
                        m2 = m.copy()
                        if t not in vocab.eos_ids and m2.advance(t):
                            nxt.append((m2, seq + (t,)))
                frontier = nxt
            masks[on] = got
        assert masks[True].keys() == masks[False].keys(), grammar
        for seq, want in masks[False].items():
            assert np.array_equal(masks[True][seq], want), (grammar, [vocab.token_bytes[t] for t in seq])
        compared += len(masks[False])
    return compared


def test_lexeme_shortcut_matches_stepping_on_random_grammars(toy, monkeypatch):
    """The lexeme-level verdicts (kept and dropped tokens) against the stepped lookahead on
    the hand-made BPE, where merges across every junction matter: 150 random Lark grammars
    (literals, regexes that accept inside tokens, optional and alternative parts) share one
    verdict cache, and at every state along every path of up to 4 tokens the masks equal
    the stepped ones.  Sharing is what makes a too-coarse key fail here (a verdict carried
    to a filter state or a lexeme state it does not hold for), as does a dead-end proof that
    ignores a lexeme accepting inside or at the end of a token."""
    tok, vocab = toy
    compared = _random_grammar_masks(vocab, monkeypatch, 11, 150)
    f = canonical_filter(vocab)
    dropped = sum(int(np.unpackbits((j & ~k & ~o).view(np.uint8)).sum()) for k, j, o in f.lexeme_verdicts.values())
    kept = sum(int(np.unpackbits(k.view(np.uint8)).sum()) for k, _, _ in f.lexeme_verdicts.values())
    assert compared > 1000 and dropped > 20 and kept > 100, (compared, dropped, kept)


@pytest.mark.parametrize("tries", [0, 1])
def test_witness_heads_one_byte_past_the_forced_bytes(tries, toy, monkeypatch):
    """Where the canonical tokens starting with a dead-end candidate's forced bytes are too
    many to step (`` tru`` before ``e``: 758 on SmolLM2), ``_alive`` and the lexeme verdicts
    judge only those that go on with a byte allowed right after the forced bytes (the state
    there; at the lexeme level the lexeme's viable bytes, and the follow's first bytes
    where it accepts), and a list short enough to step whole is an exact answer.  With
    ``WITNESS_TRIES`` lowered to 0 or 1 so that this runs on the hand-made BPE: every ``_alive``
    answer equals the one from the next state's full mask (some valid token canonical in
    the next filter state), the masks with the lexeme shortcut equal the stepped ones on
    random grammars, and both sites narrow the heads (counted), with answers both ways."""
    import constrain.matcher as matcher

    tok, vocab = toy
    f = canonical_filter(vocab)
    monkeypatch.setattr(matcher, "WITNESS_TRIES", tries)
    f._forced.clear()
    answers = {True: 0, False: 0}
    narrowed = {"alive": 0, "verdict": 0}
    alive, verdict, witnesses = CanonicalMatcher._alive, CanonicalMatcher._lexeme_verdict, f.forced_witnesses
    site = []

    def checked_alive(self, nxt, fnext):
        site.append("alive")
        try:
            got = alive(self, nxt, fnext)
        finally:
            site.pop()
        valid = vocab.mask_to_ids(self._automaton.mask(nxt).view(np.int32))
        valid = valid[vocab.token_lens[valid] > 0]
        assert got == bool(f.allowed_among(fnext, valid).any())
        answers[got] += 1
        return got

    def counted_verdict(self, *args):
        site.append("verdict")
        try:
            return verdict(self, *args)
        finally:
            site.pop()

    def counted_witnesses(state, path, complete, heads, limit):
        if site and path and any(len(h) > len(path) for h in heads):
            narrowed[site[-1]] += 1
        return witnesses(state, path, complete, heads, limit)

    monkeypatch.setattr(CanonicalMatcher, "_alive", checked_alive)
    monkeypatch.setattr(CanonicalMatcher, "_lexeme_verdict", counted_verdict)
    monkeypatch.setattr(f, "forced_witnesses", counted_witnesses)
    # forced bytes that end in a branch rather than an accepting state
    # forced bytes that end in a branch rather than an accepting state; after `` `` in
    # `` a`` + ``b`` the only canonical continuations, ``ab`` and ``aba``, cross into ``b``,
    # and in `` a[ab]`` ``ab`` goes on past the forced ``a`` with a byte of the branch
    compared = _random_grammar_masks(vocab, monkeypatch, 5, 120, ("/ab[ab]a/", "/ aab[ !]/", "/!!b[a ]b?/"),
                                     ('start: " a" "b"', 'start: " a" ("b" | "!") "a"?', 'start: / a[ab]/ "!"?'))
    f._forced.clear()
    assert compared > 1000 and min(answers.values()) > 20 and min(narrowed.values()) > 20, (compared, answers,
                                                                                             narrowed)


def test_lexeme_dead_verdicts_hold_over_the_vocabulary(smollm2_vocab, monkeypatch):
    """Every "dead" answer of ``CanonicalMatcher._lexeme_verdict`` along JSON walks with
    keywords and blank runs (its caches emptied first, so each is computed), checked over
    the whole vocabulary: each token canonical in the next filter state is one that lexeme
    ``x``'s DFA rejects from ``q``, where it accepts inside it never before a byte the
    follow may take (``fbits``), and, where ``x`` accepts at ``q``, one whose first byte the
    follow cannot take: no continuation exists from that lexeme state.  Among them are answers the heads one byte past the forced bytes give
    (`` tru`` before ``e``: 758 canonical tokens start with ``e``, none with ``e`` and a
    byte that may follow ``true``)."""
    import constrain.matcher as matcher

    vocab = smollm2_vocab
    f = canonical_filter(vocab)
    f.lexeme_verdicts.clear()
    f._forced.clear()
    verdict = CanonicalMatcher._lexeme_verdict
    dead = []

    def recorded(self, x, q, accepts, mid, fbits, fnext):
        got = verdict(self, x, q, accepts, mid, fbits, fnext)
        if got is False:
            dead.append((self._automaton, x, q, accepts, fbits, fnext))
        return got

    monkeypatch.setattr(CanonicalMatcher, "_lexeme_verdict", recorded)
    monkeypatch.setattr(matcher, "LEXEME_SHORTCUT", True)
    pad = " " * 16
    texts = ['{"orderId":' + pad + '1, "name": "", "tags": [' + pad + '"a"], "paid": false}',
             '{"orderId": 2, "name": "b", "paid": true}', INSTANCES[0]]
    c = compile_json_schema(SCHEMA, vocab, canonical_tokens=True)
    for text in texts:
        m = c.matcher()
        for t in vocab.encode(text):
            m.mask()
            assert m.advance(t)
    tb = vocab.token_bytes
    text_ids = vocab.text_ids[vocab.token_lens[vocab.text_ids] > 0]
    keyword = 0
    seen = set()
    for a, x, q, accepts, fbits, fnext in dead:
        if (x, q, fnext) in seen:
            continue
        seen.add((x, q, fnext))
        first = a.viable_bits(x, q) | (fbits if accepts else 0)
        ids = text_ids[[bool(first >> tb[u][0] & 1) for u in text_ids.tolist()]]
        for u in ids[f.allowed_among(fnext, ids)].tolist():
            q_end, _, inside = a.lexeme_walk(x, q, u)
            assert q_end < 0 and not inside & fbits, (tb[u], x, q)
            assert not (accepts and fbits >> tb[u][0] & 1), (tb[u], x, q)
        keyword += len(a.lexeme_forced(x, q, 8)) == 1 and not accepts
    assert len(seen) >= 10 and keyword >= 2, (len(seen), keyword)


def _walk_with_filter(vocab, f, texts, monkeypatch, shortcut=True) -> list:
    """Every canonical mask along ``texts`` under ``SCHEMA``, compiled with the filter ``f``
    (and the lexeme shortcut on or off), its mask cache emptied first."""
    import constrain.matcher as matcher

    monkeypatch.setattr(vocab, "_canonical_filter", f, raising=False)
    monkeypatch.setattr(matcher, "LEXEME_SHORTCUT", shortcut)
    f.mask_cache.clear()
    c = compile_json_schema(SCHEMA, vocab, canonical_tokens=True)
    out = []
    for text in texts:
        m = c.matcher()
        for t in vocab.encode(text):
            out.append(m.mask().copy())
            assert m.advance(t)
    return out

def test_stored_verdicts_match_fresh(smollm2_vocab, tmp_path, monkeypatch):
    """The lexeme-level verdicts one process writes (``canonical_store.VerdictStore``, named
    by the tokenizer and a hash of the code) and the next reads give the masks computed
    from scratch (and the stepped lookahead's), every stored verdict is taken; a damaged
    file, one of another version inside, one with ids outside the vocabulary, and the file
    of another code version are ignored."""
    from constrain.tokens import canonical_store
    from constrain.tokens.canonical import CanonicalFilter

    vocab = smollm2_vocab
    pad = "\n" + " " * 15
    texts = INSTANCES + ["{" + pad + '"orderId": 3,' + " " * 16 + '"name": "x y",' + pad + '"paid": true}']

    def walk(f, on=True):
        return _walk_with_filter(vocab, f, texts, monkeypatch, on)

    monkeypatch.setenv("STRUCTGEN_CANONICAL_STORE", str(tmp_path))
    first = CanonicalFilter(vocab)
    assert first._stored_verdicts == {}
    want = walk(first)
    first.save_verdicts()
    (path,) = tmp_path.glob("verdicts-*.npz")
    second = CanonicalFilter(vocab)
    n = len(second._stored_verdicts)
    assert n == len(first.lexeme_verdicts) > 20
    got = walk(second)
    assert len(second._stored_verdicts) == 0  # all taken from the store, none recomputed
    assert all(np.array_equal(x, y) for x, y in zip(got, want, strict=True))
    for key, rows in first.lexeme_verdicts.items():
        assert all(np.array_equal(x, y) for x, y in zip(second.lexeme_verdicts[key], rows)), key
    monkeypatch.setenv("STRUCTGEN_CANONICAL_STORE", "0")
    assert all(np.array_equal(x, y) for x, y in zip(walk(CanonicalFilter(vocab), on=False), want, strict=True))
    monkeypatch.setenv("STRUCTGEN_CANONICAL_STORE", str(tmp_path))
    # ignored: another version inside the file, ids outside the vocabulary, a damaged file
    store = second._verdict_store
    entries = store.load()
    assert len(entries) == n
    canonical_store.VerdictStore(path, "canonical-verdicts-0", vocab.size).save(entries)
    assert store.load() == {} and CanonicalFilter(vocab)._stored_verdicts == {}
    bad = {k: (np.array([vocab.size + 5]), v[1], v[2]) for k, v in list(entries.items())[:1]}
    canonical_store.VerdictStore(path, store.version, vocab.size + 10).save(bad)
    assert store.load() == {}
    path.write_bytes(b"not a table")
    third = CanonicalFilter(vocab)
    assert third._stored_verdicts == {}
    assert all(np.array_equal(x, y) for x, y in zip(walk(third), want, strict=True))
    third.save_verdicts()  # replaced
    assert len(store.load()) == n
    # another code version: another file
    monkeypatch.setattr(canonical_store, "_CODE_VERSION", ["another"])
    other = CanonicalFilter(vocab)
    assert other._verdict_store.path != path and other._stored_verdicts == {}


def test_verdict_files_beyond_the_newest_are_pruned(tmp_path):
    """A verdict save keeps the ``VERDICT_FILES_KEPT`` most recently written verdict files of
    its folder (itself included) and deletes the older ones; outcome files and other files
    stay."""
    import os

    from constrain.tokens import canonical_store

    n = canonical_store.VERDICT_FILES_KEPT
    old = []
    for i in range(n + 3):  # written one after the other, oldest first
        f = tmp_path / f"verdicts-{i:04d}.npz"
        f.write_bytes(b"x")
        os.utime(f, ns=(10**18 + i * 10**9, 10**18 + i * 10**9))
        old.append(f)
    outcome = tmp_path / ("0" * 64 + ".npz")
    outcome.write_bytes(b"y")
    other = tmp_path / "notes.txt"
    other.write_bytes(b"z")
    path = tmp_path / "verdicts-new.npz"
    key = ("lex", 3, 1, 0x5, True, 7, "a", 0, False)
    canonical_store.VerdictStore(path, "v", 100).save({key: (np.array([1, 2]), np.array([3]), np.array([], dtype=np.int64))})
    left = sorted(tmp_path.glob("verdicts-*.npz"))
    assert len(left) == n and path in left
    assert set(left) - {path} == set(old[-(n - 1):])  # the newest of the older ones
    assert outcome.exists() and other.exists()
    assert canonical_store.VerdictStore(path, "v", 100).load()[key][0].tolist() == [1, 2]


def test_stored_rows_match_fresh(smollm2_vocab, toy, tmp_path, monkeypatch):
    """The class and conflict rows one process writes (``canonical_store.RowStore``, named by
    the tokenizer, the code and the ``tokenizers`` version) and the next reads equal the rows
    computed from scratch, give the same masks, and are all taken; a file of another
    vocabulary (the hand-made BPE's file copied over it; another name inside), a damaged
    one, one with rows of another width and the file of another code version are ignored."""
    from constrain.tokens import canonical_store
    from constrain.tokens.canonical import CanonicalFilter, _class_name, _conflict_name

    vocab = smollm2_vocab
    texts = INSTANCES + ['{"orderId": 12, "name": "a b c", "tags": ["x", "yz"], "paid": false}']

    def walk(f):
        return _walk_with_filter(vocab, f, texts, monkeypatch)

    monkeypatch.setenv("STRUCTGEN_CANONICAL_STORE", str(tmp_path))
    first = CanonicalFilter(vocab)
    assert first._stored_rows == {}
    # wide masks (string content) need full rows: previous tokens of several classes
    prefixes = ('{"name": "a', '{"name": "a b', '{"name": "x1', '["yz', '{"k": "ab;', '{"tags": ["x"')
    states = [first.state_of(vocab.encode(t)) for t in prefixes]  # rows of every state on the way
    want_rows = [first.row(st).copy() for st in states if st is not None]
    want = walk(first)
    first.save_rows()
    (path,) = tmp_path.glob("rows-*.npz")
    n_class, n_conf = len(first._class_rows), len(first._conflict_rows)
    assert n_class >= 3 and n_conf >= 3, (n_class, n_conf)

    second = CanonicalFilter(vocab)
    assert len(second._stored_rows) == n_class + n_conf
    states = [second.state_of(vocab.encode(t)) for t in prefixes]
    states = [st for st in states if st is not None]
    assert len(states) == len(want_rows) >= 4
    assert all(np.array_equal(second.row(st), w) for st, w in zip(states, want_rows))
    got = walk(second)
    assert all(np.array_equal(x, y) for x, y in zip(got, want, strict=True))
    assert len(second._stored_rows) == 0  # every stored row was taken, none recomputed
    # each stored row equals the one computed from scratch (not through the store)
    for key, rows in second._class_rows.items():
        s, pre, mode = key
        ctx = first.ctx_id(pre)
        monkeypatch.setattr(first, "_stored_rows", {})
        first._class_rows.clear()
        assert all(np.array_equal(x, y) for x, y in zip(first.class_words(s, ctx, mode), rows)), key
    prevs = {}
    for p in range(vocab.size):  # a previous token of each stored crossing set
        members, ranks = first._crossing(p)
        k = members.tobytes() + b"|" + ranks.tobytes()
        if k in second._conflict_rows and k not in prevs:
            prevs[k] = p
            if len(prevs) == len(second._conflict_rows):
                break
    assert len(prevs) == len(second._conflict_rows)
    for k, p in prevs.items():
        assert np.array_equal(second._conflict_rows[k], first._pack(first._conflicts(p))), p

    # refused: another name inside (another vocabulary's file under this name), rows of
    # another width, a damaged file; then another code version names another file
    store = second._row_store
    entries = store.load()
    assert len(entries) == n_class + n_conf
    assert all(name.startswith(("c:", "x:")) for name in entries)
    assert _class_name(next(iter(second._class_rows))) in entries
    assert _conflict_name(next(iter(second._conflict_rows))) in entries
    monkeypatch.setenv("STRUCTGEN_CANONICAL_STORE", str(tmp_path / "toy"))
    toy_filter = CanonicalFilter(toy[1])
    for text in ("ab ab", "a!b", " ab"):
        toy_filter.row(toy_filter.state_of(toy[1].encode(text)))
    toy_filter.save_rows()
    (toy_path,) = (tmp_path / "toy").glob("rows-*.npz")
    assert toy_path.name != path.name and len(toy_filter._row_store.load()) >= 2
    monkeypatch.setenv("STRUCTGEN_CANONICAL_STORE", str(tmp_path))
    path.write_bytes(toy_path.read_bytes())  # another vocabulary's rows under this name
    assert store.load() == {} and CanonicalFilter(vocab)._stored_rows == {}
    canonical_store.RowStore(path, "canonical-rows-1:" + "0" * 64, vocab.n_words).save(entries)
    assert store.load() == {} and CanonicalFilter(vocab)._stored_rows == {}
    wide = {k: np.zeros((len(v), vocab.n_words + 1), dtype=np.int32) for k, v in entries.items()}
    canonical_store.RowStore(path, store.version, vocab.n_words + 1).save(wide)
    assert store.load() == {}
    path.write_bytes(b"not a table")
    third = CanonicalFilter(vocab)
    assert third._stored_rows == {}
    assert all(np.array_equal(x, y) for x, y in zip(walk(third), want, strict=True))
    third.save_rows()  # replaced
    assert len(store.load()) >= n_class
    monkeypatch.setattr(canonical_store, "_CODE_VERSION", ["another"])
    other = CanonicalFilter(vocab)
    assert other._row_store.path != path and other._stored_rows == {}


def test_stored_row_names_tell_keys_apart(smollm2_vocab):
    """The names rows are stored under (``_class_name``, ``_conflict_name``) are distinct for
    distinct keys: a name dropping a part of the key would let a later process take one
    class's or crossing set's row for another.  The sample holds keys that differ only in
    the signature, only in the context, only in the mode, and crossing sets with the same
    members but other ranks, so each coarser name fails here."""
    from constrain.tokens.canonical import EITHER, JOIN, SPLIT, _class_name, _conflict_name

    vocab = smollm2_vocab
    f = canonical_filter(vocab)
    sigs = sorted({int(f.sig[t]) for t in vocab.encode('{"name": "a b", "x1": [12, true]}')})
    ctxs = [f.ctx_id(c) for c in ("", "a", "0", " ", "!", "\n")]
    keys = {f._outcome_key(s, ctx, mode) for s in sigs for ctx in ctxs for mode in (SPLIT, JOIN, EITHER)}
    assert len({_class_name(k) for k in keys}) == len(keys)
    for part in range(3):  # teeth: pairs equal but in one part
        rest = {}
        assert any(rest.setdefault(k[:part] + k[part + 1:], k) != k for k in sorted(keys, key=repr)), part
    crossing: dict[bytes, set] = {}
    names = set()
    for p in vocab.text_ids[f.reachable[vocab.text_ids]][:8000].tolist():
        members, ranks = f._crossing(p)
        key = members.tobytes() + b"|" + ranks.tobytes()
        crossing.setdefault(members.tobytes(), set()).add(key)
        names.add((key, _conflict_name(key)))
    assert len({n for _, n in names}) == len(names)
    assert any(len(v) > 1 for v in crossing.values())  # same members, other ranks
