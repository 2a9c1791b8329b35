"""Speculative masked sampling over a ``decode.TokenLM`` (``decode.sample(..., speculative=)``).

Why a second driver next to :class:`~decode.speculative.step.SpeculativeStep`: a TokenLM has
no KV cache to roll back; one ``lm.logprobs`` call over every live sequence's contexts
(the sequence, then the sequence plus each prefix of its draft) is one model pass, and the
LM calls saved are the measure.  The drafting (:class:`~decode.speculative.drafts.Drafter`) and
the acceptance rule (:mod:`~decode.speculative.verify`) are the same objects, so the
exactness tests, which enumerate this driver on hand-made ``TableLM``s, test them too.

Dead ends: a position whose legal tokens all have probability 0 ends the sequence with
weight 0, as in ``run_particles``.  A token the mask forces outright is appended without
an LM call, which assumes the LM gives it positive probability (a softmax always does;
a hand-made table that gives a forced token probability 0 would turn that dead end into
a live sequence).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..kernels.torch_impl import unpack_bitmask
from ..samplers.smc import ParticleRun, log_mean_exp
from .drafts import Drafter, make_sources, sibling_draft, single_token
from .tree import add_siblings
from .verify import verify_greedy, verify_sampled, verify_tree_greedy, verify_tree_sampled

__all__ = ["run_speculative"]

_RECYCLE_TOP_K = 8


def run_speculative(lm, prompt_ids, matchers: list, spec, *, max_new_tokens: int, temperature: float,
                    chooser, stats: dict) -> ParticleRun:
    """Extend one sequence per matcher until EOS, a dead end or ``max_new_tokens`` tokens
    (EOS included), verifying drafts against the masked, tempered law (``temperature`` 0:
    greedy).  ``stats`` gains ``forward_calls``, ``drafted``, ``accepted``, ``forced`` and
    ``sources`` (per source: drafted, accepted)."""
    vocab = lm.vocab
    V = vocab.size
    eos = frozenset(int(e) for e in np.asarray(vocab.eos_ids).tolist())
    if spec.draft_model is not None and getattr(spec.draft_model, "vocab", None) is not None \
            and spec.draft_model.vocab.size != V:
        from ..result import GenerationArgumentError

        raise GenerationArgumentError("speculative", f"draft_model has {spec.draft_model.vocab.size} tokens, "
                                      f"the LM {V}: a draft model must share the LM's vocabulary")
    sources = make_sources(spec, vocab, eos)
    drafter = Drafter(sources, vocab, eos)
    recycler, siblings = sibling_draft(spec, sources, eos)
    prompt = [int(t) for t in prompt_ids]
    n = len(matchers)
    seqs: list[list[int]] = [[] for _ in range(n)]
    drawn = [0] * n
    gamma = [spec.max_draft] * n
    logw = np.zeros(n, dtype=np.float64)
    done = np.zeros(n, dtype=bool)
    finished = np.zeros(n, dtype=bool)
    names = spec.source_names
    per_source = stats.setdefault("sources", {name: {"drafted": 0, "accepted": 0} for name in names})
    for key in ("forward_calls", "drafted", "accepted", "forced"):
        stats.setdefault(key, 0)

    def take(i: int, t: int) -> None:
        if not matchers[i].advance(t):
            raise RuntimeError(f"sequence {i}: the matcher rejected token {t} that its own mask allowed")
        drawn[i] += 1
        if t in eos:
            done[i] = finished[i] = True
        else:
            seqs[i].append(t)
        if drawn[i] >= max_new_tokens:
            done[i] = True

    def forced_tail(i: int) -> None:
        while not done[i]:
            t = single_token(matchers[i].mask())
            if t is None:
                return
            take(i, t)
            stats["forced"] += 1

    def _commit(i: int, kept: list, y: int | None) -> None:
        """Take the kept drafts, then ``y`` (None: every legal token at the next position has
        probability 0, a dead end) and the tokens the mask forces after it."""
        for t in kept:
            if not done[i]:
                take(i, t)
        if y is None:
            if not done[i]:
                logw[i] = -math.inf
                done[i] = True
            return
        if not done[i]:
            take(i, y)
        forced_tail(i)

    for i in range(n):
        forced_tail(i)
    while not done.all():
        live = np.flatnonzero(~done).tolist()
        plans, contexts = {}, []
        for i in live:
            base = prompt + seqs[i]
            limit = max_new_tokens - drawn[i] - 1
            d = drafter.draft(matchers[i], base, gamma[i], limit)
            plans[i] = d
            contexts += [base + d.tokens[:j] for j in range(len(d.tokens) + 1)]
            if siblings is not None and len(d.tokens) < limit:
                add_siblings(d, siblings, matchers[i], base)
                if d.parents is not None:  # a tree: each sibling's context is its path
                    contexts += [base + _path(d, j) for j in range(d.chain, len(d.tokens))]
        logp = lm.logprobs(contexts).detach().to("cpu", torch.float64)[:, :V]
        stats["forward_calls"] += 1
        if temperature > 0 and temperature != 1.0:
            logp = torch.log_softmax(logp / temperature, dim=1)
        masks = torch.from_numpy(np.ascontiguousarray(np.concatenate([plans[i].masks for i in live])))
        allowed = unpack_bitmask(masks, V)
        masked = logp.masked_fill(~allowed, -math.inf)
        alive = torch.isfinite(masked.max(dim=1).values).tolist()  # some legal token has mass
        if temperature == 0:
            best = masked.argmax(dim=1).tolist()
        else:
            probs = torch.softmax(masked, dim=1)
        if recycler is not None:
            top = torch.topk(logp, min(_RECYCLE_TOP_K, V), dim=1).indices.numpy()
            recycler.observe([c[-1] for c in contexts if c], top[[k for k, c in enumerate(contexts) if c]])
        at = 0
        for i in live:
            d = plans[i]
            rows = len(d.tokens) + 1
            if d.parents is not None:
                dead = [not alive[at + k] for k in range(rows)]
                if temperature == 0:
                    path, y = verify_tree_greedy([None if dead[k] else best[at + k] for k in range(rows)],
                                                 d.tokens, d.parents)
                else:
                    path, y = verify_tree_sampled(probs[at:at + rows], d.tokens, d.parents, chooser, dead)
                at += rows
                kept = set(path)
                for k, name in enumerate(d.sources):
                    per_source[name]["drafted"] += 1
                    stats["drafted"] += 1
                    if k in kept:
                        per_source[name]["accepted"] += 1
                        stats["accepted"] += 1
                gamma[i] = spec.next_length(gamma[i], sum(1 for j in path if j < d.chain), d.chain)
                _commit(i, [d.tokens[j] for j in path], y)
                continue
            dead_at = next((k for k in range(rows) if not alive[at + k]), None)
            usable = rows if dead_at is None else dead_at + 1
            drafts = d.tokens[:usable - 1]
            if temperature == 0:
                a, y = verify_greedy(best[at:at + usable], drafts) if dead_at is None else \
                    _greedy_until(best[at:at + dead_at], drafts)
            else:
                a, y = verify_sampled(probs[at:at + (usable if dead_at is None else dead_at)], drafts, chooser)
            at += rows
            for k, name in enumerate(d.sources[:len(drafts)]):
                per_source[name]["drafted"] += 1
                stats["drafted"] += 1
                if k < a:
                    per_source[name]["accepted"] += 1
                    stats["accepted"] += 1
            gamma[i] = spec.next_length(gamma[i], a, len(d.tokens))
            _commit(i, drafts[:a], y)
    return ParticleRun(seqs, logw, finished, log_mean_exp(logw))


def _path(draft, node: int) -> list[int]:
    """The tokens from the root down to ``node`` of a tree draft, ``node``'s included."""
    out = []
    while node >= 0:
        out.append(draft.tokens[node])
        node = draft.parents[node]
    return out[::-1]


def _greedy_until(best, drafts) -> tuple[int, int | None]:
    """Greedy verification when the position after the drafts is a dead end."""
    for i, d in enumerate(drafts):
        if d != best[i]:
            return i, int(best[i])
    return len(drafts), None
