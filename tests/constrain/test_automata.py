"""ByteDFA: canonical form, regular and boolean operations against brute force, budgets."""

from __future__ import annotations

import itertools
import random
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constrain.automata import NFA, ByteDFA
from constrain.errors import CompileBudgetError

ALPHA = b"ab"
MAXLEN = 6


def strings(alphabet: bytes = ALPHA, maxlen: int = MAXLEN):
    for n in range(maxlen + 1):
        for t in itertools.product(alphabet, repeat=n):
            yield bytes(t)


def lang(d: ByteDFA, alphabet: bytes = ALPHA, maxlen: int = MAXLEN) -> frozenset[bytes]:
    return frozenset(s for s in strings(alphabet, maxlen) if d.matches(s))


def check_canonical(d: ByteDFA) -> None:
    """Shape, trimmed, BFS-numbered and minimal (brute force over the used byte classes)."""
    S = d.num_states
    t, acc = d.trans, d.accept
    assert t.shape == (S, 256) and t.dtype == np.int32 and acc.shape == (S,)
    assert ((t >= -1) & (t < S)).all()
    if d.is_empty():
        assert S == 1 and not acc[0] and (t == -1).all()
        return
    # BFS order with bytes explored in increasing order
    order, seen = [0], {0}
    for s in order:
        for b in range(256):
            x = int(t[s, b])
            if x >= 0 and x not in seen:
                seen.add(x)
                order.append(x)
    assert order == list(range(S)), "not BFS-numbered / unreachable states"
    # trimmed: every state reaches an accepting state
    live = set(np.flatnonzero(acc).tolist())
    changed = True
    while changed:
        changed = False
        for s in range(S):
            if s not in live and any(int(x) in live for x in t[s] if x >= 0):
                live.add(s)
                changed = True
    assert live == set(range(S)), "dead states present"
    # minimal: Moore refinement over representative bytes yields S classes
    reps = np.unique(d.byte_classes(), return_index=True)[1]
    block = acc.astype(int).tolist()
    while True:
        sig = {}
        new = []
        for s in range(S):
            key = (block[s],) + tuple(block[int(x)] if x >= 0 else -1 for x in t[s, reps])
            new.append(sig.setdefault(key, len(sig)))
        if len(set(new)) == len(set(block)):
            break
        block = new
    assert len(set(block)) == S, "not minimal"


# --------------------------------------------------------------------------- basics


def test_basic_constructors():
    e = ByteDFA.empty()
    assert e.is_empty() and e.num_states == 1 and not e.matches(b"")
    check_canonical(e)
    eps = ByteDFA.epsilon()
    assert eps.matches(b"") and not eps.matches(b"a") and eps.num_states == 1
    lit = ByteDFA.literal(b"abc")
    assert lit.matches(b"abc") and not lit.matches(b"ab") and not lit.matches(b"abcd")
    assert lit.num_states == 4
    check_canonical(lit)
    bs = ByteDFA.byte_set(b"xyz")
    assert bs.num_states == 2 and bs.matches(b"y") and not bs.matches(b"w")
    assert ByteDFA.byte_set(b"").is_empty()
    assert ByteDFA.literal(b"").equivalent(eps)
    allb = ByteDFA.any_bytes()
    assert allb.matches(bytes(range(256)))
    with pytest.raises(ValueError):
        ByteDFA.byte_set([256])


def test_byte_classes():
    d = ByteDFA.byte_set(b"0123456789").concat(ByteDFA.byte_set(b"ab"))
    cls = d.byte_classes()
    assert cls.shape == (256,)
    assert len(set(cls[list(b"0123456789")].tolist())) == 1
    assert len(set(cls[list(b"ab")].tolist())) == 1
    assert cls[0] == 0  # numbered by smallest byte
    assert len(set(cls.tolist())) == 3
    # bytes in one class behave the same in every state
    for c in set(cls.tolist()):
        cols = d.trans[:, cls == c]
        assert (cols == cols[:, :1]).all()


