"""Compile-time row plans (``constrain.compiled``): kept per token table, exact either way."""

from __future__ import annotations

import numpy as np
import pytest

import constrain
import constrain.compiled as compiled_mod
from constrain.compiled import _bfs_levels, _eager_plan

from oracles import assert_same_masks


def _levels_reference(T, dead):
    depth = {0: 0}
    order = [0]
    for q in order:
        for t in T[q].tolist():
            if t != dead and t not in depth:
                depth[t] = depth[q] + 1
                order.append(t)
    out = [[] for _ in range(max(depth.values()) + 1)]
    for q, d in depth.items():
        out[d].append(q)
    return [sorted(lv) for lv in out]


@pytest.mark.parametrize("n", [1, 3, 17, 120, 800])  # 800 x 3 takes the numpy path
def test_bfs_levels_stop_at_the_depth_asked(n):
    rng = np.random.default_rng(n)
    for _ in range(40):
        T = rng.integers(0, n + 1, size=(n, 3))  # n is "dead"
        full = _bfs_levels(T, n)
        assert full == _levels_reference(T, n)
        for d in range(6):
            assert _bfs_levels(T, n, d) == full[:d + 1]


SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "kind": {"enum": ["a", "bb", "ccc"]},
                                           "n": {"type": "integer"}}, "required": ["name"]}


def test_plan_is_kept_per_table_and_equals_a_fresh_one(family, monkeypatch):
    """The plan of a table is computed once (later compiles reuse it) and is what a fresh
    computation gives; once every planned row exists the table is marked done (empty plan)."""
    from constrain.tokens import dense_trie

    _, _, vocab = family
    monkeypatch.setattr(compiled_mod, "EAGER_ROW_BUDGET_S", 60.0)
    constrain.clear_caches()
    c1 = constrain.compile_json_schema(SCHEMA, vocab)
    below = dense_trie(vocab).below_first
    tables = list({id(t): t for t in c1.automaton.tables}.values())
    planned = 0
    for t in tables:
        kept = compiled_mod._EAGER_PLANS.pop(t)
        fresh = _eager_plan(t, below)
        assert kept in (fresh, ())
        assert all(t.has_row(q) for _, q, _ in fresh)  # an ample budget filled them all
        planned += len(fresh)
    assert planned > 0
    constrain.compile_json_schema(SCHEMA, vocab)
    assert all(compiled_mod._EAGER_PLANS[t] == () for t in tables)


def test_masks_equal_with_and_without_compile_time_rows(family, monkeypatch):
    _, _, vocab = family
    constrain.clear_caches()
    monkeypatch.setattr(compiled_mod, "EAGER_ROW_BUDGET_S", 60.0)
    warm = constrain.compile_json_schema(SCHEMA, vocab)
    constrain.clear_caches()
    monkeypatch.setattr(compiled_mod, "EAGER_ROW_BUDGET_S", 0.0)
    cold = constrain.compile_json_schema(SCHEMA, vocab)
    eos = set(int(e) for e in vocab.eos_ids)
    assert_same_masks(warm, cold, seed=5, walks=6, steps=20, skip=eos)


def test_small_tables_plan_the_shortest_word_and_the_first_byte(family):
    """A small table's compile-time rows are its states one byte in and those along its
    shortest word (``EAGER_SMALL_WORD_PATH``): the word is accepted and no shorter one is."""
    from constrain.compiled import _shortest_word, _word_states
    from constrain.tokens import dense_trie

    _, _, vocab = family
    c = constrain.compile_json_schema(SCHEMA, vocab)
    below = dense_trie(vocab).below_first
    small = [t for t in {id(t): t for t in c.automaton.tables}.values()
             if not t.counted and t.batchable and t.n_states <= compiled_mod.EAGER_SMALL_TABLE]
    assert small
    for t in small:
        word = _shortest_word(t)
        q = 0
        for b in word:
            q = t.py_row(q)[t.cmap_list[b]]
            assert q >= 0
        assert t.accept_list[q]
        levels = _bfs_levels(t.state_table, t.n_states)
        first_accepting = min(d for d, qs in enumerate(levels) if any(t.accept_list[s] for s in qs))
        assert len(word) == first_accepting
        allowed = set(levels[0]) | (set(levels[1]) if len(levels) > 1 else set()) | _word_states(t)
        compiled_mod._EAGER_PLANS.pop(t, None)
        planned = {s for _, s, _ in _eager_plan(t, below)}
        assert planned <= allowed
        assert 0 in planned or t.is_wide(0)
    # a key's DFA holds its escaped spellings too: the plan leaves most of its states out
    key = max(small, key=lambda t: t.n_states)
    compiled_mod._EAGER_PLANS.pop(key, None)
    assert len(_eager_plan(key, below)) < key.n_states


