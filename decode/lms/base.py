"""What a token language model is to the samplers, and a hand-made one.

Why a protocol of its own (and not ``decode.lm.HFCausalLM``): the weighted samplers
(``decode.sample``: AWRS, SMC) need next-token *log-probabilities* for arbitrary contexts
(particles fork, die and get resampled), not a batch-aligned KV cache that the loop advances
in lockstep; and their exactness tests need a model whose law can be enumerated by hand.
:class:`TokenLM` is that contract; :class:`TableLM` is the hand-made model;
``decode.HFTokenLM`` (``decode/lms/hf.py``) adapts a Hugging Face causal LM.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np
import torch

from constrain.tokens.vocab import Vocabulary

__all__ = ["TableLM", "TokenLM"]


@runtime_checkable
class TokenLM(Protocol):
    """A next-token distribution over a :class:`constrain.Vocabulary`.

    ``vocab``: the vocabulary (its ``size`` is the distribution's width, EOS ids included).
    ``logprobs(contexts)``: for each context (a list of token ids, prompt included) the
    natural-log next-token probabilities, a float tensor ``[len(contexts), vocab.size]`` whose
    rows each log-sum-exp to 0 (``-inf`` for impossible tokens).  One call is one batched
    "forward"; samplers call it once per decoding step for every live sequence together.
    """

    vocab: Vocabulary

    def logprobs(self, contexts: Sequence[Sequence[int]]) -> torch.Tensor:
        ...


class TableLM:
    """A language model given by a Python function of the context, for tests and docs.

    ``next_token(context: tuple[int, ...])`` returns the next-token distribution over
    ``vocab.size`` ids (a sequence, numpy array or tensor): probabilities by default,
    log-probabilities with ``log=True``.  Rows are renormalised (so hand-written weights like
    ``[3, 1, 0, 1]`` are fine) and the result of each distinct context is cached, because a
    hand-made table is deterministic and SMC asks for the same prefixes many times.

    Why: the samplers' exactness tests enumerate every sequence of a toy and compare the
    sampled law with the exact one; that needs a model small enough to enumerate and easy to
    make deliberately biased (dead ends, low-mass legal branches).

    ``forward_calls`` counts :meth:`logprobs` calls, ``contexts_computed`` the cache misses.
    """

    def __init__(self, vocab: Vocabulary, next_token: Callable[[tuple[int, ...]], object], *, log: bool = False):
        if not isinstance(vocab, Vocabulary):
            raise TypeError(f"vocab must be a constrain.Vocabulary, got {type(vocab).__name__}")
        self.vocab = vocab
        self.next_token = next_token
        self.log = log
        self.forward_calls = 0
        self.contexts_computed = 0
        self._cache: dict[tuple[int, ...], np.ndarray] = {}

    def _row(self, ctx: tuple[int, ...]) -> np.ndarray:
        row = self._cache.get(ctx)
        if row is not None:
            return row
        out = self.next_token(ctx)
        if isinstance(out, torch.Tensor):
            out = out.detach().cpu().double().numpy()
        x = np.asarray(out, dtype=np.float64).reshape(-1)
        if x.shape[0] != self.vocab.size:
            raise ValueError(f"next_token{ctx} gave {x.shape[0]} values for a vocabulary of {self.vocab.size}")
        if self.log:
            if np.isnan(x).any() or np.isposinf(x).any():
                raise ValueError(f"next_token{ctx} gave NaN or +inf log-probabilities")
            m = x.max()
            if not np.isfinite(m):
                raise ValueError(f"next_token{ctx} gives every token probability 0")
            row = x - (m + np.log(np.exp(x - m).sum()))
        else:
            if (x < 0).any() or not np.isfinite(x).all():
                raise ValueError(f"next_token{ctx} gave negative or non-finite probabilities")
            total = x.sum()
            if total <= 0:
                raise ValueError(f"next_token{ctx} gives every token probability 0")
            with np.errstate(divide="ignore"):
                row = np.log(x / total)
        self._cache[ctx] = row
        self.contexts_computed += 1
        return row

    def logprobs(self, contexts: Sequence[Sequence[int]]) -> torch.Tensor:
        """``[len(contexts), vocab.size]`` float64 natural-log next-token probabilities."""
        self.forward_calls += 1
        if not len(contexts):
            return torch.empty((0, self.vocab.size), dtype=torch.float64)
        return torch.from_numpy(np.stack([self._row(tuple(int(t) for t in c)) for c in contexts]))

    def __repr__(self) -> str:
        return f"TableLM(vocab={self.vocab.size} tokens, {len(self._cache)} contexts cached)"
