"""Hugging Face tokenizers decoded to exact token bytes.

Byte-level BPE (GPT-2, SmolLM2, Llama 3, Qwen, Tekken) writes token bytes with the GPT-2
byte-to-unicode table; SentencePiece (Llama 2, Mistral v1-v3) writes spaces as ``▁`` and has
``<0xHH>`` byte-fallback tokens.  The family is detected from the tokenizer's decoder (and its
vocabulary as a fallback); :meth:`Vocabulary.from_tokenizer` calls these helpers.
"""

from __future__ import annotations

import re

from ..errors import VocabularyError
from .bytelevel import BYTELEVEL_CHARS, UNICODE_TO_BYTES

__all__ = ["added_tokens", "bytelevel_bytes", "detect_family", "id_to_piece", "sentencepiece_bytes"]

_BYTE_FALLBACK_RE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def id_to_piece(tok) -> tuple[list[str | None], dict[str, int]]:
    """(piece of every id, None for holes; piece -> id)."""
    bt = getattr(tok, "backend_tokenizer", None)
    if bt is not None:
        v = bt.get_vocab(with_added_tokens=True)
    else:
        v = tok.get_vocab()
    n = max(max(v.values(), default=-1) + 1, len(tok))
    pieces: list[str | None] = [None] * n
    for s, i in v.items():
        pieces[i] = s
    return pieces, v


def added_tokens(tok) -> dict[int, tuple[str, bool]]:
    out: dict[int, tuple[str, bool]] = {}
    dec = getattr(tok, "added_tokens_decoder", None) or {}
    for i, at in dec.items():
        content = getattr(at, "content", str(at))
        out[int(i)] = (content, bool(getattr(at, "special", True)))
    return out


def _component_json(obj) -> str:
    if obj is None:
        return ""
    try:
        state = obj.__getstate__()
        return state.decode("utf-8") if isinstance(state, bytes) else str(state)
    except Exception:
        return repr(obj)


def detect_family(tok, pieces: list[str | None]) -> str:
    """``"bytelevel"`` or ``"sentencepiece"``: read from the decoder, the vocabulary as a fallback."""
    bt = getattr(tok, "backend_tokenizer", None)
    if bt is not None:
        dec = _component_json(bt.decoder)
        pre = _component_json(bt.pre_tokenizer)
        model = _component_json_model(bt)
        if '"ByteLevel"' in dec or "ByteLevel(" in dec:
            return "bytelevel"
        if "ByteFallback" in dec or "Metaspace" in dec or "Metaspace" in pre or '"byte_fallback": true' in model:
            return "sentencepiece"
        if "▁" in dec:
            return "sentencepiece"
        if '"ByteLevel"' in pre or "ByteLevel(" in pre:
            return "bytelevel"
    # Fall back on the vocabulary itself.
    n_bytes = sum(1 for p in pieces if p is not None and _BYTE_FALLBACK_RE.match(p))
    n_meta = sum(1 for p in pieces if p is not None and "▁" in p)
    n_g = sum(1 for p in pieces if p is not None and ("Ġ" in p or "Ċ" in p))
    if n_bytes >= 256 or n_meta > n_g:
        return "sentencepiece"
    if n_g > 0:
        return "bytelevel"
    raise VocabularyError(
        "cannot tell the tokenizer family (byte-level BPE or SentencePiece) of "
        f"{type(tok).__name__}"
    )


def _component_json_model(bt) -> str:
    # The model's JSON holds the whole vocabulary; only peek at its options.
    m = bt.model
    parts = []
    for attr in ("byte_fallback",):
        v = getattr(m, attr, None)
        if v is not None:
            parts.append(f'"{attr}": {str(bool(v)).lower()}')
    return ", ".join(parts)


def bytelevel_bytes(pieces: list[str | None]) -> list[bytes | None]:
    """Exact bytes of byte-level BPE pieces (GPT-2 table), None for holes."""
    # One character per byte: translate everything at once, then cut at the piece lengths.
    idx = [i for i, p in enumerate(pieces) if p is not None]
    strs = [pieces[i] for i in idx]
    joined = "".join(strs)
    bad_chars = set(joined) - BYTELEVEL_CHARS
    raw = joined.translate(UNICODE_TO_BYTES).encode("latin-1", errors="replace")
    out: list[bytes | None] = [None] * len(pieces)
    pos = 0
    for i, p in zip(idx, strs):
        end = pos + len(p)
        out[i] = raw[pos:end]
        pos = end
    if bad_chars:
        # not byte-level pieces (e.g. an added token's raw text): take them literally
        for i, p in zip(idx, strs):
            if not bad_chars.isdisjoint(p):
                out[i] = p.encode("utf-8")
    return out


def sentencepiece_bytes(pieces: list[str | None]) -> list[bytes | None]:
    """Exact bytes of SentencePiece pieces (``▁`` is a space, ``<0xHH>`` a byte), None for holes."""
    out: list[bytes | None] = []
    for p in pieces:
        if p is None:
            out.append(None)
            continue
        m = _BYTE_FALLBACK_RE.match(p) if len(p) == 6 else None
        if m:
            out.append(bytes([int(m.group(1), 16)]))
        else:
            out.append(p.replace("▁", " ").encode("utf-8"))
    return out
