"""``decode.sample``: draw from a constrained distribution with a token LM, masked or weighted.

Why next to ``generate`` and not inside it: ``generate`` samples every token from the masked,
renormalised next-token law ("token masking"), whose sequence law is ``p(y) / prod_t Z_t``,
not the law users usually mean, ``pi(y) = p(y) 1[y in L] / Z``.  This entry returns weighted
samples that are a consistent sample of ``pi`` (ALGORITHMS.md sections 0 and 1):

- ``method="masked"``: ``n`` independent token-masking samples (log-weights 0; the local law);
- ``method="awrs"``: ``n`` independent samples whose tokens are drawn by adaptive weighted
  rejection sampling (only sampled tokens are checked; ``decode.samplers.awrs``), each with
  the log of its unbiased weight (importance sampling for ``pi``);
- ``method="smc"``: one sequential Monte Carlo run with ``n`` particles, AWRS or exact masked
  proposals, resampled when the effective sample size drops (``decode.samplers.smc``).

It works over any :class:`decode.TokenLM` (``HFTokenLM``, ``TableLM``); the loop itself is
:func:`decode.samplers.smc.run_particles`, shared by the three methods.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from constrain.compiled import Compiled
from .result import GenerationArgumentError
from .samplers.awrs import AWRSProposal
from .samplers.predicate import MatcherWalker, Predicate, PredicateWalker
from .samplers.smc import MaskedProposal, run_particles
from .speculative import TorchChooser, as_speculation, run_speculative

__all__ = ["Samples", "sample"]

METHODS = ("masked", "awrs", "smc")
PROPOSALS = ("awrs", "masked")


@dataclass
class Samples:
    """What :func:`sample` returns: ``n`` sequences and their importance weights.

    ``token_ids``: one list per sample (EOS excluded); ``texts``: their decoded text;
    ``log_weights``: unnormalised natural-log importance weights (``-inf``: weight 0, e.g. a
    dead end or a sequence that ran out of ``max_new_tokens``; all 0 for ``method="masked"``,
    whose samples follow the local law, not ``pi``); ``finished``: EOS was drawn;
    ``log_ml``: ``log mean exp(log_weights)``, the estimate of ``log Z`` (SMC's log
    marginal likelihood; for ``"awrs"`` the importance-sampling one; ``None`` for
    ``"masked"``); ``stats``: ``forward_calls`` (LM calls), ``masks_computed`` (full masks
    filled), ``tokens_checked`` (single-token constraint checks), ``resamples``, ``seconds``.
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


def _check(lm, prompt_ids, constraint, method, n, max_new_tokens, temperature, ess_threshold, proposal):
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
        if method == "masked" or (method == "smc" and proposal == "masked"):
            what = "method='masked'" if method == "masked" else "method='smc' with proposal='masked'"
            raise GenerationArgumentError("constraint", f"a Predicate cannot give a full token mask, which "
                                          f"{what} needs; use method='awrs', or method='smc' with "
                                          f"proposal='awrs' (or compile the constraint)")
    else:
        raise GenerationArgumentError("constraint", f"must be a constrain.Compiled or a decode.Predicate, "
                                      f"got {type(constraint).__name__}")
    return prompt


