"""``canonical_strings``: every JSON string spelled only as ``json.dumps`` writes it.

The language under the option is "valid instance AND canonical spelling": a string's content
may use an escape only where JSON needs one (``\\"``, ``\\\\``, ``\\b \\f \\n \\r \\t``,
``\\u00xx`` for the other control characters), never ``\\u0061`` for ``a`` nor ``\\/``.
Checked through the masks (every byte a token, each step's mask bit compared) against
Python oracles: the third-party ``regex`` module for the free string, and for constrained
strings (``pattern``, ``format``, ``minLength``/``maxLength``, ``enum``) ``json.loads`` +
a validity check + ``canonical_string`` on random spellings drawn by hypothesis.
"""

from __future__ import annotations

import datetime
import itertools
import json
import re

import pytest
import regex as oracle_re
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import decode
from constrain import compile_json_schema, compile_lark
from constrain.frontends.json_schema.lexemes import JsonLexemes, canonical_string
from constrain.frontends.regex import regex_to_dfa
from constrain.tokens import Vocabulary
from oracles import bits, check_all_masks

CANON = dict(whitespace="compact", canonical_strings=True)


def byte_vocab() -> Vocabulary:
    """Every single byte plus one EOS id (the last): any text is one token per byte."""
    toks: list[bytes | None] = [bytes([b]) for b in range(256)] + [None]
    return Vocabulary.from_token_bytes(toks, eos_ids=[256])


VOCAB = byte_vocab()


def accepts(compiled, text: str | bytes) -> bool:
    """Whether ``text`` is a complete output, read through the masks byte by byte."""
    data = text.encode() if isinstance(text, str) else text
    m = compiled.matcher()
    for b in data:
        allowed = bool(bits(m.mask(), 257)[b])
        assert allowed == m.is_allowed(b)
        if not allowed:
            return False
        assert m.advance(b)
    return bool(bits(m.mask(), 257)[256])


# --------------------------------------------------------------------------- free strings

REJECTED = [r'"\u0061"', r'"2024\u002d01-31"', r'"\/"', r'"\u00e9"', r'"\u001F"', r'"\ud83d\ude00"',
            r'"\u0022"', r'"\u005c"', r'"\u000a"']
ACCEPTED = [r'"a\"b"', r'"a\nb"', r'"\u0001"', r'"\\"', '"/"', '"é😀"', r'"\b\f\r\t"', '"\x7f"', '""']


@pytest.fixture(scope="module")
def free():
    return {opt: compile_json_schema({"type": "string"}, VOCAB, whitespace="compact", canonical_strings=opt)
            for opt in (False, True)}


@pytest.mark.parametrize("text", REJECTED)
def test_needless_escapes_rejected_only_in_canonical_mode(free, text):
    assert json.loads(text) is not None  # valid JSON: the default accepts every spelling
    assert accepts(free[False], text)
    assert not accepts(free[True], text)


@pytest.mark.parametrize("text", ACCEPTED)
def test_needed_and_conventional_escapes_accepted(free, text):
    assert accepts(free[True], text) and accepts(free[False], text)
    assert canonical_string(json.loads(text)) == text.encode()[1:-1]


def test_free_string_masks_exact_against_regex_oracle():
    """Every mask bit of a free string under canonical_strings, on a vocabulary of escape
    fragments (``\\u00``, ``\\u0061``, ``\\/``...)."""
    alphabet = b'"a\\u0b1n/'
    toks: list[bytes | None] = [bytes(p) for n in (1, 2) for p in itertools.product(alphabet, repeat=n)]
    toks += [b"\\u0061", b"\\u001b", b"\\u001B", b"\\u00", b'\\"', b"\\n", b"\\/", b"\x01", "é".encode(), None]
    vocab = Vocabulary.from_token_bytes(toks, eos_ids=[len(toks) - 1])
    compiled = compile_json_schema({"type": "string"}, vocab, **CANON)
    rx = oracle_re.compile(r'"(?:[^"\\\x00-\x1f]|\\["\\bfnrt]|\\u00(?:0[0-7bef]|1[0-9a-f]))*"', oracle_re.DOTALL)

    def viable(b: bytes) -> bool:
        try:
            return rx.fullmatch(b.decode(), partial=True) is not None
        except UnicodeDecodeError:
            return False

    check_all_masks(compiled, vocab, viable, lambda b: rx.fullmatch(b.decode()) is not None,
                    n_walks=25, max_steps=10)


