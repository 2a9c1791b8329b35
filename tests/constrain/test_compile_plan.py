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
