"""Identical packed rows stored once, process-wide.

Token rows of lexeme states and whole masks of automaton states repeat a lot: on a
100-schema MaskBench sample about 4 in 5 computed rows and 11 in 12 state masks equal one
computed before (every string-content state of every schema allows the same tokens; every
key's first state allows only a quote). :func:`share` hands back the copy already held, so
a row is kept once however many tables and states use it. The pool holds its arrays weakly:
an array lives as long as some table or state holds it, and no longer.

Shared arrays are read-only (writing into one would change every holder's row).
"""

from __future__ import annotations

import hashlib
import threading
import weakref

import numpy as np

from ..cache import register

__all__ = ["share", "shared_count"]

_POOL: "weakref.WeakValueDictionary[tuple[int, bytes], np.ndarray]" = weakref.WeakValueDictionary()
_LOCK = threading.Lock()


def share(row: np.ndarray) -> np.ndarray:
    """``row``'s canonical copy: an equal array already held by someone, or ``row`` itself
    (made read-only). ``row`` must be a 1-D contiguous array that nobody writes to afterwards."""
    row = np.ascontiguousarray(row)
    # a 128-bit cryptographic digest: two different rows colliding is not a practical event
    # (comparing the arrays as well cost as much as the hash)
    key = (row.size, row.dtype.char, hashlib.blake2b(memoryview(row).cast("B"), digest_size=16).digest())
    with _LOCK:
        hit = _POOL.get(key)
        if hit is not None:
            return hit
        row.flags.writeable = False
        _POOL[key] = row
    return row


def shared_count() -> int:
    """Distinct arrays in the pool (alive ones)."""
    return len(_POOL)


def _clear() -> None:
    with _LOCK:
        _POOL.clear()


register("constrain.tokens.shared_rows", _clear, shared_count)
