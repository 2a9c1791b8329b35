"""Verification: which drafted tokens the target keeps, and the token it adds.

The target at every verified position, the bonus position included, is the *masked* law of
the non-speculative path (``p~ = norm(p * m)``, tempered, then top-k / top-p, in the order
``decode.masked_sample`` applies them), so the emitted tokens have exactly the law of
sequential masked sampling (ALGORITHMS.md 3.2); greedy keeps a draft iff it is the masked
argmax, so greedy output is token-for-token that of the plain loop.

Drafts are point masses (see :mod:`decode.speculative.drafts`): Leviathan et al.'s test
``min(1, p~(d) / q(d))`` becomes "keep ``d`` with probability ``p~(d)``", and the residual
``norm(max(0, p~ - q))`` becomes ``p~`` without ``d``, renormalised.  Randomness comes from
a ``chooser`` (:class:`TorchChooser`; the exactness tests pass one that enumerates every
branch with its probability), so the code that samples is the code that is tested.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ..kernels import masked_sample
from ..kernels.torch_impl import _filter_top_k_top_p, masked_logits_fp32

__all__ = ["TorchChooser", "greedy_targets", "target_probs", "verify_greedy", "verify_sampled", "verify_tree_greedy",
           "verify_tree_sampled"]


class TorchChooser:
    """The random choices of verification, drawn from a ``torch.Generator`` (CPU)."""

    def __init__(self, generator: torch.Generator | None = None):
        self.generator = generator

    def accept(self, p: float) -> bool:
        """True with probability ``p``."""
        return float(torch.rand((), dtype=torch.float64, generator=self.generator)) < p

    def sample(self, probs: torch.Tensor) -> int:
        """One index drawn from the (normalised, float64, CPU) ``probs``."""
        return int(torch.multinomial(probs, 1, generator=self.generator))


def target_probs(logits: torch.Tensor, masks: torch.Tensor, temperature: float,
                 top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """``[N, V]`` float64 CPU probabilities of the masked, tempered, truncated target."""
    x = masked_logits_fp32(logits, masks.to(logits.device))
    if temperature != 1.0:
        x.div_(float(temperature))
    if top_k is not None or top_p is not None:
        x = _filter_top_k_top_p(x, top_k, top_p)
    return torch.softmax(x.to("cpu", torch.float64), dim=1)


def greedy_targets(logits: torch.Tensor, masks: torch.Tensor) -> list[int]:
    """The masked argmax of each row, by the very kernel the plain loop's greedy step uses."""
    return masked_sample(logits, masks.to(logits.device), 0.0).tolist()


def verify_greedy(best: Sequence[int], drafts: Sequence[int]) -> tuple[int, int]:
    """``(accepted, token)``: drafts kept while they equal the argmax, then the argmax after them."""
    for i, d in enumerate(drafts):
        if d != best[i]:
            return i, int(best[i])
    return len(drafts), int(best[len(drafts)])


def verify_sampled(probs: torch.Tensor, drafts: Sequence[int], chooser) -> tuple[int, int | None]:
    """``(accepted, token)`` for point-mass drafts against the target rows ``probs``
    (``[len(drafts) + 1, V]``): keep ``d_i`` with probability ``p~_i(d_i)``; at the first
    rejection draw from ``p~_i`` without ``d_i``; if all are kept, draw the bonus from the last row.

    A draft the target gives probability 1 is kept without a draw (forced tokens), one it
    gives 0 is rejected without one (both are what the coin would say).  With only
    ``len(drafts)`` rows (the bonus position is a dead end, see ``run_speculative``) a fully
    kept draft returns ``token=None``.  Each position is :func:`_draw_among` with one candidate
    (the tree verifier's draw), coin for coin."""
    for i, d in enumerate(drafts):
        kept, token = _draw_among(probs[i], (d,), chooser)
        if kept is None:
            return i, token
    if probs.shape[0] <= len(drafts):
        return len(drafts), None
    return len(drafts), chooser.sample(probs[len(drafts)])


def _children(parents: Sequence[int], node: int) -> list[int]:
    return [j for j, p in enumerate(parents) if p == node]


def verify_tree_greedy(best: Sequence[int], tokens: Sequence[int], parents: Sequence[int]) -> tuple[list[int], int | None]:
    """``(path, token)`` for a draft tree: ``tokens[j]`` hangs below ``parents[j]`` (-1: the root,
    the position after the committed text; a parent precedes its children) and ``best[0]`` /
    ``best[j + 1]`` is the masked argmax at the root / after node ``j``.  From the root, follow
    the child equal to the argmax while there is one: ``path`` holds the nodes kept, ``token`` is
    the argmax after them (None where ``best`` has no row for that node: a dead end)."""
    node, path = -1, []
    while True:
        if node + 1 >= len(best) or best[node + 1] is None:
            return path, None
        y = int(best[node + 1])
        nxt = next((j for j in _children(parents, node) if tokens[j] == y), None)
        if nxt is None:
            return path, y
        path.append(nxt)
        node = nxt


def _draw_among(probs: torch.Tensor, candidates: Sequence[int], chooser) -> tuple[int | None, int]:
    """One draw from ``probs`` that tries the point-mass ``candidates`` first: keep candidate ``d``
    with its probability under what the earlier candidates left, else go on without it, and
    sample the rest when none is kept.  Its law is ``probs`` itself (each step is a
    conditional of it); with one candidate it is :func:`verify_sampled`'s test, coin for coin.
    ``(index of the kept candidate or None, token)``."""
    q, mass = probs, 1.0
    for j, d in enumerate(candidates):
        p = float(q[d]) / mass
        if p >= 1.0 or (p > 0.0 and chooser.accept(p)):
            return j, d
        if q is probs:
            q = probs.clone()
        q[d] = 0.0
        mass = float(q.sum())
        if mass <= 0.0:  # p rounds below 1 but nothing else has mass: d is what the law says
            return j, d
    return None, chooser.sample(q / mass)


def verify_tree_sampled(probs: torch.Tensor, tokens: Sequence[int], parents: Sequence[int], chooser,
                        dead: Sequence[bool] | None = None) -> tuple[list[int], int | None]:
    """``(path, token)`` for a draft tree (``tokens`` / ``parents`` as in :func:`verify_tree_greedy`)
    against the target rows ``probs`` (row 0: the root, row ``j + 1``: after node ``j``).

    At each node, draw the next token from the target law there, trying its children first
    (:func:`_draw_among`); follow the child equal to the token if there is one, else stop with
    that token.  This is sequential masked sampling exactly: the tree only prefetched the
    laws of the nodes the draws reach.  ``dead[r]`` (or a missing row): no legal token has
    mass there, so reaching it returns ``token=None``."""
    node, path = -1, []
    while True:
        r = node + 1
        if r >= probs.shape[0] or (dead is not None and dead[r]):
            return path, None
        kids = _children(parents, node)
        j, y = _draw_among(probs[r], [tokens[k] for k in kids], chooser)
        if j is None:
            return path, y
        path.append(kids[j])
        node = kids[j]
