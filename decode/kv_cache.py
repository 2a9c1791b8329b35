"""A KV cache that appends in place: ``transformers``' ``DynamicLayer`` with spare capacity.

Why: ``DynamicLayer.update`` appends a step's keys and values with ``torch.cat``, which
allocates and copies every cached position of every layer at every step.  On CPU a fresh
multi-megabyte allocation is also a fresh ``mmap`` whose pages fault in on first write, so
with a few hundred prompt tokens the copies cost more than the model's matrix products
(measured: 40 ms per step for SmolLM2's 30 layers at batch 4 x 520 positions, against 0.4 ms
for writing the new position into a preallocated buffer).  :class:`GrowableLayer` keeps each
layer's states in a buffer with room to grow (half again as much as it holds, at least
``MIN_SPARE`` positions) and hands attention a prefix view of it.

Everything else ``DynamicLayer`` does keeps working: ``crop`` slices the view (still a prefix
of the buffer, so the next append reuses it), ``reorder_cache`` selects rows of the whole
buffer in one copy, and any other code that replaces ``keys`` / ``values`` (e.g.
``batch_select_indices``) is detected at the next append, which then moves the states into a
new buffer.

:func:`make_growable` converts the plain layers of a returned cache in place; caches of other
kinds (sliding windows, recurrent states, transformers 4.x) are left as they are.
"""

from __future__ import annotations

import torch

__all__ = ["GrowableLayer", "make_growable"]

#: spare positions allocated at least, whenever a layer's buffer is (re)allocated
MIN_SPARE = 128

try:  # transformers >= 5: caches are lists of layer objects
    from transformers.cache_utils import DynamicLayer as _DynamicLayer
except ImportError:  # pragma: no cover - transformers 4.x keeps lists of tensors
    _DynamicLayer = None


def _is_prefix_view(view: torch.Tensor | None, buf: torch.Tensor | None) -> bool:
    """Whether ``view`` is ``buf[..., :n, :]`` for some ``n`` (same storage, same strides)."""
    return (view is not None and buf is not None and view.numel() > 0
            and view.data_ptr() == buf.data_ptr() and view.stride() == buf.stride()
            and view.shape[:2] == buf.shape[:2] and view.shape[3] == buf.shape[3])


if _DynamicLayer is not None:

    class GrowableLayer(_DynamicLayer):
        """A ``DynamicLayer`` whose ``update`` writes into a buffer with spare capacity."""

        _kbuf: torch.Tensor | None = None
        _vbuf: torch.Tensor | None = None

        def _reserve(self, old: torch.Tensor | None, new: torch.Tensor, buf: torch.Tensor | None) -> torch.Tensor:
            """``buf`` if ``old`` is a prefix view of it with room for ``new``; else a new buffer holding ``old``."""
            n_old = 0 if old is None or old.numel() == 0 else old.shape[-2]
            need = n_old + new.shape[-2]
            if n_old and _is_prefix_view(old, buf) and need <= buf.shape[-2] and buf.shape[0] == new.shape[0]:
                return buf
            cap = need + max(MIN_SPARE, need // 2)
            fresh = new.new_empty((new.shape[0], new.shape[1], cap, new.shape[3]))
            if n_old:
                fresh[:, :, :n_old] = old
            return fresh

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            n_old = 0 if self.keys is None or self.keys.numel() == 0 else self.keys.shape[-2]
            n = n_old + key_states.shape[-2]
            self._kbuf = self._reserve(self.keys, key_states, self._kbuf)
            self._vbuf = self._reserve(self.values, value_states, self._vbuf)
            self._kbuf[:, :, n_old:n] = key_states
            self._vbuf[:, :, n_old:n] = value_states
            self.keys = self._kbuf[:, :, :n]
            self.values = self._vbuf[:, :, :n]
            return self.keys, self.values

        def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
            """Select rows of the whole buffer (one copy, spare capacity kept)."""
            if self.get_seq_length() > 0 and _is_prefix_view(self.keys, self._kbuf) \
                    and _is_prefix_view(self.values, self._vbuf):
                n = self.keys.shape[-2]
                self._kbuf = self._kbuf.index_select(0, beam_idx.to(self._kbuf.device))
                self._vbuf = self._vbuf.index_select(0, beam_idx.to(self._vbuf.device))
                self.keys = self._kbuf[:, :, :n]
                self.values = self._vbuf[:, :, :n]
            else:
                super().reorder_cache(beam_idx)

else:  # pragma: no cover
    GrowableLayer = None


def make_growable(cache):
    """Turn the plain ``DynamicLayer``s of ``cache`` into :class:`GrowableLayer`s, in place.

    Returns ``cache``.  Only layers whose class is exactly ``DynamicLayer`` change (their
    current states become the first contents of the buffer at the next append), and so do
    the layers an empty ``DynamicCache()`` creates later; any other cache is returned
    untouched.
    """
    if GrowableLayer is None:  # pragma: no cover
        return cache
    if getattr(cache, "layer_class_to_replicate", None) is _DynamicLayer:  # layers made lazily
        cache.layer_class_to_replicate = GrowableLayer
    for layer in getattr(cache, "layers", ()) or ():
        if type(layer) is _DynamicLayer:
            layer.__class__ = GrowableLayer
    return cache
