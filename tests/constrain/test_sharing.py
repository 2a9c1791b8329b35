"""Lexemes with equal languages share one DFA object and one token table (automata.sharing).

A DFA is canonical, so the same language reached by two routes has byte-identical arrays;
keeping one copy is exact. The masks of a constraint must not change with the sharing."""

from __future__ import annotations

import gc
import weakref
from collections import OrderedDict

import numpy as np

import constrain
from constrain.automata import ByteDFA, dfa_digest, share_dfa
from constrain.ir.grammar import lexeme
from constrain.tokens import tables as tables_mod
from constrain.tokens.tables import lexeme_table


def test_equal_languages_share_one_dfa_and_distinct_ones_do_not():
    a = ByteDFA.literal(b"abc").union(ByteDFA.literal(b"abd"))
    b = ByteDFA.literal(b"ab").concat(ByteDFA.byte_set(b"cd"))  # same language, built apart
    c = ByteDFA.literal(b"abe")
    assert a is not b and dfa_digest(a) == dfa_digest(b) != dfa_digest(c)
    sa = share_dfa(a)
    assert share_dfa(b) is sa and share_dfa(c) is c
    del sa, a
    gc.collect()
    assert share_dfa(b) is b  # weak: a dead DFA is not kept, the next equal one takes its place


def test_lexemes_with_the_same_language_share_their_table(smollm2_vocab, monkeypatch):
    monkeypatch.setattr(tables_mod, "_TABLES", OrderedDict())
    monkeypatch.setattr(tables_mod, "_BY_DFA", weakref.WeakValueDictionary())
    x = lexeme("test-sharing:x", lambda: ByteDFA.literal(b"true").union(ByteDFA.literal(b"trux")))
    y = lexeme("test-sharing:y", lambda: ByteDFA.literal(b"tru").concat(ByteDFA.byte_set(b"ex")))
    assert x.dfa is y.dfa
    tx, ty = lexeme_table(x, smollm2_vocab), lexeme_table(y, smollm2_vocab)
    assert tx is ty
    fresh = tables_mod.LexemeTable(ByteDFA.literal(b"true").union(ByteDFA.literal(b"trux")), smollm2_vocab)
    for q in range(fresh.n_states):
        assert np.array_equal(ty.row(q), fresh.row(q))


def test_masks_equal_with_and_without_shared_tables(smollm2_vocab, monkeypatch):
    """A schema whose two properties have the same pattern reached two ways (plain and under
    ``anyOf`` with itself): masks along an instance equal those of a process-fresh compile
    with sharing turned off (share_dfa a no-op)."""
    schema = {"type": "object", "properties": {
        "a": {"type": "string", "pattern": "^[a-c]{2,4}$"},
        "b": {"anyOf": [{"type": "string", "pattern": "^[a-c]{2,4}$"}, {"type": "string", "pattern": "^[a-c]{2,4}$"}]}},
        "required": ["a", "b"], "additionalProperties": False}
    text = '{"a": "abc", "b": "cab"}'
    ids = smollm2_vocab.encode(text)

    def masks():
        constrain.clear_caches()
        m = constrain.compile_json_schema(schema, smollm2_vocab).matcher()
        out = []
        for t in ids:
            out.append(np.array(m.mask()).copy())
            assert m.advance(t)
        out.append(np.array(m.mask()).copy())
        assert m.is_accepting()
        return out

    shared = masks()
    import constrain.ir.grammar as G

    monkeypatch.setattr(G, "share_dfa", lambda d: d)
    plain = masks()
    assert len(shared) == len(plain) and all(np.array_equal(p, q) for p, q in zip(shared, plain))
