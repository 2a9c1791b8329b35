"""The per-lexeme token tables: batched and single walks agree; rows match brute force."""

from __future__ import annotations

import numpy as np
import pytest

from constrain.frontends.json_schema.lexemes import JsonLexemes
from constrain.tokens import LexemeTable, compute_rows_batched


def _brute_row(dfa, vocab, q):
    allowed = np.zeros(vocab.size, dtype=bool)
    for t, b in enumerate(vocab.token_bytes):
        if not b:
            continue
        s = q
        for byte in b:
            s = int(dfa.trans[s, byte])
            if s < 0:
                break
        allowed[t] = s >= 0
    return allowed


def _row_bits(row, n):
    ids = np.arange(n)
    return ((row[ids >> 5] >> (ids & 31).astype(np.uint32)) & 1).astype(bool)


def test_rows_batched_equal_single_and_brute_force(smollm2_vocab):
    L = JsonLexemes("flexible", 4)
    lexemes = [L.string_literal("name"), L.string_literal("ünïcode"), L.punct(","), L.literal("true"),
               L.string(patterns=("^[a-z]+$",))]
    single = [LexemeTable(lx.dfa, smollm2_vocab) for lx in lexemes]
    batched = [LexemeTable(lx.dfa, smollm2_vocab) for lx in lexemes]
    pairs = [(t, q) for t in batched for q in range(min(t.n_states, 8))]
    compute_rows_batched(pairs)
    for t1, t2, lx in zip(single, batched, lexemes):
        for q in range(min(t1.n_states, 8)):
            assert (t1.row(q) == t2._rows[q]).all(), (lx, q)
            assert (np.sort(t1.splits(q)) == np.sort(t2._splits[q])).all(), (lx, q)
    # and one table against a per-token brute force on the real vocabulary
    t = single[0]
    for q in (0, 3):
        assert (_row_bits(t.row(q), smollm2_vocab.size) == _brute_row(lexemes[0].dfa, smollm2_vocab, q)).all()


@pytest.mark.parametrize("duplicates", [False, True], ids=["one-token-per-node", "duplicate-spellings"])
def test_rows_of_lanes_equal_rows_of_each_lane(duplicates):
    """``rows_from_lanes`` (every lane's row in one pass, as ``compute_rows_batched`` packs
    them) equals ``row_from_nodes`` of each lane's nodes alone, also where one string is
    spelled by several token ids (a node ending two tokens sets both bits) and lanes are
    interleaved, repeated or empty; and the batched walk over such a vocabulary equals the
    single walks."""
    from constrain.tokens import Vocabulary
    from constrain.tokens.trie import row_from_nodes, rows_from_lanes

    toks = [bytes([b]) for b in b'abc"'] + [b"ab", b"abc", b"bc", b'a"', b'"a']
    toks += [b"ab", b"c", b'a"'] if duplicates else []
    vocab = Vocabulary.from_token_bytes(toks + [None], eos_ids=[len(toks)])
    n_nodes = vocab.trie_parent.shape[0]
    rng = np.random.default_rng(0)
    nodes = rng.integers(1, n_nodes, 40)
    lanes = rng.integers(0, 6, 40)
    lanes[lanes == 4] = 5  # lane 4 has no nodes
    rows = rows_from_lanes(vocab, nodes, lanes, 6)
    assert rows.shape == (6, vocab.n_words)
    for i in range(6):
        assert (rows[i] == row_from_nodes(vocab, nodes[lanes == i])).all(), i
    assert not rows[4].any() and rows[5].any()
    L = JsonLexemes("flexible", 4)
    lexemes = [L.string_literal("ab"), L.string_literal("c"), L.string(patterns=("^[ab]+$",))]
    single = [LexemeTable(lx.dfa, vocab) for lx in lexemes]
    batched = [LexemeTable(lx.dfa, vocab) for lx in lexemes]
    compute_rows_batched([(t, q) for t in batched for q in range(t.n_states)])
    for t1, t2 in zip(single, batched):
        for q in range(t1.n_states):
            assert (t1.row(q) == t2._rows[q]).all() and (np.sort(t1.splits(q)) == np.sort(t2._splits[q])).all()
    assert any(t._rows[q].any() for t in batched for q in range(t.n_states))


