"""The server's compiled-constraint cache: keyed by (constraint, options, vocabulary), bounded in
entries and bytes (measured again as masks accumulate), one compile for concurrent requests."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import decode
from constrain import UnsupportedSchemaError
from decode.constraints import get_vocabulary
from decode.serve import ConstraintCache
from decode.serve.compile_cache import reachable_nbytes

OPTS = decode.GENERATION_JSON_OPTIONS


@pytest.fixture(scope="module")
def vocab(smollm2_tokenizer):
    return get_vocabulary(smollm2_tokenizer, 49152)


def schema(k: int) -> dict:
    return {"type": "object", "properties": {f"f{k}": {"type": "integer"}}, "required": [f"f{k}"],
            "additionalProperties": False}


def test_reachable_nbytes_counts_arrays_once():
    a = np.zeros(1000, dtype=np.int64)
    obj = {"x": [a, a, a[10:]], "y": (np.ones(10, dtype=np.int32),)}
    n = reachable_nbytes(obj)
    assert 8000 + 40 <= n < 8000 + 40 + 2000  # a once (its view adds nothing), containers small


def test_keys_options_and_hits(vocab):
    cache = ConstraintCache(max_entries=8, name="test.cache.keys")
    a = cache.get(schema(1), vocab, OPTS)
    assert cache.get(dict(schema(1)), vocab, OPTS) is a and cache.hits == 1  # equal schema, same entry
    b = cache.get(schema(1), vocab, {**OPTS, "strict": False})
    assert b is not a and len(cache) == 2  # other options, other entry
    assert cache.get(decode.Regex("[a-z]+"), vocab, OPTS).kind == "regex"
    assert cache.get(None, vocab, OPTS) is None


def test_bounds_evict_least_recent(vocab):
    one = reachable_nbytes(decode.as_compiled(schema(100), vocab, **OPTS))
    cache = ConstraintCache(max_entries=3, max_bytes=int(2.5 * one), name="test.cache.bytes")
    first = cache.get(schema(0), vocab, OPTS)
    for k in range(1, 6):
        cache.get(schema(k), vocab, OPTS)
        assert cache.nbytes <= cache.max_bytes and len(cache) <= 3
    assert len(cache) >= 1
    misses = cache.misses
    assert cache.get(schema(0), vocab, OPTS) is not first and cache.misses == misses + 1  # evicted: compiled again
    tiny = ConstraintCache(max_entries=3, max_bytes=1, name="test.cache.tiny")
    assert tiny.get(schema(7), vocab, OPTS) is not None and len(tiny) == 0  # returned, not kept


def test_concurrent_requests_compile_once(vocab, monkeypatch):
    cache = ConstraintCache(name="test.cache.once")
    builds = []
    real = cache.get_or_build

    def slow_build(key, build):
        def counted():
            builds.append(key)
            time.sleep(0.2)
            return build()
        return real(key, counted)

    monkeypatch.setattr(cache, "get_or_build", slow_build)
    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(schema(42), vocab, OPTS))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(builds) == 1 and len(got) == 4 and all(g is got[0] for g in got)


def test_a_failed_compile_is_not_cached(vocab):
    cache = ConstraintCache(name="test.cache.fail")
    bad = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
    for _ in range(2):
        with pytest.raises(UnsupportedSchemaError, match="uniqueItems"):
            cache.get(bad, vocab, OPTS)
    assert len(cache) == 0 and cache.misses == 2
