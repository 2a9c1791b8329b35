"""Compiled constraints shared across requests, bounded in entries and bytes.

Why a cache of its own (and not ``decode.as_compiled``'s 64-entry LRU): a server sees
schemas from many clients, and a compiled constraint grows after its compile (masks of the
states decoding visits are kept), so a bound on entries alone says nothing about memory.
Entries are keyed by (constraint text, JSON options, the vocabulary's fingerprint); their
size is the numpy memory reachable from them, measured again whenever the bound is checked
(after each compile), and the least recently used entries go first.  Two requests that bring
the same new schema at once compile it once: the second waits for the first.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable

import numpy as np

from constrain.cache import register
from constrain.tokens.vocab import Vocabulary

from ..constraints import compile_plan

__all__ = ["ConstraintCache", "reachable_nbytes"]

#: at most this many objects are visited to size one entry (a bound on the time it takes)
_MAX_VISIT = 200_000


def reachable_nbytes(obj: Any, *, skip: tuple = (Vocabulary,)) -> int:
    """Bytes of the numpy arrays (plus containers' own size) reachable from ``obj``, each counted
    once; instances of ``skip`` (the shared vocabulary) are not entered."""
    seen: set[int] = set()
    stack = [obj]
    total = 0
    while stack and len(seen) < _MAX_VISIT:
        o = stack.pop()
        if id(o) in seen or o is None or isinstance(o, (int, float, bool, str, bytes)) or isinstance(o, skip):
            continue
        seen.add(id(o))
        try:
            total += _expand(o, stack)
        except RuntimeError:  # a dict the decoding thread grew meanwhile: counted at the next measure
            continue
    return total


def _expand(o, stack: list) -> int:
    """``o``'s own bytes; what it refers to goes on ``stack``."""
    if isinstance(o, np.ndarray):
        if o.base is not None:  # a view: its base holds the bytes
            stack.append(o.base)
            return 0
        return o.nbytes
    if isinstance(o, dict):
        stack.extend(list(o.values()))
        return sys.getsizeof(o)
    if isinstance(o, (list, tuple, set, frozenset)):
        stack.extend(list(o))
        return sys.getsizeof(o)
    if isinstance(o, type) or (callable(o) and not hasattr(o, "__dict__")):
        return 0
    d = getattr(o, "__dict__", None)
    if d is not None:
        stack.append(d)
    for name in getattr(type(o), "__slots__", ()):
        stack.append(getattr(o, name, None))
    return 0


class ConstraintCache:
    """``get(constraint, vocab, json_options, budgets)``: the ``Compiled`` of a constraint,
    compiled at most once per key while it stays cached.  ``max_entries`` and ``max_bytes``
    bound what is kept (an entry larger than ``max_bytes`` on its own is still returned, just
    not kept).  Registered with ``constrain.clear_caches()``."""

    def __init__(self, *, max_entries: int = 256, max_bytes: int = 512 << 20, name: str = "decode.serve.constraints"):
        self.max_entries = int(max_entries)
        self.max_bytes = int(max_bytes)
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._sizes: dict[Hashable, int] = {}
        self._building: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()
        self.hits = self.misses = 0
        register(name, self.clear, self.__len__)

    def __len__(self) -> int:
        return len(self._data)

    @property
    def nbytes(self) -> int:
        """The bytes the kept entries held when last measured."""
        return sum(self._sizes.values())

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._sizes.clear()

    def get(self, constraint, vocab, json_options: dict, budgets: dict | None = None):
        """The compiled ``constraint`` (None stays None); compile errors propagate to the caller."""
        if constraint is None:
            return None
        key, build = compile_plan(constraint, vocab, budgets=budgets, **json_options)
        return self.get_or_build((vocab.fingerprint, key), build)

    def get_or_build(self, key: Hashable, build: Callable[[], Any]):
        while True:
            with self._lock:
                if key in self._data:
                    self._data.move_to_end(key)
                    self.hits += 1
                    return self._data[key]
                waiting = self._building.get(key)
                if waiting is None:
                    self._building[key] = threading.Event()
                    self.misses += 1
                    break
            waiting.wait()  # another request compiles it; then read the cache (or compile, if it failed)
        try:
            value = build()
        except BaseException:
            with self._lock:
                self._building.pop(key).set()
            raise
        with self._lock:
            self._data[key] = value
            self._building.pop(key).set()
        self._enforce()
        return value

    def _enforce(self) -> None:
        """Measure every entry again (they grow as masks are visited) and drop the least recent
        until both bounds hold."""
        with self._lock:
            items = list(self._data.items())
        sizes = {k: reachable_nbytes(v) for k, v in items}
        with self._lock:
            self._sizes = {k: sizes.get(k, self._sizes.get(k, 0)) for k in self._data}
            while self._data and (len(self._data) > self.max_entries or sum(self._sizes.values()) > self.max_bytes):
                k, _ = self._data.popitem(last=False)
                self._sizes.pop(k, None)
