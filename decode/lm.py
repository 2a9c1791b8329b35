"""The model adapter: a Hugging Face causal LM seen as ``forward(new ids per row) -> logits``.

Why: the decoding loop and the samplers should not know how a model keeps its KV cache.  HF
models take the cache under ``past_key_values`` (``cache`` since transformers 5), return it
on ``out.past_key_values`` / ``out.cache``, want explicit position ids under left padding and
accept ``logits_to_keep``; :class:`HFCausalLM` holds all of that, plus the attention mask
that grows with every step.  Besides one token per row (the reference loop), ``forward``
takes several new tokens per row (speculative drafts, forced tokens), :meth:`HFCausalLM.reorder`
selects / duplicates rows (SMC resampling), :meth:`HFCausalLM.crop` forgets the last
positions of every row and :meth:`HFCausalLM.retract` a different number per row (rolling
back rejected speculative drafts).

A ``TokenLM`` protocol (``vocab``, ``logprobs(contexts)``) for model-agnostic samplers is not
defined here: it belongs to issue 13, which brings its first user.
"""

from __future__ import annotations

import inspect

import numpy as np
import torch

from .kv_cache import make_growable

__all__ = ["HFCausalLM", "logits_width", "model_device"]


def logits_width(model) -> int:
    """Number of logits the model produces (may exceed the tokenizer's size)."""
    n = getattr(getattr(model, "config", None), "vocab_size", None)
    if n:
        return int(n)
    emb = model.get_output_embeddings()
    return int(emb.weight.shape[0])


def model_device(model) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


def _accepts_kw(model, name: str) -> bool:
    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


def _out_cache(out):
    c = getattr(out, "cache", None)
    if c is None:
        c = getattr(out, "past_key_values", None)
    if c is None:
        raise RuntimeError("the model returned no KV cache (use_cache=True was ignored)")
    return c


#: model types whose logits are exactly ``lm_head(decoder(...).last_hidden_state)`` (no bias,
#: scale or soft-capping), so a caller may compute the logits of a few token ids only
_PLAIN_HEAD_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3"})


def split_head(model):
    """``(decoder, weight)`` when ``model``'s logits are ``decoder(...).last_hidden_state @ weight.T``
    and nothing else, else None (then only the whole forward is safe).  A model or output
    layer with forward hooks (a user's logit edit, accelerate's offloading) keeps the whole
    forward: the split path would bypass them."""
    if getattr(getattr(model, "config", None), "model_type", None) not in _PLAIN_HEAD_TYPES:
        return None
    try:
        dec, head = model.get_decoder(), model.get_output_embeddings()
    except (AttributeError, NotImplementedError):
        return None
    if not isinstance(head, torch.nn.Linear) or head.bias is not None or not isinstance(dec, torch.nn.Module):
        return None
    if _hooked(model) or _hooked(head):  # a hook would be skipped by calling the decoder and weight directly
        return None
    return dec, head.weight


def _hooked(module) -> bool:
    """Does ``module`` carry forward hooks (torch's, or accelerate's ``_hf_hook``)?"""
    return bool(getattr(module, "_forward_hooks", None) or getattr(module, "_forward_pre_hooks", None)
                or getattr(module, "_hf_hook", None) is not None)


