"""Particles: the one decoding loop behind ``decode.sample``, with or without resampling.

Why one loop for three methods: masked sampling, AWRS and SMC differ only in how a step draws a
token and what weight it returns (the *proposal*: :class:`MaskedProposal` or
``decode.samplers.awrs.AWRSProposal``), and in whether particles are resampled.  Independent
samples are SMC that never resamples; so the loop below owns the order of things (ask the LM
for every live particle at once, propose, advance, reweight, maybe resample) and no branch
per method.

Weights (ALGORITHMS.md sections 0 and 1.3).  The target is the globally constrained law
``pi(y) = p(y) 1[y in L, |y| <= N] / Z`` over complete outputs of at most ``N =
max_new_tokens`` tokens (EOS included).  Each step multiplies a particle's weight by the
proposal's incremental weight: the exact legal mass ``Z_t`` (masked proposal, from the fused
kernel's ``log_z``) or AWRS's unbiased estimate of it; a particle still running after ``N``
tokens, or one that meets a dead end, gets weight 0.  Resampling (stratified, when
``ESS / n < ess_threshold``) sets every weight to the mean weight, so at the end
``log mean exp(logw)`` is an unbiased estimate of ``Z`` (``Samples.log_ml``) and the
weighted particles are a consistent sample of ``pi``.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from ..kernels import masked_sample

__all__ = ["MaskedProposal", "ParticleRun", "effective_sample_size", "log_mean_exp", "run_particles",
           "stratified_resample"]


class MaskedProposal:
    """Token masking as a proposal: draw from the masked law, weight by the exact ``log Z_t``.

    Fills each live row's full mask (``stats["masks_computed"]``) and samples with the fused
    kernel, which returns the legal log-mass of the row in the same pass.  A row whose legal
    tokens all have probability 0 is a dead end: token ``-1``, weight ``-inf``.
    ``temperature=0`` (greedy) is for unweighted masked sampling only.
    """

    needs_mask = True

    def __init__(self, n_words: int, generator: torch.Generator | None = None, temperature: float = 1.0):
        self.n_words = n_words
        self.generator = generator
        self.temperature = temperature

    def propose(self, logp: torch.Tensor, walkers: Sequence, stats: dict):
        mask = torch.zeros((len(walkers), self.n_words), dtype=torch.int32)
        rows = mask.numpy()  # a view: the matchers write their words straight into the tensor
        for j, walker in enumerate(walkers):
            walker.fill_mask(rows, j)
        stats["masks_computed"] += len(walkers)
        toks, log_z = masked_sample(logp.to("cpu", torch.float32), mask, self.temperature,
                                    generator=self.generator, return_log_z=True)
        return toks.tolist(), log_z.double().numpy()


def log_mean_exp(logw: np.ndarray) -> float:
    """``log(mean(exp(logw)))`` without overflow; ``-inf`` when every weight is 0."""
    m = float(np.max(logw)) if len(logw) else -math.inf
    if not math.isfinite(m):
        return -math.inf
    return m + math.log(float(np.exp(logw - m).sum())) - math.log(len(logw))


def effective_sample_size(logw: np.ndarray) -> float:
    """``1 / sum(w_bar^2)`` of the normalised weights (0 when every weight is 0)."""
    m = float(np.max(logw))
    if not math.isfinite(m):
        return 0.0
    w = np.exp(logw - m)
    w /= w.sum()
    return float(1.0 / np.square(w).sum())


def stratified_resample(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ancestor indices: one uniform in each of ``n`` equal strata of the weights' CDF.

    Each particle's expected number of offspring is ``n * w_bar_i`` (so the estimate of ``Z``
    stays unbiased) with less variance than multinomial resampling (llamppl's default).
    """
    n = len(weights)
    cdf = np.cumsum(weights / weights.sum())
    cdf[-1] = 1.0
    u = (np.arange(n) + rng.random(n)) / n
    return np.minimum(np.searchsorted(cdf, u, side="right"), n - 1)


class ParticleRun:
    """What :func:`run_particles` returns: sequences (EOS excluded), weights, flags."""

    __slots__ = ("token_ids", "log_weights", "finished", "log_ml")

    def __init__(self, token_ids, log_weights, finished, log_ml):
        self.token_ids = token_ids
        self.log_weights = log_weights
        self.finished = finished
        self.log_ml = log_ml


def run_particles(lm, prompt_ids: Sequence[int], walkers: list, proposal, *, max_new_tokens: int,
                  temperature: float = 1.0, ess_threshold: float = 0.0, kill_unfinished: bool = True,
                  rng: np.random.Generator | None = None, stats: dict) -> ParticleRun:
    """Extend ``len(walkers)`` particles until each draws EOS, dies, or has ``max_new_tokens``.

    One ``lm.logprobs`` call per step for all live particles.  ``temperature`` (> 0) tempers
    the model's distribution before the proposal sees it (``log_softmax(logp / T)``; the
    target is then the product of tempered next-token laws, restricted to the language); 0
    leaves it as is (greedy masked proposals).  ``ess_threshold`` 0 never resamples.
    ``kill_unfinished``: give weight 0 to particles still running at the budget (the weighted
    methods; unweighted masked sampling keeps them as truncated samples).
    """
    n = len(walkers)
    prompt = [int(t) for t in prompt_ids]
    eos = frozenset(int(e) for e in np.asarray(lm.vocab.eos_ids).tolist())
    seqs: list[list[int]] = [[] for _ in range(n)]
    logw = np.zeros(n, dtype=np.float64)
    done = np.zeros(n, dtype=bool)
    finished = np.zeros(n, dtype=bool)
    rng = rng if rng is not None else np.random.default_rng()
    for step in range(max_new_tokens):
        live = np.flatnonzero(~done)
        if not len(live):
            break
        logp = lm.logprobs([prompt + seqs[i] for i in live])
        stats["forward_calls"] += 1
        logp = logp.detach().to("cpu", torch.float64)[:, : lm.vocab.size]
        if temperature > 0 and temperature != 1.0:
            logp = torch.log_softmax(logp / temperature, dim=1)
        toks, incr = proposal.propose(logp, [walkers[i] for i in live], stats)
        for j, i in enumerate(live):
            tok = toks[j]
            if tok < 0 or incr[j] == -math.inf:  # dead end: nothing allowed has mass
                logw[i] = -math.inf
                done[i] = True
                continue
            logw[i] += incr[j]
            walkers[i].advance(tok)
            if tok in eos:
                done[i] = finished[i] = True
            else:
                seqs[i].append(tok)
        if step == max_new_tokens - 1:
            if kill_unfinished:
                logw[~done] = -math.inf  # out of budget without EOS: outside the target's support
            break
        if (ess_threshold > 0 and not done.all() and math.isfinite(float(np.max(logw)))
                and effective_sample_size(logw) < ess_threshold * n):
            w = np.exp(logw - np.max(logw))
            anc = stratified_resample(w, rng)
            seqs = [list(seqs[a]) for a in anc]
            walkers = [walkers[a].copy() for a in anc]
            done, finished = done[anc], finished[anc]
            logw = np.full(n, log_mean_exp(logw))
            stats["resamples"] += 1
    return ParticleRun(seqs, logw, finished, log_mean_exp(logw))
