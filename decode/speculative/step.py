"""``SpeculativeStep``: the loop's strategy that drafts, verifies in one pass and rolls back.

Per pass and row: the tokens committed since the last pass (the previous pass's correction
or bonus token, and the tokens the grammar forced after it) are fed together with a fresh
draft; the target's masked law at each drafted position and at the bonus position decides
how many drafts stay (:mod:`decode.speculative.verify`); the row emits the kept drafts, one
target token, and every token that is the only one its mask allows (those need no model
choice, so no pass is spent on them: they ride along in the next one).

Rollback: the matcher is never advanced by drafts (the :class:`~decode.speculative.drafts.Drafter`
walks a copy), so only the KV cache forgets rejected drafts.  Rows reject different
numbers of drafts while a transformers cache has one length per batch;
``HFCausalLM.retract`` masks each row's rejected positions out (attention 0, position ids
rewound) and crops the columns every row rejected.  The alternative, cropping to the
shortest row and re-feeding the others' accepted tokens, costs a second pass's worth of
tokens on every disagreement; masked-out positions only cost attention over a few dead
keys, and a batch of one never keeps any.
"""

from __future__ import annotations

import numpy as np
import torch

from ..legal_head import legal_logits_at
from .drafts import BridgeDraft, Drafter, FreeWalk, make_sources, sibling_draft, single_token
from .tree import add_siblings, chunk_parents
from .verify import (TorchChooser, greedy_targets, target_probs, verify_greedy, verify_sampled, verify_tree_greedy,
                     verify_tree_sampled)

__all__ = ["SpeculativeStep", "pad_chunks"]


