"""``ModelDraft``: a small model's greedy guesses, masked by the constraint, as a draft source.

Why behind the same interface as the model-free sources: a draft model is one more way to
guess the next tokens, and the verifier's exactness does not depend on how a point-mass
draft was made (ALGORITHMS.md 3.2).  The draft model proposes its masked argmax, token by
token, on a *copy* of the row's matcher (the row's own matcher is never advanced by
drafts), so it never proposes a token the grammar forbids and stops where the grammar
forces EOS.  Point masses rather than the draft model's full law: acceptance is then
``p~(d)``, exact at every temperature, and greedy output stays token-identical.

Two kinds of draft model: a ``decode.TokenLM`` (``logprobs(contexts)``; the hand-made LMs
of the exactness tests) or a Hugging Face causal LM sharing the target's tokenizer.  For the
latter a few KV caches are kept (``decode.lm.HFCausalLM``s of one row), each with the token
ids it holds; a request reuses the cache with the longest common prefix (cropped to it), so
drafting after a verification only feeds the tokens that changed.
"""

from __future__ import annotations

import torch

from ..kernels.torch_impl import unpack_bitmask

__all__ = ["ModelDraft", "is_token_lm"]

_SLOTS = 8  # KV caches kept (one per batch row, typically)


def is_token_lm(obj) -> bool:
    """A ``decode.TokenLM`` (``logprobs`` and ``vocab``), as opposed to a Hugging Face model."""
    return callable(getattr(obj, "logprobs", None)) and getattr(obj, "vocab", None) is not None


class _Slot:
    """One KV cache of the draft model (an ``HFCausalLM`` of one row), the ids it holds and
    the logits after them."""

    __slots__ = ("lm", "ids", "logits")

    def __init__(self, lm):
        self.lm = lm
        self.ids: list[int] = []
        self.logits = None


class ModelDraft:
    """Drafts the draft model's masked argmax, up to ``k`` tokens, on a copy of the matcher.

    ``model``: a ``decode.TokenLM`` or a Hugging Face causal LM with the target's tokenizer.
    ``eos``: token ids never drafted (drafting stops where the draft model prefers them).
    ``calls`` counts the draft model's invocations (one per drafted position)."""

    name = "model"

    def __init__(self, model, eos=frozenset()):
        self.model = model
        self.eos = frozenset(int(e) for e in eos)
        self.token_lm = is_token_lm(model)
        self.calls = 0
        self._slots: list[_Slot] = []

    def _slot_for(self, ctx: list[int]) -> tuple[_Slot, int]:
        """The cache sharing the longest prefix with ``ctx`` (and that prefix's length), or
        a fresh one (the stalest when all are taken) when none shares half of ``ctx``."""
        from ..lm import HFCausalLM

        slot, common = None, -1
        for s in self._slots:
            n = 0
            for a, b in zip(s.ids, ctx):
                if a != b:
                    break
                n += 1
            if n > common:
                slot, common = s, n
        if slot is None or common < max(1, len(ctx) // 2):
            if len(self._slots) < _SLOTS:
                slot = _Slot(HFCausalLM(self.model))
            else:
                slot = self._slots.pop(0)
                slot.ids = []
            common = 0
        else:
            self._slots.remove(slot)
        self._slots.append(slot)  # most recently used last
        return slot, common

    def _hf_next_logits(self, ctx: list[int]) -> torch.Tensor:
        from ..prompts import left_pad

        slot, common = self._slot_for(ctx)
        lm = slot.lm
        if common == 0:
            slot.logits = lm.prefill(*left_pad([ctx], 0))[0]
        elif common < len(ctx) or common < len(slot.ids):
            keep = min(common, len(ctx) - 1)  # at least one token is fed, for its logits
            lm.crop(len(slot.ids) - keep)
            slot.logits = lm.forward(torch.tensor([ctx[keep:]], dtype=torch.long))[0, -1]
        slot.ids = list(ctx)
        return slot.logits

    def _next_logits(self, ctx: list[int]) -> torch.Tensor:
        self.calls += 1
        if self.token_lm:
            return self.model.logprobs([ctx])[0]
        with torch.inference_mode():
            return self._hf_next_logits(ctx)

    def propose(self, context, k: int) -> list[int]:
        walk = context.walker.copy()
        ctx = [int(t) for t in context.history]
        out: list[int] = []
        for _ in range(k):
            logits = self._next_logits(ctx + out).float().cpu()
            # a copy: matcher masks are shared, read-only rows (torch warns on non-writable arrays)
            mask = torch.tensor(walk.mask().reshape(1, -1))
            allowed = unpack_bitmask(mask, logits.shape[0])[0]
            x = logits.masked_fill(~allowed, float("-inf"))
            best = int(x.argmax())
            if not torch.isfinite(x[best]) or best in self.eos or not walk.advance(best):
                break
            out.append(best)
        return out