def test_canonical_form_is_unique():
    a, b = ByteDFA.literal(b"a"), ByteDFA.literal(b"b")
    x = a.union(b).star()  # (a|b)*
    y = a.star().concat(b.star()).star()  # (a*b*)*
    z = ByteDFA(np.where(np.isin(np.arange(256), [97, 98]), 0, -1)[None, :], [True])
    assert x.equivalent(y) and x.equivalent(z)
    assert x.num_states == y.num_states == 1
    assert np.array_equal(x.trans, y.trans)


def test_constructor_canonicalizes_arbitrary_arrays():
    # 4 states, two of them equivalent, one dead, one unreachable
    t = np.full((5, 256), -1)
    t[0, ord("a")] = 1
    t[0, ord("b")] = 2
    t[1, ord("c")] = 3
    t[2, ord("c")] = 3
    t[0, ord("d")] = 4  # 4 is dead (no accepting reachable)
    acc = [False, False, False, True, False]
    d = ByteDFA(t, acc)
    check_canonical(d)
    assert d.num_states == 3
    assert d.matches(b"ac") and d.matches(b"bc") and not d.matches(b"d")


def test_nfa_direct():
    nfa = NFA()
    s, m, e = nfa.add_state(), nfa.add_state(), nfa.add_state()
    nfa.add_range(s, ord("a"), ord("c"), m)
    nfa.add_eps(m, s)
    nfa.add_eps(m, e)
    d = nfa.to_dfa(s, e)
    check_canonical(d)
    assert d.matches(b"abcabc") and not d.matches(b"") and not d.matches(b"abd")


# --------------------------------------------------------------------------- brute force

LEAVES = [b"a", b"b", b"ab", b"ba", b"aa", b""]


@st.composite
def dfas(draw, depth=3):
    """Random DFA over {a, b}, its language truncated to MAXLEN (brute-force model) and a
    description of how it was built (for failure reports)."""
    if depth == 0 or draw(st.booleans()):
        w = draw(st.sampled_from(LEAVES))
        return ByteDFA.literal(w), frozenset([w]), repr(w)
    op = draw(st.sampled_from(["union", "concat", "star", "repeat", "inter", "diff", "opt"]))
    a, la, da = draw(dfas(depth=depth - 1))
    if op == "star":
        return a.star(), _star(la), f"({da})*"
    if op == "opt":
        return a.optional(), la | {b""}, f"({da})?"
    if op == "repeat":
        lo = draw(st.integers(0, 2))
        hi = draw(st.one_of(st.none(), st.integers(lo, 3)))
        return a.repeat(lo, hi), _repeat(la, lo, hi), f"({da}){{{lo},{hi}}}"
    b, lb, db = draw(dfas(depth=depth - 1))
    if op == "union":
        return a.union(b), la | lb, f"({da}|{db})"
    if op == "concat":
        return a.concat(b), _cat(la, lb), f"({da}.{db})"
    if op == "inter":
        return a.intersect(b), la & lb, f"({da}&{db})"
    return a.difference(b), la - lb, f"({da}-{db})"


def _cat(x, y):
    return frozenset(u + v for u in x for v in y if len(u + v) <= MAXLEN)


def _repeat(x, lo, hi):
    out = set()
    cur = {b""}
    k = 0
    while cur and (hi is None or k <= hi):
        if k >= lo:
            out |= cur
        nxt = _cat(cur, x)
        if hi is None and nxt <= out | cur and k >= lo:
            break
        cur = nxt
        k += 1
    return frozenset(out)


def _star(x):
    return _repeat(x, 0, None)


@settings(max_examples=150, deadline=None)
@given(dfas())
def test_operations_against_brute_force(triple):
    d, model, how = triple
    assert lang(d) == frozenset(w for w in model if len(w) <= MAXLEN), how
    check_canonical(d)