def test_keys_and_nested_values_canonical():
    """Keys of additional properties and strings deep inside are canonical too."""
    schema = {"type": "object", "properties": {"d": {"type": "array", "items": {"type": "string"}}}}
    c = compile_json_schema(schema, VOCAB, **CANON)
    assert accepts(c, '{"d":["x-y"],"k":"v"}')
    assert not accepts(c, r'{"d":["x\u002dy"]}')
    assert not accepts(c, r'{"\u0064":[]}')  # the declared key, escaped
    assert not accepts(c, r'{"\u006b":"v"}')  # an additional key, escaped
    assert not accepts(c, r'{"k":"\u0076"}')
    d = compile_json_schema(schema, VOCAB, whitespace="compact")
    assert accepts(d, r'{"\u0064":["x\u002dy"],"\u006b":"\u0076"}')


# --------------------------------------------------------------------------- constrained strings

def _date_ok(v: str) -> bool:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", v):
        return False
    try:
        datetime.date.fromisoformat(v)
        return True
    except ValueError:
        return False


# (schema, validity oracle on the decoded value, value strategy hinting at valid instances)
CASES = {
    "pattern": ({"type": "string", "pattern": "^[0-9a-]+$"},
                lambda v: re.fullmatch(r"[0-9a-]+", v) is not None, st.text("01a-", max_size=6)),
    "format-date": ({"type": "string", "format": "date"}, _date_ok, st.dates().map(str)),
    "maxLength": ({"type": "string", "maxLength": 3}, lambda v: len(v) <= 3, st.text("a-é\n\"\\", max_size=5)),
    "counted-minLength": ({"type": "string", "minLength": 34}, lambda v: len(v) >= 34,
                          st.text("a-é\n", min_size=32, max_size=36)),
    "counted-pattern-maxLength": ({"type": "string", "pattern": "^[a-]*$", "maxLength": 40},
                                  lambda v: re.fullmatch(r"[a-]*", v) is not None and len(v) <= 40,
                                  st.text("a-", min_size=36, max_size=42)),
    "enum": ({"enum": ["a-b", 'q"\\', "x\ny", "é"]}, lambda v: v in ("a-b", 'q"\\', "x\ny", "é"),
             st.sampled_from(["a-b", 'q"\\', "x\ny", "é", "a-c"])),
    "counted-format-pattern": ({"type": "string", "format": "date", "pattern": "-0", "maxLength": 40},
                               lambda v: _date_ok(v) and "-0" in v, st.dates().map(str)),
}


@pytest.fixture(scope="module")
def constrained():
    return {name: compile_json_schema(schema, VOCAB, **CANON) for name, (schema, _, _) in CASES.items()}


def _spellings(ch: str) -> list[str]:
    """Every JSON spelling of one character (the literal one where JSON allows it)."""
    cp = ord(ch)
    out = []
    if cp >= 0x20 and ch not in '"\\':
        out.append(ch)
    short = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if ch in short:
        out.append(short[ch])
    if cp <= 0xFFFF:
        out += ["\\u%04x" % cp, "\\u%04X" % cp]
    else:
        hi, lo = 0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + ((cp - 0x10000) & 0x3FF)
        out.append("\\u%04x\\u%04x" % (hi, lo))
    return out


@st.composite
def spelled(draw, values):
    """A value from ``values`` (or any short text) in a random JSON spelling, canonical half the time."""
    v = draw(st.one_of(values, st.text("a0-/é\n\x01\"\\😀", max_size=4)))
    if draw(st.booleans()):
        return v, canonical_string(v).decode()
    return v, "".join(draw(st.sampled_from(_spellings(ch))) for ch in v)


