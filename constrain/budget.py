"""A compile's budget -- time and memory -- checked inside the long loops of every construction.

Every compile entry point (``compile_json_schema``, ``compile_regex``, ``compile_lark``,
``compile_grammar``) and the first visit of a decode-time state (its mask) run under
:func:`compile_budget`. Three kinds of limit, in the order they decide:

1. **Counts.** Each construction bounds what it builds -- DFA states, subset members, product
   pairs, table bytes -- and checks the count *before* allocating (:func:`check_size`,
   :func:`state_budget` turns the memory budget into a state count). Counts depend only on
   the input, so a compile near a budget gets the same verdict on every run, however loaded
   the machine is.
2. **Memory backstop.** :func:`check_deadline` reads the process's resident set size
   (``/proc/self/statm``, a cheap read, at most every few milliseconds) and stops a compile
   that grew it by more than ``max_memory_bytes`` since it started -- for whatever the counts
   above do not see. The RSS is the whole process's: other threads' allocations count too.
3. **Wall time**, last resort: :func:`check_deadline` past the deadline.

All three raise :class:`~constrain.errors.CompileBudgetError` with ``budget`` set to
``"states"``/``"work"``/``"memory"``/``"time"``. :func:`schema_location` names the JSON Schema
keyword and pointer being compiled; errors passing through it get them attached.
"""

from __future__ import annotations

import contextvars
import os
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

from .collector import deferred_collection
from .errors import CompileBudgetError, OptionError

__all__ = ["DEFAULT_MAX_MEMORY_BYTES", "compile_budget", "compile_deadline", "check_deadline", "check_size",
           "state_budget", "memory_budget", "schema_location", "current_location", "format_bytes",
           "recursion_headroom"]

DEFAULT_MAX_MEMORY_BYTES = 1 << 30
"""Default ``max_memory_bytes`` of every compile entry point (1 GiB)."""

_RSS_INTERVAL_S = 0.005
"""Minimum time between two reads of the RSS in :func:`check_deadline`."""


_HEADROOM_LOCK = threading.Lock()
_HEADROOM = {"users": 0, "saved": 0}


@contextmanager
def recursion_headroom(limit: int = 20_000):
    """Python's recursion limit at least ``limit`` while any thread is inside this block.

    The schema lowering recurses about ten frames per nesting level (3.11's Python frames use
    no C stack). The limit is process-wide, so a bare save/raise/restore per compile is wrong
    under concurrent compiles (a server compiles in threads): one compile's restore would drop
    the limit under another that is still deep inside. The first thread in raises it, the last
    one out puts back what was there before; a limit already higher is left alone.
    """
    with _HEADROOM_LOCK:
        if _HEADROOM["users"] == 0:
            _HEADROOM["saved"] = sys.getrecursionlimit()
            sys.setrecursionlimit(max(_HEADROOM["saved"], limit))
        _HEADROOM["users"] += 1
    try:
        yield
    finally:
        with _HEADROOM_LOCK:
            _HEADROOM["users"] -= 1
            if _HEADROOM["users"] == 0:
                sys.setrecursionlimit(_HEADROOM["saved"])


@dataclass
class _Budget:
    end: float | None  # time.monotonic() deadline
    seconds: float | None  # the time budget that set ``end`` (for the message)
    max_memory: int | None  # bytes this compile may add to the process
    rss0: int  # RSS when the budget started
    next_rss: float = 0.0  # when check_deadline reads the RSS again


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("constrain_budget", default=None)
_LOCATION: contextvars.ContextVar[tuple[str | None, str] | None] = contextvars.ContextVar(
    "constrain_schema_location", default=None)

try:
    _PAGE = os.sysconf("SC_PAGE_SIZE")
except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
    _PAGE = 4096


