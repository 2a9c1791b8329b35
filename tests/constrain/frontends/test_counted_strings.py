"""Strings with a ``pattern``/``format`` and a long ``minLength`` (above ``COUNTED_ABOVE``):
a character counter guarding the closing quote where the content's lengths are upward
closed, per-count states otherwise.  Oracles: the materialized (per-count) automaton, mask
for mask along random walks, and ``jsonschema`` on random strings around the bounds."""

from __future__ import annotations

import itertools
import json
import random

import jsonschema
import pytest

import constrain.frontends.json_schema.lexemes as jl
from constrain import EmptyLanguageError, compile_json_schema
from constrain.automata.counted import NotCountable, counted_content_dfa
from constrain.frontends.regex import regex_to_dfa
from constrain.tokens import Vocabulary
from oracles import assert_same_masks

TOKS = [bytes(p) for n in (1, 2, 3) for p in itertools.product(b'an"\\u0=', repeat=n)]
TOKS += ["\u00e9".encode(), b"aaaa" * 4, b"nnnn" * 4, b"an" * 8, b'"', b" ", None]
VOCAB = Vocabulary.from_token_bytes(TOKS, eos_ids=[len(TOKS) - 1])


def _counted(compiled) -> bool:
    return any(getattr(lx.dfa, "counted", False) for lx in compiled.rtn.lexemes)


def _accepts(compiled, text: str) -> bool:
    m = compiled.matcher()
    for t in VOCAB.encode(json.dumps(text, ensure_ascii=False)):
        if not m.advance(t):
            return False
    return m.is_accepting()


COUNTED = [
    {"type": "string", "pattern": "^(?:aa|n)*$", "minLength": 34},
    {"type": "string", "pattern": "^(?:aa|n)*$", "minLength": 34, "maxLength": 37},
    {"type": "string", "pattern": "a", "minLength": 33, "maxLength": 36},
    {"type": "string", "pattern": "^[an]*=?[an]+$", "minLength": 35},
    {"type": "string", "pattern": "^n", "minLength": 40, "maxLength": 40},
    {"type": "string", "pattern": "^(?:aa)*$", "minLength": 34, "maxLength": 38},  # period 2
    {"type": "string", "pattern": "^n(?:aan)*$", "minLength": 33},  # period 3, unbounded
]
PER_COUNT = [  # lengths not upward closed: the fallback, per-count states
    {"type": "string", "pattern": "^(?:aa)*$", "minLength": 34, "maxLength": 34},  # window < period
    {"type": "string", "pattern": "^n(?:aan)*$", "minLength": 33, "maxLength": 34},
    {"type": "string", "pattern": "^[an]*=$", "minLength": 34},
    {"type": "string", "format": "uuid", "minLength": 36},
]


@pytest.mark.parametrize("schema", COUNTED + PER_COUNT)
def test_long_min_length_matches_materialized(monkeypatch, schema):
    counted = compile_json_schema(schema, VOCAB, max_whitespace=2)
    assert _counted(counted) == (schema in COUNTED)
    monkeypatch.setattr(jl, "COUNTED_ABOVE", 10_000)
    plain = compile_json_schema({**schema, "description": "materialized"}, VOCAB, max_whitespace=2)
    assert not _counted(plain)
    assert_same_masks(counted, plain, seed=len(str(schema)), walks=30, steps=60, skip=(len(TOKS) - 1,))


UNITS = {"^(?:aa)*$": ("", ["aa"]), "^n(?:aan)*$": ("n", ["aan"])}  # samples that reach the language


@pytest.mark.parametrize("schema", COUNTED)
def test_long_min_length_agrees_with_jsonschema(schema):
    compiled = compile_json_schema(schema, VOCAB, max_whitespace=2)
    valid = jsonschema.Draft202012Validator(schema).is_valid
    rng = random.Random(len(str(schema)))
    lo = schema["minLength"]
    hits = 0
    for _ in range(300):
        n = rng.randint(lo - 3, lo + 5)
        start, units = UNITS.get(schema["pattern"], ("", ["aa", "n"]))
        s = start
        while len(s) < n:  # mostly units the patterns take, sometimes ones they refuse
            s += rng.choice(units) if rng.random() < 0.95 else rng.choice(["a", "=", "\u00e9", "an"])
        if rng.random() < 0.3:
            s = s[:-1]
        ok = valid(s)
        hits += ok
        assert _accepts(compiled, s) == ok, (s, ok)
    assert 5 <= hits < 300  # the sample has both verdicts


