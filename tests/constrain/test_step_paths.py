"""The byte and token steps' shortcuts give the states the plain byte-at-a-time walk gives.

Shortcuts of issue 18's longest steps (docs/benchmarks.md, parts 2n and 2u): a token's bytes
run over thread sets with only the state after the token interned (``_walk_token``); a state
with many threads steps per (lexeme, lexeme state) group (``_step_groups``); a small lexeme
table builds its Python rows one state at a time until ``PY_ALL_AFTER`` are asked for. Each is
compared with the plain path on schemas whose states hold many threads (keys of objects in
``anyOf`` branches, properties in any order), at every step of valid and invalid texts.
"""

from __future__ import annotations

import numpy as np
import pytest

import constrain
from constrain.tokens import Vocabulary
from constrain.tokens import lexeme_tables as lt
from constrain.tokens import token_automaton as ta
from constrain.tokens.lexeme_tables import _py_row
from constrain.tokens.trie import child_lists
from oracles import all_orders, check_all_masks, small_vocab

_KEYS = ["alpha", "alps", "beta", "bet", "gamma", "gam", "delta", "del", "eps", "epsilon"]


def _vocab() -> Vocabulary:
    toks = [bytes([b]) for b in range(256)]
    # multi-byte tokens across lexeme boundaries (quote + colon, quote + comma, key pieces)
    toks += [b'":', b'", "', b'{"', b'al', b'pha', b'ps"', b'": "', b'"}', b'bet', b'a"', b'": 1',
             b', "', b'ga', b'mma', b'del', b'ta"', b'eps', b'ilon', b'"x', b'yz"']
    return Vocabulary.from_token_bytes(toks + [None], eos_ids=[len(toks)])


def _schemas():
    # anyOf of objects over overlapping key sets: after "{" and "," the states hold a thread
    # per (branch, member set, key), stacks that differ in their top state
    branches = []
    for i in range(6):
        keys = _KEYS[i:i + 5]
        branches.append({"type": "object", "properties": {k: ({"type": "string"} if j % 2 else {"type": "integer"})
                                                           for j, k in enumerate(keys)},
                         "required": [keys[i % 5]]})
    yield {"anyOf": branches}
    yield {"type": "array", "items": {"oneOf": [{"type": "object", "properties": {k: {"type": "string"} for k in _KEYS},
                                                 "required": ["alpha"], "additionalProperties": False},
                                                {"type": "object", "properties": {k: {"type": "integer"} for k in _KEYS},
                                                 "required": ["beta"], "additionalProperties": False}]}}


_TEXTS = [
    '{"alpha": 1, "alps": "x", "beta": 2}',
    '{"alps": "xyz", "gamma": 3, "alpha": 1}',
    '{"beta": "q", "delta": 7, "bet": 1, "gamma": "yz"}',
    '{"epsilon": 1, "eps": "a", "del": 5}',
    '[{"alpha": "xyz", "eps": "a"}, {"beta": 3, "del": 4}]',
    '[{"beta": 3, "alpha": 1}]',
    '{"alpha": 1, "alpha": 2}',
]


def _walks(compiled, vocab):
    """Per text: (mask words, thread set, can_end) after every token the automaton allows."""
    a = compiled.automaton
    out = []
    for text in _TEXTS:
        st = a.start
        rec = []
        for t in vocab.encode(text):
            rec.append((a.mask(st).tobytes(), st.threads, st.can_end))
            st = a.advance(st, t)
            if st is a.dead:
                break
        rec.append((None if st is a.dead else a.mask(st).tobytes(), st.threads, st.can_end))
        out.append(rec)
    return out


def _plain_walk(a, st, data):
    for b in data:
        st = a.step(st, b)
        if st is a.dead:
            break
    return st


@pytest.mark.parametrize("schema", list(_schemas()), ids=["anyOf-objects", "array-of-oneOf"])
def test_grouped_steps_equal_plain_steps(schema, monkeypatch):
    """Grouped by (lexeme, lexeme state) or thread by thread: the same masks and thread sets
    at every step (a group keyed too coarsely, by lexeme alone, would step every thread of the
    lexeme from one state's row)."""
    vocab = _vocab()
    walks = {}
    for name, group_min in (("grouped", 1), ("plain", 10**9)):
        monkeypatch.setattr(ta, "GROUP_MIN", group_min)
        constrain.clear_caches()
        walks[name] = _walks(constrain.compile_json_schema(schema, vocab), vocab)
    assert walks["grouped"] == walks["plain"]
    assert max(len(th) for rec in walks["plain"] for _, th, _ in rec) >= 8  # many threads were stepped