@settings(max_examples=80, deadline=None)
@given(dfas(depth=2), dfas(depth=2))
def test_boolean_ops(p, q):
    a, b = p[0], q[0]
    la, lb = lang(a, b"abc", 5), lang(b, b"abc", 5)
    assert lang(a.intersect(b), b"abc", 5) == la & lb
    assert lang(a.union(b), b"abc", 5) == la | lb
    assert lang(a.difference(b), b"abc", 5) == la - lb
    assert lang(a.symmetric_difference(b), b"abc", 5) == la ^ lb
    comp = a.complement()
    check_canonical(comp)
    universe = frozenset(strings(b"abc", 5))
    assert lang(comp, b"abc", 5) == universe - la
    assert comp.complement().equivalent(a)
    assert a.union(b).equivalent(ByteDFA.union_all([a, b]))
    assert a.is_subset(a.union(b))


def test_complement_edges():
    assert ByteDFA.empty().complement().equivalent(ByteDFA.any_bytes())
    assert ByteDFA.any_bytes().complement().is_empty()
    c = ByteDFA.epsilon().complement()
    assert not c.matches(b"") and c.matches(b"\x00") and c.matches(b"xyz")
    check_canonical(c)


def test_repeat_paths_agree():
    # prefix-free body (direct chain) vs a non-prefix-free one (NFA path)
    ab = ByteDFA.literal(b"ab")
    r = ab.repeat(2, 4)
    assert [r.matches(b"ab" * k) for k in range(6)] == [False, False, True, True, True, False]
    check_canonical(r)
    nfa_built = ByteDFA.concat_all([ab, ab, ab.optional(), ab.optional()])
    assert r.equivalent(nfa_built)
    r2 = ab.repeat(3)
    assert [r2.matches(b"ab" * k) for k in range(7)] == [False] * 3 + [True] * 4
    assert ab.repeat(0).equivalent(ab.star())
    a_plus = ByteDFA.literal(b"a").plus()
    assert a_plus.repeat(2, 3).equivalent(ByteDFA.literal(b"a").concat(a_plus))
    # body whose start state is re-entered ((a*b)*): copies need a fresh start
    a_star_b = ByteDFA.literal(b"a").star().concat(ByteDFA.literal(b"b"))
    s = a_star_b.star()
    assert s.matches(b"") and s.matches(b"aabab") and not s.matches(b"a") and not s.matches(b"aba")
    r = a_star_b.repeat(0, 2)
    assert [r.matches(w) for w in (b"", b"a", b"b", b"ab", b"abab", b"bbb")] == [True, False, True, True, True, False]
    check_canonical(r)
    assert ByteDFA.empty().repeat(0, 3).equivalent(ByteDFA.epsilon())
    assert ByteDFA.empty().repeat(1, 3).is_empty()
    with pytest.raises(ValueError):
        ab.repeat(3, 2)


def test_walk_and_accepts_empty():
    d = ByteDFA.literal(b"ab").star()
    assert d.accepts_empty
    s = d.walk(b"a")
    assert s > 0 and not d.accept[s]
    assert d.walk(b"b") == -1


# --------------------------------------------------------------------------- size and speed


def test_large_chain_is_fast_and_minimal():
    digit = ByteDFA.byte_set(b"0123456789")
    t = time.perf_counter()
    d = digit.repeat(0, 5000)
    assert time.perf_counter() - t < 3.0
    assert d.num_states == 5001
    assert d.matches(b"7" * 5000) and not d.matches(b"7" * 5001)
    two = ByteDFA.byte_set(range(0x80)).union(ByteDFA.byte_range(0xC2, 0xDF).concat(ByteDFA.byte_range(0x80, 0xBF)))
    d2 = two.repeat(1, 2000)
    assert d2.num_states == 4001
    assert d2.matches("é".encode() * 2000) and not d2.matches(b"")
    c = d2.complement()
    assert c.matches(b"") and not c.matches(b"ab")


def test_exponential_blowup_hits_budget():
    ab = ByteDFA.byte_set(b"ab")
    # (a|b)* a (a|b){n}: the minimal DFA has 2^(n+1) states
    d = ab.star().concat(ByteDFA.literal(b"a")).concat(ab.repeat(10, 10))
    assert d.num_states == 2**11
    t = time.perf_counter()
    with pytest.raises(CompileBudgetError):
        ab.star().concat(ByteDFA.literal(b"a")).concat(ab.repeat(20, 20), budget=5000)
    with pytest.raises(CompileBudgetError):
        ab.repeat(0, 10**7)
    with pytest.raises(CompileBudgetError):
        ByteDFA.literal(b"a").star().repeat(3, 10**6, budget=1000)
    big = ab.repeat(0, 300)
    with pytest.raises(CompileBudgetError):
        big.intersect(ByteDFA.literal(b"a").star().concat(ab.star()), budget=100)
    assert time.perf_counter() - t < 10.0


