"""Lark grammars: differential tests against the ``lark`` package, exact masks, errors.

* **Differential**: random derivations from each grammar (a small generator over Lark's own
  compiled rules, terminals sampled from their regex syntax trees, ignored terminals sprinkled
  between tokens) and random mutations of them. Our verdict -- every token accepted and the
  matcher accepting at the end -- must equal ``Lark(..., parser="earley",
  lexer="dynamic_complete").parse`` succeeding (``dynamic_complete`` is the semantics we
  implement: any split of the text into terminals; see :mod:`constrain.frontends.lark`). For the shipped
  grammars, which are written to be lexer-independent, ``lexer="dynamic"`` must agree too.
  Texts are fed as random (non-canonical) tokenizations over a small hand-made vocabulary
  with mask bits checked against single-token checks, and as canonical and non-canonical
  SmolLM2 tokenizations.
* **Exactness**: every mask bit on small grammars (left-recursive, ambiguous, nullable,
  cyclic, %ignore, lazy terminals) against hand-written oracles, each oracle first
  cross-checked against Lark on every string up to a few characters.
* **Errors**: messages name the line and the rule or terminal.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import zlib

import numpy as np
import pytest

from tests import paths
import regex as oracle_re

from constrain import grammars
from constrain.errors import GrammarError
from constrain.compiler import compile_lark, compile_lark_file
from constrain.frontends.lark import lark_to_grammar, terminal_dfa
from constrain.ir import Grammar, Lex, Nfa, Ref, alt, compile_rtn, lexeme, seq
from constrain.ir.left_recursion import eliminate_left_recursion
from constrain.tokens import Vocabulary
from oracles import check_all_masks, small_vocab

try:
    import re._constants as sre_c
    import re._parser as sre_parse
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants as sre_c  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

from lark import Lark
from lark.exceptions import LarkError
from lark.lexer import PatternRE, PatternStr

DATA = str(paths.TEST_DATA / "lark")


# =========================================================================== helpers


def byte_vocab(extra: tuple[bytes, ...] = ()) -> Vocabulary:
    """Every single byte, plus ``extra`` multi-byte tokens, plus one EOS id (the last)."""
    toks: list[bytes | None] = [bytes([b]) for b in range(256)]
    seen = set(toks)
    for e in extra:
        if e and e not in seen:
            seen.add(e)
            toks.append(e)
    toks.append(None)
    return Vocabulary.from_token_bytes(toks, eos_ids=[len(toks) - 1])



def bit(mask: np.ndarray, t: int) -> bool:
    return bool((int(mask.view(np.uint32)[t >> 5]) >> (t & 31)) & 1)


def accepts_bytes(compiled, data: bytes) -> bool:
    m = compiled.matcher()
    return m.advance_bytes(data) and m.is_accepting()


def token_index(vocab: Vocabulary) -> tuple[dict[bytes, int], int]:
    index = {}
    for i, tb in enumerate(vocab.token_bytes):
        if tb and tb not in index:
            index[tb] = i
    return index, max(len(b) for b in index)


def random_segmentation(rng: random.Random, data: bytes, index: dict[bytes, int], max_len: int) -> list[int]:
    """A random tokenization of ``data`` (every single byte must be a token)."""
    ids = []
    i = 0
    while i < len(data):
        cands = [(k, index[data[i:i + k]]) for k in range(1, min(max_len, len(data) - i) + 1)
                 if data[i:i + k] in index]
        k, t = rng.choice(cands)
        ids.append(t)
        i += k
    return ids


def walk(compiled, ids: list[int], *, check_masks: bool | set = True) -> tuple[bool, int]:
    """Advance through ``ids``; returns (accepting at the end, tokens consumed).

    Where masks are checked, the mask bit of the next token must equal the single-token
    check and the outcome of ``advance``; at the end the EOS bit must equal ``is_accepting``.
    """
    vocab = compiled.vocab
    eos = int(vocab.eos_ids[0])
    m = compiled.matcher()
    for step, t in enumerate(ids):
        allowed = m.is_allowed(t)
        if check_masks is True or (check_masks and step in check_masks):
            assert bit(m.mask(), t) == allowed, f"step {step}: mask bit disagrees with is_allowed"
        ok = m.advance(t)
        assert ok == allowed
        if not ok:
            return False, step
    acc = m.is_accepting()
    if check_masks is True or (check_masks and "end" in check_masks):
        assert bit(m.mask(), eos) == acc
    return acc, len(ids)


# =========================================================================== random derivations

POOL = [chr(c) for c in range(32, 127)] + ["\t", "\n", "\r", "é", "ß", "€", "中", "😀", "\u00a0"]
_CATEGORY_RE = {
    sre_c.CATEGORY_DIGIT: r"\d", sre_c.CATEGORY_NOT_DIGIT: r"\D",
    sre_c.CATEGORY_SPACE: r"\s", sre_c.CATEGORY_NOT_SPACE: r"\S",
    sre_c.CATEGORY_WORD: r"\w", sre_c.CATEGORY_NOT_WORD: r"\W",
}
_REPEATS = {sre_c.MAX_REPEAT, sre_c.MIN_REPEAT}
if hasattr(sre_c, "POSSESSIVE_REPEAT"):
    _REPEATS.add(sre_c.POSSESSIVE_REPEAT)


class RegexSampler:
    """Random strings of a Python regex, generated from its syntax tree (independent of ours).

    Lookarounds are handled by rejection (``re.fullmatch``); for all-lazy patterns the sample
    must also have no proper prefix that matches (shortest-match semantics).
    """

    def __init__(self, pattern: str):
        self.rx = re.compile(pattern)
        self.tree = sre_parse.parse(pattern)
        self.lazy = self._has(self.tree, sre_c.MIN_REPEAT)

    def _has(self, items, target) -> bool:
        for op, av in items:
            if op is target:
                return True
            if op is sre_c.BRANCH and any(self._has(b, target) for b in av[1]):
                return True
            if op is sre_c.SUBPATTERN and self._has(av[-1], target):
                return True
            if op in _REPEATS and self._has(av[2], target):
                return True
        return False

    def valid(self, s: str) -> bool:
        if not s or not self.rx.fullmatch(s):
            return False
        return not (self.lazy and any(self.rx.fullmatch(s[:k]) for k in range(len(s))))

    def sample(self, rng: random.Random, tries: int = 80) -> str | None:
        for _ in range(tries):
            s = self._gen(self.tree, rng, self.tree.state.flags)
            if self.valid(s):
                return s
        return None

    def _member(self, ch: str, items, flags) -> bool:
        neg = bool(items) and items[0][0] is sre_c.NEGATE
        variants = {ch, ch.lower(), ch.upper()} if flags & sre_c.SRE_FLAG_IGNORECASE else {ch}
        hit = False
        for op, av in items:
            for c in variants:
                if op is sre_c.LITERAL and ord(c) == av:
                    hit = True
                elif op is sre_c.RANGE and av[0] <= ord(c) <= av[1]:
                    hit = True
                elif op is sre_c.CATEGORY and re.fullmatch(_CATEGORY_RE.get(av, r"(?!)"), c):
                    hit = True
        return hit != neg

    def _class(self, items, rng, flags) -> str:
        neg = bool(items) and items[0][0] is sre_c.NEGATE
        if not neg and rng.random() < 0.7:
            op, av = rng.choice(items)
            if op is sre_c.LITERAL:
                return chr(av)
            if op is sre_c.RANGE:
                for _ in range(10):
                    c = rng.randint(av[0], min(av[1], av[0] + 200) if rng.random() < 0.8 else av[1])
                    if not 0xD800 <= c <= 0xDFFF:
                        return chr(c)
        members = [c for c in POOL if self._member(c, items, flags)]
        return rng.choice(members) if members else ""

    def _gen(self, items, rng, flags) -> str:
        out = []
        for op, av in items:
            if op is sre_c.LITERAL:
                ch = chr(av)
                if flags & sre_c.SRE_FLAG_IGNORECASE and rng.random() < 0.3:
                    ch = ch.swapcase()
                out.append(ch)
            elif op is sre_c.NOT_LITERAL:
                out.append(rng.choice([c for c in POOL if ord(c) != av]))
            elif op is sre_c.ANY:
                out.append(rng.choice([c for c in POOL if c != "\n" or flags & sre_c.SRE_FLAG_DOTALL]))
            elif op is sre_c.IN:
                out.append(self._class(av, rng, flags))
            elif op is sre_c.BRANCH:
                out.append(self._gen(rng.choice(av[1]), rng, flags))
            elif op is sre_c.SUBPATTERN:
                _g, add, dele, p = av
                out.append(self._gen(p, rng, (flags | add) & ~dele))
            elif op in _REPEATS:
                lo, hi, p = av
                n = rng.randint(lo, min(hi, lo + 3))
                out.extend(self._gen(p, rng, flags) for _ in range(n))
            elif op in (sre_c.ASSERT, sre_c.ASSERT_NOT, sre_c.AT):
                pass
            else:  # pragma: no cover - not used by our grammars
                raise NotImplementedError(op)
        return "".join(out)


class Deriver:
    """Random texts from a Lark grammar, and Lark's verdicts on texts."""

    def __init__(self, text: str, start: str = "start", import_paths=()):
        paths = [grammars.directory(), *import_paths]
        self.lark = Lark(text, parser="earley", lexer="dynamic_complete", start=start, import_paths=paths)
        self._text, self._start, self._paths = text, start, paths
        self._dynamic = None
        self.by_origin: dict[str, list[list]] = {}
        for r in self.lark.rules:
            self.by_origin.setdefault(r.origin.name, []).append(r.expansion)
        self.samplers = {t.name: RegexSampler(t.pattern.to_regexp()) for t in self.lark.terminals}
        self.ignore = list(self.lark.ignore_tokens)
        self.start = start
        # minimal derivation height of every rule, to finish derivations
        inf = 10**9
        h = {n: inf for n in self.by_origin}
        changed = True
        while changed:
            changed = False
            for n, exps in self.by_origin.items():
                for e in exps:
                    v = 1 + max((h.get(s.name, inf) if not s.is_term else 0 for s in e), default=0)
                    if v < h[n]:
                        h[n] = v
                        changed = True
        self.height = h
        self.literals = sorted({t.pattern.value for t in self.lark.terminals if isinstance(t.pattern, PatternStr)})

    def derive(self, rng: random.Random, max_depth: int = 7, max_terms: int = 60) -> list[str]:
        out: list[str] = []
        stack: list[tuple[object, int]] = [(self.start, 0)]
        while stack:
            sym, depth = stack.pop()
            if not isinstance(sym, str):
                if sym.is_term:
                    out.append(sym.name)
                    continue
                sym = sym.name
            exps = self.by_origin[sym]
            if depth >= max_depth or len(out) + len(stack) > max_terms:
                best = self.height[sym]
                exps = [e for e in exps
                        if 1 + max((self.height[s.name] if not s.is_term else 0 for s in e), default=0) == best]
            if depth < 3 and len(exps) > 1:
                # favour structure near the root: nested values, several statements
                weights = [1 + 2 * sum(not s.is_term for s in e) for e in exps]
                e = rng.choices(exps, weights)[0]
            else:
                e = rng.choice(exps)
            for s in reversed(e):
                stack.append((s, depth + 1))
        return out

    def render(self, rng: random.Random, terms: list[str], p_ignore: float = 0.25) -> str | None:
        parts = []
        for k, name in enumerate(terms + [None]):
            if self.ignore and rng.random() < p_ignore:
                s = self.samplers[rng.choice(self.ignore)].sample(rng)
                if s:
                    parts.append(s)
            if name is not None:
                s = self.samplers[name].sample(rng)
                if s is None:
                    return None
                parts.append(s)
        return "".join(parts)

    def texts(self, seed: int, n: int, **kw) -> list[str]:
        rng = random.Random(seed)
        out = []
        for _ in range(n * 3):
            t = self.render(rng, self.derive(rng, **kw))
            if t is not None and len(t.encode()) <= 400:
                out.append(t)
            if len(out) == n:
                break
        return out

    def parses(self, text: str) -> bool:
        try:
            self.lark.parse(text)
            return True
        except LarkError:
            return False

    def parses_dynamic(self, text: str) -> bool:
        if self._dynamic is None:
            self._dynamic = Lark(self._text, parser="earley", lexer="dynamic", start=self._start,
                                 import_paths=self._paths)
        try:
            self._dynamic.parse(text)
            return True
        except LarkError:
            return False