# ---------------------------------------------------------------- dense (whole-trie) walks

import random  # noqa: E402
from collections import OrderedDict  # noqa: E402

import pytest  # noqa: E402

import constrain.tokens.counted_table as counted_mod  # noqa: E402
import constrain.tokens.lexeme_tables as tokens_mod  # noqa: E402
from constrain.tokens.trie import DenseTrie  # noqa: E402
import constrain.tokens.tables as tables_mod  # noqa: E402


def _rows_both_ways(monkeypatch, make_table, states):
    """(pruned rows/splits, dense rows/splits) for ``states`` of two fresh tables."""
    out = []
    for threshold in (10**9, -1):  # never dense, always dense
        monkeypatch.setattr(tokens_mod, "DENSE_MIN_NODES", threshold)
        t = make_table()
        out.append({q: (t.row(q), np.sort(t.splits(q))) for q in states})
    return out


def test_dense_rows_equal_pruned_walks(smollm2_vocab, monkeypatch):
    L = JsonLexemes("flexible", 4)
    for lx in [L.string(), L.string(patterns=("^[a-z]+[0-9]?$",)), L.string_literal("name"), L.literal("true")]:
        n_states = LexemeTable(lx.dfa, smollm2_vocab).n_states
        states = range(min(n_states, 12))
        pruned, dense = _rows_both_ways(monkeypatch, lambda: LexemeTable(lx.dfa, smollm2_vocab), states)
        for q in states:
            assert (pruned[q][0] == dense[q][0]).all(), (lx, q)
            assert (pruned[q][1] == dense[q][1]).all(), (lx, q)


def test_dense_choice_default_threshold_and_brute_force(smollm2_vocab):
    """With the default threshold a string-content state is walked densely, and is exact."""
    L = JsonLexemes("flexible", 4)
    lx = L.string()
    t = LexemeTable(lx.dfa, smollm2_vocab)
    dfa = lx.dfa
    q = 0
    for b in b'"':  # into the content (past the optional blanks)
        q = int(dfa.trans[q, b])
    calls = []
    orig = DenseTrie.walk
    try:
        DenseTrie.walk = lambda self, *a: calls.append(1) or orig(self, *a)
        row = t.row(q)
    finally:
        DenseTrie.walk = orig
    assert calls, "string content should take the dense walk"
    assert (_row_bits(row, smollm2_vocab.size) == _brute_row(dfa, smollm2_vocab, q)).all()


@pytest.mark.parametrize("lo,hi", [(0, 40), (50, 50), (60, None), (40, 100)])
def test_counted_dense_rows_equal_pruned_walks(family, monkeypatch, lo, hi):
    """Counted rows filtered from one shared bounds-free walk equal per-key pruned walks."""
    vocab = family[2]
    L = JsonLexemes("flexible", 4)
    dfa = L.string_expr(["spec", [], [], lo, hi, [], []]).dfa
    assert getattr(dfa, "counted", False)
    monkeypatch.setattr(counted_mod, "_WALKS", OrderedDict())
    top = hi if hi is not None else lo + 5
    counts = sorted({0, 1, 2, max(lo - 3, 0), lo, max(top - 30, 0), max(top - 2, 0), max(top - 1, 0)})
    states = [c * dfa.n_base + b for c in counts for b in range(dfa.n_base)]
    pruned, dense = _rows_both_ways(monkeypatch, lambda: counted_mod.CountedLexemeTable(dfa, vocab), states)
    for q in states:
        assert (pruned[q][0] == dense[q][0]).all(), (lo, hi, q)
        assert (pruned[q][1] == dense[q][1]).all(), (lo, hi, q)


