"""What ``decode.sample`` returns (:class:`Samples`) and the argument checks every method shares.

Why a module of its own: ``decode.sample`` (one entry, four methods) and the persistent ASAp
sampler (``decode.samplers.asap.GrammarAligned``, which ``sample(method="asap")`` runs) both
build ``Samples`` and both refuse the same bad arguments before the first LM call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass, field

import numpy as np
import torch

from constrain.compiled import Compiled
from ..result import GenerationArgumentError
from .predicate import Predicate

__all__ = ["METHODS", "PROPOSALS", "Samples", "check_arguments"]

METHODS = ("masked", "awrs", "smc", "asap")
PROPOSALS = ("awrs", "masked")


@dataclass
class Samples:
    """What :func:`sample` returns: ``n`` sequences and their importance weights.

    ``token_ids``: one list per sample (EOS excluded); ``texts``: their decoded text;
    ``log_weights``: unnormalised natural-log importance weights (``-inf``: weight 0, e.g. a
    dead end or a sequence that ran out of ``max_new_tokens``; all 0 for ``method="masked"``,
    whose samples follow the local law, not ``pi``, and for ``"asap"``, whose samples are
    unweighted draws of a proposal that learns ``pi``); ``finished``: EOS was drawn;
    ``log_ml``: ``log mean exp(log_weights)``, the estimate of ``log Z`` (SMC's log
    marginal likelihood; for ``"awrs"`` the importance-sampling one; ``None`` for
    ``"masked"`` and ``"asap"``); ``stats``: ``forward_calls`` (LM calls), ``masks_computed``
    (full masks filled), ``tokens_checked`` (single-token constraint checks), ``resamples``,
    ``seconds``; ``"asap"`` adds ``trie_nodes``, ``tokens_drawn``, ``trie_hits``,
    ``restarts``, ``evictions`` and ``root_efg`` (see :class:`decode.GrammarAligned`).
    ``texts`` are in draw order (for ``"asap"`` that order matters: each draw learned from
    the ones before it).
    """

    token_ids: list[list[int]]
    texts: list[str]
    log_weights: list[float]
    finished: list[bool]
    log_ml: float | None
    method: str
    stats: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.token_ids)

    def posterior(self) -> dict[str, float]:
        """Text -> normalised weight, samples with the same text merged, weight-0 ones dropped.

        Empty when every weight is 0 (every particle died).
        """
        lw = np.asarray(self.log_weights, dtype=np.float64)
        if not len(lw) or not np.isfinite(lw.max()):
            return {}
        w = np.exp(lw - lw.max())
        w /= w.sum()
        out: dict[str, float] = {}
        for text, wi in zip(self.texts, w.tolist()):
            if wi > 0:
                out[text] = out.get(text, 0.0) + wi
        return out


def check_arguments(lm, prompt_ids, constraint, method, n, max_new_tokens, temperature, ess_threshold, proposal):
    if method not in METHODS:
        raise GenerationArgumentError("method", f"must be one of {METHODS}, got {method!r}")
    if proposal not in PROPOSALS:
        raise GenerationArgumentError("proposal", f"must be one of {PROPOSALS}, got {proposal!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise GenerationArgumentError("n", f"must be an integer >= 1, got {n!r}")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise GenerationArgumentError("max_new_tokens", f"must be an integer >= 1, got {max_new_tokens!r}")
    if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature < 0:
        raise GenerationArgumentError("temperature", f"must be a finite number >= 0, got {temperature!r}")
    if temperature == 0 and method != "masked":
        raise GenerationArgumentError("temperature", f"0 (greedy) has no sampling law to weight; "
                                      f"method={method!r} needs temperature > 0")
    if not isinstance(ess_threshold, (int, float)) or not 0 <= ess_threshold <= 1:
        raise GenerationArgumentError("ess_threshold", f"must be in [0, 1], got {ess_threshold!r}")
    vocab = getattr(lm, "vocab", None)
    if vocab is None or not callable(getattr(lm, "logprobs", None)):
        raise GenerationArgumentError("lm", f"must be a decode.TokenLM (a .vocab and .logprobs(contexts)), "
                                      f"got {type(lm).__name__}")
    if not len(vocab.eos_ids):
        raise GenerationArgumentError("lm", "its vocabulary has no EOS id, so no output can end")
    if isinstance(prompt_ids, (str, bytes)) or not isinstance(prompt_ids, (SequenceABC, torch.Tensor, np.ndarray)):
        raise GenerationArgumentError("prompt_ids", f"must be a sequence of token ids, got {type(prompt_ids).__name__}")
    prompt = [int(t) for t in (prompt_ids.tolist() if hasattr(prompt_ids, "tolist") else prompt_ids)]
    if any(not 0 <= t < vocab.size for t in prompt):
        raise GenerationArgumentError("prompt_ids", f"ids must be in [0, {vocab.size})")
    if isinstance(constraint, Compiled):
        if constraint.vocab.size != vocab.size:
            raise GenerationArgumentError("constraint", f"compiled for a vocabulary of {constraint.vocab.size} "
                                          f"tokens, but the LM has {vocab.size}")
    elif isinstance(constraint, Predicate):
        if method in ("masked", "asap") or (method == "smc" and proposal == "masked"):
            what = f"method={method!r}" if method != "smc" else "method='smc' with proposal='masked'"
            raise GenerationArgumentError("constraint", f"a Predicate cannot give a full token mask, which "
                                          f"{what} needs; use method='awrs', or method='smc' with "
                                          f"proposal='awrs' (or compile the constraint)")
    else:
        raise GenerationArgumentError("constraint", f"must be a constrain.Compiled or a decode.Predicate, "
                                      f"got {type(constraint).__name__}")
    return prompt
