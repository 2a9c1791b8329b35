"""``HFTokenLM``: a Hugging Face causal LM as a ``TokenLM`` (``vocab``, ``logprobs(contexts)``).

Why a second adapter next to :class:`decode.lm.HFCausalLM`: that one keeps one KV cache for a
batch that moves forward in lock step (the generation loop).  Model-agnostic samplers (AWRS,
SMC) ask instead for the next-token distribution after *arbitrary* contexts, and those
contexts share long prefixes: every particle extends the prompt, resampled particles are
copies of each other, and a particle asks again for a context one token longer than the one it
asked for last.  So this adapter keeps the KV state of every context it has answered and
computes only what no cached context covers:

- **Prefix lookup.**  Answered contexts live in a trie over token ids; a new context starts
  from its longest cached prefix (an exact hit costs nothing; one more token costs one token
  of compute), and the fast paths (the context itself, the context minus its last token) are
  dictionary lookups, so a lock-step particle never walks the trie.
- **One batched forward** per call (``max_batch`` rows at a time): each row is laid out as
  ``[padding | cached prefix | padding | new tokens]``, left-aligned the way
  :func:`decode.prompts.left_pad` aligns prompts, so every row's next token is the last column;
  the attention mask hides the padding and explicit position ids count only real tokens, so a
  row sees exactly what it would see alone.
- **Lock step.**  The usual call asks, for every live sequence, the context it asked for last
  time plus one token (particles advancing together, SMC's resampled copies included).  The
  batch KV cache of the previous forward is then kept as it is: its rows are selected (and
  duplicated) to match the new contexts and each row takes its one new token, with no
  per-context copy at all.  Its layers append in place (:mod:`decode.kv_cache`).  Contexts
  answered this way keep their log-probabilities for exact hits but no KV copy of their own;
  a later context that does not extend the last batch starts from the longest prefix that
  has one (at worst the prompt).
- **Bounded memory.**  A cached context holds its own copy of its KV tensors (all layers, all
  positions) and its log-probability row; ``max_cache_bytes`` bounds the sum of those, and
  the least recently used contexts (used = answered, or served as a prefix) are evicted
  first.  Evicting never changes a result: a context whose prefix was evicted starts from a
  shorter cached prefix, or from scratch.  Copies instead of shared storage keep the
  accounting exact (the bytes counted are the bytes held) at the price of O(length) copying
  per new context, which is memory traffic of the same order as the attention itself.  The
  lock-step batch cache is the working set of one batch and is not counted.

Distribution: ``logprobs`` returns ``log_softmax`` over the first ``vocab.size`` logits.
The logits width may exceed the tokenizer (models pad their output layer to a multiple of 64
or 128); the columns past ``vocab.size`` are ids no tokenizer piece spells, so they are cut off
and the distribution is renormalised over the ids that are strings (what a constraint over
bytes can accept).  Pass ``vocab_size=`` (e.g. the logits width, as ``decode.generate`` does)
to keep more columns.

Limits: models whose cache is not a plain per-layer key/value list (sliding-window or
recurrent layers) are refused with ``NotImplementedError`` on the first forward, because
their cached state cannot be cut per row and extended later.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict

import torch

from ..constraints import get_vocabulary
from ..kv_cache import make_growable
from ..lm import logits_width, model_device

__all__ = ["HFTokenLM"]

#: default bound on cached KV states + log-probability rows (bytes)
DEFAULT_MAX_CACHE_BYTES = 1 << 30


class _Node:
    """A trie node: children by token id; ``entry`` when the path to it is a cached context."""

    __slots__ = ("children", "entry", "parent", "token")

    def __init__(self, parent: "_Node | None" = None, token: int = -1):
        self.children: dict[int, _Node] = {}
        self.entry: _Entry | None = None
        self.parent = parent
        self.token = token


class _Entry:
    """One answered context: its log-probabilities ``[V]`` and KV ``[(k, v)]`` (``[1, H, L, d]``;
    ``None`` for a context answered in lock step, which has no KV copy of its own)."""

    __slots__ = ("key", "logprobs", "kv", "nbytes", "node")

    def __init__(self, key: tuple[int, ...], logprobs: torch.Tensor, kv: list | None, node: _Node):
        self.key = key
        self.logprobs = logprobs
        self.kv = kv
        self.node = node
        self.nbytes = logprobs.numel() * logprobs.element_size() + sum(
            k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in (kv or ())
        )


class _Batch:
    """The KV cache of the last forward and which context each of its rows ends."""

    __slots__ = ("cache", "attention_mask", "last_position", "row_of")

    def __init__(self, cache, attention_mask: torch.Tensor, last_position: torch.Tensor,
                 keys: list[tuple[int, ...]]):
        self.cache = cache
        self.attention_mask = attention_mask  # [B, T] over the cache's positions
        self.last_position = last_position    # [B] position id of each row's last token
        self.row_of = {k: i for i, k in enumerate(keys)}


def _accepts_kw(model, name: str) -> bool:
    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


def _cache_layers(cache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per-layer (keys, values) ``[B, H, L, d]`` of a returned cache; refuse non-plain layers."""
    layers = getattr(cache, "layers", None)
    if layers is not None:
        out = []
        for layer in layers:
            if type(layer).__name__ not in ("DynamicLayer", "GrowableLayer"):
                raise NotImplementedError(
                    f"HFTokenLM caches plain key/value layers only, not {type(layer).__name__} "
                    "(a sliding-window or recurrent state cannot be cut per row and extended)"
                )
            out.append((layer.keys, layer.values))
        return out
    if hasattr(cache, "key_cache"):  # transformers 4.x DynamicCache
        return list(zip(cache.key_cache, cache.value_cache))
    return [(k, v) for k, v in cache]  # pragma: no cover - legacy tuple caches