def sample(lm, prompt_ids: Sequence[int], constraint, *, method: str = "masked", n: int = 1,
           max_new_tokens: int = 64, temperature: float = 1.0, seed: int | None = None,
           ess_threshold: float = 0.5, proposal: str = "awrs",
           max_rejects: int | None = AWRSProposal.MAX_REJECTS, speculative=None) -> Samples:
    """Sample ``n`` outputs of ``lm`` after ``prompt_ids`` under ``constraint``.

    ``lm``: a :class:`decode.TokenLM`; ``constraint``: a ``constrain.Compiled`` over the
    LM's vocabulary, or a :class:`decode.Predicate` (``method="awrs"``, or ``"smc"`` with
    ``proposal="awrs"`` only).  ``method``: ``"masked"`` (token masking: ``n`` independent
    samples of the local law), ``"awrs"`` (``n`` independent AWRS samples, importance-weighted
    for ``pi``) or ``"smc"`` (one SMC run of ``n`` particles with ``proposal="awrs"`` or
    ``"masked"`` (exact weights from the mask), resampled when ``ESS / n < ess_threshold``).
    A sequence ends when EOS is drawn (allowed only where the constraint accepts) or after
    ``max_new_tokens`` tokens (EOS included); the weighted methods give a sequence that ran out
    weight 0, so they target ``pi`` over outputs of at most that many tokens.
    ``temperature`` tempers each next-token law (``softmax(logp / T)``; 0 = greedy, masked
    only).  ``seed`` makes the run reproducible.  ``max_rejects`` (AWRS with a compiled
    constraint): after that many rejected tokens in one step, one full mask gives an exact
    draw and the exact legal mass instead (still properly weighted); so does a step whose
    most likely token (probability >= 2/3) is illegal, where single-token weights are noisiest
    (``AWRSProposal.propose``).  ``max_rejects=None``: never a full mask.
    ``speculative`` (``method="masked"`` only): True or a :class:`decode.Speculation`; each
    LM call then verifies drafts of grammar-legal tokens (``decode.speculative``), with the
    same output law and fewer calls (``stats["forward_calls"]``, ``["drafted"]``,
    ``["accepted"]``).  Raises :class:`GenerationArgumentError` on bad arguments, before the
    first LM call.
    """
    prompt = _check(lm, prompt_ids, constraint, method, n, max_new_tokens, temperature, ess_threshold, proposal)
    spec = as_speculation(speculative)
    if spec is not None and method != "masked":
        raise GenerationArgumentError("speculative", f"speculative decoding verifies drafts against the masked "
                                      f"law; method={method!r} does not take it")
    if max_rejects is not None and (isinstance(max_rejects, bool) or not isinstance(max_rejects, int)
                                    or max_rejects < 0):
        raise GenerationArgumentError("max_rejects", f"must be an int >= 0 or None, got {max_rejects!r}")
    t0 = time.perf_counter()
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    rng = np.random.default_rng(seed)
    vocab = lm.vocab
    if isinstance(constraint, Compiled):
        walkers = [MatcherWalker(constraint.matcher()) for _ in range(n)]
    else:
        walkers = [PredicateWalker(constraint, vocab) for _ in range(n)]
    use_awrs = method == "awrs" or (method == "smc" and proposal == "awrs")
    step = AWRSProposal(generator, max_rejects) if use_awrs else MaskedProposal(
        vocab.n_words, generator, 0.0 if temperature == 0 else 1.0)
    stats = {"forward_calls": 0, "masks_computed": 0, "tokens_checked": 0, "resamples": 0, "drafted": 0,
             "accepted": 0}
    if spec is not None:
        run = run_speculative(lm, prompt, [w.matcher for w in walkers], spec, max_new_tokens=max_new_tokens,
                              temperature=temperature, chooser=TorchChooser(generator), stats=stats)
    else:
        run = run_particles(lm, prompt, walkers, step, max_new_tokens=max_new_tokens, temperature=temperature,
                            ess_threshold=ess_threshold if method == "smc" else 0.0,
                            kill_unfinished=method != "masked", rng=rng, stats=stats)
    log_weights = run.log_weights
    log_ml: float | None = run.log_ml
    if method == "masked":  # the local law's samples: unweighted (a dead end stays weight 0)
        log_weights = np.where(np.isneginf(log_weights), -math.inf, 0.0)
        log_ml = None
    stats["seconds"] = time.perf_counter() - t0
    texts = [vocab.decode_bytes(ids).decode("utf-8", errors="replace") for ids in run.token_ids]
    return Samples(token_ids=run.token_ids, texts=texts, log_weights=[float(x) for x in log_weights],
                   finished=[bool(f) for f in run.finished], log_ml=log_ml, method=method, stats=stats)
