"""What a dropped constraint and the cached token tables leave to the garbage collector.

A full collection runs inside whatever decoding step triggers it, so its length is a step's
length (issue 18: the longest steps on MaskBench were full collections). Two things keep it
short: a dropped ``Compiled`` frees its cyclic state graph by reference counting
(``TokenAutomaton.release``, called by a finalizer), and the tables cached for later compiles
hold their per-state rows in containers a full collection stops tracking.
"""

from __future__ import annotations

import gc
import weakref
from contextlib import contextmanager

import pytest

import constrain
from constrain.tokens import TokenAutomaton, Vocabulary


@pytest.fixture
def no_freeze():
    """Compile ends do not freeze what they leave, and what earlier ones froze is thawed: these
    tests look at what a full collection untracks, and a collection never looks at frozen
    objects (constrain.collector; the next compile end with the freeze on freezes them again)."""
    prev = constrain.set_gc_freeze(False)
    gc.unfreeze()
    yield
    constrain.set_gc_freeze(prev)


def byte_vocab() -> Vocabulary:
    return Vocabulary.from_token_bytes([bytes([b]) for b in range(256)] + [b"ab", b'":', None], eos_ids=[258])


@contextmanager
def gc_off():
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _compile_and_walk(vocab):
    """A string constraint walked into its content (a state that steps to itself); weak
    references to every state and to the automaton."""
    c = constrain.compile_json_schema({"type": "object", "additionalProperties": {"type": "string"}}, vocab)
    m = c.matcher()
    for t in b'{"k": "aaab':
        m.mask()
        assert m.advance(t)
    a = c.automaton
    states = list(a.interned_states())
    # a state that steps to itself: by id (a cycle, were steps the states themselves)
    assert any(st.sid in st.steps.values() for st in states)
    refs = [weakref.ref(st) for st in states] + [weakref.ref(a)]
    del m, a, states
    return c, refs


def test_a_dropped_compiled_frees_its_state_graph_without_a_collection():
    vocab = byte_vocab()
    with gc_off():
        c, refs = _compile_and_walk(vocab)
        del c
        alive = sum(r() is not None for r in refs)
    assert alive == 0


def test_states_form_no_cycles(monkeypatch):
    """Steps hold state ids, not states: with ``release`` clearing no step and no interned
    state (only the completions, which hold the automaton), the states still go by reference
    counting (with steps to states this failed: a string's content state stepping to
    itself waited for a full collection)."""
    vocab = byte_vocab()

    def completions_only(self):
        self._completions = None

    monkeypatch.setattr(TokenAutomaton, "release", completions_only)
    with gc_off():
        c, refs = _compile_and_walk(vocab)
        del c
        alive = sum(r() is not None for r in refs)
    assert alive == 0


def test_steps_leave_the_collectors_sight():
    """A state's steps are a dict of ints, never tracked by the collector: one tracked object
    per state (the state), where a dict of states made two, each walked by every full
    collection inside a decoding step."""
    vocab = byte_vocab()
    c = constrain.compile_json_schema({"type": "object", "additionalProperties": {"type": "string"}}, vocab)
    m = c.matcher()
    for t in b'{"k": "aaab", "l": "ab"}':
        m.mask()
        assert m.advance(t)
    states = c.automaton.interned_states()
    assert sum(len(st.steps) for st in states) > len(states)
    assert not any(gc.is_tracked(st.steps) for st in states)


def test_a_matcher_alive_after_release_keeps_working():
    """Release drops caches only: a matcher that outlives its ``Compiled`` gives the same masks."""
    vocab = byte_vocab()
    ref = constrain.compile_json_schema({"type": "array", "items": {"enum": ["ab", "b"]}}, vocab)
    expected = []
    m = ref.matcher()
    for t in b'["ab","b"]':
        expected.append(m.mask().copy())
        assert m.advance(t)
    c = constrain.compile_json_schema({"type": "array", "items": {"enum": ["ab", "b"]}}, vocab)
    m = c.matcher()
    m.mask()
    c.automaton.release()
    got = []
    for t in b'["ab","b"]':
        got.append(m.mask().copy())
        assert m.advance(t)
    assert m.is_accepting()
    assert all((a == b).all() for a, b in zip(expected, got))


_OBJECT = {"type": "object", "properties": {k: {"type": "integer"} for k in ("alpha", "beta", "gamma", "delta")},
           "required": ["gamma"], "additionalProperties": False}
_OBJECT_TEXT = b'{"beta": 1, "alpha": 2, "gamma": 3}'


def _rtn_refs(vocab, walk: bytes):
    """Compile an object with declared members (its key states are built lazily, by
    ``MembersRule``s that the RTN holds), walk ``walk``; weak references to the RTN and its
    rules."""
    c = constrain.compile_json_schema(_OBJECT, vocab)
    m = c.matcher()
    for t in walk:
        m.mask()
        assert m.advance(t)
    rtn = c.automaton.rtn
    rules = {id(r): r for r in rtn.lazy_owner.values()}
    assert rules  # the walk materialised key states of a members rule
    refs = [weakref.ref(rtn)] + [weakref.ref(r) for r in rules.values()]
    del m, rtn, rules
    return c, refs