def _make_cache(layers: list[tuple[torch.Tensor, torch.Tensor]]):
    from transformers import DynamicCache

    if hasattr(DynamicCache, "from_legacy_cache"):  # transformers 4.x
        return DynamicCache.from_legacy_cache(tuple(layers))
    return make_growable(DynamicCache(layers))


class HFTokenLM:
    """A ``transformers`` causal LM as a ``TokenLM``, with KV states reused across calls.

    ``logprobs(contexts)`` returns natural-log next-token probabilities ``[len(contexts),
    vocab.size]`` (float32, on the model's device) after each context (a list of token ids,
    prompt included; nothing is prepended).  Contexts extending one answered before cost only
    their new tokens; ``forward_calls`` / ``tokens_computed`` / ``cache_hits`` count the work
    done, ``cached_bytes`` the memory held (at most ``max_cache_bytes``, least recently used
    contexts evicted first).  See the module docstring for why and how.
    """

    def __init__(self, model, tokenizer, *, vocab_size: int | None = None, vocab=None,
                 max_cache_bytes: int = DEFAULT_MAX_CACHE_BYTES, max_batch: int = 32, lock_step: bool = True):
        """``vocab_size``: how many logits columns make the distribution (default: the
        tokenizer's size, capped at the logits width).  ``vocab``: a ready ``Vocabulary``
        (anything with ``size``, ``token_bytes``, ``eos_ids``) instead of building one from the
        tokenizer, e.g. the one a constraint was compiled against.  ``lock_step=False``
        turns off the reuse of the last batch's cache (every context then starts from its
        longest cached prefix, which ``max_cache_bytes=0`` makes empty: no reuse at all)."""
        self.model = model
        self.tokenizer = tokenizer
        self.device = model_device(model)
        self.width = logits_width(model)
        if vocab is not None:
            if vocab_size is not None and vocab_size != vocab.size:
                raise ValueError(f"vocab_size {vocab_size} != vocab.size {vocab.size}")
            vocab_size = int(vocab.size)
        elif vocab_size is None:
            vocab_size = min(len(tokenizer), self.width)
        if vocab_size > self.width:
            raise ValueError(f"vocab_size {vocab_size} exceeds the model's {self.width} logits")
        self.vocab = vocab if vocab is not None else get_vocabulary(tokenizer, vocab_size)
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.max_cache_bytes = int(max_cache_bytes)
        self.max_batch = int(max_batch)
        self.lock_step = bool(lock_step)
        self._cache_kw = "cache" if _accepts_kw(model, "cache") else "past_key_values"
        self._keep_kw = {"logits_to_keep": 1} if _accepts_kw(model, "logits_to_keep") else {}
        self._pad = int(getattr(tokenizer, "pad_token_id", None) or 0)
        self.forward_calls = 0
        self.tokens_computed = 0
        self.cache_hits = 0
        self.clear_cache()

    # --- the cache ---------------------------------------------------------------------------

    def clear_cache(self) -> None:
        """Forget every cached context (the counters are kept)."""
        self._entries: OrderedDict[tuple[int, ...], _Entry] = OrderedDict()
        self._root = _Node()
        self._live: _Batch | None = None
        self.cached_bytes = 0

    def _longest_prefix(self, key: tuple[int, ...]) -> _Entry | None:
        """The cached entry with KV of the longest proper prefix of ``key`` (None: from scratch)."""
        e = self._entries.get(key[:-1])
        if e is not None and e.kv is not None:
            return e
        node, best = self._root, None
        for t in key[:-1]:
            node = node.children.get(t)
            if node is None:
                break
            if node.entry is not None and node.entry.kv is not None:
                best = node.entry
        return best

    def _store(self, key: tuple[int, ...], logprobs: torch.Tensor, kv: list) -> None:
        node = self._root
        for t in key:
            child = node.children.get(t)
            if child is None:
                child = node.children[t] = _Node(node, t)
            node = child
        entry = _Entry(key, logprobs, kv, node)
        node.entry = entry
        self._entries[key] = entry
        self.cached_bytes += entry.nbytes
        while self.cached_bytes > self.max_cache_bytes and self._entries:
            self._evict(next(iter(self._entries)))

    def _evict(self, key: tuple[int, ...]) -> None:
        entry = self._entries.pop(key)
        self.cached_bytes -= entry.nbytes
        node = entry.node
        node.entry = None
        while node.parent is not None and not node.children and node.entry is None:
            del node.parent.children[node.token]
            node = node.parent

    # --- TokenLM -----------------------------------------------------------------------------

    def logprobs(self, contexts: list[list[int]]) -> torch.Tensor:
        """Next-token log-probabilities after each context -> float32 ``[len(contexts), V]``."""
        keys = [tuple(int(t) for t in c) for c in contexts]
        for i, k in enumerate(keys):
            if not k:
                raise ValueError(f"context {i} is empty: a causal LM needs at least one token "
                                 "(start from the prompt's ids, or a BOS id)")
        V = self.vocab.size
        if not keys:
            return torch.empty((0, V), dtype=torch.float32, device=self.device)
        rows: dict[tuple[int, ...], torch.Tensor] = {}
        jobs: list[tuple[tuple[int, ...], _Entry | None]] = []
        for k in dict.fromkeys(keys):  # distinct contexts, in order
            e = self._entries.get(k)
            if e is not None:
                self._entries.move_to_end(k)
                self.cache_hits += 1
                rows[k] = e.logprobs
            else:
                jobs.append((k, self._longest_prefix(k)))
        with torch.inference_mode():
            if self._extends_live(jobs):
                rows.update(self._step([k for k, _ in jobs]))
            else:
                for s in range(0, len(jobs), self.max_batch):
                    rows.update(self._run(jobs[s:s + self.max_batch]))
            return torch.stack([rows[k] for k in keys])

    def _extends_live(self, jobs) -> bool:
        """Whether every context to compute is a row of the last forward plus one token."""
        live = self._live
        return (self.lock_step and live is not None and 0 < len(jobs) <= self.max_batch
                and all(len(k) > 1 and k[:-1] in live.row_of for k, _ in jobs))

    def _step(self, keys: list[tuple[int, ...]]) -> dict[tuple[int, ...], torch.Tensor]:
        """One token per context on top of the last forward's batch cache (rows selected to match)."""
        live = self._live
        self._live = None  # the cache changes below; a failure must not leave it half-updated
        idx = [live.row_of[k[:-1]] for k in keys]
        attn, last = live.attention_mask, live.last_position
        if idx != list(range(attn.shape[0])):
            sel = torch.tensor(idx, dtype=torch.long)
            live.cache.reorder_cache(sel.to(self.device))
            attn, last = attn.index_select(0, sel.to(attn.device)), last.index_select(0, sel)
        B = len(keys)
        attn = torch.cat([attn, attn.new_ones((B, 1))], dim=1)
        last = last + 1
        input_ids = torch.tensor([[k[-1]] for k in keys], dtype=torch.long)
        out = self.model(input_ids=input_ids.to(self.device), attention_mask=attn,
                         position_ids=last.unsqueeze(1).to(self.device), use_cache=True,
                         **{self._cache_kw: live.cache}, **self._keep_kw)
        self.forward_calls += 1
        self.tokens_computed += B
        lp = self._logprobs(out)
        self._live = _Batch(make_growable(self._out_cache(out)), attn, last, keys)
        result = {}
        for i, k in enumerate(keys):
            row = lp[i].clone()
            result[k] = row
            self._store(k, row, None)
        return result

    def _logprobs(self, out) -> torch.Tensor:
        """log_softmax over the vocabulary's columns of the last position's logits."""
        V = self.vocab.size
        logits = out.logits[:, -1, :]
        if logits.shape[-1] < V:
            raise RuntimeError(f"the model returned {logits.shape[-1]} logits, fewer than the "
                               f"vocabulary's {V}")
        return torch.log_softmax(logits[:, :V].float(), dim=-1)

    @staticmethod
    def _out_cache(out):
        cache = getattr(out, "cache", None)
        return out.past_key_values if cache is None else cache

    def _run(self, jobs) -> dict[tuple[int, ...], torch.Tensor]:
        """One forward over ``jobs`` (context, cached prefix entry or None); caches the results."""
        B = len(jobs)
        P = [0 if e is None else len(e.key) for _, e in jobs]
        n_new = [len(k) - p for (k, _), p in zip(jobs, P)]
        Pmax, K = max(P), max(n_new)
        for _, e in jobs:  # the prefixes are in use: most recent in the LRU order
            if e is not None and e.key in self._entries:
                self._entries.move_to_end(e.key)
        input_ids = torch.full((B, K), self._pad, dtype=torch.long)
        attn = torch.zeros((B, Pmax + K), dtype=torch.long)
        pos = torch.zeros((B, K), dtype=torch.long)
        for i, ((k, _), p, n) in enumerate(zip(jobs, P, n_new)):
            input_ids[i, K - n:] = torch.tensor(k[p:], dtype=torch.long)
            attn[i, Pmax - p:Pmax] = 1
            attn[i, Pmax + K - n:] = 1
            pos[i, K - n:] = torch.arange(p, p + n)
            pos[i, :K - n] = p  # padding: any position, it is masked out
        kw = dict(self._keep_kw)
        if Pmax:
            kw[self._cache_kw] = _make_cache(self._gather_past(jobs, P, Pmax))
        out = self.model(input_ids=input_ids.to(self.device), attention_mask=attn.to(self.device),
                         position_ids=pos.to(self.device), use_cache=True, **kw)
        self.forward_calls += 1
        self.tokens_computed += sum(n_new)
        lp = self._logprobs(out)
        cache = self._out_cache(out)
        layers = _cache_layers(cache)
        self._live = _Batch(make_growable(cache), attn.to(self.device),
                            torch.tensor([len(k) - 1 for k, _ in jobs], dtype=torch.long),
                            [k for k, _ in jobs])
        result = {}
        for i, ((k, _), p, n) in enumerate(zip(jobs, P, n_new)):
            idx = torch.cat([torch.arange(Pmax - p, Pmax), torch.arange(Pmax + K - n, Pmax + K)])
            idx = idx.to(self.device)
            kv = [(ks[i:i + 1].index_select(2, idx), vs[i:i + 1].index_select(2, idx))
                  for ks, vs in layers]
            row = lp[i].clone()
            result[k] = row
            self._store(k, row, kv)
        return result

    def _gather_past(self, jobs, P, Pmax) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per layer, the batch's cached prefixes left-padded to ``Pmax`` positions."""
        ref = next(e for _, e in jobs if e is not None)
        layers = []
        for li, (k0, v0) in enumerate(ref.kv):
            H, d = k0.shape[1], k0.shape[3]
            dv = v0.shape[3]
            ks = k0.new_zeros((len(jobs), H, Pmax, d))
            vs = v0.new_zeros((len(jobs), v0.shape[1], Pmax, dv))
            for i, ((_, e), p) in enumerate(zip(jobs, P)):
                if e is not None:
                    ks[i, :, Pmax - p:] = e.kv[li][0][0]
                    vs[i, :, Pmax - p:] = e.kv[li][1][0]
            layers.append((ks, vs))
        return layers