@pytest.mark.parametrize("schema", list(_schemas()), ids=["anyOf-objects", "array-of-oneOf"])
def test_a_token_step_equals_its_bytes_stepped_one_by_one(schema):
    """advance(st, t) is the state the byte-by-byte walk reaches (the same interned object),
    from every state along the texts, for every token; the bytes inside a token are not
    interned as states."""
    vocab = _vocab()
    a = constrain.compile_json_schema(schema, vocab).automaton
    multi = [t for t in range(vocab.size) if vocab.token_bytes[t] and len(vocab.token_bytes[t]) > 1]
    seen, got = [], []
    for text in _TEXTS:  # no mask asked for: few byte steps cached, tokens run over thread sets
        st = a.start
        for t in vocab.encode(text):
            seen.append(st)
            before = len(a.interned_states())
            after = {u: a.advance(st, u) for u in multi}
            # only states after whole tokens are interned
            assert len(a.interned_states()) - before <= len({id(s) for s in after.values()})
            got.append(after)
            st = a.advance(st, t)
            if st is a.dead:
                break
    for st, after in zip(seen, got):
        for u in multi:
            assert after[u] is _plain_walk(a, st, vocab.token_bytes[u]), (u, vocab.token_bytes[u])
    for st in seen:  # and with the byte steps cached now
        for u in range(vocab.size):
            if vocab.token_bytes[u]:
                assert a.advance(st, u) is _plain_walk(a, st, vocab.token_bytes[u])


def test_lexeme_rows_one_at_a_time_then_all(monkeypatch):
    """A small table builds the first state's Python row alone, every state's from the
    PY_ALL_AFTER-th on; each row equals the table's own transitions whatever the order."""
    vocab = _vocab()
    constrain.clear_caches()
    c = constrain.compile_json_schema({"enum": ["alpha", "alps", "beta", "epsilon", "gamma"]}, vocab)
    tables = [t for t in c.automaton.tables if not t.counted and t.n_states > lt.PY_ALL_AFTER]
    assert tables
    for t in tables:
        t.T_list.clear()
        order = list(range(t.n_states))[::-1]
        t.py_row(order[0])
        assert len(t.T_list) == 1  # one state asked for: its row alone
        for q in order[1:lt.PY_ALL_AFTER]:
            t.py_row(q)
        assert len(t.T_list) == t.n_states  # from the PY_ALL_AFTER-th: all of them
        for q in range(t.n_states):
            assert t.T_list[q] == _py_row(t._flat, t.n_cls, t.n_states, q)
            assert np.array_equal(np.flatnonzero(t.viable_bytes(q)), t.viable_list(q))


_END_SCHEMAS = [
    # the output may end inside the walks' bytes: a top-level number, a top-level array
    {"type": "integer"},
    {"type": "array", "items": {"type": "integer"}},
]
_END_TEXTS = ["12", "[1, 23]", "[]", "1234567"]


def _walk_masks(compiled, vocab, texts):
    a = compiled.automaton
    out = []
    for text in texts:
        st = a.start
        for t in vocab.encode(text):
            out.append(a.mask(st).tobytes())
            st = a.advance(st, t)
            if st is a.dead:
                break
        out.append(None if st is a.dead else a.mask(st).tobytes())
    return out


@pytest.mark.parametrize("case", range(len(_END_SCHEMAS) + 2))
def test_crossing_walks_with_their_own_states_equal_interned_walks(case, monkeypatch):
    """A crossing walk's own states (``_WalkStates``: not interned, their equal thread sets
    shared within the walk, keyed with ``can_end``) give the masks that interned steps give;
    afterwards no interned state steps to one of them."""
    vocab = _vocab()
    schemas = list(_schemas()) + _END_SCHEMAS
    texts = _TEXTS if case < 2 else _END_TEXTS
    constrain.clear_caches()
    own = constrain.compile_json_schema(schemas[case], vocab)
    got = _walk_masks(own, vocab, texts)
    a = own.automaton
    interned = {st.sid for st in a.interned_states()} | {a.dead.sid}
    assert min(interned) >= 0
    for st in a.interned_states():
        assert all(i in interned for i in st.steps.values())
    monkeypatch.setattr(ta._WalkStates, "step", lambda self, st, b: self.automaton.step(st, b))
    constrain.clear_caches()
    want = _walk_masks(constrain.compile_json_schema(schemas[case], vocab), vocab, texts)
    assert got == want