def _moore_from(T: np.ndarray, block: list[int]) -> list[int]:
    """Coarsest refinement of ``block`` stable under the transitions (Moore to fixpoint)."""
    while True:
        sig: dict = {}
        new = [
            sig.setdefault((block[s],) + tuple(block[t] if t >= 0 else -1 for t in T[s]), len(sig))
            for s in range(T.shape[0])
        ]
        if len(set(new)) == len(set(block)):
            return new
        block = new


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 40), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_hopcroft_matches_moore_on_random_partial_dfas(n, k, seed):
    """Hopcroft on partial DFAs (all initial blocks as splitters) equals Moore's fixpoint."""
    from constrain.automata.minimize import hopcroft, row_ids

    rng = np.random.default_rng(seed)
    T = rng.integers(-1, n, size=(n, k))
    acc = rng.random(n) < 0.3
    init = row_ids(np.concatenate([acc[:, None], T >= 0], axis=1).astype(np.int64))
    got = hopcroft(T, init, int(init.max()) + 1).tolist()
    want = _moore_from(T, init.tolist())
    pairs = set(zip(got, want))
    assert len(pairs) == len(set(got)) == len(set(want))  # same partition up to renaming


def test_deep_cycles_minimize():
    """Cyclic DFAs whose states differ only far away (Hopcroft path, not Moore rounds)."""
    for n in (7, 20, 63):
        d = ByteDFA.literal(b"a" * n).star()
        assert d.num_states == n
        check_canonical(d)
        two = ByteDFA.literal(b"a" * n).concat(ByteDFA.literal(b"a" * n)).star()
        assert two.num_states == 2 * n
    ab = ByteDFA.byte_set(b"ab")
    d = ab.star().concat(ByteDFA.literal(b"a" * 9 + b"b"))  # search for a^9 b
    check_canonical(d)
    assert d.num_states == 11


def test_class_table_matches_trans():
    d = ByteDFA.byte_set(b"0123456789").plus().concat(ByteDFA.literal(b".")).concat(ByteDFA.byte_set(b"ab").star())
    classes, table = d.class_table()
    assert np.array_equal(table[:, classes], d.trans)
    assert table.shape[1] == len(set(classes.tolist()))


def test_literal_is_built_canonical():
    """``ByteDFA.literal`` skips canonicalization: it must equal the generic construction."""
    rnd = random.Random(7)
    cases = [b"", b'"', b"null", bytes(range(256)), bytes(range(255, -1, -1)) * 2]
    cases += [bytes(rnd.choice(b'ab"\\\x00\xff') for _ in range(rnd.randint(1, 9))) for _ in range(200)]
    for bs in cases:
        n = len(bs) + 1
        trans = np.full((n, 256), -1, dtype=np.int64)
        trans[np.arange(n - 1), list(bs)] = np.arange(1, n)
        acc = np.zeros(n, dtype=bool)
        acc[-1] = True
        slow, fast = ByteDFA(trans, acc), ByteDFA.literal(bs)
        assert np.array_equal(fast.table, slow.table) and fast.table.dtype == slow.table.dtype, bs
        assert np.array_equal(fast.classes, slow.classes) and np.array_equal(fast.accept, slow.accept), bs


