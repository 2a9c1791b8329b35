"""Garbage collection around compiles (constrain.collector) and the engine's long-lived
structures kept out of the collector's walk (issue 18: full collections inside decoding steps).

A compile runs with automatic collection off and collects its own young garbage at its end;
nested and concurrent compiles share one deferral; a process that disabled the collector is
left alone; ``set_gc_deferral(False)`` opts out. The caches that outlive a compile hold as few
tracked objects as they can: one weak reference per live token table in the shared-DFA index
(an entry leaves with its table), the DFA digest on the DFA itself, no lock on a built lexeme.
"""

from __future__ import annotations

import gc
import threading
import types
import weakref
from collections import OrderedDict

import numpy as np
import pytest

import constrain
from constrain.automata import ByteDFA, dfa_digest
from constrain.collector import deferred_collection
from constrain.ir import Grammar, Lex, lexeme
from constrain.tokens import Vocabulary
from constrain.tokens import tables as tables_mod
from constrain.tokens.tables import lexeme_table


def byte_vocab() -> Vocabulary:
    return Vocabulary.from_token_bytes([bytes([b]) for b in range(256)] + [b"ab", None], eos_ids=[257])


class _Node:
    pass


def _old_generations_collected() -> bool:
    """Whether automatic collections of the middle and oldest generations can run now (a
    deferral leaves only the youngest one collected)."""
    return gc.isenabled() and gc.get_threshold()[1] < (1 << 30)


def _between_compiles() -> tuple[int, int, int]:
    """The thresholds a deferral leaves behind: the process's own, the oldest generation's
    raised by ``_SPACING`` while the freeze is on (constrain.collector)."""
    import constrain.collector as collector_mod

    t0, t1, t2 = collector_mod._THRESHOLDS[0]
    return (t0, t1, t2 * collector_mod._SPACING) if constrain.gc_freeze() else (t0, t1, t2)


def _compile_with(build, key):
    """Compile a one-lexeme grammar whose DFA ``build`` makes (it runs inside the compile)."""
    g = Grammar({"$root": Lex(lexeme(key, build))}, "$root", {"$root": "test"})
    return constrain.compile_grammar(g, byte_vocab())


@pytest.fixture
def deferral_on():
    prev = constrain.set_gc_deferral(True)
    yield
    constrain.set_gc_deferral(prev)


class _RecordingGc:
    """The ``gc`` module as constrain.collector sees it, recording the collections it asks for
    (automatic collections, which could free the same cycles, do not go through it)."""

    def __init__(self):
        self.collects = []

    def __getattr__(self, name):
        return getattr(gc, name)

    def collect(self, generation=2):
        self.collects.append(generation)
        return gc.collect(generation)


def test_a_compile_runs_without_automatic_collection_and_collects_its_young_cycles(deferral_on, monkeypatch):
    import constrain.collector as collector_mod

    class _NoFullDue(_RecordingGc):
        def get_count(self):  # the count rule makes no full collection due at the compile end
            c0, c1, _ = gc.get_count()
            return c0, c1, 0

    rec = _NoFullDue()
    monkeypatch.setattr(collector_mod, "gc", rec)
    monkeypatch.setattr(collector_mod, "_COLLECT_FIRST", [False])
    assert gc.isenabled()
    seen = {}

    def build():
        seen["enabled"] = _old_generations_collected()
        a, b = _Node(), _Node()
        a.other, b.other = b, a  # a cycle only the collector frees
        seen["cycle"] = weakref.ref(a)
        return ByteDFA.literal(b"cycle")

    c = _compile_with(build, "test-collector:young")
    assert rec.collects[:1] == [1]  # the young generations first, by the compile (no full one due)
    assert seen["enabled"] is False
    assert _old_generations_collected()
    # the compile's own collection of the young generations freed the cycle: nobody else
    # collected (a weak reference dies only when the cycle is freed)
    assert seen["cycle"]() is None
    assert c.matcher().advance(c.vocab.encode("cycle")[0])