def test_a_dropped_compiled_frees_its_rtn_without_a_collection():
    """The RTN and its members rules go by reference counting (a rule holds its RTN weakly):
    a dropped constraint's RTN, grown by the key states decoding materialised, is not left
    for a full collection inside a later schema's decoding step."""
    vocab = byte_vocab()
    with gc_off():
        c, refs = _rtn_refs(vocab, _OBJECT_TEXT)
        del c
        alive = sum(r() is not None for r in refs)
    assert alive == 0


def test_with_a_strong_back_reference_the_rtn_waits_for_a_collection(monkeypatch):
    """The control: a rule holding its RTN strongly (as before) makes the test above fail."""
    from constrain.ir.members import MembersRule

    monkeypatch.setattr(MembersRule, "rtn", property(lambda self: self.__dict__.get("_strong_rtn"),
                                                     lambda self, v: self.__dict__.__setitem__("_strong_rtn", v)))
    vocab = byte_vocab()
    with gc_off():
        c, refs = _rtn_refs(vocab, _OBJECT_TEXT)
        del c
        alive = sum(r() is not None for r in refs)
    assert alive > 0
    gc.collect()
    assert sum(r() is not None for r in refs) == 0


def test_a_matcher_outliving_its_compiled_still_builds_key_states():
    """The automaton a matcher holds keeps the RTN alive, so key states not built yet are
    built after the ``Compiled`` is dropped: the same masks as a constraint kept alive."""
    vocab = byte_vocab()
    keep = constrain.compile_json_schema(_OBJECT, vocab)
    m = keep.matcher()
    expected = []
    for t in _OBJECT_TEXT:
        expected.append(m.mask().copy())
        assert m.advance(t)
    c, refs = _rtn_refs(vocab, b"{")
    m = c.matcher()
    assert m.advance(ord("{"))
    del c
    got = [expected[0]]
    with gc_off():
        for t in _OBJECT_TEXT[1:]:
            got.append(m.mask().copy())
            assert m.advance(t)
    assert m.is_accepting()
    assert all((a == b).all() for a, b in zip(expected, got))


@pytest.mark.parametrize("schema", [{"type": "string", "pattern": "^[a-z]+[0-9]{2}$"},
                                    {"type": "object", "properties": {"name": {"type": "string"}}}])
def test_cached_table_rows_leave_the_collectors_sight(schema, no_freeze):
    """Per-state rows of a cached lexeme table (Python rows for stepping, viable-byte lists)
    are plain dicts of tuples: after one full collection the collector no longer walks them
    (a dict subclass or lists would be walked, entry by entry, in every full collection)."""
    vocab = byte_vocab()
    c = constrain.compile_json_schema(schema, vocab)
    m = c.matcher()
    text = b'"abc12"' if schema["type"] == "string" else b'{"name": "x"}'
    for t in text:
        m.mask()
        assert m.advance(t)
    tables = [t for t in c.automaton.tables if not t.counted]
    assert sum(len(t.T_list) for t in tables) > 0
    gc.collect()
    for t in tables:
        assert not gc.is_tracked(t.T_list)
        assert not gc.is_tracked(t._viable_lists)


def test_the_compile_after_a_budget_failure_gives_the_heap_back(monkeypatch):
    """A compile stopped by its time or memory budget leaves its freed heap mapped; the next
    compile entry trims it (once) before reading its RSS baseline, so failures do not ratchet
    the process up by a memory budget each. First visits (``fresh_rss=False``) never trim:
    they run inside decoding steps."""
    import time

    from constrain import budget, cache
    from constrain.errors import CompileBudgetError

    calls = []
    monkeypatch.setattr(cache, "_malloc_trim", lambda: calls.append(1))
    monkeypatch.setattr(budget, "_TRIM_PENDING", [False])
    with budget.compile_budget(1.0):
        budget.check_deadline()
    assert calls == []  # nothing failed: nothing to give back
    with pytest.raises(CompileBudgetError):
        with budget.compile_budget(0.0):
            time.sleep(0.002)
            budget.check_deadline()
    with budget.compile_budget(1.0, fresh_rss=False):
        pass
    assert calls == []
    with budget.compile_budget(1.0):
        with budget.compile_budget(1.0):  # nested: only the outermost trims
            pass
    assert calls == [1]
    with budget.compile_budget(1.0):
        pass
    assert calls == [1]


def test_kept_thread_groups_leave_the_collectors_sight(monkeypatch, no_freeze):
    """A state's (lexeme, lexeme state) -> stacks groups, kept for states with many threads,
    hold their stacks in tuples: after full collections neither the groups nor the dict is
    tracked (kept lists were most of a big schema's long-lived objects after its walks)."""
    from constrain.tokens import token_automaton as ta

    monkeypatch.setattr(ta, "GROUP_MIN", 2)  # keep the groups of every state with 2+ threads
    vocab = byte_vocab()
    c = constrain.compile_json_schema({"anyOf": [_OBJECT, {"type": "object", "properties": {
        "alpha": {"type": "string"}, "beta": {"type": "string"}}}]}, vocab)
    m = c.matcher()
    for t in b'{"alpha": 1, "beta": 2, "gamma": 3}':
        m.mask()
        assert m.advance(t)
    kept = [st._groups for st in c.automaton.interned_states() if st._groups is not None]
    assert kept and any(len(stacks) > 1 for g in kept for stacks in g.values())
    gc.collect()
    gc.collect()
    assert not any(gc.is_tracked(stacks) for g in kept for stacks in g.values())
    assert not any(gc.is_tracked(g) for g in kept)
