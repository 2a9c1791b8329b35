"""Argument checks that run before the first forward pass.

Why: a sampling parameter out of range, a prompt longer than the context or a constraint
compiled for another tokenizer must fail with a message naming the argument, not as garbage
output or an index error deep in the model.  Each check raises
:class:`~decode.result.GenerationArgumentError` or :class:`~constrain.VocabularyError`.
"""

from __future__ import annotations

import math

import numpy as np

from constrain.errors import ConstraintError, VocabularyError
from constrain.tokens.vocab import Vocabulary, require_eos

from .result import GenerationArgumentError

__all__ = ["check_context", "check_sampling", "check_vocabulary", "tokenizer_len"]


def check_vocabulary(vocab, *, width: int, tokenizer=None, where: str = "constraint") -> None:
    """:class:`VocabularyError` unless a constraint's vocabulary fits the model and tokenizer.

    A ``Compiled`` built for another model's vocabulary does not fail by itself: its masks
    allow ids that spell other text, and the output comes out as garbage marked finished. So:
    the vocabulary needs an EOS id; it may not have more ids than the model has logits
    (``width``); with the ``tokenizer`` at hand, it must cover the tokenizer's ids and every id
    both spell must spell the same bytes (the fingerprint first: equal for a vocabulary built
    from this tokenizer, so the common case costs a string compare). Without a tokenizer
    (``LogitsProcessor``), a model with many more logits than the vocabulary has ids (past
    the usual padding to a multiple of 1024) is taken as another model.
    """
    require_eos(vocab, where)
    size = int(vocab.size)
    hint = f"compile it for Vocabulary.from_hf(tokenizer, vocab_size={width}) of this model's tokenizer"
    if size > width:
        raise VocabularyError(f"{where}: compiled for a vocabulary of {size} ids, but the model has only "
                              f"{width} logits: it was compiled for another model; {hint}")
    if tokenizer is None:
        if width > -(-size // 1024) * 1024:
            raise VocabularyError(f"{where}: compiled for a vocabulary of {size} ids, but the model has "
                                  f"{width} logits: it looks compiled for another model; {hint}")
        return
    n_tok = tokenizer_len(tokenizer)
    if n_tok is not None and size < n_tok:
        raise VocabularyError(f"{where}: compiled for a vocabulary of {size} ids, but the tokenizer has "
                              f"{n_tok}: it was compiled for another tokenizer; {hint}")
    if not isinstance(vocab, Vocabulary) or getattr(vocab, "tokenizer", None) is tokenizer:
        return
    try:
        ref = Vocabulary.from_hf(tokenizer, vocab_size=size)
    except (ValueError, ConstraintError):  # a tokenizer family we cannot read: sizes were checked
        return
    if ref.fingerprint == vocab.fingerprint:
        return
    t = _first_token_mismatch(vocab, ref)
    if t is not None:
        raise VocabularyError(
            f"{where}: compiled for another tokenizer: token {t} is {vocab.token_bytes[t]!r} in its "
            f"vocabulary but {ref.token_bytes[t]!r} for this tokenizer ({type(tokenizer).__name__}); {hint}")


def _first_token_mismatch(a: Vocabulary, b: Vocabulary) -> int | None:
    """The first id that spells text in both vocabularies, differently (None: they agree)."""
    n = min(a.size, b.size)
    la, lb = a.token_lens[:n], b.token_lens[:n]
    both = (la > 0) & (lb > 0)
    k = min(a.padded_bytes.shape[1], b.padded_bytes.shape[1])
    differ = both & ((la != lb) | (a.padded_bytes[:n, :k] != b.padded_bytes[:n, :k]).any(axis=1))
    nz = np.flatnonzero(differ)
    return int(nz[0]) if nz.size else None


def check_sampling(*, max_new_tokens, temperature, top_p, top_k, frequency_penalty, presence_penalty) -> None:
    """:class:`GenerationArgumentError` for sampling parameters outside their meaning."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens < 1:
        raise GenerationArgumentError("max_new_tokens", f"must be an integer >= 1, got {max_new_tokens!r}")
    if _finite(temperature) is None or temperature < 0:
        raise GenerationArgumentError("temperature", f"must be a finite number >= 0 (0 = greedy), got {temperature!r}")
    if top_p is not None and not (_finite(top_p) is not None and 0 < top_p <= 1):
        raise GenerationArgumentError("top_p", f"must be in (0, 1] (None or 1 = off), got {top_p!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 0):
        raise GenerationArgumentError("top_k", f"must be an integer >= 0 (None or 0 = off), got {top_k!r}")
    for name, v in (("frequency_penalty", frequency_penalty), ("presence_penalty", presence_penalty)):
        if _finite(v) is None:
            raise GenerationArgumentError(name, f"must be a finite number (negative favours repeats), got {v!r}")


def _finite(v) -> float | None:
    """``v`` as a float if it is a finite number, else None."""
    if isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def check_context(model, n_prompt: int, max_new_tokens: int, row: int | None = None) -> None:
    """:class:`GenerationArgumentError` if the prompt plus ``max_new_tokens`` exceeds the model's
    context (``config.max_position_embeddings``): positions past it are garbage or an index error."""
    ctx = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if not isinstance(ctx, int) or n_prompt + max_new_tokens <= ctx:
        return
    which = "the prompt" if row is None else f"prompt {row}"
    if n_prompt >= ctx:
        msg = f"{which} has {n_prompt} tokens, more than the model's context of {ctx} positions"
    else:
        msg = (f"{which} has {n_prompt} tokens and max_new_tokens={max_new_tokens}: together more than the "
               f"model's context of {ctx} positions; lower max_new_tokens to {ctx - n_prompt} or shorten the prompt")
    raise GenerationArgumentError("prompt_or_messages", msg)


def tokenizer_len(tokenizer) -> int | None:
    """Number of ids the tokenizer knows (added tokens included), or None if it cannot say."""
    try:
        return int(len(tokenizer))
    except TypeError:
        return None