def test_opting_out_leaves_the_collector_running(deferral_on):
    assert constrain.gc_deferral() is True
    assert constrain.set_gc_deferral(False) is True
    seen = {}

    def build():
        seen["enabled"] = _old_generations_collected()
        return ByteDFA.literal(b"optout")

    _compile_with(build, "test-collector:optout")
    assert seen["enabled"] is True and _old_generations_collected()


def test_a_process_that_disabled_the_collector_keeps_it_disabled(deferral_on):
    gc.disable()
    try:
        seen = {}

        def build():
            a = _Node()
            a.me = a
            seen["cycle"] = weakref.ref(a)
            return ByteDFA.literal(b"disabled")

        _compile_with(build, "test-collector:disabled")
        assert not gc.isenabled()
        assert seen["cycle"]() is not None  # not ours to collect
    finally:
        gc.enable()
    gc.collect()


def test_nested_and_concurrent_deferrals_reenable_once_the_last_ends(deferral_on):
    assert gc.isenabled()
    before = gc.get_threshold()
    with deferred_collection():
        with deferred_collection():
            assert not _old_generations_collected() and gc.get_threshold()[0] == before[0]
        assert not _old_generations_collected()  # the outer one still runs
    assert gc.get_threshold() == _between_compiles()

    inside, release = threading.Event(), threading.Event()

    def other():
        with deferred_collection():
            inside.set()
            release.wait(10)

    t = threading.Thread(target=other)
    t.start()
    inside.wait(10)
    with deferred_collection():
        assert not _old_generations_collected()
    assert not _old_generations_collected()  # the other thread's compile still runs
    release.set()
    t.join(10)
    assert gc.get_threshold() == _between_compiles()


def test_a_failed_compile_reenables_the_collector(deferral_on):
    def build():
        raise constrain.CompileBudgetError("test failure", budget="time")

    with pytest.raises(constrain.CompileBudgetError):
        _compile_with(build, "test-collector:fails")
    assert gc.isenabled() and gc.get_threshold() == _between_compiles()


def test_the_shared_dfa_index_holds_one_weak_entry_per_live_table(monkeypatch):
    vocab = byte_vocab()
    monkeypatch.setattr(tables_mod, "_TABLES", OrderedDict())
    monkeypatch.setattr(tables_mod, "_BY_DFA", weakref.WeakValueDictionary())
    lexemes = [lexeme(f"test-collector:index:{i}", lambda i=i: ByteDFA.literal(b"w%d" % i)) for i in range(20)]
    tables = [lexeme_table(lx, vocab) for lx in lexemes]
    assert len(tables_mod._BY_DFA) == 20
    # an equal language reached another way finds the same table through the index
    twin = lexeme("test-collector:index:twin", lambda: ByteDFA.literal(b"w").concat(ByteDFA.literal(b"3")))
    assert twin.dfa is lexemes[3].dfa and lexeme_table(twin, vocab) is tables[3]
    # the entry is a weak reference to the table: it leaves with it, nothing else stays
    tables_mod._TABLES.clear()
    del tables, twin
    gc.collect()
    assert len(tables_mod._BY_DFA) == 0


def test_a_dfa_keeps_its_digest_and_a_built_lexeme_its_dfa_without_a_lock():
    d = ByteDFA.literal(b"abc").union(ByteDFA.literal(b"abd"))
    assert d._digest is None
    h = dfa_digest(d)
    assert d._digest == h == dfa_digest(ByteDFA.literal(b"ab").concat(ByteDFA.byte_set(b"cd")))
    lx = lexeme("test-collector:lock", lambda: ByteDFA.literal(b"lock"))
    assert lx._lock is not None
    built = lx.dfa
    assert lx._lock is None and lx._build is None and lx.dfa is built


