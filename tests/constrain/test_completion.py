"""Shortest completions (constrain.completion) against a byte-level breadth-first search.

The structural answer must have exactly the oracle's length, must be accepted by the automaton
and must end where the output may end, from every state reached by random walks over
JSON schemas (recursive, counted, enums, patterns), Lark grammars and regexes, on all three
tokenizer families.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from constrain import compile_json_schema, compile_lark, compile_regex
from oracles import shortest_completion_bfs

SCHEMAS = {
    "object": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string", "minLength": 3},
                                                "c": {"enum": ["long", "s"]}}, "required": ["a", "b", "c"]},
    "recursive": {"$defs": {"node": {"type": "object", "properties": {
        "v": {"type": "number"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}, "minItems": 1}},
        "required": ["v"]}}, "$ref": "#/$defs/node"},
    "counted": {"type": "array", "items": {"type": "string", "minLength": 2, "maxLength": 5}, "minItems": 2},
    "anyOf": {"anyOf": [{"type": "object", "required": ["long_name", "x"]}, {"type": "string", "pattern": "^ab+c$"},
                        {"type": "integer", "minimum": 100}]},
    "format": {"type": "object", "properties": {"when": {"type": "string", "format": "date-time"},
                                                "id": {"type": "string", "format": "uuid"}}, "required": ["when", "id"]},
}

LARK = r"""
start: expr
expr: term (("+" | "-") term)*
term: NUMBER | "(" expr ")" | NAME "(" expr ("," expr)* ")"
NAME: /[a-z]{2,4}/
NUMBER: /[0-9]+/
"""


def _constraints(vocab):
    """``(label, compiled, oracle)``: the byte search is the oracle where it stays small
    (strict, compact objects); elsewhere the answer is checked for consistency only."""
    out = []
    for k, s in SCHEMAS.items():
        out.append((f"schema:{k}:strict", compile_json_schema(s, vocab, strict=True, whitespace="compact"), True))
        out.append((f"schema:{k}", compile_json_schema(s, vocab), False))
    out.append(("lark", compile_lark(LARK, vocab), True))
    out.append(("regex", compile_regex(r"(ab|c){3,}x[0-9]{2}", vocab), True))
    return out


def _walk_states(compiled, vocab, rng, walks=12, steps=30):
    """States along random token walks (each step a random allowed non-EOS token)."""
    eos = set(int(e) for e in vocab.eos_ids)
    for _ in range(walks):
        m = compiled.matcher()
        yield m
        for _ in range(rng.randrange(1, steps)):
            words = m.mask().view(np.uint32)
            allowed = np.flatnonzero(np.unpackbits(words.view(np.uint8), bitorder="little")[:vocab.size])
            allowed = [int(t) for t in allowed if int(t) not in eos]
            if not allowed:
                break
            assert m.advance(rng.choice(allowed))
            yield m


def test_shortest_completion_matches_byte_search(family):
    """Exactly as long as the byte search's answer; accepted; every suffix is itself shortest."""
    name, _, vocab = family
    rng = random.Random(7)
    for label, compiled, use_oracle in _constraints(vocab):
        a = compiled.automaton
        checked = compared = 0
        for m in _walk_states(compiled, vocab, rng, walks=6, steps=24):
            st = m._history[-1]
            got = m.shortest_completion()
            assert got is not None, (name, label)
            assert len(got) == m.shortest_completion_length(), (name, label, got)
            if use_oracle:
                want = shortest_completion_bfs(a, st, max_states=5_000)
                assert want is None or len(got) == want, (name, label, got, want)
                compared += want is not None
            for i in range(len(got) + 1):  # a shortest completion's suffixes are shortest too
                assert a.completions.length(a.walk(st, got[:i])) == len(got) - i, (name, label, got, i)
            c = m.copy()
            assert c.advance_bytes(got) and c.is_accepting(), (name, label, got)
            checked += 1
        assert checked >= 10, (name, label)
        assert compared >= (checked // 2 if use_oracle else 0), (name, label, compared, checked)


def test_shortest_completion_of_a_deep_recursion(smollm2_vocab):
    """50 levels open: the completion closes every one (a byte search would have to find it)."""
    compiled = compile_json_schema(SCHEMAS["recursive"], smollm2_vocab, whitespace="compact")
    m = compiled.matcher()
    assert m.advance_bytes(b'{"v":1,"kids":[' * 50)
    tail = m.shortest_completion()
    assert tail == b'{"v":0}' + b"]}" * 50
    assert m.shortest_completion_length() == len(tail)
    assert m.advance_bytes(tail) and m.is_accepting()



def test_json_spaced_spelling():
    from constrain.compiled import _json_spaced

    assert _json_spaced(b'{"a:b":1,"c":[1,2],"d":"x\\",y"}') == b'{"a:b": 1, "c": [1, 2], "d": "x\\",y"}'


@pytest.mark.parametrize("boundaries", [True, False])
def test_compile_precomputes_masks_along_the_shortest_output(family, monkeypatch, boundaries):
    """The structural states of the shortest output (compact and with JSON's usual blanks) have
    their masks at compile time: at every byte, or (the default) at the token boundaries of
    a greedy longest-match tokenization, and no others; every mask equals the one computed
    on first visit."""
    import constrain.compiled as compiled_mod
    from oracles import assert_same_masks

    _, _, vocab = family
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "tags": {
        "type": "array", "items": {"type": "integer"}, "minItems": 1}}, "required": ["name", "tags"]}
    # the mechanism, not the default budget (20 ms, which a loaded test machine may use up)
    monkeypatch.setattr(compiled_mod, "EAGER_MASK_BUDGET_S", 5.0)
    monkeypatch.setattr(compiled_mod, "EAGER_MASK_TOKEN_BOUNDARIES", boundaries)
    warm = compile_json_schema(schema, vocab)
    a = warm.automaton
    skipped = 0
    for text in (b'{"name":"","tags":[0', b'{"name": "", "tags": [0'):
        ends = compiled_mod._greedy_token_ends(vocab, text)
        # each boundary is the end of the longest token that is a prefix of the rest
        cuts = sorted(ends)
        tokens = set(vocab.token_bytes)
        for i, j in zip(cuts, cuts[1:]):
            assert text[i:j] in tokens or j == i + 1
            assert not any(text[i:k] in tokens for k in range(j + 1, len(text) + 1))
        st = a.start
        for i, b in enumerate(text):
            if boundaries and i not in ends:
                skipped += st.mask is None
            else:
                assert st.mask is not None, (text, i)
            st = a.step(st, b)
    assert skipped if boundaries else not skipped  # states inside a token are left to first use
    monkeypatch.setattr(compiled_mod, "EAGER_MASK_BUDGET_S", 0.0)
    cold = compile_json_schema(schema, vocab)
    assert cold.automaton.start.mask is None
    eos = set(int(e) for e in vocab.eos_ids)
    assert_same_masks(warm, cold, seed=3, walks=8, steps=20, skip=eos)


