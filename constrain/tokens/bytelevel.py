"""The GPT-2 byte-to-unicode table that byte-level BPE tokenizers write token pieces with.

Shared by :mod:`.hf_vocab` (decoding pieces to bytes) and :mod:`constrain.tokenizers`
(building byte-level tokenizers); kept apart so that neither imports the other's module.
"""

from __future__ import annotations

__all__ = ["BYTELEVEL_CHARS", "BYTES_TO_UNICODE", "UNICODE_TO_BYTES"]


def _bytes_to_unicode() -> tuple[str, ...]:
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, cs))
    return tuple(chr(table[b]) for b in range(256))


#: ``BYTES_TO_UNICODE[b]`` is the character GPT-2 byte-level BPE writes for byte ``b``.
BYTES_TO_UNICODE: tuple[str, ...] = _bytes_to_unicode()
#: inverse of :data:`BYTES_TO_UNICODE` as a ``str.translate`` table to latin-1 characters.
UNICODE_TO_BYTES: dict[int, str] = {ord(c): chr(b) for b, c in enumerate(BYTES_TO_UNICODE)}
#: every character byte-level BPE uses: a piece with another one is not byte-level.
BYTELEVEL_CHARS: frozenset[str] = frozenset(BYTES_TO_UNICODE)