def test_concurrent_first_builds_of_a_lexeme_agree():
    calls = []
    barrier = threading.Barrier(4)

    def build():
        calls.append(1)
        return ByteDFA.literal(b"concurrent")

    lx = lexeme("test-collector:concurrent", build)
    out = []

    def get():
        barrier.wait(10)
        out.append(lx.dfa)

    threads = [threading.Thread(target=get) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(out) == 4 and all(d is out[0] for d in out) and len(calls) == 1


def test_masks_equal_with_and_without_the_deferral(smollm2_vocab):
    """The deferral changes when garbage is collected, never what is compiled: masks along an
    instance are equal with it on and off (each from cleared caches)."""
    schema = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^[a-z]{1,8}$"},
                                               "n": {"type": "integer", "minimum": 0}},
              "required": ["name"], "additionalProperties": {"type": "boolean"}}
    ids = smollm2_vocab.encode('{"extra": true, "name": "abc", "n": 12}')

    def masks(on):
        prev = constrain.set_gc_deferral(on)
        try:
            constrain.clear_caches()
            m = constrain.compile_json_schema(schema, smollm2_vocab).matcher()
            out = []
            for t in ids:
                out.append(np.array(m.mask(), copy=True))
                assert m.advance(t)
            out.append(np.array(m.mask(), copy=True))
            return out
        finally:
            constrain.set_gc_deferral(prev)

    a, b = masks(True), masks(False)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_a_compile_runs_the_full_collection_once_it_is_due(deferral_on, monkeypatch):
    """Due: what the compiles promoted since the last full collection is over a quarter of
    the oldest generation then (CPython's own trigger), and the last full collection took at
    most this compile's time so far. Otherwise only the young generations."""
    import constrain.collector as collector_mod

    rec = _RecordingGc()
    monkeypatch.setattr(collector_mod, "gc", rec)
    monkeypatch.setattr(collector_mod, "_FREEZING", [False])  # the policy without the freeze
    with deferred_collection():  # installs the watch of full collections
        pass
    monkeypatch.setattr(collector_mod, "_LONG_LIVED", [10**12])
    monkeypatch.setattr(collector_mod, "_PROMOTED", [0])
    rec.collects.clear()
    with deferred_collection():
        keep = [[i] for i in range(2000)]  # survivors of the compile
    assert rec.collects == [1]
    assert collector_mod._PROMOTED[0] >= 2000
    collector_mod._LONG_LIVED[0] = 4 * collector_mod._PROMOTED[0] - 1  # now over a quarter
    # due, but the last full collection took longer than this compile: left to CPython
    monkeypatch.setattr(collector_mod, "_LAST_FULL_S", [3600.0])
    rec.collects.clear()
    with deferred_collection():
        pass
    assert rec.collects == [1]
    collector_mod._LAST_FULL_S[0] = 0.0  # cheap: the compile runs it
    rec.collects.clear()
    with deferred_collection():
        pass
    assert rec.collects == [1, 2]
    # the watch saw the full collection: the count starts again, and the new generation
    # size is counted at the next compile's end, not inside the collection's callback
    assert collector_mod._PROMOTED[0] == 0 and collector_mod._LONG_LIVED[0] == -1
    assert collector_mod._LAST_FULL_S[0] > 0.0  # and timed it
    rec.collects.clear()
    with deferred_collection():
        pass
    assert rec.collects == [1] and collector_mod._LONG_LIVED[0] >= len(keep)


def test_the_watch_of_full_collections_lists_no_objects(deferral_on, monkeypatch):
    """A full collection that lands in a decoding step runs the watch there: it only takes
    the time (listing the oldest generation cost 6-11 ms of such steps on MaskBench)."""
    import constrain.collector as collector_mod

    monkeypatch.setattr(collector_mod, "_FREEZING", [False])  # the policy without the freeze
    with deferred_collection():  # installs the watch
        pass
    listed = []

    class _Listing:
        def __getattr__(self, name):
            return getattr(gc, name)

        def get_objects(self, *a):
            listed.append(a)
            return gc.get_objects(*a)

    monkeypatch.setattr(collector_mod, "gc", _Listing())
    gc.collect()
    assert listed == [] and collector_mod._LONG_LIVED[0] == -1
    with deferred_collection():
        pass
    assert (2,) in listed and collector_mod._LONG_LIVED[0] >= 0