def test_a_walk_keeps_apart_states_that_differ_only_in_their_stacks():
    """Within one crossing walk, ``{"a": [1`` and ``{"b": [1`` reach the same lexeme states
    on different stacks (the member set differs); a walk that shared them (a key without
    the stacks) would judge ``{"b": [1]}`` by ``a``'s stack and allow it although ``a`` is
    required. Masks against the schema's verdict on whole tokens."""
    toks = [bytes([b]) for b in range(256)] + [b'{"a": [1]}', b'{"b": [1]}', b'{"b": [1], "a": []}']
    vocab = Vocabulary.from_token_bytes(toks + [None], eos_ids=[len(toks)])
    schema = {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}},
                                               "b": {"type": "array", "items": {"type": "integer"}}},
              "required": ["a"], "additionalProperties": False}
    constrain.clear_caches()
    m = constrain.compile_json_schema(schema, vocab).matcher()
    words = m.mask().view(np.uint32)
    allowed = {t for t in (256, 257, 258) if (int(words[t >> 5]) >> (t & 31)) & 1}
    assert allowed == {256, 258}


def _union_sizes(monkeypatch) -> list:
    """Record how many (lexeme, stacks) groups each follow state of a crossing joins."""
    sizes: list[int] = []
    plain = ta.TokenAutomaton._follow_union

    def recorded(self, groups):
        groups = list(groups)
        sizes.append(len(groups))
        return plain(self, groups)

    monkeypatch.setattr(ta.TokenAutomaton, "_follow_union", recorded)
    return sizes


@pytest.mark.parametrize("schema,joins", zip(_schemas(), (True, False)), ids=["anyOf-objects", "array-of-oneOf"])
def test_crossings_grouped_by_split_nodes_equal_separate_walks(schema, joins, monkeypatch):
    """Lexeme states with equal split nodes cross in one walk from the union of their follow
    states (``CROSS_GROUPS``): the masks and thread sets at every step equal those of one
    walk per lexeme state; over the anyOf of objects some walk did join several (a union that
    kept only its first group's stacks drops the tokens crossing into the others' follow
    states)."""
    vocab = _vocab()
    sizes = _union_sizes(monkeypatch)
    walks = {}
    for grouped in (True, False):
        monkeypatch.setattr(ta, "CROSS_GROUPS", grouped)
        constrain.clear_caches()
        sizes.clear()
        walks[grouped] = _walks(constrain.compile_json_schema(schema, vocab), vocab)
        assert (max(sizes) >= 2) == (grouped and joins)
    assert walks[True] == walks[False]


def test_grouped_crossings_against_the_oracle(monkeypatch):
    """Every mask bit along random walks against the schema's finite language, where the
    lexemes ``"x"|"y"`` and ``"x"|"z"`` (one per branch, both after ``["x``) share their split
    node ``"`` and cross into different follow states (``]`` only; ``,`` or ``]``)."""
    schema = {"anyOf": [
        {"type": "array", "items": [{"enum": ["x", "y"]}], "minItems": 1, "maxItems": 1},
        {"type": "array", "items": {"enum": ["x", "z"]}, "maxItems": 2},
        {"type": "object", "properties": {"x": {"enum": ["y", "z"]}}, "additionalProperties": False},
    ]}
    values = ([["x"], ["y"], []] + [[a] for a in "xz"] + [[a, b] for a in "xz" for b in "xz"]
              + [{}, {"x": "y"}, {"x": "z"}])
    strings = {s for v in values for s in all_orders(v)}
    prefixes = {s[:i] for s in strings for i in range(len(s) + 1)}
    vocab = small_vocab(b'[]{}",:xyz', max_len=2, extra=(b'x"]', b'x",', b'"x"', b'y"}', b'"]', b'z"]', b'",'))
    sizes = _union_sizes(monkeypatch)
    constrain.clear_caches()
    compiled = constrain.compile_json_schema(schema, vocab, whitespace="compact")
    check_all_masks(compiled, vocab, lambda b: b.decode() in prefixes, lambda b: b.decode() in strings,
                    n_walks=25, max_steps=10)
    assert max(sizes) >= 2


def _below_stepping_every_child(a, start, roots) -> set:
    """Live trie nodes strictly below ``roots`` from ``start``, every child stepped through the
    automaton and kept when the state after it is not dead (no first-byte shortcut)."""
    ptr, ids, byts = child_lists(a.vocab)
    out, work = set(), [(r, start) for r in roots.tolist()]
    while work:
        node, st = work.pop()
        for j in range(ptr[node], ptr[node + 1]):
            nxt = a.step(st, byts[j])
            if nxt is not a.dead:
                out.add(ids[j])
                work.append((ids[j], nxt))
    return out