class HFCausalLM:
    """A KV-cached view of a ``transformers`` causal LM over a left-padded batch.

    :meth:`prefill` runs the prompts and returns the last position's logits; each
    :meth:`forward` appends new tokens to every row and returns their logits.  Rows that have
    finished still take a token (padding) so the batch keeps one shape.
    """

    def __init__(self, model):
        self.model = model
        self.device = model_device(model)
        self.width = logits_width(model)
        self._prefill_kw = {"logits_to_keep": 1} if _accepts_kw(model, "logits_to_keep") else {}
        # transformers 5.x renamed past_key_values -> cache (the old name warns, then goes away)
        self._cache_kw = "cache" if _accepts_kw(model, "cache") else "past_key_values"
        self._split = split_head(model)
        if self._split is not None:
            self._dec_cache_kw = "cache" if _accepts_kw(self._split[0], "cache") else "past_key_values"
        self.cache = None
        self.attention_mask: torch.Tensor | None = None
        # the position id of each row's next real token, ``[B, 1]``
        self.position_ids: torch.Tensor | None = None

    def prefill(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                position_ids: torch.Tensor, keep: int = 1) -> torch.Tensor:
        """Run the ``[B, L]`` prompts; the logits ``[B, V]`` for each row's next token, or with
        ``keep`` > 1 those of the last ``keep`` positions, ``[B, keep, V]`` (a prefill that also
        verifies a speculative draft appended to each prompt)."""
        input_ids = input_ids.to(self.device)
        self.attention_mask = attention_mask.to(self.device)
        position_ids = position_ids.to(self.device)
        kw = self._prefill_kw if keep == 1 or not self._prefill_kw else {"logits_to_keep": keep}
        out = self.model(input_ids=input_ids, attention_mask=self.attention_mask,
                         position_ids=position_ids, use_cache=True, **kw)
        self.cache = make_growable(_out_cache(out))  # appends in place (decode.kv_cache)
        self.position_ids = position_ids[:, -1:] + 1
        return out.logits[:, -1, :] if keep == 1 else out.logits[:, -keep:, :]

    def forward(self, new_ids: torch.Tensor, valid: torch.Tensor | None = None, head=None,
                parents=None) -> torch.Tensor:
        """Append ``new_ids`` (``[B, k]``) to every row; their logits, ``[B, k, V]``.

        ``valid`` (``[B, k]`` bool, default all True) says which of the new tokens are real:
        rows that feed fewer than ``k`` tokens (speculative drafts of different lengths)
        pad their chunk at the end, and the padding is never attended to and takes no
        position id (its logits are meaningless).

        ``head(hidden, weight)``: when the model's logits are a plain ``hidden @ weight.T``
        (:func:`split_head`), the output layer is left to it (it may compute the logits of a
        few token ids only and return ``[B, k, V]`` with the rest at -inf, or None for all).

        ``parents`` (``[B, k]`` ints, speculative tree drafts): the chunk column each new token
        follows (-1: the row's cached text).  Each token then attends to the cache and its own
        ancestors only and takes the position of its depth (a 4D mask, which transformers
        passes to attention as it is); rollback is :meth:`forget`.  None: each token follows
        the one before it.
        """
        B, k = new_ids.shape
        start = self.position_ids
        if parents is not None:
            return self._forward_tree(new_ids, valid, head, parents)
        if valid is None:
            self.attention_mask = torch.cat([self.attention_mask, self.attention_mask.new_ones((B, k))], dim=1)
            positions = start if k == 1 else start + torch.arange(k, device=start.device)
            self.position_ids = start + k
        else:
            v = valid.to(device=self.device, dtype=self.attention_mask.dtype)
            self.attention_mask = torch.cat([self.attention_mask, v], dim=1)
            before = v.long().cumsum(dim=1) - v.long()  # real tokens before each column of the chunk
            positions = start + before
            self.position_ids = start + v.long().sum(dim=1, keepdim=True)
        return self._run(new_ids, self.attention_mask, positions, head)

    def _forward_tree(self, new_ids, valid, head, parents) -> torch.Tensor:
        from .speculative.tree import ancestor_mask, depths

        B, k = new_ids.shape
        parents = np.asarray(parents, dtype=np.int64)
        past = self.attention_mask.bool()
        v = torch.ones((B, k), dtype=torch.bool) if valid is None else valid.bool().cpu()
        seen = torch.from_numpy(ancestor_mask(parents)) & (v[:, None, :] | torch.eye(k, dtype=torch.bool))
        allowed = torch.cat([past[:, None, :].expand(B, k, past.shape[1]), seen.to(self.device)], dim=2)
        dtype = next(self.model.parameters()).dtype
        mask4 = torch.zeros(allowed.shape, dtype=dtype, device=self.device)
        mask4.masked_fill_(~allowed, torch.finfo(dtype).min)
        positions = self.position_ids - 1 + torch.from_numpy(depths(parents)).to(self.device)
        self.attention_mask = torch.cat([self.attention_mask, v.to(device=self.device, dtype=self.attention_mask.dtype)],
                                        dim=1)
        self.position_ids = self.position_ids + v.to(self.device).long().sum(dim=1, keepdim=True)
        return self._run(new_ids, mask4[:, None], positions, head)

    def _run(self, new_ids, attention_mask, positions, head) -> torch.Tensor:
        kw = dict(input_ids=new_ids.to(self.device), attention_mask=attention_mask, position_ids=positions,
                  use_cache=True)
        if head is not None and self._split is not None:
            dec, weight = self._split
            out = dec(**kw, **{self._dec_cache_kw: self.cache})
            self.cache = _out_cache(out)
            hidden = out.last_hidden_state
            logits = head(hidden, weight)
            return logits if logits is not None else torch.nn.functional.linear(hidden, weight)
        out = self.model(**kw, **{self._cache_kw: self.cache})
        self.cache = _out_cache(out)
        return out.logits

    def reorder(self, rows) -> None:
        """Keep rows ``rows`` (batch indices, repeats allowed) in that order, cache included."""
        idx = torch.as_tensor(list(rows), dtype=torch.long, device=self.device)
        if not hasattr(self.cache, "reorder_cache"):
            raise NotImplementedError(f"cannot reorder a {type(self.cache).__name__} KV cache")
        self.cache.reorder_cache(idx)
        self.attention_mask = self.attention_mask.index_select(0, idx)
        self.position_ids = self.position_ids.index_select(0, idx)

    def crop(self, n: int) -> None:
        """Forget the last ``n`` positions of every row; the next :meth:`forward` continues there."""
        if n <= 0:
            return
        length = self.attention_mask.shape[1]
        if n >= length:
            raise ValueError(f"cannot crop {n} positions of {length}")
        if not hasattr(self.cache, "crop"):
            raise NotImplementedError(f"cannot crop a {type(self.cache).__name__} KV cache")
        # a negative argument removes that many positions in every transformers version
        # (4.x also read a positive one as the length to keep; 5.x refuses positive values)
        self.cache.crop(-n)
        dropped = self.attention_mask[:, length - n:].long().sum(dim=1, keepdim=True)
        self.attention_mask = self.attention_mask[:, :length - n]
        self.position_ids = self.position_ids - dropped

    def retract(self, counts) -> None:
        """Forget the last ``counts[b]`` real positions of each row ``b`` (rejected drafts).

        Why not :meth:`crop` alone: a transformers cache holds one length for the whole
        batch, while rows reject different numbers of drafts.  The positions a row forgets are
        masked out (attention 0) and its position ids rewind, so its next tokens continue
        exactly where its accepted text ends; the trailing columns that every row forgets are
        then cropped, so a single row (or rows that agree) keeps no dead positions at all.
        The masked-out positions cost attention work until the row ends, which is cheaper than
        re-feeding the tokens that the other rows accepted.
        Trailing columns no row attends to are cropped even when nothing is retracted (a
        chunk padded at the end, e.g. ``Speculation.min_pass``).
        """
        counts = [int(c) for c in counts]
        mask = self.attention_mask
        length = mask.shape[1]
        if any(counts):
            real = mask.bool()
            for b, c in enumerate(counts):
                if c <= 0:
                    continue
                cols = real[b].nonzero().flatten()
                if c > len(cols) - 1:
                    raise ValueError(f"row {b}: cannot retract {c} of its {len(cols)} positions")
                mask[b, cols[-c:]] = 0
            self.position_ids = self.position_ids - torch.tensor(counts, device=self.position_ids.device).view(-1, 1)
        elif bool(mask[:, -1].any()):
            return
        live = mask.bool().any(dim=0).nonzero()
        tail = length - 1 - int(live.max())
        if tail > 0:
            if not hasattr(self.cache, "crop"):
                raise NotImplementedError(f"cannot crop a {type(self.cache).__name__} KV cache")
            self.cache.crop(-tail)
            self.attention_mask = mask[:, :length - tail]

    def forget(self, columns, k: int) -> None:
        """Forget, in each row ``b``, the columns ``columns[b]`` (indices into the last pass's
        chunk of ``k`` new tokens, real ones only): the rejected nodes of a draft tree, which
        need not be at the end.  The row's position ids rewind by their number (its kept
        tokens are the chunk's other real columns, in order), and the chunk's columns that no
        row attends to any more, padding included, leave the cache (the kept ones move down:
        a batch of one keeps no dead positions).  Rows that reject different nodes keep theirs
        masked out, as in :meth:`retract`."""
        mask = self.attention_mask
        length = mask.shape[1]
        base = length - k
        counts = []
        for b, cols in enumerate(columns):
            cols = [base + int(c) for c in cols]
            counts.append(len(cols))
            if cols:
                mask[b, cols] = 0
        self.position_ids = self.position_ids - torch.tensor(counts, device=self.position_ids.device).view(-1, 1)
        live = mask[:, base:].bool().any(dim=0).nonzero().flatten()
        n_keep = len(live)
        if n_keep == k:
            return
        layers = getattr(self.cache, "layers", None)
        moved = n_keep and int(live[-1]) != n_keep - 1  # a kept column after a dropped one
        if moved and layers is None:
            raise NotImplementedError(f"cannot gather columns of a {type(self.cache).__name__} KV cache")
        if moved:
            src = (base + live).to(self.device)
            for layer in layers:
                layer.keys[:, :, base:base + n_keep] = layer.keys.index_select(2, src)
                layer.values[:, :, base:base + n_keep] = layer.values.index_select(2, src)
        self.cache.crop(-(k - n_keep))
        self.attention_mask = torch.cat([mask[:, :base], mask[:, base + live.to(mask.device)]], dim=1)