def test_finite_pattern_longer_bound_is_empty():
    with pytest.raises(EmptyLanguageError):
        compile_json_schema({"type": "string", "pattern": "^a{3}$", "minLength": 40}, VOCAB)
    c = compile_json_schema({"type": ["string", "integer"], "pattern": "^a{3}$", "minLength": 40}, VOCAB)
    assert _accepts(c, 0) and not _accepts(c, "aaa")


def test_upward_closure_check():
    """``R_0 <= R_p``: a fixed ending after the counted body is refused, a free or periodic one
    is not."""
    char = regex_to_dfa(jl._ANY_CHARS, encoding="json")
    for rx, ok in [("[a-z]+", True), ("(?:aa|n)*", True), ("(?:aa)*", True), ("[a-z]*=", False),
                   ("[a-z]{3}", False), ("[a-z]*(?:=[a-z]+)?", True)]:
        content = regex_to_dfa(rx, encoding="json")
        if ok:
            d = counted_content_dfa(None, content, char, None, 100)
            assert d.lo == 100 and not d.matches(b'"' + b"a" * 98 + b'"') and d.matches(b'"' + b"a" * 100 + b'"')
        else:
            with pytest.raises(NotCountable):
                counted_content_dfa(None, content, char, None, 100)


@pytest.mark.parametrize("schema", [
    {"type": "string", "pattern": "^[a-z]+$", "minLength": 40, "maxLength": 60},
    {"type": "string", "pattern": "^[a-z ]*[0-9]+$", "minLength": 35},
])
def test_long_min_length_real_vocabulary(monkeypatch, smollm2_vocab, schema):
    """A real vocabulary's long tokens take the dense walk of the counted table: the masks
    still equal the materialized automaton's."""
    counted = compile_json_schema(schema, smollm2_vocab)
    assert _counted(counted)
    monkeypatch.setattr(jl, "COUNTED_ABOVE", 10_000)
    plain = compile_json_schema({**schema, "description": "materialized"}, smollm2_vocab)
    assert not _counted(plain)
    eos = tuple(int(e) for e in smollm2_vocab.eos_ids)
    assert_same_masks(counted, plain, seed=len(str(schema)), walks=8, steps=30, skip=eos)


ONE_OF = [  # exact oneOf writes "this branch minus the others"; simplified, long bounds stay counted
    {"oneOf": [{"type": "string", "minLength": 34, "maxLength": 40}, {"type": "null"}]},
    {"oneOf": [{"type": "string"}, {"type": "string", "maxLength": 36}]},  # strings of 37+ chars
    {"oneOf": [{"type": "string", "maxLength": 50}, {"type": "string", "minLength": 35}]},  # two ranges
]


@pytest.mark.parametrize("schema", ONE_OF)
def test_one_of_long_length_branches(monkeypatch, schema):
    counted = compile_json_schema(schema, VOCAB, max_whitespace=2)
    assert _counted(counted) == (schema is not ONE_OF[2])  # an or of two ranges is materialized
    valid = jsonschema.Draft202012Validator(schema).is_valid
    rng = random.Random(7)
    seen = set()
    for n in list(range(30, 56)) * 3:
        s = "".join(rng.choice("an=\u00e9") for _ in range(n))
        seen.add(valid(s))
        assert _accepts(counted, s) == valid(s), (len(s), valid(s))
    assert seen == {True, False}
    monkeypatch.setattr(jl, "COUNTED_ABOVE", 10_000)
    plain = compile_json_schema({**schema, "description": "materialized"}, VOCAB, max_whitespace=2)
    assert not _counted(plain)
    assert_same_masks(counted, plain, seed=3, walks=20, steps=60, skip=(len(TOKS) - 1,))


