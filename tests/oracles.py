"""Shared brute-force oracle checks for the exactness tests (every mask bit per step)."""

from __future__ import annotations

import itertools
import json
import random

import numpy as np

from constrain.tokens import Vocabulary


def bits(mask: np.ndarray, n: int) -> np.ndarray:
    m = mask.view(np.uint32)
    ids = np.arange(n)
    return ((m[ids >> 5] >> (ids & 31).astype(np.uint32)) & 1).astype(bool)


def accepts_json(compiled, vocab, data) -> bool:
    """Walk ``json.dumps(data)``'s canonical tokens through a fresh matcher: every token's mask
    bit must agree with ``advance``; accepted iff every token is allowed and the end accepts."""
    m = compiled.matcher()
    for t in vocab.encode(json.dumps(data, ensure_ascii=False)):
        mask = m.mask().view(np.uint32)
        bit = bool((mask[t >> 5] >> np.uint32(t & 31)) & 1)
        ok = m.advance(t)
        assert ok == bit, "mask bit disagrees with advance"
        if not ok:
            return False
    return m.is_accepting()


def check_against_jsonschema(schema, vocab, instances, **compile_options) -> int:
    """Compile ``schema`` and walk every instance (:func:`accepts_json`): accepted exactly when
    ``jsonschema`` (the schema's own draft, else 2020-12) says valid. Returns how many are valid."""
    import jsonschema

    from constrain import compile_json_schema

    compiled = compile_json_schema(schema, vocab, **compile_options)
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)(schema)
    verdicts = [validator.is_valid(v) for v in instances]
    wrong = [(v, want) for v, want in zip(instances, verdicts) if accepts_json(compiled, vocab, v) != want]
    assert not wrong, f"(instance, jsonschema's verdict; the engine said the opposite): {wrong[:8]} of {len(wrong)}"
    return sum(verdicts)


def check_all_masks(compiled, vocab, viable, complete, n_walks=30, max_steps=12, seed=0):
    """Random token walks; at every step compare every bit with the oracle."""
    rng = random.Random(seed)
    eos = int(vocab.eos_ids[0])
    n = len(vocab.token_bytes)
    checked = 0
    for _ in range(n_walks):
        m = compiled.matcher()
        prefix = b""
        for _ in range(max_steps):
            got = bits(m.mask(), n)
            for t, tb in enumerate(vocab.token_bytes):
                want = complete(prefix) if t == eos else viable(prefix + tb)
                assert got[t] == want, f"prefix={prefix!r} token={tb!r}: mask says {got[t]}, oracle {want}"
                # the single-token check agrees with the mask
                assert m.is_allowed(t) == want
            checked += 1
            allowed = [t for t in range(n) if got[t] and t != eos]
            if not allowed:
                break
            t = rng.choice(allowed)
            assert m.advance(t)
            prefix += vocab.token_bytes[t]
        assert m.is_accepting() == complete(prefix)
    assert checked > n_walks


def assert_same_masks(a, b, *, seed, walks, steps, skip=()):
    """Random token walks through two compiled constraints that must be the same language
    (e.g. a counted lexeme and its materialized automaton): every mask bit and the
    accepting flag agree at every step. Tokens in ``skip`` (EOS) are not walked."""
    rng = random.Random(seed)
    n = len(a.vocab.token_bytes)
    for _ in range(walks):
        ma_, mb_ = a.matcher(), b.matcher()
        for _ in range(steps):
            ma, mb = bits(ma_.mask(), n), bits(mb_.mask(), n)
            assert (ma == mb).all()
            assert ma_.is_accepting() == mb_.is_accepting()
            allowed = [t for t in np.flatnonzero(ma).tolist() if t not in skip]
            if not allowed:
                break
            t = rng.choice(allowed)
            assert ma_.advance(t) and mb_.advance(t)


def shortest_completion_bfs(automaton, st, max_states: int = 200_000):
    """Length of the shortest completion of ``st`` by breadth-first search over single bytes
    (the oracle for :mod:`constrain.completion`); None if the search gives up."""
    if st.can_end:
        return 0
    seen = {id(st)}
    frontier = [st]
    depth = 0
    while frontier:
        depth += 1
        nxt_frontier = []
        for cur in frontier:
            for b in np.flatnonzero(automaton.first_bytes(cur)).tolist():
                nxt = automaton.step(cur, b)
                if nxt is automaton.dead or id(nxt) in seen:
                    continue
                if nxt.can_end:
                    return depth
                seen.add(id(nxt))
                nxt_frontier.append(nxt)
                if len(seen) > max_states:
                    return None
        frontier = nxt_frontier
    return None


def small_vocab(alphabet: bytes, max_len: int, extra: tuple[bytes, ...] = ()) -> Vocabulary:
    """Every string over ``alphabet`` of 1..``max_len`` bytes, then ``extra`` (duplicates kept:
    two ids with the same bytes must get the same mask bit), then one EOS id."""
    toks: list[bytes | None] = []
    for n in range(1, max_len + 1):
        toks.extend(bytes(p) for p in itertools.product(alphabet, repeat=n))
    toks.extend(extra)
    toks.append(None)  # EOS
    return Vocabulary.from_token_bytes(toks, eos_ids=[len(toks) - 1])


def all_orders(v) -> list[str]:
    """Every compact JSON spelling of ``v`` with each object's members in every order (JSON
    Schema's default: an object is the same value whatever its members' order)."""
    if isinstance(v, dict):
        out = []
        for keys in itertools.permutations(v):
            for vals in itertools.product(*[all_orders(v[k]) for k in keys]):
                out.append("{" + ",".join(json.dumps(k) + ":" + x for k, x in zip(keys, vals)) + "}")
        return out
    if isinstance(v, list):
        return ["[" + ",".join(xs) + "]" for xs in itertools.product(*[all_orders(x) for x in v])]
    return [json.dumps(v)]
