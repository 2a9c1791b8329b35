"""The garbage collector around a compile: deferred while the compile runs, the compile's
young garbage collected when it ends, and what it leaves alive frozen out of later collections.

Why: CPython collects a generation every few hundred container allocations, and runs a full
collection once the objects promoted to the oldest generation since the last one exceed a
quarter of it. A compile allocates tens of thousands of short-lived containers (IR nodes,
NFA edges, per-state lists) that are alive when a young collection happens to run: each such
collection walks them and promotes them, although almost all die, by reference counting, a
moment later. The promoted count still grows, so a big compile triggered several full
collections of its own and left the counter high, and the next full collection then landed
inside a decoding step (MaskBench, 100-schema sample: 10 full collections inside compiles,
0.76 s of the sample's 12 s of compile CPU time).

While a compile runs only the youngest generation is collected (process-wide thresholds:
``gc.set_threshold(t0, never, never)``), so the temporaries die young and are never promoted,
and cyclic garbage is still freed as it goes, so a long compile's memory stays bounded;
at the end the compile collects the young generations itself (``gc.collect(1)``: what survives is the compile's result and its caches' new entries,
and the time is counted in the compile, not in a later step). When what the compiles
promoted since the last full collection reaches a quarter of the oldest generation (CPython's
own trigger), a compile that lasted at least as long as the last full collection runs it
too, so that it does not land in a decoding step soon after. Nested and concurrent compiles
share one deferral: the thresholds are restored, and the young generations collected, when the
last of them ends. A process that disabled the collector itself is left as it is.

The freeze (a policy for decoding): once the compile has collected its young generations,
it moves everything left in the collector's generations -- its automaton, its RTN, the caches'
new entries, and whatever else the process made since the previous compile end -- to the
permanent generation (``gc.freeze()``). A full collection, wherever it lands, then walks only
what was allocated since: inside a decoding step, what decoding itself made (states reached for
the first time), not the compile's objects (in the MaskBench worker such collections took
20-50 ms, 232 ms once five thousand schemas in). Frozen objects are still freed by reference
counting when dropped (the engine's structures hold no cycles: part 2r of docs/benchmarks.md);
a failed compile freezes nothing (its traceback holds its partial structures, cyclic garbage
once the error is handled), and the next compile end runs a full collection before it freezes;
a cycle frozen and dropped later waits for the thaw: when the frozen count has grown past the
count after the last thaw by ``max(_THAW_GROWTH, frozen count then)``, a compile end unfreezes,
runs a full collection and freezes again (its cost per frozen object stays bounded; in a
process that froze its start-up objects itself, that thaw walks them too, once). This changes
the process's collector: objects frozen by a compile end are not freed by ``gc.collect()``
until a thaw, and between compile ends the oldest generation's threshold is ``_SPACING`` times
the process's own, the full collections CPython's count rule makes due being run at compile
ends instead (see ``_set_between_compiles``). It applies only while the deferral is on; :func:`set_gc_freeze(False)
<set_gc_freeze>` turns the freeze alone off (what is frozen stays so; ``gc.unfreeze()`` thaws).

Opt out with :func:`set_gc_deferral(False) <set_gc_deferral>` (for example where other threads
keep many reference cycles alive past a young collection while compiles run: those also wait
for the end of the compile).
"""

from __future__ import annotations

import gc
import threading
import time
from contextlib import contextmanager

__all__ = ["deferred_collection", "gc_deferral", "gc_freeze", "set_gc_deferral", "set_gc_freeze"]

_ENABLED = [True]
_NEVER = 1 << 30       # a generation threshold that is never reached
_THRESHOLDS = [(700, 10, 10)]  # the process's thresholds, restored when the last deferral ends
_LOCK = threading.Lock()
_ACTIVE = [0]          # compiles inside a deferral now
_DEFERRING = [False]   # the outermost deferral changed the thresholds (the collector was on)


def set_gc_deferral(enabled: bool) -> bool:
    """Turn the deferral of garbage collection during compiles on or off (on by default);
    returns the previous setting. Compiles already running keep the setting they started with."""
    prev = _ENABLED[0]
    _ENABLED[0] = bool(enabled)
    if not enabled:
        _restore_thresholds()
    return prev


def gc_deferral() -> bool:
    """Whether compiles defer garbage collection (:func:`set_gc_deferral`)."""
    return _ENABLED[0]


