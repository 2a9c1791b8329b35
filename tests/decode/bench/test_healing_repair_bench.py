"""bench healing / bench repair: the draft corruptions, the exact prefix probability, and a
small run of each on the tiny random model (the real figures are in docs/benchmarks.md)."""

from __future__ import annotations

import json
import math
import random

import pytest

from decode.bench import healing as hb
from decode.bench import repair as rb
from tests import paths

MASKBENCH = paths.SHARED_DATA / "maskbench"
needs_data = pytest.mark.skipif(not MASKBENCH.is_dir(), reason="needs ../shared/data/maskbench")

TEXT = json.dumps({"name": "Al \"B\" C", "age": 31, "ok": True, "tags": ["x", {"y": 1.5}]})


@pytest.mark.parametrize("kind", rb.CORRUPTIONS)
def test_each_corruption_breaks_the_json_and_keeps_strings(kind):
    for seed in range(5):
        d = rb.corrupt(TEXT, kind, random.Random(seed))
        assert d is not None and d != TEXT
        try:
            broken = json.loads(d) != json.loads(TEXT)  # "type" parses, to another value
        except json.JSONDecodeError:
            broken = True
        assert broken, d
        assert 'Al \\"B\\" C' in d  # string contents (escaped quotes too) untouched
    assert rb.corrupt(TEXT, kind, random.Random(3)) == rb.corrupt(TEXT, kind, random.Random(3))


def test_corruptions_that_do_not_apply_say_so():
    assert rb.corrupt("[]", "comma", random.Random(0)) is None
    assert rb.corrupt('["a: b"]', "quotes", random.Random(0)) is None
    assert rb.corrupt('["1", "true"]', "type", random.Random(0)) is None
    assert rb.corrupt('{"a": 1}', "quotes", random.Random(0)) == "{a: 1}"
    assert rb.corrupt('{"a": [1]}', "comma", random.Random(0)) in ('{"a": [1,]}', '{"a": [1],}')


def test_prefix_probability_is_the_sum_over_covering_first_tokens(smol_model, smollm2_tokenizer):
    """P(next bytes start with R) by brute force over two-token spellings equals the scorer's."""
    import torch

    from decode.constraints import get_vocabulary

    vocab = get_vocabulary(smollm2_tokenizer, 49152)
    sc = hb._Scorer(smol_model, vocab)
    ctx = smollm2_tokenizer("x = ")["input_ids"]
    data = b' "a'
    p1 = sc.next_law(ctx).double().exp()
    want = 0.0
    for t, b in enumerate(vocab.token_bytes):
        if not b:
            continue
        if b.startswith(data):
            want += float(p1[t])
        elif data.startswith(b):
            rest = data[len(b):]
            p2 = sc.next_law(ctx + [t]).double().exp()
            for u, c in enumerate(vocab.token_bytes):
                if c and c.startswith(rest):
                    want += float(p1[t]) * float(p2[u])
                elif c and rest.startswith(c):  # a third token: not needed for 3 bytes of ' "a'
                    assert len(rest) > len(c)
                    want += float(p1[t]) * float(p2[u]) * sc.prefix(ctx + [t, u], rest[len(c):], [99])
    got = sc.prefix(ctx, data, [99])
    assert math.isclose(got, want, rel_tol=1e-9), (got, want)
    assert 0 < got < 1
    assert torch.isfinite(torch.tensor(got))


@needs_data
def test_small_runs_on_the_tiny_model(smol_model, smollm2_tokenizer):
    h = hb.run_healing(smol_model, smollm2_tokenizer, MASKBENCH, n=3, window=8)
    assert h["n"] == 3
    for r in h["rows"]:
        assert all(math.isfinite(r[k]) for k in ("cut", "healed", "uncut"))
        if r["k"] == 0:
            assert r["healed"] == r["cut"]
    assert "gap closed" in hb.format_report(h)
    p = rb.run_repair(smol_model, smollm2_tokenizer, MASKBENCH, n=2, methods=("sketch",))
    assert p["n"] == 2 and all(r["sketch"]["valid"] for r in p["rows"])
    assert "recovered" in rb.format_report(p)
