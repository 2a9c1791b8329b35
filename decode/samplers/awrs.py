"""Adaptive weighted rejection sampling (AWRS; Lipkin et al., COLM 2025), one token at a time.

Why: token masking needs the whole mask of every state it visits, i.e. a check of every
vocabulary entry (cheap once a compiled state is cached, expensive on first visits of big
grammars and impossible for a constraint that is a Python function).  AWRS visits tokens in
one sampling-without-replacement order of the model's distribution (Gumbel-top-k) and checks
only those it visits: the first allowed token is an exact draw from the masked law
``l_t = p * m / Z_t``, after on average at most ``1/Z_t`` distinct checks; plus one look-ahead
check gives an unbiased, properly weighted estimate of the legal mass ``Z_t``:

    E[W * 1{x = t}] = p(t) * m(t)  for every token t,

so multiplying the estimates along a sequence gives importance weights for the global target
``pi(y) ~ p(y) 1[y in L]`` (``decode.sample(method="awrs")``, SMC with ``proposal="awrs"``).

The estimator is genlm-control's ``recursive_awrs`` (ALGORITHMS.md section 1.2 (b)): with
``mult`` the product of ``1 - q_r`` over the rejected tokens and ``q_x = p(x) / (1 - rejected
mass)`` the chosen token's conditional probability when it was drawn, ``W = mult`` if the
next token in the same order is allowed (or there is none), else ``mult * q_x``.
:func:`awrs_select` is written over any number type so the tests run it on ``Fraction``s and
check the identity above exactly.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

__all__ = ["AWRSProposal", "awrs_select", "swor_order"]


def awrs_select(order: Iterable[int], prob: Callable[[int], object], accept: Callable[[int], bool],
                max_rejects: int | None = None, exact: Callable[[], tuple] | None = None):
    """One AWRS draw -> ``(token or None, W, checks)``.

    ``order``: the live tokens (probability > 0) in a sampling-without-replacement order of
    ``prob`` (only as much of it is read as the algorithm needs); ``prob(t)``: the proposal
    probability of ``t`` (summing to 1 over the order; floats or ``Fraction``s: W is computed
    in the same type); ``accept(t)``: the constraint check, called once per visited token.
    ``W`` is the unbiased weight (0 with token ``None`` when every token is rejected: a dead
    end), ``checks`` the number of ``accept`` calls.

    ``max_rejects`` / ``exact``: after that many rejections, stop checking single tokens and
    return ``exact()``, a draw ``(token or None, Z)`` from the masked law with the exact legal
    mass ``Z`` as its weight (one full mask). Still properly weighted: on that branch every
    rejected token was illegal, so the legal mass is all in the unvisited part and
    ``mult = prod(1 - q_r)`` equals the unvisited mass; the continued AWRS would have given
    ``E[W 1{x=t}] = mult * p(t) m(t) / remaining = p(t) m(t)``, which the exact draw gives too.
    It bounds the checks where the legal mass is tiny (a model that barely wants the only
    legal token, e.g. EOS after a complete answer), where plain AWRS approaches |V| checks.
    """
    it = iter(order)
    remaining = 1  # 1 - mass of the tokens rejected so far
    mult = 1  # product of (1 - q_r) over the rejected tokens
    checks = 0
    rejects = 0
    for x in it:
        if exact is not None and max_rejects is not None and rejects >= max_rejects:
            tok, z = exact()
            return tok, z, checks
        p = prob(x)
        # q: x's probability given that the rejected tokens were drawn first; when x carries
        # all the remaining mass (the last live token, up to rounding) it is 1
        q = p / remaining if remaining > p else 1
        checks += 1
        if accept(x):
            y = next(it, None)
            if y is None:  # x was the last live token: W = mult (q = 1 in exact arithmetic)
                return x, mult, checks
            checks += 1
            return x, (mult if accept(y) else mult * q), checks
        mult = mult * (1 - q)
        remaining = remaining - p
        rejects += 1
    return None, 0 * mult, checks


def swor_order(keys_row: torch.Tensor, n_live: int, first: int = 32, growth: int = 8) -> Iterator[int]:
    """The token ids of one row of Gumbel keys in decreasing order, ``n_live`` of them.

    Most draws stop after a few checks, so the order is produced in growing top-k slices
    (``first`` ids, then ``growth`` times as many, ...) instead of one sort of the whole
    vocabulary: ``torch.topk`` of 32 out of 49,152 costs a fraction of a full ``argsort``.
    Each slice hands over only the ids the earlier ones did not (so a tie ordered differently
    by a larger top-k can neither repeat nor skip an id).
    """
    k = min(first, n_live)
    given: set[int] = set()
    while k > 0:
        ids = torch.topk(keys_row, k, sorted=True).indices.tolist()
        for t in ids:
            if t not in given:
                given.add(t)
                yield t
        if k >= n_live:
            return
        k = min(n_live, k * growth)


class AWRSProposal:
    """The per-step strategy of AWRS: one token and one log-weight per live sequence.

    ``propose(logp, walkers, stats)``: ``logp`` ``[k, V]`` (normalised natural-log next-token
    probabilities, already tempered), one walker per row; returns the tokens (``-1`` for a row
    where every token is rejected) and the log-weights ``log W`` (``-inf`` for those rows).
    ``stats["tokens_checked"]`` counts the constraint checks.
    """

    needs_mask = False

    #: default rejection cap before one full mask replaces single-token checks (constraints
    #: that can give a mask: compiled ones; a ``Predicate`` never falls back)
    MAX_REJECTS = 256

    #: a row whose most likely token carries at least this much probability and is illegal is
    #: drawn exactly from its mask (constraints that can give a mask; see :meth:`propose`)
    PEAKED = 2 / 3

    def __init__(self, generator: torch.Generator | None = None, max_rejects: int | None = MAX_REJECTS,
                 peaked: float | None = PEAKED):
        self.generator = generator
        self.max_rejects = max_rejects
        self.peaked = peaked
        # the Gumbel noise comes from numpy (several times faster than torch.rand on CPU),
        # seeded from ``generator`` so that a seeded run stays reproducible
        seed = None if generator is None else int(torch.randint(0, 2**62, (1,), generator=generator))
        self._rng = np.random.default_rng(seed)

    def _exact(self, walker, probs_row: np.ndarray, stats: dict):
        """A draw from the masked law of one row and its exact legal mass (one full mask)."""
        words = np.zeros((1, (probs_row.shape[0] + 31) // 32), dtype=np.int32)
        walker.fill_mask(words, 0)
        stats["masks_computed"] += 1
        bits = np.unpackbits(words.view(np.uint8), bitorder="little")[:probs_row.shape[0]].astype(bool)
        legal = np.where(bits, probs_row, 0.0)
        z = float(legal.sum())
        if z <= 0.0:
            return None, 0.0
        t = int(torch.multinomial(torch.from_numpy(legal), 1, generator=self.generator))
        return t, z

    def propose(self, logp: torch.Tensor, walkers: Sequence, stats: dict):
        """One AWRS draw per row, or an exact one where the model fights the constraint.

        A row whose top token has probability >= ``peaked`` and is illegal (one check) is the
        regime where single-token AWRS does worst: the legal mass is at most a third, the
        walk passes the top token and a tail of illegal ones, and the weight
        ``mult`` / ``mult * q`` lands far above or far below ``Z`` (it is unbiased, but its
        variance shows up as noisy SMC weights and log marginal likelihoods; genlm-control
        switches to its geometric estimator there).  With a constraint that has masks, such a
        row takes one exact draw with the exact ``Z`` instead: zero weight variance for one
        mask.  Choosing the branch from ``(p, m)`` of the row alone keeps the weights proper.
        ``max_rejects=None`` (no full mask ever) turns this off too.
        """
        # Gumbel-top-k: the order of decreasing keys is a SWOR order of p.  Keys in float32, the
        # precision of the model's own log-probabilities; probabilities (for the weights) in
        # float64, computed only for the tokens a walk visits.
        lp = logp.detach().cpu().numpy()
        u = self._rng.random(lp.shape, dtype=np.float32)
        np.maximum(u, np.finfo(np.float32).tiny, out=u)
        keys = torch.from_numpy(lp.astype(np.float32) - np.log(-np.log(u)))
        n_live = np.count_nonzero(np.isfinite(lp), axis=1).tolist()
        top = lp.argmax(axis=1).tolist()
        tokens: list[int] = []
        logw = np.empty(len(walkers), dtype=np.float64)
        for j, walker in enumerate(walkers):
            row = lp[j]
            exact = None
            if self.max_rejects is not None and hasattr(walker, "fill_mask"):
                exact = lambda walker=walker, row=row: self._exact(  # noqa: E731
                    walker, np.exp(row.astype(np.float64)), stats)
            known: dict[int, bool] = {}  # each token is checked once per draw

            def accept(t: int, walker=walker, known=known) -> bool:
                ok = known.get(t)
                if ok is None:
                    ok = known[t] = bool(walker.allowed(t))
                    stats["tokens_checked"] += 1
                return ok

            if (exact is not None and self.peaked is not None and math.exp(row[top[j]]) >= self.peaked
                    and not accept(top[j])):
                tok, w = exact()
            else:
                tok, w, _ = awrs_select(swor_order(keys[j], n_live[j]), lambda t, row=row: math.exp(row[t]),
                                        accept, self.max_rejects, exact)
            tokens.append(-1 if tok is None else tok)
            logw[j] = math.log(w) if w > 0 else -math.inf
        return tokens, logw