@pytest.fixture
def freeze_on(deferral_on):
    prev = constrain.set_gc_freeze(True)
    yield
    constrain.set_gc_freeze(prev)


def _gen2_ids() -> set[int]:
    return {id(o) for o in gc.get_objects(2)}


def test_a_compile_end_freezes_what_the_compile_leaves_alive(freeze_on):
    """What survives a compile (its automaton, the caches' new entries) is in no generation
    after it: no full collection walks it. With the freeze off it is in the oldest one."""
    schema = {"type": "object", "properties": {"freeze_on": {"type": "string", "pattern": "^[a-z]{2,5}$"}}}
    c = constrain.compile_json_schema(schema, byte_vocab())
    frozen = gc.get_freeze_count()
    assert gc.is_tracked(c.automaton) and id(c.automaton) not in _gen2_ids()
    assert c.matcher().advance(ord("{"))
    constrain.set_gc_freeze(False)
    schema["properties"]["freeze_off"] = schema["properties"].pop("freeze_on")
    d = constrain.compile_json_schema(schema, byte_vocab())
    assert id(d.automaton) in _gen2_ids() and gc.get_freeze_count() == frozen


def _reachable(root) -> set[int]:
    """The ids of the tracked objects reachable from ``root`` (not through types or modules)."""
    seen, todo = {id(root)}, [root]
    while todo:
        for r in gc.get_referents(todo.pop()):
            if gc.is_tracked(r) and id(r) not in seen and not isinstance(r, (type, types.ModuleType)):
                seen.add(id(r))
                todo.append(r)
    return seen


def test_full_collections_inside_a_walk_walk_only_what_the_walk_left(freeze_on, smollm2_vocab):
    """Full collections inside a walk (provoked by low thresholds, and one run halfway) find
    none of the compile's objects in the oldest generation: each walks only what decoding
    allocated since the compile ended. With the freeze off they walk all the compile left."""
    schema = {"type": "object", "properties": {f"k{i}": {"type": "array", "items": {
        "type": "object", "properties": {"v": {"type": "string", "maxLength": 6 + i}}}} for i in range(40)}}
    text = '{"k3": [{"v": "abc"}, {"v": "de"}], "k7": [], "k11": [{"v": "xyz"}]}'
    ids = smollm2_vocab.encode(text)

    def walk(freeze):
        constrain.set_gc_freeze(freeze)
        constrain.clear_caches()
        c = constrain.compile_json_schema(schema, smollm2_vocab)
        left = _reachable(c.automaton)
        in_gen2 = len(left & _gen2_ids())
        seen = []

        def watch(phase, info):
            if phase == "start" and info["generation"] == 2:
                seen.append(len(left & _gen2_ids()))

        thresholds = gc.get_threshold()
        gc.callbacks.append(watch)
        gc.set_threshold(50, 1, 1)
        try:
            m = c.matcher()
            for k, t in enumerate(ids):
                m.mask()
                assert m.advance(t)
                if k == len(ids) // 2:
                    gc.collect()
            assert m.is_accepting()
        finally:
            gc.set_threshold(*thresholds)
            gc.callbacks.remove(watch)
        return in_gen2, seen

    in_gen2, seen = walk(True)
    assert in_gen2 == 0 and seen and max(seen) == 0
    in_gen2, seen = walk(False)
    assert in_gen2 > 1000 and seen and seen[0] > in_gen2 // 2


