"""The KV cache of a running batch whose rows come and go: fixed slots, one column axis.

Why not concatenate caches when a request joins: that copies every cached position of every
row (tens of megabytes per join at batch 16), once per join.  Here each layer's keys and
values live in one buffer ``[max_batch, heads, capacity, head_dim]``; the running rows are
slots ``0..n-1`` and share the column range ``[start, end)``.  A new row's prompt is written,
right-aligned, into the next free slot (a copy of its own positions only), its columns to the
left are masked out; a finished row is replaced by the last row (a copy of one row); columns
no running row uses any more are dropped from the left by moving ``start``.  Each decoding
step writes every row's new position at column ``end``.  Moves of the whole buffer happen
only when it runs out of columns (then the dead columns on the left are reclaimed first).

Rows keep the positions they would have alone (RoPE is applied before keys are cached, the
position ids are per row), so padding changes only which columns attention masks out.

The model sees an ordinary ``transformers`` ``DynamicCache`` whose layers are
:class:`SlotLayer`: ``update`` writes into the shared buffer and returns views of it.
"""

from __future__ import annotations

import torch

__all__ = ["SlotKV", "SlotLayer", "check_cache_layers"]

try:  # transformers >= 5: caches are lists of layer objects
    from transformers.cache_utils import DynamicCache, DynamicLayer
except ImportError:  # pragma: no cover - transformers 4.x keeps lists of tensors
    DynamicCache = DynamicLayer = None

#: spare columns left after a relayout, on each side that may need them
MARGIN = 64


def check_cache_layers(cache) -> int:
    """The number of layers of a prefill's cache, or ``ValueError`` when it is not a list of
    full-attention ``DynamicLayer``-like layers (sliding windows, recurrent states: not batched here)."""
    layers = getattr(cache, "layers", None)
    if DynamicLayer is None or not layers:
        raise ValueError("continuous batching needs transformers >= 5 and a model with a layered KV cache")
    for i, layer in enumerate(layers):
        if not isinstance(layer, DynamicLayer) or getattr(layer, "is_sliding", False) \
                or type(layer).__name__ not in ("DynamicLayer", "GrowableLayer"):
            raise ValueError(f"continuous batching supports full-attention KV caches only; layer {i} is "
                             f"{type(layer).__name__}")
        if layer.keys is None or layer.keys.dim() != 4:
            raise ValueError(f"layer {i} of the prefill cache holds no [batch, heads, length, dim] keys")
    return len(layers)


if DynamicLayer is not None:

    class SlotLayer(DynamicLayer):
        """One layer's view of :class:`SlotKV`: appends go to column ``end`` of every running slot."""

        def __init__(self, store: "SlotKV", index: int):
            super().__init__()
            self.store = store
            self.index = index
            self.is_initialized = True

        def lazy_initialization(self, key_states, value_states) -> None:  # pragma: no cover - never lazy
            pass

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
            s = self.store
            k, v = s.keys[self.index], s.values[self.index]
            t = key_states.shape[-2]
            k[:s.n, :, s.end:s.end + t] = key_states
            v[:s.n, :, s.end:s.end + t] = value_states
            self.keys = k[:s.n, :, s.start:s.end + t]
            self.values = v[:s.n, :, s.start:s.end + t]
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.store.end - self.store.start

        def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
            return self.get_seq_length() + query_length, 0

        def crop(self, tokens_to_remove: int) -> None:  # pragma: no cover - the engine never crops
            raise NotImplementedError("a SlotKV layer is not cropped")

else:  # pragma: no cover
    SlotLayer = None