@contextmanager
def deferred_collection():
    """Run the body with only the youngest generation collected automatically, then collect
    the young generations (see the module docstring). A no-op when deferral is off or the collector was already
    disabled by someone else."""
    if not _ENABLED[0]:
        yield
        return
    with _LOCK:
        if _ACTIVE[0] == 0:
            _DEFERRING[0] = gc.isenabled()
            if _DEFERRING[0]:
                # young collections go on (they free the compile's cyclic garbage, so memory
                # stays bounded, and promote nothing to the oldest generation); the middle and
                # oldest generations are not collected until the compile ends
                current = gc.get_threshold()
                if current != _RAISED[0]:  # not what the last deferral set: the process's own
                    _THRESHOLDS[0] = current
                gc.set_threshold(_THRESHOLDS[0][0], _NEVER, _NEVER)
                _STARTED[0] = time.perf_counter()
        _ACTIVE[0] += 1
    failed = True
    try:
        yield
        failed = False
    finally:
        with _LOCK:
            _ACTIVE[0] -= 1
            last = _ACTIVE[0] == 0 and _DEFERRING[0]
            if last:
                _DEFERRING[0] = False
                _set_between_compiles()
        if last:
            _collect_young_and_what_is_due(freeze=not failed)


# What the compiles' own collections promoted to the oldest generation since its last full
# collection, against its size then, and how long that collection took (both set by
# _watch_full, a gc callback). CPython runs a full collection once the promoted objects
# exceed a quarter of the oldest generation. A compile that brings the count there runs it
# itself, so that it does not land in a decoding step soon after -- when the last full
# collection took at most _MAX_SHARE times the compile's own time so far (so it at most
# doubles the compile: in a process whose start-up objects are not frozen a full collection
# walks them all, 200-250 ms after importing torch/transformers, and a 20 ms compile leaves it
# to CPython). On the 100-schema MaskBench sample's replay (load 2.5-3) running every due
# one, this bound and a quarter of the compile's time gave the same median compile within
# noise (26-31 ms, against 21-23 ms with no full collection in compiles, which left 4 full
# collections of 15-18 ms to steps); larger values leave fewer to steps
_DUE_FRACTION = 4
_MAX_SHARE = 1
_PROMOTED = [0]
_LONG_LIVED = [0]
_LAST_FULL_S = [None]  # seconds; None until one was seen
_FULL_START = [0.0]
_STARTED = [0.0]       # when the outermost deferral began (time.perf_counter)
_WATCHING = [False]
_SECONDS_PER_OBJECT = 1e-6  # a full collection's cost per tracked object, until one is timed


def _watch_full(phase: str, info: dict) -> None:
    """Times each full collection. The oldest generation's size after it is counted later,
    at the next compile's end (``_LONG_LIVED[0] = -1``: not counted yet): counting it here
    (``len(gc.get_objects(2))``, a list of every long-lived object) cost 6-11 ms inside the
    decoding step the collection landed in."""
    if info.get("generation") != 2:
        return
    if phase == "start":
        _FULL_START[0] = time.perf_counter()
    else:
        _LAST_FULL_S[0] = time.perf_counter() - _FULL_START[0]
        _PROMOTED[0] = 0
        _LONG_LIVED[0] = -1


def _collect_young_and_what_is_due(freeze: bool = True) -> None:
    if _FREEZING[0]:
        # CPython's count rule (a full collection once the oldest generation's count passes its
        # threshold), applied here, where it walks only what is not frozen yet: between
        # compile ends the threshold is raised (_set_between_compiles)
        full = freeze and (_COLLECT_FIRST[0] or gc.get_count()[2] >= _THRESHOLDS[0][2])
        if full:
            _COLLECT_FIRST[0] = False
        gc.collect(2 if full else 1)
        if freeze:
            _freeze_what_is_left()
        else:
            # a failed compile's partial structures are alive in the exception's traceback
            # now and become cyclic garbage (frames <-> traceback) once it is handled: frozen,
            # they would wait for a thaw (two budget failures in a Github_ultra replay left
            # 200k frozen objects), so the next compile end collects before it freezes
            _COLLECT_FIRST[0] = True
        return
    if not _WATCHING[0]:
        _WATCHING[0] = True
        gc.callbacks.append(_watch_full)
        _LONG_LIVED[0] = -1
    if _LONG_LIVED[0] < 0:
        # counted before this compile's survivors are promoted: what steps promoted since the
        # full collection is counted in, so the estimate is at most a little high
        _LONG_LIVED[0] = len(gc.get_objects(2))
    young = len(gc.get_objects(0)) + len(gc.get_objects(1))
    _PROMOTED[0] += max(0, young - gc.collect(1))  # survivors move to the oldest generation
    if _PROMOTED[0] > _LONG_LIVED[0] // _DUE_FRACTION:
        cost = _LAST_FULL_S[0]
        if cost is None:
            cost = (_LONG_LIVED[0] + _PROMOTED[0]) * _SECONDS_PER_OBJECT
        if cost <= _MAX_SHARE * (time.perf_counter() - _STARTED[0]):
            gc.collect()