def _random_walk_masks(c, vocab, *, seed, walks, steps, max_len=None):
    """Masks met along random walks (uniform over allowed tokens, preferring tokens of at most
    ``max_len`` bytes when given) through a fresh compiled constraint."""
    rng = random.Random(seed)
    got = []
    for _ in range(walks):
        m = c.matcher()
        for _ in range(steps):
            mask = m.mask().copy()
            got.append(mask)
            ids = np.flatnonzero(_row_bits(mask.view(np.uint32), vocab.size))
            ids = [i for i in ids.tolist() if not c.automaton.is_eos(i)]
            if not ids:
                break
            short = [i for i in ids if len(vocab.token_bytes[i]) <= max_len] if max_len else []
            assert m.advance(rng.choice(short or ids))
    return got


def test_masks_with_dense_walks_equal_pruned(smollm2_vocab, monkeypatch):
    """Whole masks along random walks agree whichever walk fills the rows (fresh caches)."""
    from constrain import compile_json_schema

    schema = {"type": "object", "properties": {
        "a": {"type": "string", "pattern": "^[a-z]{2,}$"}, "b": {"type": "string", "maxLength": 40},
        "c": {"type": "string", "format": "date"}, "d": {"type": "array", "items": {"type": "string"}}},
        "required": ["a", "b"]}
    masks = []
    for threshold in (10**9, -1):
        monkeypatch.setattr(tokens_mod, "DENSE_MIN_NODES", threshold)
        monkeypatch.setattr(tables_mod, "_TABLES", OrderedDict())
        monkeypatch.setattr(counted_mod, "_WALKS", OrderedDict())
        c = compile_json_schema(schema, smollm2_vocab)
        masks.append(_random_walk_masks(c, smollm2_vocab, seed=7, walks=4, steps=25))
    assert len(masks[0]) == len(masks[1])
    for a, b in zip(*masks):
        assert (a == b).all()



# ---------------------------------------------------------------- difference tables (B minus F)

import constrain.ir.grammar as grammar_mod  # noqa: E402
from constrain.tokens import DifferenceLexemeTable, lexeme_table  # noqa: E402


def _same_language_states(table, dfa) -> dict[int, int]:
    """Each state of ``table`` (trimmed, perhaps not minimal) mapped to the state of the
    canonical ``dfa`` with the same language, by walking both from their starts together;
    asserts the walk is consistent (one canonical state per table state, same acceptance,
    same live bytes). States neither walk reaches are left out (C's glued DFA keeps some)."""
    T, cm, acc = table.state_table, table.classes, table._accept_ext
    D, dc = np.asarray(dfa.table), np.asarray(dfa.classes[:256])
    of = {0: 0}
    work = [0]
    while work:
        q = work.pop()
        d = of[q]
        assert bool(acc[q]) == bool(dfa.accept[d]), (q, d)
        for b in range(256):
            q2, d2 = int(T[q, cm[b]]), int(D[d, dc[b]])
            assert (q2 >= table.n_states) == (d2 < 0), (q, d, b)
            if d2 >= 0:
                if q2 in of:
                    assert of[q2] == d2, (q2, of[q2], d2)
                else:
                    of[q2] = d2
                    work.append(q2)
    return of


def _reachable(table) -> int:
    """How many states of ``table`` its start reaches."""
    T = table.state_table
    seen, work = {0}, [0]
    while work:
        for q2 in set(T[work.pop()].tolist()):
            if q2 < table.n_states and q2 not in seen:
                seen.add(q2)
                work.append(q2)
    return len(seen)