class SlotKV:
    """Keys and values of up to ``max_batch`` rows; rows ``0..n-1`` run, over columns ``[start, end)``.

    ``mask[i, c]`` is 1 where row ``i`` has a real position at column ``c``; ``positions[i]``
    is the position id of row ``i``'s next token.
    """

    def __init__(self, max_batch: int, device: torch.device):
        self.max_batch = int(max_batch)
        self.device = device
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.mask: torch.Tensor | None = None
        self.positions = torch.zeros(self.max_batch, dtype=torch.long, device=device)
        self.n = 0
        self.start = self.end = 0
        self.cache = None
        self.moves = 0  # whole-buffer relayouts, for the benchmark's notes

    @property
    def capacity(self) -> int:
        return 0 if self.mask is None else int(self.mask.shape[1])

    @property
    def width(self) -> int:
        """Columns the running rows span (attention reads this many per row per layer)."""
        return self.end - self.start

    def _allocate(self, like: list[tuple[torch.Tensor, torch.Tensor]], capacity: int) -> None:
        self.keys = [k.new_zeros((self.max_batch, k.shape[1], capacity, k.shape[3])) for k, _ in like]
        self.values = [v.new_zeros((self.max_batch, v.shape[1], capacity, v.shape[3])) for _, v in like]
        self.mask = torch.zeros((self.max_batch, capacity), dtype=torch.long, device=self.device)
        self.cache = DynamicCache()
        self.cache.layers = [SlotLayer(self, i) for i in range(len(like))]

    def _relayout(self, new_start: int, capacity: int) -> None:
        """Move the running columns ``[start, end)`` to ``[new_start, ...)`` of buffers of ``capacity``."""
        w = self.width
        self.moves += 1
        for store in (self.keys, self.values):
            for i, buf in enumerate(store):
                fresh = buf.new_zeros((buf.shape[0], buf.shape[1], capacity, buf.shape[3]))
                if self.n and w:
                    fresh[:self.n, :, new_start:new_start + w] = buf[:self.n, :, self.start:self.end]
                store[i] = fresh
        mask = self.mask.new_zeros((self.max_batch, capacity))
        if self.n and w:
            mask[:self.n, new_start:new_start + w] = self.mask[:self.n, self.start:self.end]
        self.mask = mask
        self.start, self.end = new_start, new_start + w

    def insert(self, layers: list[tuple[torch.Tensor, torch.Tensor]], length: int, next_position: int) -> int:
        """Add a row from a batch-1 prefill (``layers``: each layer's ``[1, H, length, D]`` keys and
        values); returns its slot.  ``next_position``: the position id of its first new token."""
        if self.n >= self.max_batch:
            raise RuntimeError("SlotKV is full")
        if not self.keys:
            self._allocate(layers, length + 2 * MARGIN)
            self.start = self.end = length + MARGIN // 2
        if self.n == 0:  # nothing to keep: restart the columns wherever there is room
            self.start = self.end = max(length, min(self.end, self.capacity - MARGIN // 2))
            if self.end + 1 > self.capacity:
                self._relayout(length, length + 2 * MARGIN)
        if self.end - length < 0:  # a prompt longer than the columns to the left: move right
            need = length - self.width
            cap = max(self.capacity, need + self.width + 2 * MARGIN)
            self._relayout(need + MARGIN // 2, cap)
        slot = self.n
        lo = self.end - length
        for i, (k, v) in enumerate(layers):
            self.keys[i][slot, :, lo:self.end] = k[0]
            self.values[i][slot, :, lo:self.end] = v[0]
        self.mask[slot].zero_()
        self.mask[slot, lo:self.end] = 1
        self.positions[slot] = int(next_position)
        self.n += 1
        self.start = min(self.start, lo)
        return slot

    def remove(self, slot: int) -> int | None:
        """Drop row ``slot``; the last row moves into it.  Returns the slot that moved (None if none)."""
        last = self.n - 1
        moved = None
        if slot != last:
            cols = slice(self.start, self.end)
            for store in (self.keys, self.values):
                for buf in store:
                    buf[slot, :, cols] = buf[last, :, cols]
            self.mask[slot] = self.mask[last]
            self.positions[slot] = self.positions[last]
            moved = last
        self.mask[last].zero_()
        self.n -= 1
        self._trim_left()
        return moved

    def _trim_left(self) -> None:
        """Columns on the left that no running row attends to leave the range (no copy)."""
        if self.n == 0:
            self.start = self.end
            return
        live = self.mask[:self.n, self.start:self.end].any(dim=0).nonzero()
        if live.numel():
            self.start += int(live[0])

    def prepare_step(self, k: int = 1, valid: torch.Tensor | None = None) -> tuple[object, torch.Tensor, torch.Tensor]:
        """Room for ``k`` new columns; ``(cache, attention_mask [n, width + k], position_ids [n, k])``
        for a forward of ``k`` new tokens per running row.  ``valid`` (``[n, k]`` bool, default all
        True): which new tokens are real; a row feeding fewer pads its chunk at the end, and the
        padding is never attended to and takes no position id (speculative chunks of different
        lengths).  Call :meth:`commit_step` with the same ``valid`` after it."""
        if self.end + k > self.capacity:
            w = self.width
            cap = self.capacity if w + k + MARGIN <= self.capacity // 2 else max(2 * self.capacity, w + k + 2 * MARGIN)
            self._relayout(MARGIN // 2, cap)
        n = self.n
        if valid is None:
            self.mask[:n, self.end:self.end + k] = 1
            pos = self.positions[:n, None] + torch.arange(k, device=self.device)
        else:
            v = valid.to(device=self.device, dtype=self.mask.dtype)
            self.mask[:n, self.end:self.end + k] = v
            pos = self.positions[:n, None] + v.cumsum(dim=1) - v  # real tokens before each column
        for layer in self.cache.layers:  # the views attention reads before the append
            layer.keys = self.keys[layer.index][:n, :, self.start:self.end]
            layer.values = self.values[layer.index][:n, :, self.start:self.end]
        attn = self.mask[:n, self.start:self.end + k]
        return self.cache, attn, pos

    def commit_step(self, k: int = 1, valid: torch.Tensor | None = None) -> None:
        self.end += k
        if valid is None:
            self.positions[:self.n] += k
        else:
            self.positions[:self.n] += valid.to(device=self.device, dtype=torch.long).sum(dim=1)

    def retract(self, counts) -> None:
        """Forget the last ``counts[i]`` real positions of each running row ``i`` (its rejected
        drafts): they are masked out and its position ids rewind, so its next tokens continue
        where its accepted text ends; then the columns at the right end that no row attends to
        (every row's rejected drafts, chunk padding) leave the range, so the next step writes
        over them.  As ``HFCausalLM.retract``: rows that disagree keep a few dead columns."""
        n = self.n
        for i, c in enumerate(counts[:n]):
            c = int(c)
            if c <= 0:
                continue
            cols = self.mask[i, self.start:self.end].nonzero().flatten()
            if c > len(cols) - 1:
                raise ValueError(f"row {i}: cannot retract {c} of its {len(cols)} positions")
            self.mask[i, self.start + cols[-c:]] = 0
            self.positions[i] -= c
        if n == 0:
            return
        live = self.mask[:n, self.start:self.end].any(dim=0).nonzero()
        self.end = self.start + (int(live.max()) + 1 if live.numel() else 0)
