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
  proposals, resampled when the effective sample size drops (``decode.samplers.smc``);
- ``method="asap"``: ``n`` grammar-aligned draws one after another (ASAp,
  ``decode.samplers.asap``): unweighted, each learning from the ones before it where the
  language's mass is, so that their law converges to ``pi`` (for many draws on one prompt;
  :class:`decode.GrammarAligned` keeps the learning across calls).

It works over any :class:`decode.TokenLM` (``HFTokenLM``, ``TableLM``); the loop of the first
three is :func:`decode.samplers.smc.run_particles`, shared by them.
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np
import torch

from constrain.compiled import Compiled
from .result import GenerationArgumentError
from .samplers.asap import GrammarAligned
from .samplers.awrs import AWRSProposal
from .samplers.predicate import MatcherWalker, PredicateWalker
from .samplers.samples import Samples, check_arguments
from .samplers.smc import MaskedProposal, run_particles
from .speculative import TorchChooser, as_speculation, run_speculative

__all__ = ["Samples", "sample"]


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
    ``"masked"`` (exact weights from the mask), resampled when ``ESS / n < ess_threshold``),
    or ``"asap"`` (``n`` grammar-aligned draws in order, unweighted, converging to ``pi``; a
    fresh :class:`decode.GrammarAligned`, whose trie is dropped after the call).
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
    prompt = check_arguments(lm, prompt_ids, constraint, method, n, max_new_tokens, temperature, ess_threshold, proposal)
    spec = as_speculation(speculative)
    if spec is not None and method != "masked":
        raise GenerationArgumentError("speculative", f"speculative decoding verifies drafts against the masked "
                                      f"law; method={method!r} does not take it")
    if max_rejects is not None and (isinstance(max_rejects, bool) or not isinstance(max_rejects, int)
                                    or max_rejects < 0):
        raise GenerationArgumentError("max_rejects", f"must be an int >= 0 or None, got {max_rejects!r}")
    if method == "asap":
        return GrammarAligned(lm, prompt, constraint, max_new_tokens=max_new_tokens,
                              temperature=temperature).sample(n, seed=seed)
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