@pytest.mark.parametrize("kw", [
    dict(exclude=("createdAt", "createdBy", "name", "n", "na\u00efve", "a\"b", "")),
    dict(exclude=("id", "type"), patterns=("^[a-z]+$",)),
    dict(exclude=("abc", "abd"), max_len=5),
    dict(exclude=("x",), exclude_patterns=("^y",)),
    dict(exclude=("ab", "abc"), max_len=3),  # finite base: a declared name is a dead end
])
@pytest.mark.parametrize("product", [True, False])
def test_difference_table_rows_equal_plain_walks(family, kw, product, monkeypatch):
    """Rows and splits derived from the base lexeme's rows equal a direct walk of C's
    canonical DFA, every state: over the pair product of B and F (C's own DFA never built,
    ``difference_product``) and over C's DFA."""
    _, _, vocab = family
    monkeypatch.setattr(tables_mod, "USE_DIFFERENCE_PRODUCT", product)
    for ws in ("flexible", "compact"):
        monkeypatch.setattr(tables_mod, "_TABLES", OrderedDict())
        monkeypatch.setattr(grammar_mod, "_LEXEMES", OrderedDict())  # fresh lexemes: none built yet
        L = JsonLexemes(ws, 3)
        lx = L.string(**kw)
        assert lx.minus is not None
        derived = lexeme_table(lx, vocab)
        assert isinstance(derived, DifferenceLexemeTable)
        assert (lx._dfa is None) == product  # the product path leaves C's DFA unbuilt
        plain = LexemeTable(lx.dfa, vocab)
        of = _same_language_states(derived, lx.dfa)
        # every state the product reaches maps to one of C's (the product keeps B's whole
        # table after its pairs, some of it unreachable; C's glued DFA has unreachable states)
        assert len(of) == _reachable(derived) if product else all(q == d for q, d in of.items())
        for q, d in sorted(of.items()):
            assert (derived.row(q) == plain.row(d)).all(), (kw, ws, q)
            assert (np.sort(derived.splits(q)) == np.sort(plain.splits(d))).all(), (kw, ws, q)


@pytest.mark.parametrize("limit", [0, 1 << 30])
def test_python_rows_all_at_once_equal_per_state(smollm2_vocab, monkeypatch, limit):
    """Python rows built for a whole small table at once, and viable bytes read off them
    (also for the names' DFA of a difference table), equal those built one state at a time
    with numpy (limit 0: every table takes that path), and so do the
    rows derived from them (keys of additional properties next to declared names), on the
    real vocabulary, where a trie node near the root has more children than the names have
    next bytes (the byte lookup of ``_region``)."""
    monkeypatch.setattr(tokens_mod, "PY_ALL_TRANSITIONS", limit)
    monkeypatch.setattr(tables_mod, "_TABLES", OrderedDict())
    names = ("bookmarkThumbHeight", "bookmarkThumbWidth", "leftPanelEnabled", "limitLocales", "id")
    L = JsonLexemes("flexible", 3)
    lx = L.string(exclude=names)
    derived = lexeme_table(lx, smollm2_vocab)
    assert isinstance(derived, DifferenceLexemeTable)
    plain = LexemeTable(lx.dfa, smollm2_vocab)
    trie = LexemeTable(L.string_literal(names[0]).dfa, smollm2_vocab)
    for t in (plain, trie):
        for q in range(t.n_states):
            expect_row = tokens_mod._py_row(t._flat, t.n_cls, t.n_states, q)
            assert t.py_row(q) == expect_row
            assert t.viable_list(q) == tuple(np.flatnonzero(t.viable_bytes(q)).tolist())
    of = _same_language_states(derived, lx.dfa)
    assert len(of) == _reachable(derived)
    for q in range(min(derived.n_states, 40)):
        assert (derived.row(q) == plain.row(of[q])).all(), q
        assert (np.sort(derived.splits(q)) == np.sort(plain.splits(of[q]))).all(), q
    F = derived._F_flat
    ptr, byts, dst = derived._F_edges()
    for qf in range(F.shape[0]):
        live = np.flatnonzero(F[qf][derived._F_cmap_np] < F.shape[0])
        assert sorted(byts[ptr[qf]:ptr[qf + 1]].tolist()) == live.tolist()
        assert derived._F_viable(qf) == tuple(live.tolist())  # read off the row or numpy's
        assert (dst[ptr[qf]:ptr[qf + 1]] == F[qf][derived._F_cmap_np[byts[ptr[qf]:ptr[qf + 1]]]]).all()