def test_column_ids_number_distinct_columns_by_first_occurrence():
    """The vectorized column grouping, and its exact fallback when hashes collide."""
    from constrain.automata import minimize as M

    def ref(T):
        ids, seen = np.full(T.shape[1], -1, dtype=np.int64), {}
        for c in range(T.shape[1]):
            ids[c] = seen.setdefault(T[:, c].tobytes(), len(seen))
        return ids

    rng = np.random.default_rng(0)
    for _ in range(500):
        base = rng.integers(-1, 5, size=(int(rng.integers(1, 40)), int(rng.integers(1, 6))))
        T = base[:, rng.integers(0, base.shape[1], size=int(rng.integers(1, 30)))]
        assert np.array_equal(M.column_ids(T), ref(T))
    saved = M._WEIGHTS[0]
    M._WEIGHTS[0] = np.zeros(64, dtype=np.int64)  # every column hashes alike: the exact fallback
    try:
        for _ in range(100):
            T = rng.integers(-1, 3, size=(int(rng.integers(1, 20)), int(rng.integers(1, 20))))
            assert np.array_equal(M.column_ids(T), ref(T))
    finally:
        M._WEIGHTS[0] = saved


@settings(max_examples=80, deadline=None)
@given(dfas(depth=2), dfas(depth=2))
def test_difference_equals_the_generic_product(p, q):
    """``difference`` (level-synchronous, b followed only while live) is the very canonical
    DFA the generic pairwise product gives."""
    from constrain.automata.dfa import DEFAULT_BUDGET, _product

    a, b = p[0], q[0]
    for x, y in ((a, b), (b, a), (a, a), (a, ByteDFA.empty()), (ByteDFA.empty(), a)):
        got = x.difference(y)
        assert got.equivalent(_product(x, y, "diff", DEFAULT_BUDGET))
        check_canonical(got)


def test_difference_of_string_content_and_declared_names():
    """The shape that dominates JSON Schema compiles: any string content minus a name trie."""
    from constrain.automata.dfa import DEFAULT_BUDGET, _product
    from constrain.frontends.json_schema.lexemes import ANY_STRING, excluded_values_dfa, string_content

    names = ["id", "name", "type", "créé", "a\"b", "x\\y", "\u00e9t\u00e9", "tags", "t"]
    content = string_content(ANY_STRING, "json")
    names_dfa = excluded_values_dfa(names, "json")
    d = content.difference(names_dfa)
    assert d.equivalent(_product(content, names_dfa, "diff", DEFAULT_BUDGET))
    assert not d.matches(b"id") and not d.matches(b"\\u0069d") and not d.matches(b"a\\\"b")
    assert d.matches(b"ids") and d.matches(b"i") and d.matches(b"") and d.matches(b"\\u0069")
    with pytest.raises(CompileBudgetError):
        content.difference(names_dfa, budget=50)


def _same_partition(a, b) -> bool:
    a, b = list(a), list(b)
    return len(set(zip(a, b))) == len(set(a)) == len(set(b))