def test_cycles_frozen_by_compile_ends_are_freed_once_the_frozen_count_passes_its_bound(
        freeze_on, monkeypatch):
    """A reference cycle alive at a compile's end is frozen with it; dropped later it is freed
    by no collection until the frozen count has grown past the bound: then a compile end
    unfreezes, collects and freezes again, and the bound moves on. Without the thaw the
    frozen count of this loop grows by the cycles' objects at every compile."""
    import constrain.collector as collector_mod

    held, refs = [], []

    def build(i):
        ring = [_Node() for _ in range(200)]
        for a, b in zip(ring, ring[1:] + ring[:1]):
            a.next = b  # a cycle only the collector frees
        held.append(ring[0])
        refs.append(weakref.ref(ring[0]))
        return ByteDFA.literal(b"ring%d" % i)

    _compile_with(lambda: build(0), "test-collector:ring:0")
    monkeypatch.setattr(collector_mod, "_THAW_AT", [gc.get_freeze_count() + 2000])
    monkeypatch.setattr(collector_mod, "_THAW_GROWTH", 2000)
    monkeypatch.setattr(collector_mod, "_THAW_RATIO", 0.0)  # the test process froze a lot itself
    monkeypatch.setattr(collector_mod, "_FROZEN_UNREAD", [0])
    monkeypatch.setattr(collector_mod, "_FROZEN_READ", [gc.get_freeze_count()])

    class _CountingGc(_RecordingGc):
        def __init__(self):
            super().__init__()
            self.reads = self.thaws = 0
            self.needless = []  # readings when the count could not have passed the bound
            self.thawed = False

        def get_freeze_count(self):
            self.reads += 1
            bound = collector_mod._FROZEN_READ[0] + collector_mod._FROZEN_UNREAD[0]
            if not self.thawed and bound <= collector_mod._THAW_AT[0]:
                self.needless.append(bound)
            self.thawed = False
            return gc.get_freeze_count()

        def unfreeze(self):
            self.thaws += 1
            self.thawed = True  # the reading after the thaw's freeze sets the next bound
            return gc.unfreeze()

    rec = _CountingGc()
    monkeypatch.setattr(collector_mod, "gc", rec)
    counts = []
    for i in range(1, 30):
        _compile_with(lambda i=i: build(i), f"test-collector:ring:{i}")
        held.clear()  # the cycle is garbage now, and frozen
        gc.collect()
        counts.append(gc.get_freeze_count())
    assert refs[0]() is None and refs[1]() is None  # freed by a thaw
    assert rec.thaws >= 2  # 29 rings of 200 objects, a thaw per 2,000 frozen
    per_compile = max(b - a for a, b in zip(counts, counts[1:]))
    # the count is read once a quarter of the bound was frozen since the last reading ...
    assert max(counts) < counts[0] + 2000 + 2000 // 4 + 2 * per_compile
    # ... and only if the last reading plus what compile ends froze since has passed the bound
    # (or a thaw just froze again): not at every quarter of the bound
    assert rec.reads >= 2 * rec.thaws and not rec.needless, (rec.reads, rec.needless)


def test_compile_walk_and_drop_in_a_loop_keeps_frozen_and_tracked_objects_bounded(freeze_on):
    """Every compile end freezes what is left, so anything a compile or a walk leaves as a
    reference cycle would pile up frozen until a thaw: rounds of compile + walk + drop over the
    same schemas (caches warm after the first) leave the count of frozen plus tracked objects
    where the second round left it."""
    vocab = byte_vocab()
    schemas = [({"type": "object", "properties": {f"p{i}": {"type": "string", "maxLength": 4 + i},
                                                  "n": {"type": "integer"}}, "required": [f"p{i}"]},
                b'{"p%d": "ab", "n": 12}' % i) for i in range(6)]
    schemas += [({"type": "array", "items": {"enum": ["x", i, None]}}, b'["x", %d, null]' % i) for i in range(3)]
    schemas += [({"anyOf": [{"type": "string", "pattern": "^a+b$"}, {"type": "number"}]}, b'"aab"')]

    def round_():
        for schema, text in schemas:
            c = constrain.compile_json_schema(schema, vocab)
            m = c.matcher()
            for t in text:
                m.mask()
                assert m.advance(t)
            assert m.is_accepting()
            del c, m
        gc.collect()
        return gc.get_freeze_count() + len(gc.get_objects())

    counts = [round_() for _ in range(5)]
    assert max(counts[2:]) - counts[1] < 200, counts