_BATCHED_KWS = [dict(exclude=names) for names in (
    ("type", "id"), ("type", "types", "typeName"), ("axisLabel", "uomLabel", "type", "id"),
    ("a\"b", "caf\u00e9", ""), ("x",), ("lowerBound", "upperBound", "resolution", "type"))]
_BATCHED_KWS += [dict(exclude=("ab", "abc"), max_len=3), dict(exclude=("abc", "abd"), max_len=5),
                 dict(exclude=("id", "type"), patterns=("^[a-z]+$",))]


def _substring_vocab() -> "Vocabulary":
    """Every byte, and every substring of each declared name spelled as a key with blanks
    and what follows it: tokens that end exactly at a name's closing quote or run past it,
    from any point inside the key (real vocabularies have few of these, e.g. no ``c"``)."""
    from constrain.tokens import Vocabulary

    toks = {bytes([b]) for b in range(256)}
    for kw in _BATCHED_KWS:
        for name in kw["exclude"]:
            for w in (f' \n "{name}": 1', f'"{name}x"', f'{{"{name}",'):
                wb = w.encode()
                toks.update(wb[i:j] for i in range(len(wb)) for j in range(i + 1, min(len(wb), i + 12) + 1))
    toks = sorted(toks)
    return Vocabulary.from_token_bytes(toks + [None], eos_ids=[len(toks)])


@pytest.mark.parametrize("vocab_name", ["substrings", "smollm2", "tekken"])
def test_batched_difference_rows_equal_plain_walks(request, vocab_name, monkeypatch):
    """Rows and splits of many "any key but these names" tables filled together by one
    batched region walk (``compute_difference_rows``, as the first visit of a state after
    ``{`` of a big ``anyOf`` does) equal a direct walk of each C's canonical DFA, for every
    reachable state, in the order a first visit asks (state 0 of every table at once), then
    the rest in one batch of mixed tables and states; name sets that share prefixes, a
    name that is a prefix of another, names with escapes, the empty name, a single name,
    and a finite base where a declared name is a dead end before its closing quote (C dead
    while F is still alive: the walk must keep C dead)."""
    from constrain.tokens.lexeme_tables import compute_difference_rows

    vocab = _substring_vocab() if vocab_name == "substrings" else request.getfixturevalue(f"{vocab_name}_vocab")
    monkeypatch.setattr(tables_mod, "_TABLES", OrderedDict())
    monkeypatch.setattr(grammar_mod, "_LEXEMES", OrderedDict())
    for ws in ("flexible", "compact"):
        L = JsonLexemes(ws, 3)
        derived, plain, maps = [], [], []
        for kw in _BATCHED_KWS:
            lx = L.string(**kw)
            t = lexeme_table(lx, vocab)
            assert isinstance(t, DifferenceLexemeTable) and not t._rows
            derived.append(t)
            plain.append(LexemeTable(lx.dfa, vocab))
            maps.append(_same_language_states(t, lx.dfa))
        compute_difference_rows([(t, 0) for t in derived])
        assert all(t.has_row(0) for t in derived)
        rest = [(t, q) for t, of in zip(derived, maps) for q in sorted(of) if q]
        compute_difference_rows(rest)
        assert all(t.has_row(q) for t, q in rest)
        for t, p, of in zip(derived, plain, maps):
            for q, d in of.items():
                assert (t.row(q) == p.row(d)).all(), (ws, q)
                assert (np.sort(t.splits(q)) == np.sort(p.splits(d))).all(), (ws, q)


# ------------------------------------------------- every walk strategy gives the same masks

import constrain.tokens.token_automaton as automaton_mod  # noqa: E402
import constrain.compiled as compiled_mod  # noqa: E402