def test_lexeme_tails_shared_per_table_equal_fresh_ones(family, monkeypatch):
    """Tails kept per token table (shared by later compiles) are the ones a fresh search
    gives, and a table keeps at most ``_TABLE_TAILS_MAX`` of them."""
    from constrain.tokens import completion

    _, _, vocab = family
    schema = {"type": "object", "properties": {"name": {"type": "string", "minLength": 2},
                                               "tags": {"type": "array", "items": {"enum": ["x", "yy"]}}},
              "required": ["name", "tags"]}
    first = compile_json_schema(schema, vocab)
    want = first.automaton.shortest_completion(first.automaton.start)
    tables = {id(t): t for t in first.automaton.tables}.values()
    assert any(completion._TABLE_TAILS.get(t) for t in tables)
    again = compile_json_schema(schema, vocab)  # served from the shared tails
    assert again.automaton.shortest_completion(again.automaton.start) == want
    for x, t in enumerate(again.automaton.tables):
        shared = dict(completion._TABLE_TAILS.get(t) or {})
        completion._TABLE_TAILS.pop(t, None)
        for q, tail in shared.items():  # a new search (nothing shared left for this table)
            completion._TABLE_TAILS.pop(t, None)
            assert completion.Completions(again.automaton).lexeme_tail(x, q) == tail
    monkeypatch.setattr(completion, "_TABLE_TAILS_MAX", 2)
    completion._TABLE_TAILS.clear()
    c = compile_json_schema(schema, vocab)
    comp = completion.Completions(c.automaton)
    for x, t in enumerate(c.automaton.tables):
        for q in range(min(t.n_states, 6)):
            comp.lexeme_tail(x, q)
        assert len(completion._TABLE_TAILS.get(t, {})) <= 2


def _tail_by_bytes(table, q: int):
    """Oracle for ``lexeme_tail``: a breadth-first search over all 256 bytes (no classes), in
    the completion's byte preference order; the shortest word, the preferred bytes first."""
    from collections import deque

    from constrain.tokens.completion import _BYTE_PREFERENCE

    T, cm, acc, dead = table.state_table, table.classes, table.accept_list, table.n_states
    if acc[q]:
        return b""
    prev = {q: None}
    work = deque([q])
    while work:
        s = work.popleft()
        for b in _BYTE_PREFERENCE:
            t = int(T[s, cm[b]])
            if t == dead or t in prev:
                continue
            prev[t] = (s, b)
            if acc[t]:
                out = bytearray()
                while prev[t] is not None:
                    t, byte = prev[t]
                    out.append(byte)
                return bytes(reversed(out))
            work.append(t)
    return None


@pytest.mark.parametrize("live", [True, False])
def test_lexeme_tails_equal_a_search_over_every_byte(smollm2_vocab, monkeypatch, live):
    """Tails of keys (every escaped spelling of the name), enums, bounded numbers and patterns,
    searched over each state's live moves only (``LIVE_EDGES``) or over every class, equal an
    independent breadth-first search over all 256 bytes, from states all through each table."""
    from constrain.tokens import completion

    monkeypatch.setattr(completion, "LIVE_EDGES", live)
    schema = {"type": "object", "properties": {
        "na\u00efve \"key\"/x": {"type": "integer", "minimum": -40, "maximum": 12345},
        "tag": {"enum": ["alpha", "\u00e9t\u00e9", "b\\c"]}, "code": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]+$"},
        "when": {"type": "string", "format": "date"}}, "required": ["tag"]}
    c = compile_json_schema(schema, smollm2_vocab)
    checked = 0
    for x, t in enumerate(c.automaton.tables):
        if t.counted or t.n_states > 400:
            continue
        completion._TABLE_TAILS.pop(t, None)
        comp = completion.Completions(c.automaton)
        for q in range(0, t.n_states, max(1, t.n_states // 12)):
            assert comp.lexeme_tail(x, q) == _tail_by_bytes(t, q), (x, q)
            checked += 1
    assert checked > 50