@settings(max_examples=80, deadline=None)
@given(st.integers(2, 60), st.integers(1, 6), st.floats(0.05, 1.0), st.integers(0, 2**32 - 1))
def test_refine_by_edge_hashes_equals_moore_and_dense_rows(n, k, density, seed):
    """Moore rounds over hashed live edges (``edge_row_ids``) give the partition the dense
    row sort gives, and Moore's fixpoint; with every hash weight zero (all signatures
    collide) the exact check sends each round to the dense fallback, same partition."""
    from constrain.automata import minimize as M

    rng = np.random.default_rng(seed)
    T = np.where(rng.random((n, k)) < density, rng.integers(0, n, size=(n, k)), -1)
    acc = rng.random(n) < 0.3
    init = M.row_ids(np.concatenate([acc[:, None], T >= 0], axis=1).astype(np.int64))
    want = _moore_from(T, init.tolist())
    assert _same_partition(M.refine(T, acc), want)
    assert _same_partition(M.refine(T.astype(np.int32), acc), want)
    src, cls = np.nonzero(T >= 0)
    ptr = np.searchsorted(src, np.arange(n + 1))
    ids = M.edge_row_ids(n, ptr, src, cls, init[T[src, cls]], init)
    dense = M.row_ids(np.concatenate([init[:, None], np.append(init, -1)[T]], axis=1))
    assert ids is not None and _same_partition(ids, dense)
    saved = M._WEIGHTS[0]
    M._WEIGHTS[0] = np.zeros(4096, dtype=np.int64)
    try:
        collided = M.edge_row_ids(n, ptr, src, cls, init[T[src, cls]], init)
        assert collided is None or _same_partition(collided, dense)  # None unless truly equal
        assert _same_partition(M.refine(T, acc), want)
    finally:
        M._WEIGHTS[0] = saved


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 50), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_finalize_int32_and_int64_tables_give_the_same_canonical_dfa(n, k, seed):
    """Constructions hand ``finalize`` int32 tables (half the peak memory): the canonical
    result is byte-identical to the int64 one, and to a brute-force language check."""
    from constrain.automata.dfa import finalize

    rng = np.random.default_rng(seed)
    T = np.where(rng.random((n, k)) < 0.6, rng.integers(0, n, size=(n, k)), -1)
    acc = rng.random(n) < 0.4
    cmap = rng.integers(0, k, size=256)
    cmap[:k] = np.arange(k)  # every class used
    a, b = finalize(T.astype(np.int64), acc, cmap), finalize(T.astype(np.int32), acc, cmap)
    assert np.array_equal(a.table, b.table) and a.table.dtype == b.table.dtype == np.int32
    assert np.array_equal(a.classes, b.classes) and np.array_equal(a.accept, b.accept)
    check_canonical(a)
    reps = [int(np.flatnonzero(cmap == c)[0]) for c in range(k)]
    for word in itertools.chain.from_iterable(itertools.product(reps, repeat=m) for m in range(4)):
        s = 0
        for c in word:
            s = T[s, cmap[c]] if s >= 0 else -1
        assert a.matches(bytes(word)) == (s >= 0 and bool(acc[s])), word


def _layered_case(rng, nk: int, nu: int, k: int):
    """A random partial DFA: ``nk`` states closed among themselves (the known part) and ``nu``
    states with levels 0..3 moving only to known states, nowhere, or lower levels; the two
    kinds interleaved in a random numbering."""
    n = nk + nu
    perm = rng.permutation(n)
    kn, un = perm[:nk], perm[nk:]
    level = np.zeros(n, dtype=np.int64)
    level[un] = rng.integers(0, 4, size=nu)
    T = np.full((n, k), -1, dtype=np.int64)
    for q in kn:
        T[q] = np.where(rng.random(k) < 0.2, -1, kn[rng.integers(0, nk, size=k)])
    for q in un:
        lower = un[level[un] < level[q]]
        for c in range(k):
            r = rng.random()
            if r < 0.4 and lower.size:
                T[q, c] = lower[rng.integers(0, lower.size)]
            elif r < 0.8:
                T[q, c] = kn[rng.integers(0, nk)]
    acc = rng.random(n) < 0.3
    return T, acc, kn, level


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 10), st.integers(0, 25), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_minimize_layered_matches_minimize(nk, nu, k, seed):
    """The layered merge (a known minimized part, the rest by levels) gives exactly the
    partition of the general minimization, up to renaming; fails if a merge were missed
    (blocks finer) or wrong (coarser)."""
    from constrain.automata.minimize import minimize, minimize_layered

    rng = np.random.default_rng(seed)
    T, acc, kn, level = _layered_case(rng, nk, nu, k)
    remap = np.full(T.shape[0] + 1, -1, dtype=np.int64)
    remap[kn] = np.arange(kn.size)
    known = np.full(T.shape[0], -1, dtype=np.int64)
    known[kn] = minimize(remap[T[kn]], acc[kn])
    got = minimize_layered(T, acc, known, level)
    want = minimize(T, acc)
    assert got is not None
    pairs = set(zip(got.tolist(), want.tolist()))
    assert len(pairs) == len(set(got.tolist())) == len(set(want.tolist()))


