"""The narrowing compile options for generation, checked bit by bit against brute-force oracles.

``canonical_literals``, ``trailing_whitespace=False`` and ``max_newlines`` (the options
``decode.GENERATION_JSON_OPTIONS`` turns on) each define a narrower language than the
schema's; the oracle is an independent regex for that narrower language (the third-party
``regex`` module's partial matching), and every mask bit must agree with it.
"""

from __future__ import annotations

import itertools

import pytest
import regex as oracle_re

from constrain import compile_json_schema
from constrain.frontends.json_schema.lexemes import JsonLexemes, canonical_literals, canonical_string
from oracles import check_all_masks, small_vocab



def oracle(pattern: str):
    rx = oracle_re.compile(pattern, oracle_re.DOTALL)

    def viable(b: bytes) -> bool:
        try:
            s = b.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return rx.fullmatch(s, partial=True) is not None

    def complete(b: bytes) -> bool:
        return rx.fullmatch(b.decode("utf-8")) is not None

    return viable, complete


# whitespace runs over the vocabulary's blanks (space, newline): at most 2 bytes, at most one
# newline; TRAIL: the same, non-empty
WS = r"(?: {0,2}|\n ?| \n)"
TRAIL = r"(?: {1,2}|\n ?| \n)"


def _ws_pattern(max_ws: int, max_nl: int | None, nonempty: bool = False) -> str:
    """All runs over space/newline, enumerated (the oracle for a run language)."""
    runs = set()
    for n in range(1 if nonempty else 0, max_ws + 1):
        for p in itertools.product(" \n", repeat=n):
            if max_nl is None or p.count("\n") <= max_nl:
                runs.add("".join(p))
    return "(?:" + "|".join(oracle_re.escape(r) for r in sorted(runs, key=lambda r: (len(r), r))) + ")"


def test_ws_pattern_helper():
    assert oracle_re.fullmatch(_ws_pattern(2, 1), "") and oracle_re.fullmatch(_ws_pattern(2, 1), " \n")
    assert not oracle_re.fullmatch(_ws_pattern(2, 1), "\n\n")
    assert oracle_re.fullmatch(WS, "\n ") and not oracle_re.fullmatch(WS, "\n\n")


OBJ = {"type": "object", "properties": {"a": {"enum": ["b", 1]}}, "required": ["a"],
       "additionalProperties": False}


def test_canonical_property_names_and_enum_strings_exact():
    """Keys and enum strings only as written; no trailing whitespace; one newline per run."""
    vocab = small_vocab(b'{}":ab1 \n\\u06', max_len=2, extra=(b'"a"', b'\\u0061', b'"b"}'))
    compiled = compile_json_schema(OBJ, vocab, canonical_literals=True, trailing_whitespace=False,
                                   max_whitespace=2, max_newlines=1)
    viable, complete = oracle(rf'{WS}\{{{WS}"a"{WS}:{WS}(?:"b"|1){WS}\}}')
    check_all_masks(compiled, vocab, viable, complete, n_walks=30, max_steps=14)


def test_default_still_accepts_escaped_keys_and_trailing_whitespace():
    """The spec-exact defaults are unchanged: escapes in keys and enum strings, trailing blanks."""
    vocab = small_vocab(b'{}":ab1 \n\\u06', max_len=1, extra=(b"\\u0061", b"\\u0062"))
    compiled = compile_json_schema(OBJ, vocab, max_whitespace=2)
    ws = _ws_pattern(2, None)
    key, b = r'(?:a|\\u0061)', r'(?:b|\\u0062)'
    viable, complete = oracle(rf'{ws}\{{{ws}"{key}"{ws}:{ws}(?:"{b}"|1){ws}\}}{_ws_pattern(2, None, True)}?')
    check_all_masks(compiled, vocab, viable, complete, n_walks=30, max_steps=14)


@pytest.mark.parametrize("max_ws,max_nl", [(3, 1), (3, 0), (2, 2), (3, None)])
def test_max_newlines_runs_exact(max_ws, max_nl):
    """Whitespace runs and the trailing run under every (length, newline) bound."""
    schema = {"type": "array", "items": {"type": "boolean"}, "maxItems": 2}
    vocab = small_vocab(b"[],tf \n", max_len=2, extra=(b"true", b"false", b"\n\n", b"   "))
    compiled = compile_json_schema(schema, vocab, max_whitespace=max_ws, max_newlines=max_nl)
    ws, tr = _ws_pattern(max_ws, max_nl), _ws_pattern(max_ws, max_nl, True)
    item = r"(?:true|false)"
    viable, complete = oracle(rf"{ws}\[(?:{ws}{item}(?:{ws},{ws}{item})?)?{ws}\]{tr}?")
    check_all_masks(compiled, vocab, viable, complete, n_walks=30, max_steps=14)


def test_trailing_whitespace_off_exact():
    vocab = small_vocab(b"nul \n", max_len=2, extra=(b"null", b"null\n", b"null "))
    compiled = compile_json_schema({"type": "null"}, vocab, max_whitespace=2, trailing_whitespace=False)
    viable, complete = oracle(rf"{_ws_pattern(2, None)}null")
    check_all_masks(compiled, vocab, viable, complete, n_walks=20, max_steps=8)