def test_simplify_length_differences_exactly():
    """``minus`` of two length ranges is at most two ranges: brute force over small bounds."""
    bounds = [0, 1, 2, 3, 5]
    for lo, hi, blo, bhi in itertools.product(bounds, bounds + [None], bounds, bounds + [None]):
        if (hi is not None and lo > hi) or (bhi is not None and blo > bhi):
            continue
        e = jl.simplify_string_expr(("minus", jl.string_spec(min_len=lo, max_len=hi),
                                     jl.string_spec(min_len=blo, max_len=bhi)))
        parts = e[1] if e[0] == "or" else [e]
        assert all(p[0] == "spec" for p in parts) and len(parts) <= 2
        for n in range(9):
            want = lo <= n and (hi is None or n <= hi) and not (blo <= n and (bhi is None or n <= bhi))
            assert any(p[3] <= n and (p[4] is None or n <= p[4]) for p in parts) == want, (lo, hi, blo, bhi, n)
    nothing = ("or", [])
    any_string = jl.string_spec()
    assert jl.simplify_string_expr(("or", [("minus", any_string, nothing)])) == any_string
    assert jl.simplify_string_expr(("and", [any_string, nothing])) == nothing
    assert jl.simplify_string_expr(("or", [("or", [("lit", "a")]), ("lit", "b")])) == ("or", [("lit", "a"), ("lit", "b")])


def test_simplify_conjunction_of_specs_exactly():
    """An ``and`` of specs becomes one spec (the keys of several objects' additional
    properties, each "any string but these names"), with the language of the conjunction:
    brute force over every short string of a small alphabet."""
    specs = [jl.string_spec(exclude=("a", "ab")), jl.string_spec(exclude=("b", "ab", "")),
             jl.string_spec(patterns=("a",), max_len=3), jl.string_spec(full_patterns=("a*b?",), min_len=1),
             jl.string_spec(exclude_patterns=("ba",), min_len=2), jl.string_spec(min_len=3, max_len=3)]
    words = ["".join(w) for n in range(6) for w in itertools.product("ab", repeat=n)]
    merged_some = False
    for r in (2, 3):
        for combo in itertools.combinations(specs, r):
            expr = ("and", [combo[0], ("and", list(combo[1:]))])
            e = jl.simplify_string_expr(expr)
            want = jl.string_content(expr)
            if e == ("or", []):
                assert not any(want.matches(w.encode()) for w in words), combo
                continue
            assert e[0] == "spec", e
            merged_some = True
            got = jl.string_content(e)
            for w in words:
                assert got.matches(w.encode()) == want.matches(w.encode()), (combo, w)
    assert merged_some
    other = ("minus", jl.string_spec(), ("lit", "x"))
    e = jl.simplify_string_expr(("and", [specs[0], other, specs[1]]))
    assert e == ("and", [jl.string_spec(exclude=("a", "ab", "b", "")), other])


def _char_product_reference(xT, cT, f):
    """The state-by-state, byte-by-byte BFS that ``_char_product`` replaced (part 2y)."""
    import numpy as np

    index = {(0, 0): 0}
    order = [(0, 0)]
    rows, incs = [], []
    i = 0
    while i < len(order):
        q, p = order[i]
        i += 1
        row = np.full(256, -1, dtype=np.int64)
        inc = np.zeros(256, dtype=bool)
        for byte in np.flatnonzero((xT[q] >= 0) & (cT[p] >= 0)):
            nq, npos = int(xT[q, byte]), int(cT[p, byte])
            done = npos == f
            key = (nq, 0 if done else npos)
            j = index.get(key)
            if j is None:
                j = index[key] = len(order)
                order.append(key)
            row[byte] = j
            inc[byte] = done
        rows.append(row)
        incs.append(inc)
    return np.array(rows), np.array(incs), [q for q, _ in order], [p for _, p in order]


