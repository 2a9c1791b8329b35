"""The trie builder for literal sets gives exactly the regex pipeline's canonical DFA."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from constrain.frontends.json_schema.lexemes import excluded_values_dfa, regex_escape, string_content
from constrain.frontends.regex import ENCODINGS, regex_to_dfa
from constrain.frontends.regex.literals import literal_set_dfa

# characters where the spellings differ: plain, JSON-escaped, short escapes, controls, DEL,
# two- to four-byte UTF-8 (astral: surrogate-pair escapes), lone surrogates (no spelling)
_CHARS = st.sampled_from(list('aZ0_-/\\" .$\n\t\x00\x1f\x7féπ€😀\ud800\udfff'))
_VALUES = st.lists(st.text(_CHARS, max_size=6), max_size=6)


def _same(a, b) -> bool:
    return (a.table.shape == b.table.shape and np.array_equal(a.table, b.table)
            and np.array_equal(a.accept, b.accept) and np.array_equal(a.classes, b.classes))


def _by_regex(values, encoding):
    return regex_to_dfa("|".join(regex_escape(v) for v in values), encoding=encoding)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=_VALUES, encoding=st.sampled_from(ENCODINGS))
def test_same_canonical_dfa_as_regex(values, encoding):
    d = literal_set_dfa(values, encoding)
    assert d is not None
    if not values:
        assert d.is_empty()
    else:
        assert _same(d, _by_regex(values, encoding))


@pytest.mark.parametrize("encoding", ["json", "json-canonical"])
def test_spellings_accepted_exactly(encoding):
    names = ["id", "name", "na", "ñame", "a/b", 'q"x', "emoji😀", ""]
    d = literal_set_dfa(names, encoding)
    for n in names:
        assert d.matches(json.dumps(n, ensure_ascii=False)[1:-1].encode())
    if encoding == "json":
        assert d.matches(b"\\u0069d") and d.matches(b"\\u0069\\u0064") and d.matches(b"a\\/b")
        assert d.matches(b"emoji\\ud83d\\ude00") and d.matches(b"emoji\\uD83D\\uDE00")
    else:
        assert not d.matches(b"\\u0069d") and not d.matches(b"a\\/b")
    for bad in (b"i", b"nam", b"names", b"\\u0069", b"emoji\\ud83d", b"q\"x"):
        assert not d.matches(bad)


def test_json_schema_paths_use_it():
    # property keys, enum value sets and excluded key names all give the regex pipeline's DFA
    assert _same(string_content(("lit", "orderId"), "json"), _by_regex(["orderId"], "json"))
    assert _same(string_content(("or", [("lit", "a"), ("lit", "b\u00e9")]), "json"),
                 _by_regex(["a", "b\u00e9"], "json"))
    assert _same(excluded_values_dfa(["x", "xy", "\ud800"], "json"), _by_regex(["x", "xy", "\ud800"], "json"))


def test_budget_gives_up():
    assert literal_set_dfa([f"key{i}" for i in range(50)], "json", budget=10) is None


def test_bad_encoding():
    with pytest.raises(ValueError, match="encoding"):
        literal_set_dfa(["a"], "latin1")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.text(_CHARS, max_size=8), encoding=st.sampled_from(ENCODINGS))
def test_single_value_is_canonical(value, encoding):
    # property names: one value, built minimal and not re-minimized; still the regex
    # pipeline's canonical DFA, bit for bit
    assert _same(literal_set_dfa([value], encoding), _by_regex([value], encoding))


def _canonical(d):
    from constrain.automata import ByteDFA

    return ByteDFA(d.trans, d.accept)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.text(_CHARS, max_size=8), encoding=st.sampled_from(ENCODINGS),
       affixes=st.sampled_from([(b"", b""), (b'"', b'"'), (b"<", b">!")]))
def test_one_value_chain_is_the_regex_language(value, encoding, affixes):
    # a property name between its quotes, written as a chain of spelling templates: the
    # regex pipeline's language around the affixes, already minimal, every state live;
    # no chain (None) only where a character has no spelling (lone surrogates)
    from constrain.frontends.regex import literal_dfa

    pre, post = affixes
    d = literal_dfa(value, encoding, pre, post)
    if d is None:
        assert any(0xD800 <= ord(c) <= 0xDFFF for c in value)
        return
    want = _by_regex([value], encoding)
    if pre or post:  # the affixes are raw bytes around the encoded value
        from constrain.automata import ByteDFA

        want = ByteDFA.literal(pre).concat(want).concat(ByteDFA.literal(post)) if not want.is_empty() else want
    got = _canonical(d)
    assert _same(got, want)
    # minimal as built, so also trimmed (the canonical form drops dead and unreachable states)
    assert got.num_states == d.num_states
    assert d.accept.sum() == 1 and d.accept[-1]


def test_property_name_lexemes_take_the_chain():
    # the JSON Schema front-end's key lexemes: ws, quote, name, quote; the same language as
    # the general path (content DFA glued between quotes)
    from constrain.frontends.json_schema.lexemes import JsonLexemes, glue
    from constrain.automata import ByteDFA

    L = JsonLexemes("flexible", 2)
    q = ByteDFA.literal(b'"')
    for name in ("orderId", "", "na\u00efve", "a\"b\\c", "\U0001F600x", "\x00"):
        lx = L.string_literal(name)
        want = L._with_ws(glue(q, string_content(("lit", name), "json"), q))
        assert _same(_canonical(lx.dfa), _canonical(want)), name