@pytest.mark.parametrize("strategy", ["numpy-walks", "no-difference-tables", "no-eager-rows"])
def test_masks_equal_across_walk_strategies(smollm2_vocab, monkeypatch, strategy):
    """Python depth-first walks, split-children buckets, difference tables and compile-time
    rows are shortcuts: masks along random walks equal those of the plain strategy."""
    from constrain import compile_json_schema

    schema = {"type": "object", "properties": {
        "name": {"type": "string"}, "names": {"type": "array", "items": {"type": "string", "maxLength": 5}},
        "n\u00e4me": {"enum": ["a\"b", "x"]}, "count": {"type": "integer", "minimum": 3},
        "tags": {"type": "object", "additionalProperties": {"type": "boolean"}, "properties": {"t": {"const": 1}}}},
        "required": ["name"]}

    def run():
        monkeypatch.setattr(tables_mod, "_TABLES", OrderedDict())
        monkeypatch.setattr(counted_mod, "_WALKS", OrderedDict())
        c = compile_json_schema(schema, smollm2_vocab)
        # short tokens, so that walks go deep into keys and values
        return _random_walk_masks(c, smollm2_vocab, seed=11, walks=6, steps=30, max_len=2)

    base = run()
    if strategy == "numpy-walks":
        monkeypatch.setattr(tokens_mod, "SMALL_WALK_BUDGET", -1)
        monkeypatch.setattr(automaton_mod, "SMALL_WALK_ROOTS", -1)
    elif strategy == "no-difference-tables":
        monkeypatch.setattr(tables_mod, "USE_DIFFERENCE_TABLES", False)
    else:
        monkeypatch.setattr(compiled_mod, "EAGER_ROW_BUDGET_S", 0.0)
    other = run()
    assert len(base) == len(other)
    for a, b in zip(base, other):
        assert (a == b).all()


# ------------------------------------------- lazy (first-visit) masks equal eager ones

_LAZY_SOURCES = {
    "many-keys": ("json", {"type": "object", "properties": {
        f"k{i}": {"type": ["integer", "string"]} for i in range(12)} | {
        "name": {"type": "string", "pattern": "^[A-Z][a-z]+$"}, "when": {"type": "string", "format": "date"},
        "tags": {"type": "array", "items": {"enum": ["a", "b\"c", "d\u00e9"]}, "maxItems": 3}},
        "required": ["k0", "name"]}),
    "nested-extra": ("json", {"type": "object", "properties": {
        "meta": {"type": "object", "properties": {"id": {"type": "integer", "minimum": 0}},
                 "additionalProperties": {"type": "boolean"}},
        "items": {"type": "array", "items": {"type": "object", "properties": {
            "x": {"type": "number"}, "s": {"type": "string", "minLength": 2, "maxLength": 6}}}}}}),
    "lark": ("lark", 'start: expr\nexpr: term (("+"|"-") term)*\nterm: NUMBER | NAME "(" expr ")" | "(" expr ")"\n'
                     'NAME: /[a-z_]+/\nNUMBER: /[0-9]+/\n'),
    "regex": ("regex", r"(GET|POST) /[a-z]{1,8}(/[a-z0-9]{1,4})* HTTP/1\.[01]"),
}