def mutate(rng: random.Random, text: str, alphabet: str) -> str:
    op = rng.randrange(6)
    n = len(text)
    i = rng.randrange(n + 1)
    if op == 0 and n:
        i = min(i, n - 1)
        return text[:i] + text[i + 1:]
    if op == 1:
        return text[:i] + rng.choice(alphabet) + text[i:]
    if op == 2 and n:
        i = min(i, n - 1)
        return text[:i] + rng.choice(alphabet) + text[i + 1:]
    if op == 3 and n > 1:
        i = min(i, n - 2)
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    if op == 4 and n:
        j = rng.randint(i, min(n, i + 8))
        return text[:j] + text[i:j] + text[j:]
    return text[:i]


# =========================================================================== grammar sources


def _shipped(name):
    return grammars.load(name), "start"


def _data(name):
    with open(os.path.join(DATA, name + ".lark"), encoding="utf-8") as f:
        return f.read(), "start"


SQL_TABLES = {"users": ["id", "name", "age"], "orders": ["id", "user_id", "total", "status"]}

SOURCES = {
    **{f"shipped:{n}": (lambda n=n: _shipped(n)) for n in ["json", "arithmetic", "sql", "tool_call", "sexpr"]},
    "shipped:sql_grammar": lambda: (grammars.sql_grammar(SQL_TABLES), "start"),
    **{f"public:{n}": (lambda n=n: _data(n)) for n in ["calc", "json", "templates", "while", "mathexpr"]},
}

