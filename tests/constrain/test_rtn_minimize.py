"""The grammar automaton's Moore minimization (``constrain.ir.rtn._minimize``): its rounds run
in numpy (part 2y); the automaton must be the one the python rounds gave, state for state."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import constrain.automata.minimize as M
import constrain.ir.rtn as R


def _reference(edges, accepting, rounds):
    """The python Moore rounds and renumbering as they were before part 2y (the oracle)."""
    n = len(edges)
    part = [1 if a else 0 for a in accepting]
    for _ in range(rounds):
        sig = {}
        new = []
        for s in range(n):
            key = (part[s], tuple(sorted((sym, part[t]) for sym, t in edges[s].items())))
            new.append(sig.setdefault(key, len(sig)))
        if len(sig) == len(set(part)):
            part = new
            break
        part = new
    else:
        part = list(range(n))
    order, rep = {}, {}
    for s in range(n):
        rep.setdefault(part[s], s)
    queue = [part[0]]
    order[part[0]] = 0
    k = 0
    while k < len(queue):
        blk = queue[k]
        k += 1
        for sym, t in sorted(edges[rep[blk]].items()):
            if part[t] not in order:
                order[part[t]] = len(order)
                queue.append(part[t])
    m_edges = [dict() for _ in order]
    m_acc = [False] * len(order)
    for blk, new_id in order.items():
        s = rep[blk]
        m_acc[new_id] = accepting[s]
        m_edges[new_id] = {sym: order[part[t]] for sym, t in edges[s].items()}
    return m_edges, m_acc


@st.composite
def symbolic_dfas(draw):
    """Small symbolic DFAs like the subset construction's: lexeme symbols >= 0, calls < 0,
    few symbols so that many states are equivalent; sometimes a long chain with a tail."""
    n = draw(st.integers(1, 30))
    syms = draw(st.lists(st.integers(-3, 6), min_size=1, max_size=4, unique=True))
    edges = []
    for s in range(n):
        ks = draw(st.lists(st.sampled_from(syms), max_size=len(syms), unique=True))
        edges.append({k: draw(st.integers(0, n - 1)) for k in ks})
    accepting = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    if draw(st.booleans()):  # a chain of c links into state 0 (rounds grow with c)
        c = draw(st.integers(1, 12))
        base = len(edges)
        for i in range(c):
            edges.append({syms[0]: base + i + 1 if i + 1 < c else 0})
            accepting.append(False)
        edges[0] = dict(edges[0])
        edges[0][syms[-1]] = base
    return edges, accepting


@settings(max_examples=150, deadline=None)
@given(symbolic_dfas(), st.sampled_from([64, 3, 1]), st.booleans(), st.sampled_from([0, 10, 128]))
def test_minimize_equals_python_moore_rounds(dfa, rounds, collide, numpy_from):
    """Same automaton as the python rounds: converged (64 rounds), gave up (1 or 3 rounds:
    every state kept), and with every hash weight zero (each round then falls back to the
    python round after the exact check); numpy rounds for every size, from 10 states, or
    (the default 128) python rounds for these small ones."""
    edges, accepting = dfa
    saved = R.MOORE_ROUNDS, M._WEIGHTS[0], R.MOORE_NUMPY_MIN_STATES
    R.MOORE_ROUNDS, R.MOORE_NUMPY_MIN_STATES = rounds, numpy_from
    if collide:
        M._WEIGHTS[0] = np.zeros(8192, dtype=np.int64)
    try:
        got = R._minimize(edges, accepting)
    finally:
        R.MOORE_ROUNDS, M._WEIGHTS[0], R.MOORE_NUMPY_MIN_STATES = saved
    assert got == _reference(edges, accepting, rounds)


def test_minimize_merges_and_gives_up_like_before():
    """Two equal branches merge; a chain longer than the rounds keeps every state."""
    # 0 -a-> 1, 0 -b-> 2, 1 -c-> 3, 2 -c-> 4 (3, 4 accepting): 1 = 2 and 3 = 4
    edges = [{0: 1, 1: 2}, {2: 3}, {2: 4}, {}, {}]
    acc = [False, False, False, True, True]
    m_edges, m_acc = R._minimize(edges, acc)
    assert m_edges == [{0: 1, 1: 1}, {2: 2}, {}] and m_acc == [False, False, True]
    n = max(R.MOORE_ROUNDS + 10, R.MOORE_NUMPY_MIN_STATES)  # equal-looking links: a round per link
    chain = [{0: i + 1} for i in range(n - 1)] + [{}]
    m_edges, _ = R._minimize(chain, [False] * (n - 1) + [True])
    assert len(m_edges) == n
    assert (m_edges, _) == _reference(chain, [False] * (n - 1) + [True], R.MOORE_ROUNDS)