@pytest.mark.parametrize("name", sorted(_LAZY_SOURCES))
def test_lazy_masks_equal_eager(smollm2_vocab, monkeypatch, name):
    """Masks built on first visit (no compile-time rows or masks; a first visit's missing rows
    filled by one batched walk) equal those of a compile that precomputes every row and mask
    it can and fills rows one by one, on every state random walks visit (fresh caches)."""
    from constrain import compile_json_schema, compile_lark, compile_regex

    kind, src = _LAZY_SOURCES[name]

    def run(eager: bool):
        monkeypatch.setattr(tables_mod, "_TABLES", OrderedDict())
        monkeypatch.setattr(counted_mod, "_WALKS", OrderedDict())
        monkeypatch.setattr(compiled_mod, "EAGER_ROW_BUDGET_S", 60.0 if eager else 0.0)
        monkeypatch.setattr(compiled_mod, "EAGER_ROW_DEPTH", 1 << 30)
        monkeypatch.setattr(compiled_mod, "EAGER_MASK_BUDGET_S", 60.0 if eager else 0.0)
        monkeypatch.setattr(automaton_mod, "FILL_BATCH_MIN", 10**9 if eager else 1)
        monkeypatch.setattr(tokens_mod, "FILL_BATCH_MIN", 10**9 if eager else 1)
        if kind == "json":
            c = compile_json_schema(src, smollm2_vocab)
        elif kind == "lark":
            c = compile_lark(src, smollm2_vocab)
        else:
            c = compile_regex(src, smollm2_vocab)
        a = c.automaton
        computed = sum(1 for st in a.interned_states() if st.mask is not None)
        masks = _random_walk_masks(c, smollm2_vocab, seed=5, walks=8, steps=40, max_len=3)
        return masks, computed

    eager, n_eager = run(True)
    lazy, n_lazy = run(False)
    assert n_lazy == 0 < n_eager  # the lazy compile did no mask work, the eager one did
    assert len(eager) == len(lazy) > 40
    for i, (a, b) in enumerate(zip(eager, lazy)):
        assert (a == b).all(), (name, i)


