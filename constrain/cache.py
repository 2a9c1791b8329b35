"""Process-wide caches: each bounded, all registered, released together by :func:`clear_caches`.

Masks are cheap because the expensive parts are shared between constraints and kept: lexeme
DFAs interned by key, regex and character-class automata, token tables (mask rows) per
vocabulary, trie views derived from a vocabulary, Lark terminal DFAs, ``decode``'s compiled
constraints. Each such cache has a bound (entries or bytes) so a long-running service cannot
grow without limit, and registers itself here under a name so that ``clear_caches()`` can
hand everything back at once, e.g. after a batch of schemas that will not come again.

Constraints compiled earlier keep working after a clear: a ``Compiled`` holds its own lexemes
and tables; only later compiles pay again for what was dropped.
"""

from __future__ import annotations

import ctypes
import gc
import sys
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable

__all__ = ["DEFAULT_CACHE_BUDGET", "LRUCache", "budgeted_cache", "cache_budget", "cache_sizes", "clear_caches", "on_budget_change",
           "register", "register_lru", "set_cache_budget"]

_REGISTRY: dict[str, tuple[Callable[[], None], Callable[[], int]]] = {}
_REGISTRY_LOCK = threading.Lock()

DEFAULT_CACHE_BUDGET = 16 << 20
"""Default of :func:`set_cache_budget` (16 MiB): on a 100-schema MaskBench sample (Mistral) it
compiles as fast as 256 MiB and 32 MiB did (the lexemes schemas share are the recently used
ones) and the caches, most of the process's growth over that sample, hold about half of what
they held at 32 MiB; fewer cached tables also shorten every full garbage collection, which
walks them (issue 18, docs/benchmarks.md parts 2e and 2j)."""

_BUDGET = [DEFAULT_CACHE_BUDGET]
_TRIMMERS: dict[str, Callable[[], None]] = {}


def set_cache_budget(nbytes: int | None) -> None:
    """Bound the bytes the process-wide caches of tables and automata keep for *later* compiles.

    The token tables (one per lexeme and vocabulary: the rows and split nodes of the DFA
    states visited so far and the transition arrays) are shared by every constraint compiled
    in the process, so a schema that comes again, or shares lexemes (string content, ``true``,
    punctuation, common keys) with an earlier one, pays nothing for them. This bounds what
    they hold, least recently used evicted first (trimmed at once when lowered). The same
    bound applies, each on its own, to the interned lexemes' DFAs (the lexeme registry) and
    to the JSON front-end's caches of string-content and declared-name DFAs, so the three
    together keep about ``3 * nbytes`` at most (the registry is checked every 64 new lexemes,
    and a single entry larger than the budget stays until the next one comes). Constraints
    alive keep their own tables whatever the budget: it bounds the memory of a long-running
    service, not that of the constraints it holds. ``None``: unbounded; ``0``: keep nothing
    beyond what live constraints hold. Default :data:`DEFAULT_CACHE_BUDGET` (16 MiB).
    """
    if nbytes is not None:
        if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 0:
            from .errors import OptionError

            raise OptionError(f"set_cache_budget: nbytes must be an int >= 0 or None, got {nbytes!r}")
    _BUDGET[0] = nbytes
    with _REGISTRY_LOCK:
        trimmers = list(_TRIMMERS.values())
    for trim in trimmers:
        trim()


def cache_budget() -> int | None:
    """The current :func:`set_cache_budget` value in bytes (``None``: unbounded)."""
    return _BUDGET[0]


def on_budget_change(name: str, trim: Callable[[], None]) -> None:
    """Have ``trim()`` called whenever :func:`set_cache_budget` changes the budget."""
    with _REGISTRY_LOCK:
        _TRIMMERS[name] = trim


