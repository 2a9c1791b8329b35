"""Packed token bitmasks: bit ``t % 32`` of uint32 word ``t // 32`` is token ``t``.

The layout every mask in structgen uses (rows, matcher masks, the decode kernels); these
helpers set, clear and pack bits in place without Python loops over token ids.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bits_at", "clear_bits", "count_bits", "pack_bits", "set_bits"]


def set_bits(words: np.ndarray, ids: np.ndarray) -> None:
    """OR the bits of token ``ids`` into packed uint32 ``words`` in place."""
    if ids.size:
        ids = ids.astype(np.int64, copy=False)
        np.bitwise_or.at(words, ids >> 5, np.left_shift(np.uint32(1), (ids & 31).astype(np.uint32)))


def clear_bits(words: np.ndarray, ids: np.ndarray) -> None:
    """Clear the bits of token ``ids`` in packed uint32 ``words`` in place."""
    if ids.size:
        ids = ids.astype(np.int64, copy=False)
        np.bitwise_and.at(words, ids >> 5, ~np.left_shift(np.uint32(1), (ids & 31).astype(np.uint32)))


def bits_at(words: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """bool[len(ids)]: whether each of token ``ids`` has its bit set in packed ``words``
    (int32 or uint32)."""
    ids = np.asarray(ids, dtype=np.int64)
    return ((words.view(np.uint32)[ids >> 5] >> (ids & 31).astype(np.uint32)) & 1).astype(bool)


def count_bits(words: np.ndarray) -> int:
    """How many bits packed ``words`` (int32 or uint32) set: a mask's number of allowed tokens,
    without unpacking it."""
    return int(np.bitwise_count(words.view(np.uint32)).sum())


def pack_bits(allowed: np.ndarray, n_words: int) -> np.ndarray:
    """Pack a bool vector (one entry per token id) into int32 words, bit t%32 of word t//32."""
    b = np.packbits(allowed, bitorder="little")
    out = np.zeros(n_words * 4, dtype=np.uint8)
    out[: b.size] = b
    return out.view("<u4").astype(np.uint32, copy=False)