def test_minimize_layered_checks_levels_and_hash_collisions(monkeypatch):
    """A move to a state of the same level is refused; with every hash weight zero (all
    signatures alike) the check of each block's signatures catches it and says ``None``."""
    import constrain.automata.minimize as minimize_mod

    T = np.array([[1, -1], [2, -1], [2, 2]], dtype=np.int64)  # 0 -> 1 -> 2 (known, a loop)
    acc = np.array([False, True, True])
    known = np.array([-1, -1, 0])
    got = minimize_mod.minimize_layered(T, acc, known, np.array([2, 1, 0]))
    assert got[2] == 0 and len(set(got.tolist())) == len(set(minimize_mod.minimize(T, acc).tolist())) == 3
    with pytest.raises(ValueError):
        minimize_mod.minimize_layered(T, acc, known, np.array([1, 1, 0]))
    monkeypatch.setattr(minimize_mod, "_weights", lambda n: np.zeros(n, dtype=np.int64))
    assert minimize_mod.minimize_layered(T, acc, known, np.array([2, 1, 0])) is None


def _same_dfa(x: ByteDFA, y: ByteDFA) -> bool:
    """The same canonical automaton: tables, accepting states and byte classes all equal."""
    return (np.array_equal(x._T, y._T) and np.array_equal(x.accept, y.accept)
            and np.array_equal(x.byte_classes(), y.byte_classes()))


@settings(max_examples=80, deadline=None)
@given(dfas(depth=3), dfas(depth=3), st.sampled_from([1, 8, 64]))
def test_product_numpy_levels_equal_the_pair_loop(p, q, level_min):
    """``_product`` expands wide BFS levels in numpy (part 2y): for every op, with every level
    in numpy (``PRODUCT_LEVEL_MIN = 1``) or a mix, the very canonical DFA the python pair loop
    builds (``1 << 62``), which is also the language the membership of each side says."""
    import constrain.automata.dfa as D

    a, b = p[0], q[0]
    saved = D.PRODUCT_LEVEL_MIN
    try:
        for x, y in ((a, b), (b, a), (a, a)):
            for op in ("and", "or", "diff", "xor"):
                D.PRODUCT_LEVEL_MIN = 1 << 62
                ref = D._product(x, y, op, D.DEFAULT_BUDGET)
                D.PRODUCT_LEVEL_MIN = level_min
                got = D._product(x, y, op, D.DEFAULT_BUDGET)
                assert _same_dfa(got, ref), op
                check_canonical(got)
    finally:
        D.PRODUCT_LEVEL_MIN = saved


def test_product_numpy_levels_on_json_string_shapes():
    """Wide products of the JSON Schema front end (a pattern meeting a length bound, unions of
    patterns, a pattern minus names): numpy levels equal the pair loop, accept and reject the
    expected strings, and keep the state budget."""
    import constrain.automata.dfa as D
    from constrain.frontends.json_schema.lexemes import counted_chars, excluded_values_dfa
    from constrain.frontends.regex import regex_to_dfa

    pat = regex_to_dfa(r"[a-z]+[0-9]{2,4}(-[A-Z]+)?", encoding="json", search=True)
    cnt = counted_chars(3, 12, "json")
    names = excluded_values_dfa(["ab12", "zz99-Q", "x"], "json")
    alt = regex_to_dfa(r"^[0-9a-f]{8}$|^(foo|bar)+$", encoding="json", search=True)
    saved = D.PRODUCT_LEVEL_MIN
    try:
        out = {}
        for level_min in (1 << 62, 1):
            D.PRODUCT_LEVEL_MIN = level_min
            out[level_min] = [D._product(pat, cnt, "and", D.DEFAULT_BUDGET),
                              D._product(pat, alt, "or", D.DEFAULT_BUDGET),
                              D._product(pat, names, "diff", D.DEFAULT_BUDGET),
                              D._product(cnt, alt, "xor", D.DEFAULT_BUDGET)]
            with pytest.raises(CompileBudgetError):
                D._product(pat, cnt, "and", 20)
        for x, y in zip(out[1 << 62], out[1]):
            assert _same_dfa(x, y)
        both, either, minus, _ = out[1]
        assert both.matches(b"xab12") and not both.matches(b"ab1") and not both.matches(b"abcdefghijk123")
        assert either.matches(b"deadbeef") and either.matches(b"q77")
        assert minus.matches(b"ab123") and not minus.matches(b"ab12") and minus.matches(b"zz99-QQ")
    finally:
        D.PRODUCT_LEVEL_MIN = saved