def test_small_crossing_walks_step_only_the_nodes_with_children(monkeypatch):
    """The depth-first crossing walk (``_walk_subtrees_small``) keeps a child iff its byte is
    one of the state's first bytes, and steps only children that have children of their own:
    its live nodes equal a walk that steps every child and keeps those not dead, over walks
    where the state's first bytes are fewer than a node's children (after a key's quote) and
    where they are more (string content); and leaves were kept without a step."""
    # a key's closing quote ends inside tokens that go on with a colon, a blank and a value
    # (nodes with children below the split), beside quote tokens enough that a quote node
    # has more children than the state after a key has first bytes
    base = _vocab()
    extra = [b'"' + bytes([c]) for c in b"abcdefgh,}]"] + [b'a":', b'a": ', b'a": "', b'a": 1', b'ps":', b'ps": "x']
    vocab = Vocabulary.from_token_bytes(list(base.token_bytes[:-1]) + extra + [None], eos_ids=[len(base.token_bytes) - 1 + len(extra)])
    calls, steps = [], [0]
    plain_walk, plain_step = ta.TokenAutomaton._walk_subtrees_small, ta._WalkStates.step

    def walk(self, start, roots, w, budget=ta.SMALL_WALK_BUDGET):
        out = plain_walk(self, start, roots, w, budget)
        calls.append((self, start, roots.copy(), out))
        return out

    def step(self, st, b):
        steps[0] += 1
        return plain_step(self, st, b)

    monkeypatch.setattr(ta.TokenAutomaton, "_walk_subtrees_small", walk)
    monkeypatch.setattr(ta._WalkStates, "step", step)
    ptr = child_lists(vocab)[0]
    leaves = 0
    for schema in list(_schemas()) + [{"type": "array", "items": {"type": "string"}}]:
        constrain.clear_caches()
        _walks(constrain.compile_json_schema(schema, vocab), vocab)
    monkeypatch.setattr(ta._WalkStates, "step", plain_step)
    assert calls
    for a, start, roots, out in calls:
        assert out is not None
        got = out.tolist()
        assert len(got) == len(set(got))
        assert set(got) == _below_stepping_every_child(a, start, roots)
        leaves += sum(ptr[n] == ptr[n + 1] for n in got)
    assert leaves > 0 and steps[0] <= sum(out.size for *_, out in calls) - leaves


@pytest.mark.parametrize("schema,pattern,some", [
    ({"type": "string", "pattern": "^[ab]*$"}, r'"[ab]*"', True),
    ({"type": "array", "items": {"type": "string", "pattern": "^[ab]*$"}}, r'\[("[ab]*"(,"[ab]*")*)?\]', False),
])
def test_a_mask_of_one_row_is_that_row(schema, pattern, some):
    """A state with one lexeme row, no crossing token and no EOS (inside a top-level string,
    where nothing may follow the closing quote) gets that shared row itself as its mask.
    Every mask bit against a regex oracle, masks uint32 and read-only."""
    import regex as oracle_re

    rx = oracle_re.compile(pattern)
    vocab = small_vocab(b'[]",ab', max_len=2, extra=(b'ab"', b'"]'))
    constrain.clear_caches()
    compiled = constrain.compile_json_schema(schema, vocab, whitespace="compact")
    check_all_masks(compiled, vocab, lambda b: rx.fullmatch(b.decode(), partial=True) is not None,
                    lambda b: rx.fullmatch(b.decode()) is not None, n_walks=20, max_steps=8)
    a = compiled.automaton
    same = 0
    for st in a.interned_states():
        if st.mask is None:
            continue
        assert st.mask.dtype == np.uint32 and not st.mask.flags.writeable
        pairs = a.stacks_by_lexeme_state(st)
        rows = {id(a.tables[x].row(q)): a.tables[x].row(q) for x, q in pairs}
        row = next(iter(rows.values()))
        if len(rows) == 1 and not st.can_end and np.array_equal(st.mask, row):  # nothing crossed
            assert st.mask is row
            same += 1
    assert (same > 0) == some


def test_ready_without_calls_or_returns_is_the_closure():
    """``Parser.ready`` answers a stack whose top neither calls nor may return (a key
    state, the colon after a key) without the search; on every state of RTNs with any-order
    objects, lazy key states, calls and returns, under a two-deep stack, it equals the
    search (``Parser._closure``), and both kinds of top occur."""
    from constrain.ir.parser import Parser

    kinds = set()
    for schema in list(_schemas()) + [{"type": "array", "items": {"type": "object", "properties": {
            "a": {"type": "array", "items": {"type": "integer"}}, "b": {"type": "string"}}, "required": ["a"]}}]:
        rtn = constrain.compile_json_schema(schema, _vocab()).rtn
        parser = Parser(rtn)
        for q in range(rtn.num_states):
            for stack in ((q,), (rtn.rule_start[0], q)):
                want = Parser._closure(stack, rtn.lex_edges, rtn.call_edges, rtn.accepting, rtn.rule_start)
                assert parser.ready(stack) == want, stack
                kinds.add(bool(rtn.call_edges[q]) or bool(rtn.accepting[q]))
    assert kinds == {True, False}
