"""regex_to_dfa against Python's ``re`` (fullmatch / search), JSON encoding, errors, budgets."""

from __future__ import annotations

import json
import os
import random
import re
import time
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from constrain.errors import CompileBudgetError, RegexError
from constrain.frontends.regex import charset_dfa, regex_to_dfa

# STRUCTGEN_FUZZ=1000 for a longer soak of the fuzz tests
SETTINGS = settings(
    max_examples=int(os.environ.get("STRUCTGEN_FUZZ", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def full(p: str, s: str, **kw) -> bool:
    return regex_to_dfa(p, **kw).matches(s.encode())


def json_forms(s: str, rng: random.Random) -> list[bytes]:
    """Several valid spellings of ``s`` inside a JSON string literal."""
    forms = [json.dumps(s)[1:-1].encode(), json.dumps(s, ensure_ascii=False)[1:-1].encode()]
    short = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    out = []
    for ch in s:
        cp = ord(ch)
        choices = []
        if cp >= 0x20 and ch not in '"\\':
            choices.append(ch)
        if ch in short:
            choices.append(short[ch])
        if cp < 0x10000:
            choices.append("\\u%04x" % cp)
            choices.append("\\u%04X" % cp)
        else:
            v = cp - 0x10000
            hi, lo = 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF)
            choices.append("\\u%04x\\u%04X" % (hi, lo))
        out.append(rng.choice(choices))
    forms.append("".join(out).encode())
    return forms


# --------------------------------------------------------------------------- fixed tables

PY_CASES = [
    ("abc", ["abc", "ab", "abcd", ""]),
    ("a|b|", ["a", "b", "", "ab"]),
    ("(ab|a)(bc|c)", ["abc", "abbc", "ac", "ab"]),
    (r"a{2,3}b{0,}c{1}", ["aac", "aaabbbc", "ac", "aaaac"]),
    (r"a{,2}", ["", "a", "aa", "aaa"]),
    (r"x{3}", ["xxx", "xx"]),
    (r"[a-c]+?[^a-c]*", ["abc", "abz9", "zz", ""]),
    (r"[\d\s]+", ["1 2\t3", "1a"]),
    (r"\w+\W\w*", ["ab_1 x", "é!", "ab"]),
    (r"[]a]+", ["]a]", "a"]),
    (r"[^]a]", ["b", "]", "a"]),
    (r"[a\-z]", ["-", "b"]),
    (r"[-a]", ["-", "a"]),
    (r"\.\*\+\?\(\)\[\]\{\}\|\^\$\\", [".*+?()[]{}|^$\\"]),
    (r"\x41\u00e9\U0001F600\N{DIGIT ONE}\101\0", ["Aé😀1A\x00"]),
    (r"\t\n\r\f\v\a", ["\t\n\r\f\v\x07"]),
    (r".", ["a", "\n", "\r", "é", "😀"]),
    (r"(?s).", ["\n"]),
    (r"(?i)straße", ["STRASSE", "Straße", "STRAẞE"]),
    (r"(?i)[a-z]+", ["AbC", "abc1"]),
    (r"(?i:a)b", ["Ab", "AB"]),
    (r"(?x) a b  # comment\n c", ["abc"]),
    (r"a(?#comment)b", ["ab"]),
    (r"(?P<n>a)(?:b)(?P<m>c)?", ["ab", "abc"]),
    (r"^abc$", ["abc"]),
    (r"^(ab|cd)$", ["ab", "cd", "abcd"]),
    (r"(^a|b)c", ["ac", "bc"]),
    (r"a^b", ["ab"]),
    (r"a$|b", ["a", "b"]),
    (r"a$\n", ["a\n"]),
    (r"(a$)\n?", ["a", "a\n"]),
    (r"\Aab\Z", ["ab"]),
    (r"\bab\b", ["ab"]),
    (r"a\b", ["a"]),
    (r"a\bb", ["ab"]),
    (r"a\Bb", ["ab"]),
    (r"a \b b", ["a b"]),
    (r"\w+\b.*", ["abc def", "abc"]),
    (r"(?=a)\w+", ["abc", "bc"]),
    (r"(?!a)\w+", ["abc", "bc"]),
    (r"(?=.*\d)(?=.*[a-z]).{4,}", ["abc1", "abcd", "1234", "a1"]),
    (r"(?!.*foo).*", ["barfo", "xfoox", ""]),
    (r"\w+(?<=z)", ["abz", "abc"]),
    (r"\w+(?<!z)", ["abz", "abc"]),
    (r"(?<=a)b", ["ab", "b"]),
    (r"a(?<=a)b", ["ab"]),
    (r"a(?=b)\w", ["ab", "ac"]),
    (r"a(?!b)\w", ["ab", "ac"]),
    (r"(a(?=b|c))+\w", ["ab", "aab", "aac", "ad"]),
    (r"(?:(?!ab).)*", ["aab", "acb", "xyz", "ba"]),
    (r"\p{Lu}\p{Ll}+\P{L}", ["Abc1", "abc1", "ABc!"], r"[A-Z][a-z]+[^a-zA-Z]"),
    (r"[\p{N}\p{Zs}]+", ["1 ٣ ½", "a"], "[1٣½ ]+"),
]


@pytest.mark.parametrize("case", PY_CASES, ids=lambda c: c[0])
def test_python_dialect_table(case):
    pattern, samples = case[0], case[1]
    oracle = re.compile(case[2] if len(case) > 2 else pattern)  # \p{..} is not in re
    for s in samples:
        assert full(pattern, s, dialect="python") == bool(oracle.fullmatch(s)), (pattern, s)


def test_ecma_specifics():
    # \d \w \s are ASCII / ECMA sets regardless of text
    assert full(r"\d", "5") and not full(r"\d", "٣")
    assert full(r"\w", "_") and not full(r"\w", "é")
    assert full(r"\s", "\u00a0") and full(r"\s", "\ufeff") and not full(r"\s", "\x1c")
    # '.' excludes all ECMA line terminators
    for ch in "\n\r\u2028\u2029":
        assert not full(".", ch)
    assert full(".", "\x85") and full(".", "😀")
    # [^] is any character, [] nothing
    assert full("[^]", "\n") and not regex_to_dfa("[]").matches(b"") and regex_to_dfa("a[]").is_empty()
    # $ is the very end only (Python's also matches before a final newline)
    assert not regex_to_dfa("a$", search=True).matches(b"a\n")
    assert regex_to_dfa("a$", search=True, dialect="python").matches(b"a\n")
    assert not regex_to_dfa("a$", search=True, dialect="python").matches(b"a\n\n")
    # \u{...}, \cX, surrogate pair escapes, identity escape \/
    assert full(r"\u{1F600}\cJ\uD83D\uDE00\/", "😀\n😀/")
    assert full(r"[\uD83D\uDE00-\uD83D\uDE4F]", "🙂") and not full(r"[\uD83D\uDE00-\uD83D\uDE4F]", "🚀")
    # {,n} is not a quantifier in ECMA
    assert full("a{,2}", "a{,2}")
    assert full("x{a}", "x{a}") and full("x{", "x{")
    # lazy quantifiers: same language
    assert regex_to_dfa("a+?b*?c??").equivalent(regex_to_dfa("a+b*c?"))
    # named groups
    assert full(r"(?<year>\d{4})-(?<m>\d\d)", "2024-01")
    # surrogates never match in UTF-8
    assert regex_to_dfa(r"[\uD800-\uDFFF]").is_empty()


def test_unicode_properties():
    d_l = regex_to_dfa(r"\p{L}")
    d_nd = regex_to_dfa(r"\p{Nd}")
    d_notl = regex_to_dfa(r"\P{Letter}")
    d_gc = regex_to_dfa(r"\p{General_Category=Uppercase_Letter}")
    rng = random.Random(7)
    cps = [rng.randrange(0x110000) for _ in range(400)] + [0x41, 0x61, 0x663, 0x4E00, 0x1F600, 0xE9]
    for cp in cps:
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        cat = unicodedata.category(ch)
        b = ch.encode()
        assert d_l.matches(b) == cat.startswith("L")
        assert d_notl.matches(b) == (not cat.startswith("L"))
        assert d_nd.matches(b) == (cat == "Nd")
        assert d_gc.matches(b) == (cat == "Lu")
    with pytest.raises(RegexError):
        regex_to_dfa(r"\p{Script=Latin}")
    with pytest.raises(RegexError):
        regex_to_dfa(r"\p{NoSuchThing}")


# --------------------------------------------------------------------------- random fuzzing vs re

ALPHABET = "ab1 _\n\u00e9"


@st.composite
def regexes(draw, depth=3, lookaround=True, asserts=True, ecma=False):
    """Random Python-dialect regex over a small alphabet, as a string."""
    if depth == 0:
        return draw(
            st.sampled_from(["a", "b", "1", " ", "é", ".", r"\d", r"\w", r"\s", r"\W", "[ab]", "[^a]", "[a-z1]", "(?:)"])
        )
    kind = draw(st.sampled_from(["cat", "cat", "alt", "rep", "group", "leaf", "assert", "look"]))
    if kind == "leaf":
        return draw(regexes(depth=0))
    if kind == "cat":
        return draw(regexes(depth - 1, lookaround, asserts, ecma)) + draw(regexes(depth - 1, lookaround, asserts, ecma))
    if kind == "alt":
        return "(?:%s|%s)" % (draw(regexes(depth - 1, lookaround, asserts, ecma)), draw(regexes(depth - 1, lookaround, asserts, ecma)))
    if kind == "group":
        return "(%s)" % draw(regexes(depth - 1, lookaround, asserts, ecma))
    if kind == "rep":
        q = draw(st.sampled_from(["*", "+", "?", "{2}", "{1,3}", "{0,2}", "{2,}", "*?", "+?", "{1,2}?"]))
        return "(?:%s)%s" % (draw(regexes(depth - 1, lookaround, asserts, ecma)), q)
    if kind == "assert" and asserts:
        return draw(st.sampled_from(["^", "$", r"\b", r"\B"] + ([] if ecma else [r"\A", r"\Z"])))
    if not lookaround or kind == "assert":
        return draw(regexes(depth=0))
    # no anchors / word boundaries inside lookaround bodies (unsupported there)
    inner = draw(regexes(depth=depth - 1, lookaround=False, asserts=False))
    look = draw(st.sampled_from(["(?=%s)", "(?!%s)"]))
    if draw(st.booleans()):
        inner = draw(st.sampled_from(["a", "b", r"\d", "[ab]", "ab", r"\s"]))  # fixed width: lookbehind ok
        look = draw(st.sampled_from(["(?=%s)", "(?!%s)", "(?<=%s)", "(?<!%s)"]))
    return look % inner


texts = st.text(alphabet=ALPHABET, max_size=7)


def _compile_or_skip(p, **kw):
    try:
        return regex_to_dfa(p, dialect="python", **kw)
    except CompileBudgetError:
        pytest.skip("budget")


@SETTINGS
@given(regexes(), st.lists(texts, min_size=8, max_size=8))
def test_fuzz_fullmatch_python(p, samples):
    d = _compile_or_skip(p)
    r = re.compile(p)
    for s in samples:
        if s == "" and r"\B" in p:
            continue  # Python < 3.14: \B never matches the empty string
        assert d.matches(s.encode()) == bool(r.fullmatch(s)), (p, s)


@SETTINGS
@given(regexes(ecma=True), st.lists(texts, min_size=6, max_size=6), st.booleans())
def test_fuzz_ecma_vs_ascii_re(p, samples, search):
    """ECMA dialect: on this alphabet it agrees with ``re.ASCII`` once ``$`` means ``\\Z``."""
    try:
        d = regex_to_dfa(p, search=search)
    except CompileBudgetError:
        pytest.skip("budget")
    r = re.compile(p.replace("$", r"\Z"), re.ASCII)
    for s in samples:
        if s == "" and r"\B" in p:
            continue
        want = r.search(s) if search else r.fullmatch(s)
        assert d.matches(s.encode()) == bool(want), (p, s)


@SETTINGS
@given(regexes(), st.lists(texts, min_size=8, max_size=8))
def test_fuzz_search_python(p, samples):
    d = _compile_or_skip(p, search=True)
    r = re.compile(p)
    for s in samples:
        if s == "" and r"\B" in p:
            continue
        assert d.matches(s.encode()) == bool(r.search(s)), (p, s)


@SETTINGS
@given(regexes(depth=2), st.lists(st.text(alphabet='ab1 "\\/\n\t\x00\x1f\u00e9\u2028\U0001F600', max_size=6), min_size=6, max_size=6), st.randoms())
def test_fuzz_json_encoding(p, samples, rnd):
    d = _compile_or_skip(p, encoding="json")
    r = re.compile(p)
    for s in samples:
        if s == "" and r"\B" in p:
            continue
        want = bool(r.fullmatch(s))
        for form in json_forms(s, rnd):
            assert d.matches(form) == want, (p, s, form)


@SETTINGS
@given(regexes(depth=2), st.lists(st.text(alphabet='ab1 "\\\n\u00e9', max_size=6), min_size=5, max_size=5), st.randoms())
def test_fuzz_json_search(p, samples, rnd):
    d = _compile_or_skip(p, encoding="json", search=True)
    r = re.compile(p)
    for s in samples:
        if s == "" and r"\B" in p:
            continue
        want = bool(r.search(s))
        for form in json_forms(s, rnd):
            assert d.matches(form) == want, (p, s, form)


@SETTINGS
@given(st.lists(st.integers(0, 0x10FFFF), min_size=1, max_size=6), st.lists(st.integers(0, 0x10FFFF), min_size=5, max_size=20))
def test_charset_lowering(bounds, probes):
    """Random code-point sets in both encodings: exactly the right characters."""
    bounds = sorted(bounds)
    ranges = tuple((bounds[i], bounds[i + 1] if i + 1 < len(bounds) else bounds[i]) for i in range(0, len(bounds), 2))
    u = charset_dfa(ranges, "utf8")
    j = charset_dfa(ranges, "json")
    rnd = random.Random(len(probes))
    probes += [lo for lo, _ in ranges] + [hi for _, hi in ranges] + [hi + 1 for _, hi in ranges if hi < 0x10FFFF]
    for cp in probes:
        if 0xD800 <= cp <= 0xDFFF:
            continue
        inside = any(lo <= cp <= hi for lo, hi in ranges)
        assert u.matches(chr(cp).encode()) == inside
        for form in json_forms(chr(cp), rnd):
            assert j.matches(form) == inside, (hex(cp), form)


# --------------------------------------------------------------------------- JSON specifics


def test_json_escapes():
    d = regex_to_dfa("A", encoding="json")
    for ok in [b"A", b"\\u0041", b"\\u0041"]:
        assert d.matches(ok)
    assert not d.matches(b"\\U0041") and not d.matches(b"\\u41") and not d.matches(b"a")
    az = regex_to_dfa("[a-z]", encoding="json")
    assert az.matches(b"\\u0061") and az.matches(b"\\u007A") and az.matches(b"\\u007a")
    assert not az.matches(b"\\u0060") and not az.matches(b"\\u007B")
    anyc = regex_to_dfa(r"[\s\S]*", encoding="json")
    for bad in [b'"', b"\\", b"\x00", b"\x1f", b"\\x", b"\\u12", b"\\uD800", b"\\uDC00\\uD800", b"\xff", b"\xc0\x80"]:
        assert not anyc.matches(bad), bad
    for good in [b'\\"', b"\\\\", b"\\/", b"\\b\\f\\n\\r\\t", b"\\ud83d\\ude00", b"\\uD83D\\uDE00", "é\u2028😀".encode(), b"\x7f"]:
        assert anyc.matches(good), good
    # a quote / backslash in the pattern only matches escaped
    q = regex_to_dfa(r'"\\', encoding="json")
    assert q.matches(b'\\"\\\\') and q.matches(b"\\u0022\\u005c") and not q.matches(b'"\\')
    nl = regex_to_dfa(r"a\nb", encoding="json")
    assert nl.matches(b"a\\nb") and nl.matches(b"a\\u000Ab") and not nl.matches(b"a\nb")
    # JSON-Schema-style patterns
    email = regex_to_dfa(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", encoding="json", search=True)
    assert email.matches(b"a.b@c.io") and email.matches(b"\\u0061@b.co") and not email.matches(b"a@b")


def test_search_semantics():
    cases = [
        ("abc", ["abc", "xabcx", "ab", ""]),
        ("^abc", ["abcx", "xabc"]),
        ("abc$", ["xabc", "abcx"]),
        ("^a|b$", ["ax", "xb", "xa", "bx"]),
        ("", ["", "x"]),
        ("^$", ["", "x"]),
        (r"\d+", ["a1b", "ab"]),
        ("^(?=.*[A-Z]).{3}", ["aBcd", "abcd"]),
        ("(?i)^[a-z]+$", ["ABC", "AB1"]),
    ]
    for p, ss in cases:
        d = regex_to_dfa(p, search=True)
        for s in ss:
            assert d.matches(s.encode()) == bool(re.search(p, s)), (p, s)


def test_lookaround_patterns_from_schemas():
    pw = regex_to_dfa(r"^(?=.*\d)(?=.*[a-z])(?=.*[A-Z]).{8,}$", search=True, encoding="json")
    assert pw.matches(b"abcdEF12") and not pw.matches(b"abcdefg1") and not pw.matches(b"aB1")
    nofoo = regex_to_dfa(r"^(?!.*foo).*$", search=True)
    assert nofoo.matches(b"fo o") and not nofoo.matches(b"xfoo")
    slug = regex_to_dfa(r"^[a-z](?!.*--)[a-z-]*$", search=True, encoding="json")
    assert slug.matches(b"a-b-c") and not slug.matches(b"a--b")
    assert regex_to_dfa("(?!)").is_empty()
    assert regex_to_dfa("(?=)a").equivalent(regex_to_dfa("a"))


# --------------------------------------------------------------------------- caching, errors, budgets


def test_cache_returns_same_object():
    assert regex_to_dfa("ab+c", encoding="json") is regex_to_dfa("ab+c", encoding="json")
    assert regex_to_dfa("ab+c") is not regex_to_dfa("ab+c", search=True)


@pytest.mark.parametrize(
    "pattern,pos,words",
    [
        ("(ab", 0, "missing )"),
        ("ab)", 2, "unbalanced"),
        (r"a\q", 1, "bad escape"),
        ("a\\", 1, "bad escape"),
        (r"(a)\1", 3, "backreference"),
        (r"(?<x>a)\k<x>", 7, "backreference"),
        ("(?P<x>a)(?P=x)", 8, "backreference"),
        ("*a", 0, "nothing to repeat"),
        ("a|+", 2, "nothing to repeat"),
        ("a**", 2, "multiple repeat"),
        ("a{3,2}", 1, "min repeat"),
        ("[abc", 0, "unterminated"),
        ("[z-a]", 1, "range"),
        (r"[\d-z]", 1, "range"),
        ("a*+", 2, "possessive"),
        ("(?>a)", 0, "atomic"),
        (r"\x4", 0, "escape"),
        ("(?<=a$)b", 5, "lookbehind"),
        ("a(?z)", 3, "unknown flag"),
        ("a(?i)", 1, "global flags"),
        ("a(?=^b)", 4, "lookahead"),
        (r"\p{Greek}", 0, "property"),
    ],
)
def test_errors_have_positions(pattern, pos, words):
    with pytest.raises(RegexError) as ei:
        regex_to_dfa(pattern)
    e = ei.value
    assert e.position == pos, (pattern, e)
    assert e.pattern == pattern
    assert words in str(e)
    assert f"position {pos}" in str(e)


def test_budgets():
    t = time.perf_counter()
    with pytest.raises(CompileBudgetError):
        regex_to_dfa(r"[\s\S]{0,5000}", encoding="json")
    with pytest.raises(CompileBudgetError):
        regex_to_dfa(r"(a|b)*a(a|b){20}", budget=5000)
    with pytest.raises(CompileBudgetError):
        regex_to_dfa(r"x{1000000}")
    assert time.perf_counter() - t < 10
    d = regex_to_dfa(r".{0,2000}")
    assert d.matches(("é" * 2000).encode()) and not d.matches(("é" * 2001).encode())


def test_bad_arguments():
    with pytest.raises(ValueError):
        regex_to_dfa("a", encoding="latin1")
    with pytest.raises(ValueError):
        regex_to_dfa("a", dialect="pcre")