def test_bit_helpers_agree_with_unpacked_masks():
    """``bits_at`` and ``count_bits`` read packed words (int32 or uint32) as the unpacked mask."""
    from constrain.tokens import bits_at, clear_bits, count_bits, pack_bits, set_bits

    rng = np.random.default_rng(0)
    for size in (1, 31, 32, 33, 1000):
        allowed = rng.random(size) < 0.3
        allowed[-1] = True  # the top bit of a word as well (bit 31 reads negative in int32)
        words = pack_bits(allowed, (size + 31) // 32)
        ids = np.arange(size)
        for w in (words, words.view(np.int32)):
            assert np.array_equal(bits_at(w, ids), allowed)
            assert count_bits(w) == int(allowed.sum())
        extra = rng.integers(0, size, 5)
        set_bits(words, extra)
        assert bits_at(words, extra).all()
        clear_bits(words, extra)
        assert not bits_at(words, extra).any() and count_bits(words) == int(np.delete(allowed, extra).sum())


def test_table_bytes_counts_python_rows(smollm2_vocab, monkeypatch):
    """The cache budget counts the Python tuples a table keeps for byte-at-a-time stepping
    (``T_list``, viable bytes), not only its numpy arrays: they grow as states are stepped,
    and a difference table's int32 names DFA is counted at its real size."""
    from constrain.tokens.tables import table_bytes

    monkeypatch.setattr(tables_mod, "_TABLES", OrderedDict())
    L = JsonLexemes("flexible", 3)
    t = LexemeTable(L.string().dfa, smollm2_vocab)
    before = table_bytes(t)
    assert before >= t._flat.nbytes
    for q in range(t.n_states):
        t.py_row(q)
        t.viable_list(q)
    after = table_bytes(t)
    assert after - before >= t.n_states * 8 * t.n_cls  # a slot per transition at least
    derived = lexeme_table(L.string(exclude=("id", "name")), smollm2_vocab)
    assert isinstance(derived, DifferenceLexemeTable) and derived._F_flat.dtype == np.int32
    assert table_bytes(derived) >= derived._flat.nbytes + derived._F_flat.nbytes


@pytest.mark.parametrize("base_re, names_re", [
    ("[a-z]+", "ab|abc|b"),  # B goes on past an excluded word: C alive there, but cannot end
    ("[a-c]{1,3}", "ab|abc|aaa"),  # finite B: C dies on "abc" (only its words left) before F ends
    ("(ab)*c?", "ab|ababc|c"),
    ("a[bc]*", "a|abcb|acc"),
])
@pytest.mark.parametrize("product", [True, False])
def test_difference_rows_of_any_regular_pair_equal_plain_walks(base_re, names_re, product):
    """``B minus F`` for hand-made B and finite F beyond the JSON key shape (where B ends
    right after a closing quote, so "F accepts" and "C dead" coincide): rows and splits of
    every state of C, each computed alone and all in one batched walk, equal a direct walk of
    C's canonical DFA, over a vocabulary of every string of up to four bytes of the
    alphabet (every token prefix both inside and across the excluded words)."""
    from itertools import product as words_of

    from constrain.frontends.regex.compile import regex_to_dfa
    from constrain.tokens import Vocabulary
    from constrain.tokens.lexeme_tables import compute_difference_rows

    toks = sorted({"".join(w).encode() for n in range(1, 5) for w in words_of("abcz", repeat=n)})
    vocab = Vocabulary.from_token_bytes(toks + [None], eos_ids=[len(toks)])
    B, F = regex_to_dfa(base_re), regex_to_dfa(names_re)
    C = B.difference(F)
    base = LexemeTable(B, vocab)
    plain = LexemeTable(C, vocab)

    def table():
        if product:
            return DifferenceLexemeTable.from_product(vocab, base, F)
        return DifferenceLexemeTable(C, vocab, base, F)

    alone, batched = table(), table()
    of = _same_language_states(alone, C)
    compute_difference_rows([(batched, q) for q in sorted(of)])
    for q, d in sorted(of.items()):
        for t in (alone, batched):
            assert (t.row(q) == plain.row(d)).all(), (base_re, names_re, q)
            assert (np.sort(t.splits(q)) == np.sort(plain.splits(d))).all(), (base_re, names_re, q)


@pytest.mark.parametrize("case", [
    dict(exclude=("createdAt", "createdBy", "name", "n", "na\u00efve", "a\"b", "")),
    dict(exclude=("id", "type"), patterns=("^[a-z]+$",)),
    dict(exclude=("abc", "abd"), max_len=5),
    dict(exclude=("ab", "abc"), max_len=3),
    ("[a-z]+", "ab|abc|b"),
    ("[a-c]{1,3}", "ab|abc|aaa"),
    ("a[bc]*", "a|abcb|acc"),
])
def test_difference_product_layered_merge_equals_minimize(case, monkeypatch):
    """The product's states merged level by level along the names (``minimize_layered``, B's
    own blocks and F's levels kept per DFA) give the very automaton, pairs and dead pairs
    that the general ``minimize`` gave, and it is minimal: its reachable states map one to
    one onto C's canonical DFA (fails if a merge were missed)."""
    from constrain.frontends.regex.compile import regex_to_dfa
    from constrain.tokens.lexeme_tables import ProductDFA, difference_product

    if isinstance(case, dict):
        lx = JsonLexemes("flexible", 3).string(**case)
        B, F = lx.minus[0].dfa, lx.minus[1].dfa
    else:
        B, F = regex_to_dfa(case[0]), regex_to_dfa(case[1])
    outs = []
    for layered in (False, True, True):  # the second layered run reads the per-DFA caches
        monkeypatch.setattr(tokens_mod, "LAYERED_MERGE", layered)
        outs.append(difference_product(B, F))
    for (d1, *rest1), (d2, *rest2) in zip(outs, outs[1:]):
        assert np.array_equal(d1.table, d2.table) and np.array_equal(d1.accept, d2.accept)
        assert np.array_equal(d1.classes, d2.classes)
        assert all(np.array_equal(a, b) for a, b in zip(rest1, rest2))
    dfa = outs[-1][0]
    assert isinstance(dfa, ProductDFA)
    from constrain.tokens import Vocabulary

    vocab = Vocabulary.from_token_bytes([bytes([b]) for b in range(256)] + [None], eos_ids=[256])
    table = LexemeTable(dfa, vocab)
    of = _same_language_states(table, B.difference(F))
    assert len(of) == _reachable(table) == len(set(of.values()))