_COMPILED: dict[tuple, object] = {}
_DERIVERS: dict[str, Deriver] = {}


def deriver(key: str) -> Deriver:
    d = _DERIVERS.get(key)
    if d is None:
        text, start = SOURCES[key]()
        d = _DERIVERS[key] = Deriver(text, start)
    return d


def compiled_for(key: str, vocab, tag: str):
    k = (key, tag)
    c = _COMPILED.get(k)
    if c is None:
        text, start = SOURCES[key]()
        c = _COMPILED[k] = compile_lark(text, vocab, start=start)
    return c


@pytest.mark.parametrize("key", sorted(SOURCES))
def test_differential_random_derivations(key):
    """Derivations and their mutations: our verdict == Lark's, token by token, small vocab."""
    d = deriver(key)
    # Lark's Earley parser (the oracle) is slow on the whitespace-heavy SQL grammar
    n, max_terms = (12, 40) if "sql" in key else (24, 60)
    texts = d.texts(seed=zlib.crc32(key.encode()), n=n, max_terms=max_terms)
    assert len(texts) >= n * 2 // 3, "the generator failed to produce texts"
    # a hand-made vocabulary: all bytes, the grammar's literals, and chunks of sample texts
    # (multi-byte tokens crossing terminal boundaries)
    rng = random.Random(1)
    extra = [lit.encode() for lit in d.literals]
    for t in texts[:8]:
        b = t.encode()
        for _ in range(12):
            i = rng.randrange(len(b))
            extra.append(b[i:i + rng.randint(2, 4)])
    vocab = byte_vocab(tuple(extra))
    text0, start = SOURCES[key]()
    c = compile_lark(text0, vocab, start=start)
    index, max_len = token_index(vocab)
    alphabet = "".join(sorted(set("".join(texts)) | set("".join(d.literals)) | set(" ()[]{},;:\"'\\0a\n")))

    n_lark_ok = 0
    shipped = key.startswith("shipped:")
    for k, text in enumerate(texts):
        want = d.parses(text)
        n_lark_ok += want
        ids = random_segmentation(rng, text.encode(), index, max_len)
        got, _ = walk(c, ids, check_masks=True if k < 6 else {0, len(ids) // 2, "end"})
        assert got == want, f"{key}: text {text!r}: ours {got}, lark {want}"
        if shipped:
            assert d.parses_dynamic(text) == want, f"{key}: lexer=dynamic disagrees on {text!r}"
        for _ in range(4):
            mt = mutate(rng, text, alphabet)
            want_m = d.parses(mt)
            got_m = accepts_bytes(c, mt.encode())
            assert got_m == want_m, f"{key}: mutant {mt!r} of {text!r}: ours {got_m}, lark {want_m}"
    assert n_lark_ok >= len(texts) * 0.75, "most derivations should be valid texts"


SMOLLM2_KEYS = ["shipped:json", "shipped:arithmetic", "shipped:tool_call", "shipped:sql_grammar", "shipped:sexpr",
                "public:calc", "public:json", "public:while"]


@pytest.mark.parametrize("key", SMOLLM2_KEYS)
def test_differential_smollm2(key, smollm2_vocab):
    """Canonical and random non-canonical SmolLM2 tokenizations of derivations."""
    vocab = smollm2_vocab
    d = deriver(key)
    c = compiled_for(key, vocab, "smollm2")
    index, max_len = token_index(vocab)
    rng = random.Random(7)
    texts = d.texts(seed=11, n=6, max_depth=5, max_terms=30)
    assert texts
    for k, text in enumerate(texts):
        want = d.parses(text)
        data = text.encode()
        canonical = vocab.encode(text)
        assert b"".join(vocab.token_bytes[i] for i in canonical) == data
        got, _ = walk(c, canonical, check_masks={0, "end"} if k < 2 else False)
        assert got == want, f"{key}: canonical tokens of {text!r}: ours {got}, lark {want}"
        noncanon = random_segmentation(rng, data, index, 4)
        got2, _ = walk(c, noncanon, check_masks=False)
        assert got2 == want, f"{key}: non-canonical tokens of {text!r}: ours {got2}, lark {want}"


# =========================================================================== exactness


def regex_oracle(pattern: str):
    rx = oracle_re.compile(pattern)

    def viable(b: bytes) -> bool:
        return rx.fullmatch(b.decode("latin-1"), partial=True) is not None

    def complete(b: bytes) -> bool:
        return rx.fullmatch(b.decode("latin-1")) is not None

    return viable, complete


def arith_oracle():
    """start: sum; sum: sum "+" prod | prod; prod: prod "*" atom | atom; atom: "a" | "(" sum ")"
    with %ignore " "."""

    def scan(b: bytes):
        state, depth = "E", 0
        for ch in b.decode("latin-1"):
            if ch == " ":
                continue
            if state == "E":
                if ch == "a":
                    state = "O"
                elif ch == "(":
                    depth += 1
                else:
                    return None
            else:
                if ch in "+*":
                    state = "E"
                elif ch == ")" and depth > 0:
                    depth -= 1
                else:
                    return None
        return state, depth

    def viable(b):
        return scan(b) is not None

    def complete(b):
        return scan(b) == ("O", 0)

    return viable, complete


def cycle_oracle():
    """a: b | "x" a "y" | "z"; b: a | "w"  ==  x^n (w|z) y^n."""

    def split(b: bytes):
        s = b.decode("latin-1")
        n = len(s) - len(s.lstrip("x"))
        return n, s[n:]

    def viable(b):
        n, rest = split(b)
        if not rest:
            return True
        return rest[0] in "wz" and set(rest[1:]) <= {"y"} and len(rest) - 1 <= n

    def complete(b):
        n, rest = split(b)
        return len(rest) == n + 1 and rest[0] in "wz" and set(rest[1:]) <= {"y"}

    return viable, complete


EXACT_CASES = {
    # direct left recursion, parentheses, %ignore
    "left_recursive": ('start: sum\nsum: sum "+" prod | prod\nprod: prod "*" atom | atom\n'
                       'atom: "a" | "(" sum ")"\n%ignore " "\n', b"a+*() ", arith_oracle, 4),
    # indirect left recursion through a nullable rule; ambiguous terminals ("a" vs A)
    "indirect_ambiguous": ('start: x\nx: y "b" | "a" | A\ny: x z | "c"\nz: "d"?\nA: /a+/\n', b"abcd",
                           lambda: regex_oracle(r"(?:a+|cb)(?:d?b)*"), 5),
    # nullable left-recursive rules (empty alternatives)
    "nullable_left_recursive": ('start: s "c" t\ns: s "a" |\nt: t s "b" |\n', b"abc",
                                lambda: regex_oracle(r"a*c(?:a*b)*"), 6),
    # cyclic unit rules, non-regular language
    "cyclic_units": ('start: a\na: b | "x" a "y" | "z"\nb: a | "w"\n', b"wxyz", cycle_oracle, 5),
    # two %ignore terminals, one a comment
    "ignore": ('start: NAME ("," NAME)*\nNAME: /[ab]+/\n%ignore " "\n%ignore /#[^\\n]*\\n/\n', b"ab, #\n",
               lambda: regex_oracle(r"{I}*[ab]+(?:{I}*,{I}*[ab]+)*{I}*".replace("{I}", r"(?: |#[^\n]*\n)")), 4),
    # lazy terminal (common.ESCAPED_STRING: shortest-match semantics)
    "lazy_string": ('start: STR ("," STR)*\n%import common.ESCAPED_STRING -> STR\n', b'"\\a,',
                    lambda: regex_oracle(r'"(?:[a,]|\\[a,"\\])*"(?:,"(?:[a,]|\\[a,"\\])*")*'), 5),
    # EBNF repetition ranges, templates with literal arguments, character ranges
    "ranges_templates": ('start: _pair{"a", B}~2..3 "d"*\n_pair{p, q}: p q?\nB: "b".."c"\n', b"abcd",
                         lambda: regex_oracle(r"(?:a[bc]?){2,3}d*"), 5),
}


@pytest.mark.parametrize("case", sorted(EXACT_CASES))
def test_masks_exact(case):
    text, alphabet, make_oracle, max_n = EXACT_CASES[case]
    viable, complete = make_oracle()
    lk = Lark(text, parser="earley", lexer="dynamic_complete")
    # 1. the oracle is right: it agrees with Lark on every short string
    extra = (b"\"a\"", b",\"", b"a+(", b"xx", b"ab,", b" #", b"zy", b"(a)", b"cbd")
    vocab = small_vocab(alphabet, 2, extra=tuple(e for e in extra if set(e) <= set(alphabet)))
    c = compile_lark(text, vocab)
    chars = alphabet.decode("latin-1")
    for n in range(max_n + 1):
        for p in itertools.product(chars, repeat=n):
            s = "".join(p)
            try:
                lk.parse(s)
                want = True
            except LarkError:
                want = False
            assert complete(s.encode("latin-1")) == want, f"oracle wrong on {s!r}"
            assert accepts_bytes(c, s.encode("latin-1")) == want, f"compiled grammar wrong on {s!r}"
    # 2. every mask bit along random walks
    check_all_masks(c, vocab, viable, complete, n_walks=20, max_steps=10)


# =========================================================================== semantics details


def test_lazy_terminals_are_shortest_match():
    from constrain.frontends.regex import regex_to_dfa

    esc = PatternRE(r'".*?(?<!\\)(\\\\)*?"')  # common.ESCAPED_STRING, flattened
    assert terminal_dfa(esc).equivalent(regex_to_dfa(r'"(?:[^"\\\n]|\\[^\n])*"', dialect="python"))
    com = PatternRE(r"/\*(.|\n)*?\*/")  # common.C_COMMENT
    assert terminal_dfa(com).equivalent(regex_to_dfa(r"/\*(?:[^*]|\*+[^*/])*\*+/", dialect="python"))


def test_case_insensitive_strings_and_priorities():
    g = 'start: a | b\na.2: "select"i\nb: T\nT.3: "x"i "y"\n'
    vocab = byte_vocab()
    c = compile_lark(g, vocab)
    for s, ok in [("select", True), ("SeLeCt", True), ("xy", True), ("Xy", True), ("xY", False), ("sel", False)]:
        assert accepts_bytes(c, s.encode()) == ok, s


def test_ignore_everywhere_and_trailing():
    g = 'start: "a" "b"?\n%ignore " "\n'
    c = compile_lark(g, byte_vocab())
    for s, ok in [("a", True), (" a ", True), ("a  b  ", True), ("  ", False), ("ab", True), ("a b c", False)]:
        assert accepts_bytes(c, s.encode()) == ok, s
    # a nullable start rule: ignored text alone is a complete output
    c2 = compile_lark('start: "a"?\n%ignore " "\n', byte_vocab())
    assert accepts_bytes(c2, b"   ") and accepts_bytes(c2, b"")


def test_override_extend_and_file_imports(tmp_path):
    (tmp_path / "lib.lark").write_text('item: WORD\n%import common.WORD\n')
    main = tmp_path / "main.lark"
    main.write_text('start: item ("," item)*\n%import lib.item\n')
    vocab = byte_vocab()
    c = compile_lark_file(main, vocab)  # the file's folder is on the import path
    assert accepts_bytes(c, b"abc,de") and not accepts_bytes(c, b"abc,")
    c = compile_lark('start: x\nx: "a"\n%override x: "b"\n', vocab)
    assert accepts_bytes(c, b"b") and not accepts_bytes(c, b"a")
    c = compile_lark('start: x\nx: "a"\n%extend x: "b"\n', vocab)
    assert accepts_bytes(c, b"b") and accepts_bytes(c, b"a")


def test_import_shipped_json():
    g = 'start: "call " value\n%import json.value\n%import json.WS\n%ignore WS\n'
    c = compile_lark(g, byte_vocab())
    assert accepts_bytes(c, b'call {"a": [1, 2]}')
    assert accepts_bytes(c, b'call  [ ] ')
    assert not accepts_bytes(c, b"call {'a': 1}")


def test_left_recursion_rewrite_is_a_loop():
    g = lark_to_grammar(grammars.load("arithmetic"))
    assert isinstance(g.rules["sum"], Nfa) and isinstance(g.rules["product"], Nfa)
    rtn = compile_rtn(g)  # would raise on left recursion
    assert rtn.num_states > 0


def test_eliminate_left_recursion_on_ir():
    def lit(s):
        from constrain.automata import ByteDFA
        return Lex(lexeme(f"test-lark-lit:{s}", lambda: ByteDFA.literal(s.encode()), s))

    # e: e "+" t | t ; t: t "*" "x" | "x" | e "!"   (mutual left recursion)
    rules = {
        "e": alt(seq(Ref("e"), lit("+"), Ref("t")), Ref("t")),
        "t": alt(seq(Ref("t"), lit("*"), lit("x")), lit("x"), seq(Ref("e"), lit("!"))),
    }
    with pytest.raises(GrammarError, match="left-recursive"):
        compile_rtn(Grammar(dict(rules), "e"))
    new = eliminate_left_recursion(rules)
    g = Grammar(new, "e")
    compile_rtn(g)
    from constrain import compile_grammar

    c = compile_grammar(g, byte_vocab())
    rx = re.compile(r"x(?:[*]x|!|[+]x)*")  # e = x (*x | ! | +x)*  (both rules derive the same strings)
    for n in range(0, 6):
        for p in itertools.product(["x", "+", "*", "!"], repeat=n):
            s = "".join(p)
            assert accepts_bytes(c, s.encode()) == bool(rx.fullmatch(s)), s


def _random_grammar(rng: random.Random) -> str:
    """A small random grammar over "a" "b" "c": rules that may be left-recursive (directly or
    not), nullable, cyclic, with EBNF operators."""
    n = rng.randint(1, 4)
    names = [f"r{i}" for i in range(n)]

    def item(depth: int) -> str:
        r = rng.random()
        if r < 0.35:
            return rng.choice(['"a"', '"b"', '"c"'])
        if r < 0.75 or depth > 1:
            return rng.choice(names)
        inner = " ".join(item(depth + 1) for _ in range(rng.randint(1, 2)))
        return rng.choice([f"({inner})*", f"({inner})+", f"[{inner}]", f"({inner})?", f"({inner} | {item(depth + 1)})"])

    lines = ["start: r0"]
    for nm in names:
        alts = [" ".join(item(0) for _ in range(rng.choice([0, 1, 1, 2, 2, 3]))) for _ in range(rng.randint(1, 3))]
        lines.append(f"{nm}: " + " | ".join(alts))
    return "\n".join(lines) + "\n"


def test_random_grammars_agree_with_lark():
    """Random small CFGs (left recursion of every kind): same language as Lark on short strings."""
    rng = random.Random(2024)
    vocab = byte_vocab()
    strings = ["".join(p) for n in range(5) for p in itertools.product("abc", repeat=n)]
    done = 0
    while done < 30:
        g = _random_grammar(rng)
        try:
            lk = Lark(g, parser="earley", lexer="dynamic_complete")
        except LarkError:
            continue  # e.g. rules lark itself rejects (colliding optionals)
        done += 1
        want = []
        for s in strings:
            try:
                lk.parse(s)
                want.append(True)
            except LarkError:
                want.append(False)
        try:
            c = compile_lark(g, vocab)
        except GrammarError as e:
            assert "empty" in str(e) and not any(want), f"{g!r}: {e}"
            continue
        got = [accepts_bytes(c, s.encode()) for s in strings]
        assert got == want, f"{g!r}: differs on {[s for s, a, b in zip(strings, got, want) if a != b][:5]}"


def test_large_counted_repetition_is_one_lexeme():
    vocab = byte_vocab()
    c = compile_lark('start: "x" ("a" "b"?)~1..5000\n%ignore " "\n', vocab)
    assert c.rtn.num_states < 10  # not one parser state per copy
    for s, ok in [("xa", True), ("x " + "ab " * 2500, True), ("x" + "a" * 5000, True), ("x" + "a" * 5001, False),
                  ("x", False)]:
        assert accepts_bytes(c, s.encode()) == ok, s[:20]
    c = compile_lark('start: ("a"?)~3..100 "c"\n', vocab)
    for s, ok in [("c", True), ("a" * 100 + "c", True), ("a" * 101 + "c", False)]:
        assert accepts_bytes(c, s.encode()) == ok, s
    from constrain.errors import CompileBudgetError

    with pytest.raises(CompileBudgetError):  # a clear budget error, not a hang
        compile_lark('start: "a"~1..1000000\n', vocab)


def test_left_recursion_through_automaton_expression_is_an_error():
    from constrain.automata import ByteDFA

    x = Lex(lexeme("test-lark-lit:x", lambda: ByteDFA.literal(b"x"), "x"))
    rules = {"a": alt(Nfa(2, 0, frozenset([1]), ((0, 1, seq(Ref("a"), x)),)), x)}
    with pytest.raises(GrammarError, match="automaton"):
        eliminate_left_recursion(rules)


# =========================================================================== extensions


def test_json_block_in_grammar():
    schema = {"type": "object", "properties": {"name": {"const": "get_weather"},
                                               "arguments": {"type": "object",
                                                             "properties": {"city": {"type": "string"}},
                                                             "required": ["city"], "additionalProperties": False}},
              "required": ["name", "arguments"], "additionalProperties": False}
    g = f'start: "<tool_call>" %json{json.dumps(schema)} "</tool_call>"\n%ignore /[ \\n]+/\n'
    vocab = byte_vocab()
    c = compile_lark(g, vocab)
    good = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    assert accepts_bytes(c, good.encode())
    assert accepts_bytes(c, b'<tool_call>{"name":"get_weather","arguments":{"city":""}}</tool_call>')
    assert not accepts_bytes(c, b'<tool_call>{"name": "other", "arguments": {"city": "P"}}</tool_call>')
    assert not accepts_bytes(c, b'<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>')
    # compact JSON whitespace
    c2 = compile_lark(g, vocab, json_whitespace="compact")
    assert accepts_bytes(c2, b'<tool_call> {"name":"get_weather","arguments":{"city":"x"}} </tool_call>')
    assert not accepts_bytes(c2, b'<tool_call>{"name": "get_weather","arguments":{"city":"x"}}</tool_call>')


def test_json_block_multiline_and_in_strings():
    g = ('start: "x" %json{\n  "type": "integer",\n  "minimum": 3\n} Y\n'
         'Y: "%json{\\"type\\": 1}"  // a string, not a block\n')
    c = compile_lark(g, byte_vocab(), json_whitespace="compact")
    assert accepts_bytes(c, b'x5%json{"type": 1}')
    assert not accepts_bytes(c, b'x2%json{"type": 1}')
    # errors after a multi-line block still name the right line
    bad = 'start: "x" %json{\n  "type": "integer"\n} foo\n'
    with pytest.raises(GrammarError, match="line 1"):
        compile_lark(bad, byte_vocab())
    bad2 = ('start: "x" %json{\n  "type": "integer"\n}\nfoo: %json{\n"type": "string"\n}\n'
            'bar: "y"\n  | %json{\n\n"type": "null"} BAZ\nqux: QUX\n')
    for text, name, line in [(bad2, "BAZ", 7), (bad2.replace("BAZ", '"z"'), "QUX", 11)]:
        with pytest.raises(GrammarError) as ei:
            lark_to_grammar(text)
        assert name in str(ei.value) and f"line {line}" in str(ei.value), str(ei.value)


def test_special_token_as_text():
    g = 'start: TEXT %special{"<|im_end|>"}\nTEXT: /[a-z ]+/\n'
    c = compile_lark(g, byte_vocab())
    assert accepts_bytes(c, b"hello<|im_end|>")
    assert not accepts_bytes(c, b"hello")


# =========================================================================== shipped grammars


def test_grammars_package():
    assert grammars.names() == ["arithmetic", "json", "sexpr", "sql", "tool_call"]
    for name in grammars.names():
        text = grammars.load(name)
        assert os.path.exists(grammars.path(name))
        Lark(text, parser="earley", import_paths=[grammars.directory()])  # lark accepts it
        lark_to_grammar(text)
    with pytest.raises(KeyError):
        grammars.load("nope")


def test_sql_grammar_restricts_identifiers():
    c = compile_lark(grammars.sql_grammar(SQL_TABLES), byte_vocab())
    ok = [
        "SELECT name, age FROM users WHERE age >= 18 AND name LIKE 'A%' ORDER BY age DESC LIMIT 10;",
        "select count(*) from orders group by status",
        "SELECT DISTINCT status FROM orders WHERE total BETWEEN 1 AND 9 OR user_id IN (1, 2)",
        "SELECT SUM(total) AS s FROM orders WHERE NOT (status IS NULL)",
    ]
    bad = [
        "SELECT total FROM users",  # column of another table
        "SELECT name FROM people",  # unknown table
        "SELECT nameFROM users",  # words must be separated
        "SELECT name FROM users WHERE",
        "DELETE FROM users",
    ]
    for s in ok:
        assert accepts_bytes(c, s.encode()), s
    for s in bad:
        assert not accepts_bytes(c, s.encode()), s
    with pytest.raises(ValueError):
        grammars.sql_grammar({})
    with pytest.raises(ValueError):
        grammars.sql_grammar({"t": []})


def test_tool_call_grammar():
    c = compile_lark(grammars.load("tool_call"), byte_vocab())
    assert accepts_bytes(c, b"Sure, the weather is nice.")
    assert accepts_bytes(c, b'<tool_call>\n{"name": "f", "arguments": {"x": [1, 2]}}\n</tool_call>\n'
                            b'<tool_call>{"name": "g", "arguments": {}}</tool_call>')
    assert not accepts_bytes(c, b"text <tool_call>{}</tool_call>")
    assert not accepts_bytes(c, b"<tool_call>[1]</tool_call>")
    assert not accepts_bytes(c, b"")


# =========================================================================== errors


def err(text, start="start", **kw) -> str:
    with pytest.raises(GrammarError) as ei:
        compile_lark(text, byte_vocab(), start=start, **kw)
    return str(ei.value)


def test_error_syntax_names_line():
    msg = err('start: "a"\nfoo: "b" |\n  bar: )\n')
    assert "line 3" in msg


def test_error_undefined_rule_and_terminal():
    msg = err('start: x\nx: "a" y\n')
    assert "'y'" in msg and "x" in msg and "line 2" in msg
    msg = err('start: "a"\n  | B\n')
    assert "'B'" in msg and "start" in msg and "line 1" in msg


def test_error_empty_string_terminal():
    msg = err('start: A "b"\nA: /a*/\n')
    assert "'A'" in msg and "line 2" in msg and "empty string" in msg
    msg = err('start: "b"\n%ignore /\\s*/\n')
    assert "empty string" in msg


def test_error_declared_terminal():
    msg = err('start: _INDENT "x"\n%declare _INDENT\n')
    assert "_INDENT" in msg and "line 2" in msg and "%declare" in msg


def test_error_empty_language():
    msg = err('start: a\na: "x" a\n')
    assert "empty" in msg and "start" in msg


def test_error_unsupported_regex_features():
    assert "lookahead" in err('start: A\nA: /a(?!b)/\n')
    assert "anchors" in err('start: A\nA: /^a/\n')
    assert "backreferences" in err('start: A\nA: /(a)\\1/\n')
    msg = err('start: A\nA: /a+?b*/\n')
    assert "lazy" in msg and "'A'" in msg and "line 2" in msg


def test_error_public_grammars():
    with open(os.path.join(DATA, "lark.lark"), encoding="utf-8") as f:
        msg = err(f.read())
    assert "'OP'" in msg and "lookahead" in msg and "line" in msg
    assert "start rule 'nope'" in err('start: "a"\n', start="nope")
    msg = err('start: X\n%import nosuch.X\n')
    assert "cannot import" in msg and "nosuch" in msg


def test_error_bad_extension_blocks():
    assert "line 2" in err('start: "a"\n  | %json{"type": "object"\n')
    assert "line 1" in err('start: %json{"type": 12}\n')
    assert "%special" in err('start: %special{12}\n')