@pytest.mark.parametrize("name", list(CASES))
def test_constrained_strings_exact_against_python_oracle(constrained, name):
    """Accepted iff the decoded value is a valid instance and the spelling is canonical."""
    schema, valid, values = CASES[name]
    compiled = constrained[name]
    seen = {True: 0, False: 0}

    @settings(max_examples=120, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(spelled(values))
    def check(case):
        v, text = case
        assert json.loads(f'"{text}"') == v
        want = valid(v) and text.encode() == canonical_string(v)
        assert accepts(compiled, f'"{text}"') == want, (v, text)
        seen[want] += 1

    check()
    assert seen[True] > 5 and seen[False] > 5, seen


def test_option_off_keeps_every_spelling_of_constrained_strings():
    for name in ("pattern", "format-date", "counted-minLength", "counted-pattern-maxLength"):
        schema = CASES[name][0]
        c = compile_json_schema(schema, VOCAB, whitespace="compact")
        v = {"pattern": "0a-", "format-date": "2024-01-31"}.get(name, "a" * 36)
        escaped = "".join(_spellings(ch)[-1] for ch in v)  # every character as \uXXXX
        assert accepts(c, f'"{escaped}"') and accepts(c, json.dumps(v))
        assert not accepts(compile_json_schema(schema, VOCAB, **CANON), f'"{escaped}"')


def test_encoding_json_canonical_is_one_spelling_per_character():
    """The regex encoding itself: each character of ``[\\s\\S]`` has exactly its canonical bytes."""
    d = regex_to_dfa(r"[\s\S]", encoding="json-canonical")
    everything = regex_to_dfa(r"[\s\S]", encoding="json")
    for cp in list(range(0x00, 0x80)) + [0xE9, 0x2028, 0xFFFF, 0x1F600]:
        ch = chr(cp)
        assert d.matches(canonical_string(ch))
        for s in _spellings(ch):
            assert everything.matches(s.encode())
            assert d.matches(s.encode()) == (s.encode() == canonical_string(ch)), (cp, s)


def test_lexemes_keyed_by_spelling_policy():
    a, b = JsonLexemes("compact"), JsonLexemes("compact", canonical_strings=True)
    assert b.canonical_literals  # implied
    assert a.string() is not b.string() and a.punct(",") is b.punct(",")
    assert b.string() is JsonLexemes("compact", canonical_strings=True).string()


# --------------------------------------------------------------------------- Lark %json

GRAMMAR = 'start: "<c>" %json{"type": "object", "properties": {"city": {"type": "string"}}} "</c>"\n'


def test_lark_json_block_takes_json_options():
    plain = compile_lark(GRAMMAR, VOCAB, json_whitespace="compact")
    canon = compile_lark(GRAMMAR, VOCAB, json_options={"whitespace": "compact", "canonical_strings": True})
    good, escaped = '<c>{"city":"Paris"}</c>', r'<c>{"city":"P\u0061ris"}</c>'
    assert accepts(plain, good) and accepts(plain, escaped)
    assert accepts(canon, good) and not accepts(canon, escaped)
    assert not accepts(canon, r'<c>{"\u0063ity":"Paris"}</c>')
    with pytest.raises(TypeError, match="canonical_string"):
        compile_lark(GRAMMAR, VOCAB, json_options={"canonical_string": True})


def test_generate_passes_generation_options_to_lark_json_blocks(monkeypatch, smollm2_tokenizer):
    """``decode.generate`` with a Lark constraint compiles its %json blocks with
    GENERATION_JSON_OPTIONS (canonical strings included)."""
    import importlib

    import fakes

    G = importlib.import_module("decode.constraints")
    assert G.GENERATION_JSON_OPTIONS["canonical_strings"] is True
    made = []
    real = G.lark_compiler()

    def spy(text, vocab, **kw):
        made.append(real(text, vocab, **kw))
        return made[-1]

    monkeypatch.setattr(G, "lark_compiler", lambda: spy)
    tok = smollm2_tokenizer
    model = fakes.make_tiny_model(49152, seed=1, eos_token_id=int(tok.eos_token_id),
                                  pad_token_id=int(tok.pad_token_id or tok.eos_token_id))
    grammar = GRAMMAR + "%ignore \" \"\n"
    decode.generate(model, tok, "x", decode.Lark(grammar + "// canonical wiring\n"), max_new_tokens=2, seed=0)
    assert len(made) == 1
    (c,) = made
    ids = {tb: i for i, tb in enumerate(c.vocab.token_bytes) if tb}
    m = c.matcher()
    for ch in '<c>{"city":"P':
        assert m.advance(ids[ch.encode()])
    for ch in "\\u00":  # \u00 may start the escape of a control character ...
        assert m.advance(ids[ch.encode()])
    assert m.is_allowed(ids[b"1"]) and not m.is_allowed(ids[b"6"])  # ... but \u0061 is no "a"