def test_a_failed_compiles_structures_are_collected_not_frozen(freeze_on):
    """A failed compile's structures are alive in its exception's traceback when it ends, and
    cyclic garbage (frames and traceback) once the error is handled: its end freezes nothing,
    and the next compile end collects them before it freezes (frozen, they would outlive any
    ``gc.collect()`` until a thaw)."""
    seen = {}

    def build():
        partial = [_Node() for _ in range(300)]  # held by this frame, so by the traceback
        for a, b in zip(partial, partial[1:] + partial[:1]):
            a.next = b  # a cycle only the collector frees
        seen["partial"] = weakref.ref(partial[0])
        raise constrain.CompileBudgetError("test failure", budget="time")

    with pytest.raises(constrain.CompileBudgetError):
        _compile_with(build, "test-collector:failed-partial")
    assert seen["partial"]() is not None  # garbage now, a cycle
    _compile_with(lambda: ByteDFA.literal(b"after-failure"), "test-collector:after-failure")
    gc.collect()
    assert seen["partial"]() is None


def test_full_collections_between_compile_ends_run_at_compile_ends(freeze_on, monkeypatch):
    """With the freeze on, CPython's own trigger sees no long-lived objects once one full
    collection walked only the unfrozen few, and then runs a full collection every (threshold
    2 + 1) middle collections, inside decoding steps (the MaskBench worker: two of 7.5 ms in
    Github_medium:574's longest steps). Between compile ends the oldest threshold is raised by
    ``_SPACING``, the next compile end runs the full collection the count rule made due, a
    process that only decodes still gets one after ``_SPACING`` times as many middle
    collections, and turning the freeze off puts the process's own thresholds back."""
    import constrain.collector as collector_mod

    own = gc.get_threshold()
    gc.set_threshold(100, 2, 3)  # the process's own thresholds, small so the test is quick
    seen = {0: 0, 1: 0, 2: 0}

    def watch(phase, info):
        if phase == "start":
            seen[info["generation"]] += 1

    def count_while(keep, until):
        """Allocate kept containers (each survives, so it is promoted) until ``until()``."""
        for g in seen:
            seen[g] = 0
        while not until():
            keep.extend([] for _ in range(50))

    gc.callbacks.append(watch)
    keep: list = []
    try:
        _compile_with(lambda: ByteDFA.literal(b"between-1"), "test-collector:between-1")
        assert gc.get_threshold() == (100, 2, 3 * collector_mod._SPACING)
        gc.collect()  # everything is frozen: CPython's baseline is now ~0 long-lived objects
        count_while(keep, lambda: seen[1] >= 4 * (3 + 1))
        assert seen[2] == 0, seen  # with the process's own (100, 2, 3): one every 4 middle ones
        seen[2] = 0
        _compile_with(lambda: ByteDFA.literal(b"between-2"), "test-collector:between-2")
        assert seen[2] == 1  # the compile end ran the one that was due
        assert gc.get_count()[2] == 0 and not any(id(k) in _gen2_ids() for k in keep[-50:])
        # a process that only decodes: a full collection still comes, _SPACING times later
        count_while(keep, lambda: seen[2] >= 1)
        assert 3 * collector_mod._SPACING <= seen[1] <= 3 * collector_mod._SPACING + 2, seen
        constrain.set_gc_freeze(False)
        assert gc.get_threshold() == (100, 2, 3)
        _compile_with(lambda: ByteDFA.literal(b"between-3"), "test-collector:between-3")
        assert gc.get_threshold() == (100, 2, 3)
    finally:
        gc.callbacks.remove(watch)
        constrain.set_gc_freeze(True)
        gc.set_threshold(*own)
        collector_mod._RAISED[0] = None
        del keep
        gc.collect()