@pytest.mark.parametrize("pattern", [
    r"^[a-z]+$", r"^(?:aa|n)*$", r"^([a-z][0-9])+x?$", r"\d{4}-\d{2}", r"^[^\s]+@[a-z]+\.(com|org)$",
    r"^\p{L}[\u00e9\u4e00-\u9fff]*$", r'^[\\"]{2,7}$', r"ab|cd|[ef]+", r"^.{3}é$",
])
@pytest.mark.parametrize("enc", ["json", "json-canonical"])
def test_char_product_numbered_as_the_byte_loop(pattern, enc):
    """The numpy BFS levels give the very product the byte-by-byte loop built: the same states
    in the same order, rows, increments; and ``counted_content_dfa`` on top of it the same
    tables (its states are lexer states: their numbering must not move)."""
    import numpy as np

    from constrain.automata.counted import _char_product

    char = regex_to_dfa(jl._ANY_CHARS, encoding=enc)
    content = regex_to_dfa(pattern, encoding=enc, search=True)
    xT, cT = content.trans.astype(np.int64), char.trans.astype(np.int64)
    f = int(np.flatnonzero(char.accept)[0])
    PT, Pinc, pq, pp = _char_product(xT, cT, f)
    rPT, rPinc, rq, rp = _char_product_reference(xT, cT, f)
    assert np.array_equal(PT, rPT) and np.array_equal(Pinc, rPinc)
    assert pq.tolist() == rq and pp.tolist() == rp
    d = counted_content_dfa(None, content, char, 40)
    assert d.matches(b'"' + b"x" * 41 + b'"') is False


def test_char_product_numbered_as_the_byte_loop_on_random_tables():
    """Random content tables (targets in any order, unlike a canonical DFA's byte-ordered
    numbering) against the JSON character DFA: the same states, in the same order."""
    import numpy as np

    from constrain.automata.counted import _char_product

    char = regex_to_dfa(jl._ANY_CHARS, encoding="json")
    cT = char.trans.astype(np.int64)
    f = int(np.flatnonzero(char.accept)[0])
    rng = np.random.default_rng(7)
    for _ in range(40):
        S = int(rng.integers(1, 12))
        cols = rng.integers(-1, S, size=(S, 8))  # 8 byte groups, each a run of 32 bytes
        xT = np.repeat(cols, 32, axis=1)
        xT[:, rng.integers(0, 256, size=20)] = rng.integers(-1, S, size=(S, 20))
        PT, Pinc, pq, pp = _char_product(xT, cT, f)
        rPT, rPinc, rq, rp = _char_product_reference(xT, cT, f)
        assert np.array_equal(PT, rPT) and np.array_equal(Pinc, rPinc)
        assert pq.tolist() == rq and pp.tolist() == rp


@pytest.mark.parametrize("pattern", [r"^[a-z]+$", r"^([a-z][0-9])+x?$", r"^[^\s]+@[a-z]+\.(com|org)$",
                                     r"^\p{L}[\u00e9\u4e00-\u9fff]*$", r'^[\\"]{2,7}$', r"ab|cd|[ef]+"])
def test_counted_byte_classes_numbered_as_a_sorted_unique(pattern):
    """``_assemble`` finds the byte classes by hashing columns (part 2y): the classes, their
    numbering (lexicographic order of the byte columns of T, inc and guard) and the tables
    are those ``np.unique(columns, axis=0)`` gave, with and without whitespace in front."""
    import numpy as np

    from constrain.automata.counted import counted_string_dfa
    from constrain.frontends.json_schema.lexemes import _ws_run

    char = regex_to_dfa(jl._ANY_CHARS, encoding="json")
    content = regex_to_dfa(pattern, encoding="json", search=True)
    for ws in (None, _ws_run(16, None, 0)):
        made = [counted_content_dfa(ws, content, char, 40), counted_string_dfa(ws, char, 3, 90)]
        try:
            made.append(counted_content_dfa(ws, content, char, None, 20))
        except NotCountable:  # a finite language (``{2,7}``)
            pass
        for d in made:
            full = [d._T[:, d._cmap], d.inc[:, d._cmap], d.guard[:, d._cmap]]
            key = np.concatenate([x.astype(np.int64) for x in full]).T
            _, first, cmap = np.unique(key, axis=0, return_index=True, return_inverse=True)
            assert np.array_equal(cmap.reshape(-1), d._cmap)
            assert np.array_equal(full[0][:, first], d._T) and np.array_equal(full[1][:, first], d.inc)
            assert np.array_equal(full[2][:, first], d.guard)