NESTED = {"type": "object",
          "properties": {"a": {"type": "object", "properties": {"x": {"type": "integer"}, "xy": {"type": "string"}}},
                         "b": {"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "null"}}},
                         "c": {"type": "array", "items": {"type": "object", "properties": {"k": {"const": 1}}}}}}


@pytest.mark.parametrize("batch_min", [1, 10 ** 6])
def test_difference_rows_at_compile_batched_equal_one_at_a_time(family, monkeypatch, batch_min):
    """Compile-time rows of "any key but these names" tables, walked together (lanes of one
    walk) or one at a time, equal the rows computed on demand in a fresh process state, and
    the masks along random walks are the same."""
    from constrain.tokens import DifferenceLexemeTable
    from constrain.tokens import lexeme_tables as lt

    _, _, vocab = family
    monkeypatch.setattr(compiled_mod, "EAGER_ROW_BUDGET_S", 60.0)
    monkeypatch.setattr(lt, "DIFFERENCE_BATCH_MIN", batch_min)
    monkeypatch.setattr(compiled_mod, "EAGER_DIFFERENCE_BATCH_MIN", batch_min)
    constrain.clear_caches()
    warm = constrain.compile_json_schema(NESTED, vocab)
    diffs = [t for t in {id(t): t for t in warm.automaton.tables}.values() if isinstance(t, DifferenceLexemeTable)]
    assert len(diffs) >= 3
    done = {id(t): sorted(t._rows) for t in diffs}
    assert sum(map(len, done.values())) >= compiled_mod.EAGER_DIFFERENCE_BATCH_MIN or batch_min > 1
    monkeypatch.setattr(compiled_mod, "EAGER_ROW_BUDGET_S", 0.0)
    monkeypatch.setattr(compiled_mod, "EAGER_MASK_BUDGET_S", 0.0)
    constrain.clear_caches()
    cold = constrain.compile_json_schema(NESTED, vocab)
    fresh = [t for t in {id(t): t for t in cold.automaton.tables}.values() if isinstance(t, DifferenceLexemeTable)]
    assert len(fresh) == len(diffs)
    for t, u in zip(diffs, fresh):
        assert t is not u and t.n_states == u.n_states
        for q in done[id(t)]:
            np.testing.assert_array_equal(t.row(q), u.row(q))
            assert sorted(t.splits(q).tolist()) == sorted(u.splits(q).tolist())
    eos = set(int(e) for e in vocab.eos_ids)
    assert_same_masks(warm, cold, seed=11, walks=6, steps=25, skip=eos)


def _plan_reference(t, below_first):
    """The plan as computed before it walked only levels 0-1 and the word's states: every
    BFS level of a small table filtered to those, and the first-byte reach of every state."""
    from constrain.tokens import DifferenceLexemeTable
    from constrain.tokens import lexeme_tables as lt

    out = []
    if isinstance(t, DifferenceLexemeTable):
        levels = _bfs_levels(t.state_table, t.n_states, compiled_mod.EAGER_ROW_DEPTH)
        return tuple((d, q, 2) for d, qs in enumerate(levels) for q in qs)
    if not (t.batchable and t.n_states <= compiled_mod.EAGER_ROW_STATES):
        return ()
    T = t.state_table
    small = t.n_states <= compiled_mod.EAGER_SMALL_TABLE
    levels = _bfs_levels(T, t.n_states, t.n_states if small else compiled_mod.EAGER_ROW_DEPTH)
    if small:
        q, on_path = 0, {0}
        for b in compiled_mod._shortest_word(t):
            q = t.py_row(q)[t.cmap_list[b]]
            on_path.add(q)
        levels = [[q for q in qs if d <= 1 or q in on_path] for d, qs in enumerate(levels)]
    reach = (T[:, t.classes] != t.n_states).astype(np.int64) @ below_first
    for d, qs in enumerate(levels):
        for q in qs:
            if reach[q] <= lt.DENSE_MIN_NODES or not t.is_wide(q):
                out.append((d, q, 0))
            elif t.n_states <= compiled_mod.EAGER_WIDE_TABLE:
                out.append((d, q, 1))
    return tuple(out)


def test_plans_equal_the_full_bfs_reference(family):
    """Plans of keys (names with escapes, quotes, non-ASCII), enums, numbers, patterns, formats
    and additional keys equal the reference's (levels and order included: the compile-time
    budget cuts the plan in that order). Fails if the shortest word's states were given the
    wrong level or left out (tried: the word's last state dropped)."""
    from constrain.tokens import dense_trie

    _, _, vocab = family
    schema = {"type": "object", "properties": {
        "na\u00efve \"key\"/x": {"type": "integer", "minimum": -40, "maximum": 12345},
        "tag": {"enum": ["alpha", "\u00e9t\u00e9", "b\\c", 3, None]}, "abc": {"const": "abcdefgh"},
        "code": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]+$"}, "when": {"type": "string", "format": "date"},
        "n": {"type": "number", "exclusiveMinimum": 0.5}, "ok": {"type": "boolean"},
        "list": {"type": "array", "items": {"type": "string", "maxLength": 3}}}, "required": ["tag"]}
    c = compile_json_schema_fresh(schema, vocab)
    below = dense_trie(vocab).below_first
    tables = list({id(t): t for t in c.automaton.tables}.values())
    deep = 0
    for t in tables:
        compiled_mod._EAGER_PLANS.pop(t, None)
        plan = _eager_plan(t, below)
        assert plan == _plan_reference(t, below)
        deep += any(d >= 2 for d, _, _ in plan)
    assert deep >= 5  # small tables' words (keys, enum values) reach past the first byte


def compile_json_schema_fresh(schema, vocab):
    constrain.clear_caches()
    return constrain.compile_json_schema(schema, vocab)