def test_canonical_escapes_that_are_needed_exact():
    """Values that need escapes get exactly the canonical ones (``\\"``, ``\\n``), compact."""
    schema = {"enum": ['a"b', "x\ny", "\u00e9"]}
    vocab = small_vocab(b'"abxyn\\u0e9', max_len=2, extra=("é".encode(), b'\\u00e9', b'\\"', b"\\n", b"\\u0022"))
    compiled = compile_json_schema(schema, vocab, whitespace="compact", canonical_literals=True)
    viable, complete = oracle(r'"(?:a\\"b|x\\ny|é)"')
    check_all_masks(compiled, vocab, viable, complete, n_walks=30, max_steps=10)


def test_canonical_literals_keep_string_languages_and_exclusions_exact():
    """Only literals the schema adds are narrowed: a pattern branch keeps every spelling, and a
    value oneOf subtracts stays excluded in every spelling."""
    vocab = small_vocab(b'"ab\\u06', max_len=2, extra=(b"\\u0061", b"\\u0062"))
    # anyOf: "a" canonical only, the pattern branch ("b" exactly) in either spelling
    any_of = {"type": "string", "anyOf": [{"const": "a"}, {"pattern": "^b$"}]}
    c1 = compile_json_schema(any_of, vocab, whitespace="compact", canonical_literals=True)
    viable, complete = oracle(r'"(?:a|b|\\u0062)"')
    check_all_masks(c1, vocab, viable, complete, n_walks=30, max_steps=10)
    # oneOf: "b" is in both branches, so neither may produce it, however it is spelled
    one_of = {"type": "string", "oneOf": [{"enum": ["a", "b"]}, {"pattern": "^b$"}]}
    c2 = compile_json_schema(one_of, vocab, whitespace="compact", canonical_literals=True)
    viable, complete = oracle(r'"a"')
    check_all_masks(c2, vocab, viable, complete, n_walks=30, max_steps=10)


def test_canonical_string_spelling():
    assert canonical_string("a") == b"a"
    assert canonical_string('q"\\') == b'q\\"\\\\'
    assert canonical_string("\n\t\x01\x7f") == b"\\n\\t\\u0001\x7f"
    assert canonical_string("é€😀") == "é€😀".encode()
    assert canonical_string("\ud800") == b"\\ud800"  # a lone surrogate: UTF-8 cannot carry it


def test_canonical_literals_expression_rewrite():
    e = ("minus", ("or", [("lit", "a"), ("spec", [], [], 0, None, [], [])]), ("or", [("lit", "b")]))
    assert canonical_literals(e) == ("minus", ("or", [("clit", "a"), e[1][1][1]]), ("or", [("lit", "b")]))
    assert canonical_literals(("and", [("lit", "x")])) == ("and", [("clit", "x")])


def test_options_validation_and_keys():
    with pytest.raises(ValueError):
        JsonLexemes("flexible", 4, max_newlines=-1)
    a, b = JsonLexemes("flexible", 4), JsonLexemes("flexible", 4, canonical_literals=True)
    assert a.string_literal("k") is not b.string_literal("k")
    assert a.string() is b.string()  # string languages are shared
    assert JsonLexemes("flexible", 4, trailing_ws=False).trailing_ws() is None
    assert JsonLexemes("compact", None, max_newlines=1).max_newlines is None
    # a newline bound no tighter than the length bound is the plain policy (same lexemes)
    assert JsonLexemes("flexible", 2, max_newlines=2).punct(",") is a.__class__("flexible", 2).punct(",")


@pytest.mark.parametrize("lo,hi", [(0, 40), (34, None)])
def test_counted_strings_with_newline_bound_match_materialized(monkeypatch, lo, hi):
    """Long length bounds (a character counter) under a whitespace run with a newline bound."""
    import constrain.frontends.json_schema.lexemes as jl
    from oracles import assert_same_masks

    vocab = small_vocab(b'a"\\n \n', max_len=3, extra=("é".encode(), b"ab" * 8, b"\n\n", b' \n"'))
    schema = {"type": "string", "minLength": lo}
    if hi is not None:
        schema["maxLength"] = hi
    opts = dict(max_whitespace=3, max_newlines=1, trailing_whitespace=False)
    counted = compile_json_schema(schema, vocab, **opts)
    assert any(getattr(lx.dfa, "counted", False) for lx in counted.rtn.lexemes)
    monkeypatch.setattr(jl, "COUNTED_ABOVE", 10_000)
    plain = compile_json_schema({**schema, "description": "materialized"}, vocab, **opts)
    assert not any(getattr(lx.dfa, "counted", False) for lx in plain.rtn.lexemes)
    assert_same_masks(counted, plain, seed=lo, walks=20, steps=25)
    m = counted.matcher()
    assert m.advance(vocab.token_bytes.index(b"\n")) and not m.is_allowed(vocab.token_bytes.index(b"\n"))