def _rss() -> int:
    """Resident set size of this process in bytes (0 where ``/proc`` is missing)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


_RECENT_RSS = [0.0, 0]  # (time.monotonic() of the reading, bytes)
# a compile stopped by its time or memory budget (check_deadline) leaves the heap it grew
# freed but mapped: glibc keeps it, RSS stays up, and the next compile's memory budget, which
# counts growth from there, lets the process grow by as much again (on the whole MaskBench
# split four such schemas took a worker from 0.4 to 4.2 GB). The next outermost budget
# hands it back first (constrain.cache._malloc_trim), once the failed compile's objects are
# gone; compile entries only, never a first visit inside a decoding step
_TRIM_PENDING = [False]


def _rss_recent(now: float) -> int:
    """:func:`_rss`, or the reading taken less than ``_RSS_INTERVAL_S`` ago.

    Every first visit of a state opens a budget, and opening ``/proc/self/statm`` twice per
    visit was a measurable part of a cheap visit; a starting point a few milliseconds old is
    as good a baseline for a budget of megabytes.
    """
    t, v = _RECENT_RSS
    if now - t >= _RSS_INTERVAL_S or not v:
        v = _rss()
        _RECENT_RSS[0], _RECENT_RSS[1] = now, v
    return v


def format_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}".replace(".0 ", " ")
        n /= 1024
    return f"{n} GiB"  # pragma: no cover


@contextmanager
def compile_budget(seconds: float | None = None, max_memory_bytes: int | None = None, *, fresh_rss: bool = True):
    """Run the body under a time budget of ``seconds`` and a memory budget of
    ``max_memory_bytes`` (RSS growth, and the size of any one counted construction).

    ``fresh_rss=False`` (first visits of states, opened on every one) may take the RSS
    baseline from a reading a few milliseconds old instead of reading ``/proc`` again.

    Nested budgets only tighten: the earlier deadline wins, and the inner memory budget is at
    most what the outer one has left. ``None`` leaves a limit as the outer budget sets it.
    """
    if seconds is not None and seconds < 0:
        raise OptionError(f"time budget must be >= 0 seconds, got {seconds!r}")
    if max_memory_bytes is not None and max_memory_bytes <= 0:
        raise OptionError(f"max_memory_bytes must be positive, got {max_memory_bytes!r}")
    outer = _BUDGET.get()
    if outer is None and fresh_rss and _TRIM_PENDING[0]:  # a compile entry, not a first visit
        _TRIM_PENDING[0] = False
        from .cache import _malloc_trim

        _malloc_trim()
    now = time.monotonic()
    end, secs = (now + seconds, seconds) if seconds is not None else (None, None)
    if outer is not None and outer.end is not None and (end is None or outer.end <= end):
        end, secs = outer.end, outer.seconds
    if max_memory_bytes is None and outer is None:
        rss0 = 0
    elif fresh_rss:
        rss0 = _rss()
        _RECENT_RSS[0], _RECENT_RSS[1] = now, rss0
    else:
        rss0 = _rss_recent(now)
    mem = max_memory_bytes
    if outer is not None and outer.max_memory is not None:
        left = outer.max_memory - max(0, rss0 - outer.rss0)
        if mem is None or left < mem:
            mem = max(left, 1)
    token = _BUDGET.set(_Budget(end, secs, mem, rss0, 0.0 if fresh_rss else now + _RSS_INTERVAL_S))
    try:
        if outer is None and fresh_rss:
            # a compile entry (not a first visit inside a decoding step): no garbage
            # collection while it runs, its young garbage collected at its end (collector.py)
            with deferred_collection():
                yield
        else:
            yield
    finally:
        _BUDGET.reset(token)


def compile_deadline(seconds: float | None):
    """A time-only :func:`compile_budget` (kept for callers that set no memory budget)."""
    return compile_budget(seconds)


def check_deadline() -> None:
    """Raise ``CompileBudgetError`` once the current compile is past its deadline, or has grown
    the process's RSS by more than its memory budget (read at most every few milliseconds)."""
    b = _BUDGET.get()
    if b is None:
        return
    now = time.monotonic()
    if b.end is not None and now > b.end:
        _TRIM_PENDING[0] = True
        raise CompileBudgetError(f"compile exceeded its time budget of {b.seconds:g} s", budget="time")
    if b.max_memory is not None and now >= b.next_rss:
        b.next_rss = now + _RSS_INTERVAL_S
        rss = _rss()
        _RECENT_RSS[0], _RECENT_RSS[1] = now, rss
        grown = rss - b.rss0
        if grown > b.max_memory:
            _TRIM_PENDING[0] = True
            raise CompileBudgetError(
                f"compile exceeded its memory budget of {format_bytes(b.max_memory)} "
                f"(the process grew by {format_bytes(grown)})", budget="memory")


def memory_budget() -> int | None:
    """The current compile's memory budget in bytes (``None`` outside any)."""
    b = _BUDGET.get()
    return None if b is None else b.max_memory


def check_size(nbytes: int, what: str) -> None:
    """Refuse, before allocating it, a construction that would take ``nbytes`` (a count of
    its tables and sets, not a measurement) when that alone exceeds the memory budget."""
    limit = memory_budget()
    if limit is not None and nbytes > limit:
        raise CompileBudgetError(
            f"{what} would need {format_bytes(nbytes)}, over the memory budget of {format_bytes(limit)}",
            budget="memory")


def state_budget(budget: int, bytes_per_state: int) -> int:
    """``budget`` (a construction's state limit) lowered so that ``bytes_per_state`` times it
    fits the memory budget."""
    limit = memory_budget()
    if limit is None:
        return budget
    return max(1, min(budget, limit // max(1, bytes_per_state)))


@contextmanager
def schema_location(keyword: str | None, pointer: str | None):
    """Mark the body as compiling ``keyword`` at JSON pointer ``pointer``.

    A :class:`CompileBudgetError` leaving the body gets the location (unless an inner one
    set it first); :func:`current_location` lets deferred work (a lexeme's DFA, built after
    the schema walk) capture it and restore it later.
    """
    if pointer is None:
        yield
        return
    token = _LOCATION.set((keyword, pointer))
    try:
        yield
    except CompileBudgetError as err:
        raise err.locate(keyword, pointer)
    finally:
        _LOCATION.reset(token)


def current_location() -> tuple[str | None, str] | None:
    """``(keyword, pointer)`` of the innermost :func:`schema_location`, or ``None``."""
    return _LOCATION.get()
