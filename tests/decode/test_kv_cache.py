"""decode.kv_cache: the in-place KV layer must give what transformers' DynamicLayer gives."""

import pytest
import torch

from decode.kv_cache import MIN_SPARE, GrowableLayer, make_growable

transformers = pytest.importorskip("transformers")
DynamicCache = transformers.DynamicCache
pytestmark = pytest.mark.skipif(GrowableLayer is None, reason="transformers 4.x has no cache layers")


def _states(gen, B=2, n=3):
    return torch.randn(B, 2, n, 4, generator=gen), torch.randn(B, 2, n, 4, generator=gen)


def test_appends_crops_and_reorders_like_dynamic_layer():
    gen = torch.Generator().manual_seed(0)
    plain, grow = DynamicCache(), make_growable(DynamicCache())
    for cache in (plain, grow):
        cache.update(*_states(torch.Generator().manual_seed(1), n=5), layer_idx=0)
    assert type(grow.layers[0]) is GrowableLayer
    script = [("update", 1), ("update", 3), ("crop", 2), ("update", 1), ("reorder", [1, 1]),
              ("update", 2), ("reorder", [0]), ("update", MIN_SPARE + 40), ("crop", 1), ("update", 1)]
    for op, arg in script:
        if op == "update":
            k, v = _states(gen, B=plain.layers[0].keys.shape[0], n=arg)
            outs = [c.update(k, v, layer_idx=0) for c in (plain, grow)]
            assert all(torch.equal(x, y) for x, y in zip(*outs))
        elif op == "crop":
            for c in (plain, grow):
                c.crop(-arg)
        else:
            for c in (plain, grow):
                c.reorder_cache(torch.tensor(arg))
        assert torch.equal(plain.layers[0].keys, grow.layers[0].keys)
        assert torch.equal(plain.layers[0].values, grow.layers[0].values)
        assert grow.get_seq_length() == plain.get_seq_length()


def test_appending_one_position_reuses_the_buffer():
    grow = make_growable(DynamicCache())
    gen = torch.Generator().manual_seed(2)
    grow.update(*_states(gen, n=10), layer_idx=0)
    grow.update(*_states(gen, n=1), layer_idx=0)  # moves into a buffer with spare room
    ptr = grow.layers[0].keys.data_ptr()
    for _ in range(MIN_SPARE - 1):
        grow.update(*_states(gen, n=1), layer_idx=0)
    assert grow.layers[0].keys.data_ptr() == ptr  # no reallocation, no copy of the past
    assert grow.get_seq_length() == 10 + MIN_SPARE


def test_other_caches_are_left_alone():
    class Other:
        layers = [object()]
    o = Other()
    assert make_growable(o) is o and type(o.layers[0]) is object