def register(name: str, clear: Callable[[], None], size: Callable[[], int]) -> None:
    """Make a process-wide cache known to :func:`clear_caches`: ``clear()`` empties it,
    ``size()`` counts its entries (0 once cleared). Re-registering a name replaces it
    (module reloads)."""
    with _REGISTRY_LOCK:
        _REGISTRY[name] = (clear, size)


def register_lru(fn: Callable, name: str | None = None) -> Callable:
    """Register a ``functools.lru_cache``-wrapped function; it must be bounded. Returns ``fn``."""
    if fn.cache_info().maxsize is None:
        raise ValueError(f"{fn.__qualname__}: a registered lru_cache needs a maxsize")
    register(name or f"{fn.__module__}.{fn.__qualname__}", fn.cache_clear, lambda: fn.cache_info().currsize)
    return fn


def cache_sizes() -> dict[str, int]:
    """Entries held by every registered cache, by name."""
    with _REGISTRY_LOCK:
        items = list(_REGISTRY.items())
    return {name: int(size()) for name, (_, size) in items}


def clear_caches() -> None:
    """Empty every registered cache, collect garbage and return freed heap to the OS.

    Without the last step glibc keeps the freed arenas mapped and RSS stays where it was
    (``malloc_trim`` is a no-op elsewhere and skipped where libc is not glibc).
    """
    with _REGISTRY_LOCK:
        clears = [clear for clear, _ in _REGISTRY.values()]
    for clear in clears:
        clear()
    gc.collect()
    _malloc_trim()


def _malloc_trim() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # musl and friends: nothing to trim
        pass


class LRUCache:
    """A thread-safe mapping that keeps the most recently used entries, registered by name.

    Bounded by ``max_entries`` and, if given, by ``max_bytes`` as measured by
    ``sizeof(value)`` at insertion (values are assumed not to grow afterwards).
    """

    def __init__(self, name: str, max_entries: int, *, max_bytes: int | None = None,
                 sizeof: Callable[[Any], int] | None = None):
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        if max_bytes is not None and sizeof is None:
            raise ValueError("max_bytes needs sizeof")
        self.name = name
        self.max_entries = int(max_entries)
        self.max_bytes = max_bytes
        self._sizeof = sizeof
        self._data: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        register(name, self.clear, self.__len__)

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            hit = self._data.get(key)
            if hit is None:
                return default
            self._data.move_to_end(key)
            return hit[0]

    def put(self, key: Hashable, value: Any) -> Any:
        """Store ``value`` unless ``key`` is already there; returns the stored value (so two
        threads that built the same entry end up sharing one)."""
        n = int(self._sizeof(value)) if self._sizeof is not None else 0
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
                return hit[0]
            self._data[key] = (value, n)
            self._bytes += n
            while len(self._data) > self.max_entries or (
                    self.max_bytes is not None and self._bytes > self.max_bytes and len(self._data) > 1):
                _, (_, old) = self._data.popitem(last=False)
                self._bytes -= old
            return value

    def set_max_bytes(self, max_bytes: int | None) -> None:
        """Change the byte bound (``None``: entries only), evicting least recently used
        entries at once until the cache fits it."""
        if max_bytes is not None and self._sizeof is None:
            raise ValueError("max_bytes needs sizeof")
        with self._lock:
            self.max_bytes = max_bytes
            while max_bytes is not None and self._data and self._bytes > max_bytes:
                _, (_, old) = self._data.popitem(last=False)
                self._bytes -= old

    def pop(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            hit = self._data.pop(key, None)
            if hit is None:
                return default
            self._bytes -= hit[1]
            return hit[0]

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data


def budgeted_cache(name: str, max_entries: int, sizeof: Callable[[Any], int]) -> LRUCache:
    """An :class:`LRUCache` whose byte bound follows :func:`set_cache_budget` (caches of
    automata kept for later compiles: a service's memory must not grow past the budget)."""
    c = LRUCache(name, max_entries, max_bytes=cache_budget(), sizeof=sizeof)
    on_budget_change(name, lambda: c.set_max_bytes(cache_budget()))
    return c