# The freeze (see the module docstring): what a compile leaves alive is moved to the permanent
# generation at its end, so that later full collections -- inside decoding steps -- walk only
# what was allocated since. Frozen objects are still freed by reference counting; only
# reference cycles among them wait, until the frozen count has grown by _THAW_GROWTH objects or
# by as many as were frozen after the last thaw (whichever is more: the thaw walks them all, so
# its cost per frozen object stays bounded): then a compile end unfreezes, collects everything
# and freezes again. ``gc.get_freeze_count()`` walks the whole permanent generation (38 ms a
# call with 385k frozen objects in a process that compiled 1,000 MaskBench schemas), so it is
# read only once the count may have passed the bound: the last reading plus what compile ends
# froze since (``len(gc.get_objects(2))`` before each freeze: what is left after the young
# collection) is an upper bound of the count, since between readings frozen objects only leave
# it (freed by reference counting). And at most once per quarter of _THAW_GROWTH objects frozen
# (a count that stays just under the bound, frees keeping pace with freezes, would otherwise be
# read at every compile end). Reading at every quarter of _THAW_GROWTH alone read in 16 of those
# 1,000 compiles, this rule in 3. What the process freezes itself is counted at the next reading.
_FREEZING = [True]
_THAW_GROWTH = 200_000
_THAW_RATIO = 1.0
_THAW_AT = [None]      # the frozen count at which a compile end thaws; None until first read
_FROZEN_READ = [0]     # the frozen count at its last reading
_FROZEN_UNREAD = [0]   # objects frozen by compile ends since the frozen count was last read
_COLLECT_FIRST = [False]  # a compile failed since the last freeze: collect before freezing


def set_gc_freeze(enabled: bool) -> bool:
    """Turn the freeze of what compiles leave alive on or off (on by default; it applies only
    while :func:`set_gc_deferral` is on); returns the previous setting. Turning it off leaves
    what is frozen frozen (``gc.unfreeze()`` thaws it)."""
    prev = _FREEZING[0]
    _FREEZING[0] = bool(enabled)
    if not enabled:
        _restore_thresholds()
    return prev


def gc_freeze() -> bool:
    """Whether compile ends freeze what they leave alive (:func:`set_gc_freeze`)."""
    return _FREEZING[0]


def _freeze_what_is_left() -> None:
    _FROZEN_UNREAD[0] += len(gc.get_objects(2))  # the young generations are empty now
    unread = _FROZEN_UNREAD[0]
    if _THAW_AT[0] is None or (unread > _THAW_GROWTH // 4 and _FROZEN_READ[0] + unread > _THAW_AT[0]):
        frozen = _FROZEN_READ[0] = gc.get_freeze_count()
        _FROZEN_UNREAD[0] = 0
        if _THAW_AT[0] is None:  # the first reading: what the process froze itself counts in
            _THAW_AT[0] = frozen + max(_THAW_GROWTH, int(_THAW_RATIO * frozen))
        elif frozen > _THAW_AT[0]:
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            frozen = _FROZEN_READ[0] = gc.get_freeze_count()
            _THAW_AT[0] = frozen + max(_THAW_GROWTH, int(_THAW_RATIO * frozen))
            return
    gc.freeze()


# Full collections between compile ends (with the freeze on). CPython runs one once the objects
# promoted to the oldest generation since the last one pass a quarter of what that one left
# there. Frozen objects are not counted: the first full collection that walks only the
# unfrozen few (in a decoding step, or a compile end's) sets that baseline near zero, and from
# then on CPython runs a full collection every (threshold 2 + 1) middle-generation
# collections, however few objects they promoted. In the MaskBench worker, 3,736 schemas in,
# that put two full collections of 7.5 ms each into Github_medium:574's two longest steps,
# where a fresh process running the same schema (baseline: its start-up's 300k objects) had
# none (docs/benchmarks.md, issue 18 part 3b). So between compile ends the oldest generation's
# threshold is _SPACING times the process's own, and a compile end runs the full collection
# the count rule has made due (above), walking only what is not frozen yet; a process that only
# decodes still collects, _SPACING times less often by count.
_SPACING = 10
_RAISED = [None]  # the thresholds the last deferral end set (None: the process's own are in place)


def _set_between_compiles() -> None:
    t0, t1, t2 = _THRESHOLDS[0]
    if _FREEZING[0] and t0 > 0:
        _RAISED[0] = (t0, t1, t2 * _SPACING)
        gc.set_threshold(*_RAISED[0])
    else:
        _RAISED[0] = None
        gc.set_threshold(t0, t1, t2)


def _restore_thresholds() -> None:
    """Put the process's own thresholds back if a deferral end raised them (and no compile runs)."""
    with _LOCK:
        if _ACTIVE[0] == 0 and _RAISED[0] is not None and gc.get_threshold() == _RAISED[0]:
            gc.set_threshold(*_THRESHOLDS[0])
        _RAISED[0] = None
