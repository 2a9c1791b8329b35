"""Every mask bit against a brute-force oracle, on small grammars and hand-made vocabularies.

The oracle for a prefix ``p`` and token ``t`` asks an independent recognizer whether
``p + bytes(t)`` is a prefix of some string of the language: the third-party ``regex``
module's partial matching for regular languages, hand-written predicates for the
context-free ones, and prefix sets of enumerated finite languages for JSON schemas.
"""

from __future__ import annotations

import pytest
import regex as oracle_re

from constrain import compile_grammar, compile_json_schema, compile_regex
from constrain.automata import ByteDFA
from constrain.ir import Grammar, Lex, Ref, alt, lexeme, seq
from oracles import all_orders, assert_same_masks, check_all_masks, small_vocab



def regex_viable(pattern: str):
    rx = oracle_re.compile(pattern)

    def viable(b: bytes) -> bool:
        try:
            s = b.decode("utf-8")
        except UnicodeDecodeError:
            return False  # only ASCII alphabets are used with this oracle
        return rx.fullmatch(s, partial=True) is not None

    def complete(b: bytes) -> bool:
        return rx.fullmatch(b.decode("utf-8")) is not None

    return viable, complete


@pytest.mark.parametrize("pattern", [
    r"ab*c",
    r"(ab|a)(bc|c)d?",
    r"[0-9]{2,4}",
    r"(a|b)*abb",
    r"x(ab)+y|xa*",
])
def test_regex_masks_exact(pattern):
    vocab = small_vocab(b"abcdxy0", max_len=2 if len(pattern) > 12 else 3)
    compiled = compile_regex(pattern, vocab)
    viable, complete = regex_viable(pattern)
    check_all_masks(compiled, vocab, viable, complete)


def lit(s: str):
    return Lex(lexeme(f"test-lit:{s}", lambda: ByteDFA.literal(s.encode()), s))


def test_recursive_grammar_exact():
    """S -> 'a' S 'b' | 'c': the context-free language a^n c b^n."""
    g = Grammar({"S": alt(seq(lit("a"), Ref("S"), lit("b")), lit("c"))}, "S")
    vocab = small_vocab(b"abc", max_len=3)
    compiled = compile_grammar(g, vocab)

    def split(b: bytes):
        i = 0
        while i < len(b) and b[i:i + 1] == b"a":
            i += 1
        return i, b[i:]

    def viable(b: bytes) -> bool:
        n, rest = split(b)
        if not rest:
            return True
        if rest[:1] != b"c":
            return False
        tail = rest[1:]
        return set(tail) <= {ord("b")} and len(tail) <= n

    def complete(b: bytes) -> bool:
        n, rest = split(b)
        return rest == b"c" + b"b" * n

    check_all_masks(compiled, vocab, viable, complete, n_walks=40)


def test_ambiguous_lexemes_exact():
    """Two lexemes matching overlapping bytes, followed by different continuations."""
    ab = Lex(lexeme("test-re:a+", lambda: ByteDFA.literal(b"a").plus(), "a+"))
    aab = Lex(lexeme("test-re:aa", lambda: ByteDFA.literal(b"aa"), "aa"))
    g = Grammar({"S": alt(seq(ab, lit("b")), seq(aab, lit("c")), seq(ab, ab, lit("d")))}, "S")
    vocab = small_vocab(b"abcd", max_len=3)
    compiled = compile_grammar(g, vocab)
    viable, complete = regex_viable(r"a+b|aac|a+a+d")
    check_all_masks(compiled, vocab, viable, complete, n_walks=40)



def _finite_language(values, compact=True):
    strings = {s for v in values for s in all_orders(v)}
    prefixes = {s[:i] for s in strings for i in range(len(s) + 1)}
    return strings, prefixes


@pytest.mark.parametrize("schema,values", [
    ({"type": "object", "properties": {"a": {"type": "boolean"}, "b": {"enum": [1, "x"]}},
      "required": ["b"], "additionalProperties": False},
     [{"b": 1}, {"b": "x"}, {"a": True, "b": 1}, {"a": False, "b": 1}, {"a": True, "b": "x"}, {"a": False, "b": "x"}]),
    ({"type": "array", "items": {"type": "boolean"}, "maxItems": 2},
     [[], [True], [False], [True, True], [True, False], [False, True], [False, False]]),
    ({"anyOf": [{"const": "ab"}, {"type": "null"}, {"enum": [[1], {"k": None}]}]},
     ["ab", None, [1], {"k": None}]),
])
def test_json_schema_masks_exact_compact(schema, values):
    strings, prefixes = _finite_language(values)
    alphabet = sorted(set("".join(strings).encode()))
    vocab = small_vocab(bytes(alphabet), max_len=2, extra=(b'{"a":', b'":', b'true}', b"x"))
    compiled = compile_json_schema(schema, vocab, whitespace="compact")

    def viable(b: bytes) -> bool:
        return b.decode("utf-8", "replace") in prefixes

    def complete(b: bytes) -> bool:
        return b.decode("utf-8", "replace") in strings

    check_all_masks(compiled, vocab, viable, complete, n_walks=25, max_steps=20)


@pytest.mark.parametrize("lo,hi", [(0, 40), (35, 38), (34, None), (0, 33)])
def test_counted_strings_match_materialized(monkeypatch, lo, hi):
    """Long length bounds use a character counter; its masks equal the materialized DFA's."""
    import constrain.frontends.json_schema.lexemes as jl

    vocab = small_vocab(b'a"\\nu0', max_len=3, extra=("é".encode(), "ab".encode() * 8, b'"', b" "))
    schema = {"type": "string", "minLength": lo}
    if hi is not None:
        schema["maxLength"] = hi
    counted = compile_json_schema(schema, vocab, max_whitespace=2)
    assert any(getattr(lx.dfa, "counted", False) for lx in counted.rtn.lexemes)
    monkeypatch.setattr(jl, "COUNTED_ABOVE", 10_000)
    plain = compile_json_schema({**schema, "description": "materialized"}, vocab, max_whitespace=2)
    assert not any(getattr(lx.dfa, "counted", False) for lx in plain.rtn.lexemes)
    assert_same_masks(counted, plain, seed=lo, walks=30, steps=30)
