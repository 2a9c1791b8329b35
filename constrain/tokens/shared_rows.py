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

import threading
import weakref
import zlib

import numpy as np

from ..cache import register

__all__ = ["share", "shared_count"]

_POOL: "weakref.WeakValueDictionary[tuple[int, str, int], np.ndarray]" = weakref.WeakValueDictionary()
_LOCK = threading.Lock()


def share(row: np.ndarray) -> np.ndarray:
    """``row``'s canonical copy: an equal array already held by someone, or ``row`` itself
    (made read-only). ``row`` must be a 1-D contiguous array that nobody writes to afterwards.

    Keyed by a CRC-32 of the bytes, and a hit is compared byte for byte, so sharing is exact.
    Why not a cryptographic digest (the first version: a 128-bit BLAKE2b, no compare): over a
    SmolLM2 row (6 KiB) it cost 16 us, a quarter of a typical first visit of a state (which
    shares its mask and its new rows), while CRC-32 plus the compare of a hit cost 5 us. Two
    different rows with the same CRC (rare) leave the second one unshared.
    """
    row = np.ascontiguousarray(row)
    data = memoryview(row).cast("B")
    key = (row.size, row.dtype.char, zlib.crc32(data))
    with _LOCK:
        hit = _POOL.get(key)
        if hit is None:
            row.flags.writeable = False
            _POOL[key] = row
            return row
    if hit.tobytes() == data.tobytes():  # a copy and a memcmp: faster than comparing views
        return hit
    row.flags.writeable = False
    return row


def shared_count() -> int:
    """Distinct arrays in the pool (alive ones)."""
    return len(_POOL)


def _clear() -> None:
    with _LOCK:
        _POOL.clear()


register("constrain.tokens.shared_rows", _clear, shared_count)