def pad_chunks(chunks: dict[int, list[int]], n: int, min_pass: int, pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``[n, k]`` token ids of a pass that feeds row ``i`` its ``chunks[i]``, and which of
    them are real (``valid``): shorter chunks, and rows without one, are padded at the end.
    ``k`` is the longest chunk, widened so that a pass of several tokens feeds at least
    ``min_pass`` (masked-out padding: see ``Speculation.min_pass``)."""
    k = max(len(c) for c in chunks.values())
    if 1 < n * k < min_pass:
        k = -(-min_pass // n)
    ids = torch.full((n, k), pad, dtype=torch.long)
    valid = torch.zeros((n, k), dtype=torch.bool)
    for i, c in chunks.items():
        ids[i, :len(c)] = torch.tensor(c, dtype=torch.long)
        valid[i, :len(c)] = True
    return ids, valid

_RECYCLE_TOP_K = 8


def _check_draft_model(draft, width: int, vocab) -> None:
    """A draft model must share the target's tokenizer: the same logits width (or, for a
    TokenLM, the same vocabulary size), else its token ids would mean other strings."""
    if draft is None:
        return
    from ..result import GenerationArgumentError
    from .model_draft import is_token_lm

    if is_token_lm(draft):
        n, theirs = (vocab.size if vocab is not None else width), draft.vocab.size
    else:
        from ..lm import logits_width

        n, theirs = width, logits_width(draft)
    if theirs != n:
        raise GenerationArgumentError("speculative", f"draft_model has {theirs} tokens, the target {n}: "
                                      f"a draft model must share the target's tokenizer")


class _RowPlan:
    __slots__ = ("fed", "pending", "tokens", "sources", "masks", "parents", "chain", "gamma", "drafted", "accepted",
                 "forced")

    def __init__(self, gamma: int, names):
        self.fed = 0          # committed tokens already in the KV cache
        self.pending = 1      # tokens fed in the last pass before its drafts (>= 1)
        self.tokens: list[int] = []
        self.sources: list[str] = []
        self.masks: np.ndarray | None = None
        self.parents: list[int] | None = None  # a tree draft: each node's parent (-1: the root); None: a chain
        self.chain = 0        # drafted tokens before the siblings
        self.gamma = gamma
        self.drafted = dict.fromkeys(names, 0)
        self.accepted = dict.fromkeys(names, 0)
        self.forced = 0


class SpeculativeStep:
    """Drafts grammar-legal tokens and verifies them against the masked target in one pass.

    ``spec``: a :class:`~decode.speculative.Speculation`; ``lm``: the ``HFCausalLM`` (for
    cache rollback); ``prompts``: each row's prompt ids (prompt lookup reads them);
    ``temperature`` / ``top_k`` / ``top_p``: the target, as in ``MaskedSampler``;
    ``seed``: the verifier's coin flips (a CPU generator).
    """

    def __init__(self, spec, lm, rows, prompts, masks, *, temperature: float, top_k, top_p,
                 seed: int | None, eos, pad: int, max_new_tokens: int):
        vocab = next((r.vocab for r in rows if r.vocab is not None), None)
        self.spec = spec
        self.lm = lm
        self.rows = rows
        self.prompts = [list(p) for p in prompts]
        self.width_words = masks.n_words
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        self.eos = frozenset(int(e) for e in eos)
        self.pad = pad
        self.max_new_tokens = max_new_tokens
        _check_draft_model(spec.draft_model, lm.width, vocab)
        # never drafted: the loop's EOS ids and every id the constraint reads as EOS
        no_draft = self.eos | frozenset(int(e) for r in rows if r.vocab is not None for e in r.vocab.eos_ids)
        sources = make_sources(spec, vocab, no_draft)
        self.drafter = Drafter(sources, vocab, no_draft)
        self.recycler, self.siblings = sibling_draft(spec, sources, no_draft)
        #: ``[B, k]`` parent column of each fed token when some row's draft is a tree, else None
        self.tree_parents: np.ndarray | None = None
        names = spec.source_names
        self.plans = [_RowPlan(spec.max_draft, names) for _ in rows]
        self._free = [FreeWalk(masks.array[i].copy(), self.eos) if r.matcher is None else None
                      for i, r in enumerate(rows)]
        gen = None
        if seed is not None:
            gen = torch.Generator().manual_seed(int(seed) + 1)
        self.chooser = TorchChooser(gen)
        self._last_chunks: dict[int, list[int]] = {i: self.prompts[i][-1:] for i in range(len(rows))}
        self._head_at: tuple | None = None  # (rows, cols, masks) of the next pass's verified positions

    def _walker(self, i: int):
        r = self.rows[i]
        return r.matcher if r.matcher is not None else self._free[i]

    def _padded(self, m: np.ndarray) -> np.ndarray:
        if m.shape[1] == self.width_words:
            return m
        out = np.zeros((m.shape[0], self.width_words), dtype=np.int32)
        k = min(m.shape[1], self.width_words)
        out[:, :k] = m[:, :k]
        return out

    def emit(self, logits, rows, active, masks):
        rows_idx, cols, row_masks = [], [], []
        for i in active:
            plan = self.plans[i]
            n = len(plan.tokens) + 1
            start = logits.shape[1] - 1 if plan.masks is None else plan.pending - 1
            rows_idx += [i] * n
            cols += range(start, start + n)
            row_masks.append(masks.array[i:i + 1] if plan.masks is None else self._padded(plan.masks))
        flat = logits[torch.tensor(rows_idx, device=logits.device), torch.tensor(cols, device=logits.device)]
        flat_masks = torch.from_numpy(np.ascontiguousarray(np.concatenate(row_masks, axis=0)))
        if self.recycler is not None:
            self._observe(logits, active)
        if self.temperature == 0:
            best = greedy_targets(flat, flat_masks)
        else:
            probs = target_probs(flat, flat_masks, self.temperature, self.top_k, self.top_p)
        out: dict[int, list[int]] = {}
        rejected = [0] * len(rows)
        dead: list[list[int]] = [[] for _ in rows]  # chunk columns of each row's rejected nodes
        at = 0
        for i in active:
            plan, r = self.plans[i], rows[i]
            n = len(plan.tokens) + 1
            if plan.parents is not None:
                if self.temperature == 0:
                    path, y = verify_tree_greedy(best[at:at + n], plan.tokens, plan.parents)
                else:
                    path, y = verify_tree_sampled(probs[at:at + n], plan.tokens, plan.parents, self.chooser)
            else:
                if self.temperature == 0:
                    a, y = verify_greedy(best[at:at + n], plan.tokens)
                else:
                    a, y = verify_sampled(probs[at:at + n], plan.tokens, self.chooser)
                path = list(range(a))
            at += n
            a = len(path)
            self._count(plan, path)
            rejected[i] = len(plan.tokens) - a
            dead[i] = sorted(set(range(plan.pending, plan.pending + len(plan.tokens)))
                             - {plan.pending + j for j in path})
            plan.fed = len(r.token_ids) + a
            kept = [plan.tokens[j] for j in path]
            out[i] = kept + [y] + self._forced_tail(i, kept + [y], len(r.token_ids))
            plan.forced += len(out[i]) - a - 1
        if self.tree_parents is not None:
            self.lm.forget(dead, logits.shape[1])
        else:
            self.lm.retract(rejected)
        return out

    def _count(self, plan: _RowPlan, path: list[int]) -> None:
        kept = set(path)
        for k, name in enumerate(plan.sources):
            plan.drafted[name] += 1
            if k in kept:
                plan.accepted[name] += 1
        # the adaptive length follows the chain: siblings are extra, not part of the length
        plan.gamma = self.spec.next_length(plan.gamma, sum(1 for j in path if j < plan.chain), plan.chain)

    def _forced_tail(self, i: int, emitted: list[int], n_before: int) -> list[int]:
        """Tokens after ``emitted`` that are the only ones their masks allow (EOS excluded:
        the loop ends a row whose only continuation is EOS)."""
        if emitted[-1] in self.eos:
            return []
        walk = self._walker(i).copy()
        for t in emitted:
            if not walk.advance(t):
                raise RuntimeError(f"row {i}: the matcher rejected token {t} that its own mask allowed")
        room = self.max_new_tokens - n_before - len(emitted)
        tail: list[int] = []
        while len(tail) < room:
            t = single_token(walk.mask())
            if t is None or t in self.eos or not walk.advance(t):
                break
            tail.append(t)
        return tail

    def _observe(self, logits, active) -> None:
        """Token recycling: the top candidates after each fed token whose logits are verified
        (the last committed one and the drafts; with :meth:`head`, the legal ones only)."""
        top = torch.topk(logits, _RECYCLE_TOP_K, dim=-1).indices.cpu().numpy()
        for i in active:
            chunk = self._last_chunks.get(i) or []
            plan = self.plans[i]
            offs = plan.pending - 1 if plan.masks is not None else top.shape[1] - 1
            fed = chunk[offs:] if plan.masks is not None else chunk[-1:]
            self.recycler.observe(fed, top[i, offs:offs + len(fed)])

    def prefill_draft(self, rows) -> list[list[int]] | None:
        """Drafts of every row's first output tokens for the prompt's prefill to verify: the
        prefill pass then feeds ``prompt + draft`` and returns the logits of the prompt's last
        position and of each drafted one, and the first :meth:`emit` verifies the draft as any
        other (the draft is a function of the prompt, so the law is unchanged, ALGORITHMS.md 3.2).
        The first token comes from :class:`BridgeDraft` (the grammar's forced first bytes as the
        model tends to write them), the rest from the usual sources; all drafts are cut to one
        length (left-padded prompts end together).  None (a plain prefill) when some row has no
        draft, is done, or drafts are trees.

        Why: the output's first token is ``{"`` in 18 of the 30 MaskBench greedy outputs and the
        grammar then forces the first key, which otherwise costs a second pass; a few more
        tokens in the prefill's pass over the prompt cost almost nothing."""
        vocab = self.drafter.vocab
        if self.siblings is not None or vocab is None or any(r.done or r.token_ids for r in rows):
            return None
        # its guesses count as the grammar source's: only where that source drafts, and not
        # beside a draft model, whose own first token is the better guess (a wrong bridge
        # would make the model draft the rest after a token its target does not write)
        bridge = "grammar" in self.spec.draft_names and "model" not in self.spec.draft_names
        drafts = []
        for i in range(len(rows)):
            first = Drafter([BridgeDraft(vocab, len(self.prompts[i]))] * bridge + self.drafter.sources, vocab,
                            self.drafter.eos)
            d = first.draft(self._walker(i), list(self.prompts[i]), self.plans[i].gamma, self.max_new_tokens - 1)
            if not d.tokens:
                return None
            drafts.append(d)
        n = min(len(d.tokens) for d in drafts)
        for i, d in enumerate(drafts):
            plan = self.plans[i]
            plan.tokens, plan.sources, plan.masks = d.tokens[:n], d.sources[:n], d.masks[:n + 1]
            plan.chain, plan.parents, plan.pending = n, None, 1
            self._last_chunks[i] = self.prompts[i][-1:] + plan.tokens
        return [self.plans[i].tokens for i in range(len(rows))]

    @property
    def read_at(self) -> tuple | None:
        """``(rows, cols, masks)`` of the positions the next pass's logits are read at (each
        row's last pending token, then its drafts; set by :meth:`feed`), None before it."""
        return self._head_at

    def head(self, hidden: torch.Tensor, weight: torch.Tensor) -> torch.Tensor | None:
        """The output layer of a pass (``HFCausalLM.forward``'s ``head``): at each verified
        position, the logits of the ids it allows when they are few, else all of them
        (:func:`decode.legal_head.legal_logits_at`: verification reads masked logits only,
        and the other fed positions are never read).  None (all logits) when no verified
        position allows few ids."""
        at = self._head_at
        if at is None:
            return None
        return legal_logits_at(hidden, weight, *at)

    def feed(self, rows, active, draft: bool = True):
        """The pass's ``[B, k]`` ids (committed tokens not yet in the cache, then a fresh draft per
        row) and which are real; ``draft=False`` feeds the committed tokens alone (a server past
        its speculation batch size: the pass then costs what a plain one does)."""
        chunks: dict[int, list[int]] = {}
        for i in active:
            r, plan = rows[i], self.plans[i]
            pending = r.token_ids[plan.fed:]
            limit = self.max_new_tokens - len(r.token_ids) - 1
            # Drafts are not cut where the product of the sources' acceptance rates gets small
            # (``Drafter.draft``'s ``rates`` / ``min_prob``): acceptances come in runs (a value copied
            # from the prompt is kept whole or not at all), so the product of per-position rates
            # undershoots the chance that a long draft is kept.  Replaying the 30 MaskBench greedy outputs
            # (grammar + n-gram drafts, draft kept iff it equals the recorded token) with a pass of n fed
            # tokens costing 1, 1.5, 1.8, 2.2 one-token passes at n = 1, 4, 8, 16: that cut-off gave
            # 0.327 passes/token at a decode cost of 1189 one-token passes, drafting to ``max_draft`` 0.301
            # and 1117 (6% less; docs/benchmarks.md, session 10).
            # fill the pass to ``min_pass`` fed tokens with drafts where the sources have guesses
            budget = min(self.spec.max_draft, max(plan.gamma, self.spec.min_pass - len(pending))) if draft else 0
            history = self.prompts[i] + r.token_ids
            d = self.drafter.draft(self._walker(i), history, budget, limit)
            plan.pending = len(pending)
            if self.siblings is not None and draft and len(d.tokens) < limit:
                add_siblings(d, self.siblings, self._walker(i), history)
            plan.tokens, plan.sources, plan.masks = d.tokens, d.sources, d.masks
            plan.chain, plan.parents = d.chain, d.parents
            chunks[i] = pending + plan.tokens
        self._last_chunks = chunks
        # the verified positions of the pass: each row's last pending token, then its drafts
        rows_at, cols_at = [], []
        for i in active:
            plan = self.plans[i]
            rows_at += [i] * (len(plan.tokens) + 1)
            cols_at += range(plan.pending - 1, plan.pending + len(plan.tokens))
        self._head_at = (rows_at, cols_at, np.concatenate([self._padded(self.plans[i].masks) for i in active]))
        ids, valid = pad_chunks(chunks, len(rows), self.spec.min_pass, self.pad)
        k = ids.shape[1]
        self.tree_parents = None
        if any(self.plans[i].parents is not None for i in active):
            parents = np.full((len(rows), k), -1, dtype=np.int64)
            for i, c in chunks.items():
                plan = self.plans[i]
                tree = plan.parents if plan.parents is not None else list(range(-1, len(plan.tokens) - 1))
                parents[i, :len(c)] = chunk_parents(plan.pending, tree)
            self.tree_parents = parents
        return ids, (None if bool(valid.all()) else valid)

    def row_stats(self, i: int) -> dict:
        plan = self.plans[i]
        return {"drafted": sum(plan.drafted.values()), "accepted": sum(plan.accepted.values()),
                "forced": plan.forced,
                "sources": {name: {"drafted": plan.drafted[name], "accepted": plan.accepted[name]}
                            for name in plan.drafted}}
