"""Regular expressions (ECMA-262 and Python dialects) compiled to byte DFAs.

``regex_to_dfa(pattern)`` returns a :class:`~constrain.automata.ByteDFA` over the *encoded*
bytes of the strings the pattern matches:

* ``encoding="utf8"``: raw UTF-8 text (surrogates U+D800-DFFF never match);
* ``encoding="json"``: the content of a JSON string literal, without the quotes. A character
  may be written literally (UTF-8) unless it is ``"``, ``\\`` or a control character, or
  escaped (``\\n``, ``\\"``, ``\\/``, ``\\u00e9`` in either hex case, surrogate pairs for
  astral characters). ``[a-z]`` therefore also accepts ``\\u0061``.
* ``encoding="json-canonical"``: JSON string content in its one canonical spelling, the one
  ``json.dumps(s, ensure_ascii=False)`` writes: ``\\"``, ``\\\\`` and ``\\b \\f \\n \\r \\t`` for those
  characters, ``\\u00xx`` (lowercase hex) for the other control characters, every other
  character as itself. ``[a-z]`` accepts ``a`` only, never ``\\u0061``; no ``\\/``.

Pipeline: our own parser builds a character-level AST (:class:`Chars` nodes hold sorted
code-point intervals, so Unicode classes stay small); each character set is lowered once to
a minimized byte DFA for the encoding (UTF-8 range splitting; JSON adds escapes whose hex
digits come from an exact base-16 range split) and embedded into a Thompson NFA, which is
determinized and minimized by :mod:`constrain.automata`.

Zero-width assertions (``^ $ \\b \\B``, multiline anchors, lookarounds) are compiled exactly
rather than approximated: each becomes a *marker symbol* (>= 256) in the NFA, the resulting
DFA is intersected with a small "context" automaton saying where that marker may occur (for
``$``: only at the end; for ``(?=X)``: only where the rest of the text is in ``X·Σ*``), and
the markers are finally erased (replaced by epsilon) before determinizing over bytes. This
is exact because both encodings decode uniquely, so markers always sit on character
boundaries.

Supported: literals and escapes (``\\n \\t \\r \\f \\v \\0 \\xHH \\uHHHH \\u{H..} \\cX``, Python
``\\a \\UHHHHHHHH \\N{name}`` and octal), ``.``, classes with ranges/negation/escapes (ECMA
``[]`` and ``[^]``), ``\\d \\D \\w \\W \\s \\S`` per dialect, ``\\p{..}``/``\\P{..}`` general
categories (one- and two-letter, long names, ``gc=``, ``Any``, ``ASCII``, ``Assigned``),
groups (capturing, ``(?:)``, named, ``(?#..)``), alternation, greedy/lazy quantifiers, anchors
``^ $ \\A \\Z`` and word boundaries anywhere, flags ``i s m x`` (+ Python ``a``) globally at
the start or scoped ``(?i:..)``, lookahead/lookbehind of any width anywhere.

Raises :class:`RegexError` (with the position): syntax errors, backreferences (not regular),
possessive quantifiers and atomic groups (would change the language), conditionals, Unicode
scripts and other non-category properties, and -- inside a lookaround body -- anchors or
word boundaries looking out of the body's side of the string (``^``/``\\b`` or a lookbehind
inside a lookahead; ``$``/``\\b`` or a lookahead inside a lookbehind).
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

import numpy as np

from .automata import DEFAULT_BUDGET, NFA, ByteDFA, _finalize
from .cache import register_lru
from .errors import CompileBudgetError, OptionError, RegexError

__all__ = [
    "regex_to_dfa",
    "parse_regex",
    "charset_dfa",
    "any_char_dfa",
    "RegexError",
    "CompileBudgetError",
    "Chars",
    "Seq",
    "Alt",
    "Repeat",
    "Assert",
    "Look",
]

MAX_CP = 0x10FFFF
ENCODINGS = ("utf8", "json", "json-canonical")
DIALECTS = ("ecma", "python")

# --------------------------------------------------------------------------- code-point sets
# A set is a tuple of disjoint, sorted, non-adjacent inclusive intervals (lo, hi).

Ranges = tuple


def _norm(intervals) -> Ranges:
    """Sort and merge intervals (adjacent ones too) into canonical form."""
    iv = sorted((int(a), int(b)) for a, b in intervals if a <= b)
    out: list[list[int]] = []
    for a, b in iv:
        if out and a <= out[-1][1] + 1:
            if b > out[-1][1]:
                out[-1][1] = b
        else:
            out.append([a, b])
    return tuple((a, b) for a, b in out)


def _negate(s: Ranges) -> Ranges:
    out = []
    prev = 0
    for a, b in s:
        if a > prev:
            out.append((prev, a - 1))
        prev = b + 1
    if prev <= MAX_CP:
        out.append((prev, MAX_CP))
    return tuple(out)


def _intersect(a: Ranges, b: Ranges) -> Ranges:
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def _single(cp: int) -> Ranges:
    return ((cp, cp),)


ALL: Ranges = ((0, MAX_CP),)
SURROGATES: Ranges = ((0xD800, 0xDFFF),)
NEWLINE: Ranges = _single(0x0A)
ECMA_LINE_TERMINATORS: Ranges = _norm([(0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029)])
ASCII_DIGIT: Ranges = ((0x30, 0x39),)
ASCII_WORD: Ranges = _norm([(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)])
ASCII_SPACE: Ranges = _norm([(0x09, 0x0D), (0x20, 0x20)])
ECMA_SPACE: Ranges = _norm(
    [(0x09, 0x0D), (0x20, 0x20), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A), (0x2028, 0x2029),
     (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000), (0xFEFF, 0xFEFF)]
)


def _mask_to_ranges(mask: np.ndarray, offset: int = 0) -> Ranges:
    """Intervals of the True runs of a bool array (index + offset = code point)."""
    m = np.concatenate(([False], mask, [False])).astype(np.int8)
    d = np.diff(m)
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1) - 1
    return tuple((int(a) + offset, int(b) + offset) for a, b in zip(starts, ends))


# --------------------------------------------------------------------------- Unicode tables

_GC_NAMES = {
    "Lu": "Uppercase_Letter", "Ll": "Lowercase_Letter", "Lt": "Titlecase_Letter", "Lm": "Modifier_Letter",
    "Lo": "Other_Letter", "Mn": "Nonspacing_Mark", "Mc": "Spacing_Mark", "Me": "Enclosing_Mark",
    "Nd": "Decimal_Number", "Nl": "Letter_Number", "No": "Other_Number", "Pc": "Connector_Punctuation",
    "Pd": "Dash_Punctuation", "Ps": "Open_Punctuation", "Pe": "Close_Punctuation",
    "Pi": "Initial_Punctuation", "Pf": "Final_Punctuation", "Po": "Other_Punctuation",
    "Sm": "Math_Symbol", "Sc": "Currency_Symbol", "Sk": "Modifier_Symbol", "So": "Other_Symbol",
    "Zs": "Space_Separator", "Zl": "Line_Separator", "Zp": "Paragraph_Separator", "Cc": "Control",
    "Cf": "Format", "Cs": "Surrogate", "Co": "Private_Use", "Cn": "Unassigned",
}
_GC_GROUPS = {
    "L": ("Letter", ("Lu", "Ll", "Lt", "Lm", "Lo")),
    "LC": ("Cased_Letter", ("Lu", "Ll", "Lt")),
    "M": ("Mark", ("Mn", "Mc", "Me")),
    "N": ("Number", ("Nd", "Nl", "No")),
    "P": ("Punctuation", ("Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po")),
    "S": ("Symbol", ("Sm", "Sc", "Sk", "So")),
    "Z": ("Separator", ("Zs", "Zl", "Zp")),
    "C": ("Other", ("Cc", "Cf", "Cs", "Co", "Cn")),
}
_GC_ALIASES = {"digit": "Nd", "punct": "P", "Combining_Mark": "M", "cntrl": "Cc", "L&": "LC"}


def _loose(name: str) -> str:
    """UAX44-LM3 loose matching: ignore case, spaces, underscores and hyphens."""
    return name.replace("_", "").replace(" ", "").replace("-", "").lower()


@functools.lru_cache(maxsize=None)
def _gc_lookup() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for short, long in _GC_NAMES.items():
        table[_loose(short)] = table[_loose(long)] = (short,)
    for short, (long, members) in _GC_GROUPS.items():
        table[_loose(short)] = table[_loose(long)] = members
    for alias, target in _GC_ALIASES.items():
        table[_loose(alias)] = table[_loose(target)]
    return table


@functools.lru_cache(maxsize=None)
def _category_array() -> tuple[np.ndarray, dict[str, int]]:
    """General category index of every code point (built once, ~0.5 s)."""
    names = list(_GC_NAMES)
    idx = {n: i for i, n in enumerate(names)}
    cat = unicodedata.category
    arr = np.fromiter((idx[cat(chr(c))] for c in range(MAX_CP + 1)), dtype=np.uint8, count=MAX_CP + 1)
    return arr, idx


@register_lru
@functools.lru_cache(maxsize=1024)
def _category_ranges(cats: tuple[str, ...]) -> Ranges:
    arr, idx = _category_array()
    return _mask_to_ranges(np.isin(arr, [idx[c] for c in cats]))


@functools.lru_cache(maxsize=None)
def _python_class(kind: str) -> Ranges:
    """Python's Unicode ``\\d`` ``\\w`` ``\\s`` (str.isdecimal / isalnum+_ / isspace)."""
    if kind == "d":
        return _category_ranges(("Nd",))
    test = (lambda ch: ch.isalnum() or ch == "_") if kind == "w" else str.isspace
    mask = np.fromiter((test(chr(c)) for c in range(MAX_CP + 1)), dtype=bool, count=MAX_CP + 1)
    return _mask_to_ranges(mask)


@functools.lru_cache(maxsize=None)
def _fold_table() -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Simple case-folding orbits: code points linked by single-char lower()/upper().

    Returns the sorted code points that have case variants and, for each, its orbit.
    """
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for c in range(0x20000):
        ch = chr(c)
        for v in (ch.lower(), ch.upper()):
            if len(v) == 1 and ord(v) != c:
                parent.setdefault(c, c)
                parent.setdefault(ord(v), ord(v))
                a, b = find(c), find(ord(v))
                if a != b:
                    parent[a] = b
    orbits: dict[int, list[int]] = {}
    for c in parent:
        orbits.setdefault(find(c), []).append(c)
    cps = sorted(parent)
    orbit_of = {}
    for members in orbits.values():
        t = tuple(sorted(members))
        for m in members:
            orbit_of[m] = t
    return np.array(cps, dtype=np.int64), [orbit_of[c] for c in cps]


def _casefold(s: Ranges) -> Ranges:
    """Close a set under simple case folding (for the ``i`` flag)."""
    cps, orbits = _fold_table()
    extra = []
    for lo, hi in s:
        a = int(np.searchsorted(cps, lo, side="left"))
        b = int(np.searchsorted(cps, hi, side="right"))
        for k in range(a, b):
            extra.extend((m, m) for m in orbits[k])
    return _norm(list(s) + extra) if extra else s


# --------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class Chars:
    """One character from a set of code-point intervals."""

    ranges: Ranges


@dataclass(frozen=True)
class Seq:
    items: tuple


@dataclass(frozen=True)
class Alt:
    items: tuple


@dataclass(frozen=True)
class Repeat:
    item: object
    min: int
    max: int | None


@dataclass(frozen=True)
class Assert:
    """Zero-width assertion: start, end, pyend (Python ``$``), mstart, mend, wordb, nwordb."""

    kind: str
    pos: int


@dataclass(frozen=True)
class Look:
    """Lookaround: ``behind`` (else ahead), ``negative``, body node."""

    behind: bool
    negative: bool
    body: object
    pos: int


@dataclass(frozen=True)
class _AnyStar:
    """Σ* over the encoding (search-mode padding, lookaround tails)."""


ANY_STAR = _AnyStar()


# --------------------------------------------------------------------------- parser

_DIGITS = "0123456789"
_HEX = "0123456789abcdefABCDEF"
_SYNTAX_QUANT = "*+?"
_PY_FLAGS = "aiLmsux"
_ECMA_FLAGS = "imsux"


class _Parser:
    """Recursive-descent parser to the character-level AST.

    Differences between dialects handled here: ``[]``/``[^]`` (ECMA) vs ``]`` first in a
    class being literal (Python); ``{,n}`` (Python); ``\\A \\Z \\U \\N{}`` and octal escapes
    (Python); ``\\u{...} \\cX \\k<>`` (ECMA); the definitions of ``. \\d \\w \\s $``.
    """

    def __init__(self, pattern: str, dialect: str):
        self.p = pattern
        self.n = len(pattern)
        self.i = 0
        self.dialect = dialect
        self.py = dialect == "python"
        self.flags = {"i": False, "s": False, "m": False, "x": False, "a": False}
        self.names: set[str] = set()

    # -- utilities

    def error(self, msg: str, pos: int | None = None):
        raise RegexError(msg, self.p, self.i if pos is None else pos)

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.p[j] if j < self.n else ""

    def startswith(self, s: str) -> bool:
        return self.p.startswith(s, self.i)

    def skip_verbose(self) -> None:
        if not self.flags["x"]:
            return
        while self.i < self.n:
            c = self.p[self.i]
            if c in " \t\n\r\f\v":
                self.i += 1
            elif c == "#":
                while self.i < self.n and self.p[self.i] != "\n":
                    self.i += 1
            else:
                break

    # -- entry

    def parse(self):
        self.parse_global_flags()
        node = self.parse_alt()
        if self.i < self.n:
            if self.p[self.i] == ")":
                self.error("unbalanced parenthesis")
            self.error(f"unexpected {self.p[self.i]!r}")  # pragma: no cover - parse_alt stops only at ')'
        return node

    def parse_global_flags(self) -> None:
        while self.startswith("(?"):
            j = self.i + 2
            while j < self.n and self.p[j].isalpha():
                j += 1
            if j == self.i + 2 or j >= self.n or self.p[j] != ")":
                return
            self.set_flags(self.p[self.i + 2 : j], True, self.i + 2)
            self.i = j + 1

    def set_flags(self, letters: str, value: bool, pos: int, flags: dict | None = None) -> None:
        allowed = _PY_FLAGS if self.py else _ECMA_FLAGS
        target = self.flags if flags is None else flags
        for k, ch in enumerate(letters):
            if ch not in allowed:
                self.error(f"unknown flag {ch!r}", pos + k)
            if ch == "L":
                self.error("the L (locale) flag is not supported", pos + k)
            if ch == "u":
                continue
            target[ch] = value

    def parse_alt(self):
        branches = [self.parse_seq()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.parse_seq())
        return branches[0] if len(branches) == 1 else Alt(tuple(branches))

    def parse_seq(self):
        items = []
        while True:
            self.skip_verbose()
            if self.i >= self.n or self.peek() in "|)":
                break
            start = self.i
            atom = self.parse_atom()
            if atom is None:
                continue
            atom = self.parse_quantifiers(atom, grouped=self.p[start] == "(")
            items.append(atom)
        if len(items) == 1:
            return items[0]
        return Seq(tuple(items))

    def parse_braces(self, j: int):
        """``{n}``, ``{n,}``, ``{n,m}`` (and Python ``{,m}``) at ``j``: (min, max, end) or None."""
        p, n = self.p, self.n
        if j >= n or p[j] != "{":
            return None
        k = j + 1
        a = k
        while k < n and p[k] in _DIGITS:
            k += 1
        lo = p[a:k]
        hi: str | None
        if k < n and p[k] == ",":
            k += 1
            b = k
            while k < n and p[k] in _DIGITS:
                k += 1
            hi = p[b:k]
        else:
            hi = None
        if k >= n or p[k] != "}":
            return None
        if not lo and (not self.py or hi is None):
            return None
        mn = int(lo) if lo else 0
        if hi is None:
            mx: int | None = mn
        else:
            mx = int(hi) if hi else None
        return mn, mx, k + 1

    def parse_quantifiers(self, atom, grouped: bool):
        quantified = False
        while True:
            self.skip_verbose()
            c = self.peek()
            qpos = self.i
            if c and c in _SYNTAX_QUANT:
                mn, mx = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
                self.i += 1
            elif c == "{":
                br = self.parse_braces(self.i)
                if br is None:
                    return atom
                mn, mx, self.i = br
                if mx is not None and mn > mx:
                    self.error("min repeat greater than max repeat", qpos)
            else:
                return atom
            if quantified:
                self.error("multiple repeat", qpos)
            if isinstance(atom, Assert) and not grouped:
                self.error("nothing to repeat", qpos)
            if self.peek() == "?":
                self.i += 1  # lazy: same language
            elif self.peek() == "+":
                self.error("possessive quantifiers are not supported (not the same language)", self.i)
            atom = Repeat(atom, mn, mx)
            quantified = True

    def parse_atom(self):
        c = self.p[self.i]
        pos = self.i
        if c == "(":
            return self.parse_group()
        if c == "[":
            return Chars(self.parse_class())
        if c == ".":
            self.i += 1
            if self.flags["s"]:
                return Chars(ALL)
            return Chars(_negate(NEWLINE if self.py else ECMA_LINE_TERMINATORS))
        if c == "^":
            self.i += 1
            return Assert("mstart" if self.flags["m"] else "start", pos)
        if c == "$":
            self.i += 1
            if self.flags["m"]:
                return Assert("mend", pos)
            return Assert("pyend" if self.py else "end", pos)
        if c == "\\":
            r = self.parse_escape(in_class=False)
            if isinstance(r, int):
                return Chars(self.fold_set(_single(r)))
            return r if not isinstance(r, tuple) else Chars(r)
        if c in _SYNTAX_QUANT or (c == "{" and self.parse_braces(self.i) is not None):
            self.error("nothing to repeat")
        self.i += 1
        return Chars(self.fold_set(_single(ord(c))))

    def fold_set(self, s: Ranges) -> Ranges:
        return _casefold(s) if self.flags["i"] else s

    # -- groups

    def parse_group(self):
        start = self.i
        self.i += 1
        saved = dict(self.flags)
        look = None
        if self.peek() == "?":
            self.i += 1
            c = self.peek()
            if c == ":":
                self.i += 1
            elif c in "=!":
                self.i += 1
                look = (False, c == "!")
            elif self.startswith("<=") or self.startswith("<!"):
                look = (True, self.peek(1) == "!")
                self.i += 2
            elif c == "<" or self.startswith("P<"):
                self.i += 2 if c == "P" else 1
                end = self.p.find(">", self.i)
                name = self.p[self.i : end] if end >= 0 else ""
                if end < 0 or not name.isidentifier():
                    self.error("bad group name", self.i)
                if name in self.names:
                    self.error(f"redefinition of group name {name!r}", self.i)
                self.names.add(name)
                self.i = end + 1
            elif self.startswith("P="):
                self.error("backreference (?P=...) is not regular", start)
            elif c == "#":
                end = self.p.find(")", self.i)
                if end < 0:
                    self.error("missing ), unterminated comment", start)
                self.i = end + 1
                return None
            elif c == ">":
                self.error("atomic groups are not supported (not the same language)", start)
            elif c == "(":
                self.error("conditional groups are not supported", start)
            else:
                j = self.i
                while j < self.n and (self.p[j].isalpha() or self.p[j] == "-"):
                    j += 1
                spec = self.p[self.i : j]
                if j < self.n and self.p[j] == ":" and spec:
                    on, _, off = spec.partition("-")
                    self.set_flags(on, True, self.i)
                    self.set_flags(off, False, self.i + len(on) + 1)
                    self.i = j + 1
                elif j < self.n and self.p[j] == ")" and spec and "-" not in spec:
                    self.set_flags(spec, True, self.i, flags={})  # validates the letters
                    self.error("global flags not at the start of the expression", start)
                else:
                    self.error(f"unknown extension ?{c}", start)
        body = self.parse_alt()
        if self.peek() != ")":
            self.error("missing ), unterminated subpattern", start)
        self.i += 1
        self.flags = saved
        if look is not None:
            return Look(look[0], look[1], body, start)
        return body

    # -- classes

    def parse_class(self) -> Ranges:
        start = self.i
        self.i += 1
        negate = False
        if self.peek() == "^":
            negate = True
            self.i += 1
        parts: list[tuple[int, int]] = []
        shorthand: list[tuple[int, int]] = []  # \d, \p{..}: not case-folded
        first = True
        while True:
            if self.i >= self.n:
                self.error("unterminated character set", start)
            c = self.p[self.i]
            if c == "]" and not (first and self.py):
                self.i += 1
                break
            first = False
            lo_pos = self.i
            lo = self.class_atom()
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.i += 1
                hi = self.class_atom()
                if isinstance(lo, tuple) or isinstance(hi, tuple):
                    self.error("bad character range", lo_pos)
                if lo > hi:
                    self.error("bad character range (min > max)", lo_pos)
                parts.append((lo, hi))
            elif isinstance(lo, tuple):
                shorthand.extend(lo)
            else:
                parts.append((lo, lo))
        s = _norm(list(self.fold_set(_norm(parts))) + shorthand)
        return _negate(s) if negate else s

    def class_atom(self):
        """One class member: a code point (int) or a set (tuple of ranges)."""
        c = self.p[self.i]
        if c == "\\":
            r = self.parse_escape(in_class=True)
            return r
        self.i += 1
        return ord(c)

    # -- escapes

    def read_hex(self, count: int, what: str, pos: int) -> int:
        digits = self.p[self.i : self.i + count]
        if len(digits) != count or any(d not in _HEX for d in digits):
            self.error(f"incomplete escape {what}", pos)
        self.i += count
        return int(digits, 16)

    def parse_escape(self, in_class: bool):
        """Escape at ``\\``: returns a code point, a set (tuple) or an Assert node."""
        pos = self.i
        self.i += 1
        if self.i >= self.n:
            self.error("bad escape (end of pattern)", pos)
        c = self.p[self.i]
        self.i += 1
        py = self.py
        if c in "dDwWsS":
            base = self.shorthand(c.lower())
            return _negate(base) if c.isupper() else base
        if c in "pP":
            s = self.parse_property(pos)
            return _negate(s) if c == "P" else s
        if c == "b":
            return 0x08 if in_class else Assert("wordb", pos)
        if c == "B":
            if in_class:
                self.error("bad escape \\B in a character class", pos)
            return Assert("nwordb", pos)
        if py and c in "AZ":
            if in_class:
                self.error(f"bad escape \\{c}", pos)
            return Assert("start" if c == "A" else "end", pos)
        simple = {"n": 0x0A, "t": 0x09, "r": 0x0D, "f": 0x0C, "v": 0x0B}
        if c in simple:
            return simple[c]
        if c == "a" and py:
            return 0x07
        if c == "0" or (py and c in "1234567"):
            if py:
                # octal: \0, \0o, \0oo, or exactly three octal digits
                j = self.i - 1
                k = j
                while k < self.n and k - j < 3 and self.p[k] in "01234567":
                    k += 1
                digits = self.p[j:k]
                if c == "0" or len(digits) == 3:
                    self.i = k
                    v = int(digits, 8)
                    if v > 0o377:
                        self.error(f"octal escape value \\{digits} outside of range 0-0o377", pos)
                    return v
                self.error("backreferences are not regular", pos)
            if self.peek() and self.peek() in _DIGITS:
                self.error("octal escapes are not supported", pos)
            return 0
        if c in _DIGITS:
            self.error("backreferences are not regular", pos)
        if c == "k" and not py:
            self.error("backreferences (\\k<name>) are not regular", pos)
        if c == "x":
            return self.read_hex(2, "\\x", pos)
        if c == "u":
            if not py and self.peek() == "{":
                end = self.p.find("}", self.i)
                digits = self.p[self.i + 1 : end] if end >= 0 else ""
                if not digits or any(d not in _HEX for d in digits) or int(digits, 16) > MAX_CP:
                    self.error("bad \\u{...} escape", pos)
                self.i = end + 1
                return int(digits, 16)
            v = self.read_hex(4, "\\u", pos)
            if 0xD800 <= v <= 0xDBFF and self.startswith("\\u"):
                save = self.i
                self.i += 2
                digits = self.p[self.i : self.i + 4]
                if len(digits) == 4 and all(d in _HEX for d in digits) and 0xDC00 <= int(digits, 16) <= 0xDFFF:
                    self.i += 4
                    return 0x10000 + ((v - 0xD800) << 10) + (int(digits, 16) - 0xDC00)
                self.i = save
            return v
        if c == "U" and py:
            v = self.read_hex(8, "\\U", pos)
            if v > MAX_CP:
                self.error("bad escape \\U (beyond U+10FFFF)", pos)
            return v
        if c == "N" and py:
            if self.peek() != "{":
                self.error("missing { in \\N{...}", pos)
            end = self.p.find("}", self.i)
            try:
                ch = unicodedata.lookup(self.p[self.i + 1 : end]) if end > 0 else ""
            except KeyError:
                ch = ""
            if len(ch) != 1:
                self.error("bad character name in \\N{...}", pos)
            self.i = end + 1
            return ord(ch)
        if c == "c" and not py:
            d = self.peek()
            if d.isascii() and d.isalpha():
                self.i += 1
                return ord(d) % 32
            self.error("bad escape \\c", pos)
        if c == "-" and in_class:
            return ord("-")
        if c.isascii() and c.isalnum():
            self.error(f"bad escape \\{c}", pos)
        return ord(c)  # identity escape of a non-alphanumeric character

    def shorthand(self, c: str) -> Ranges:
        if self.py and not self.flags["a"]:
            return _python_class(c)
        if c == "d":
            return ASCII_DIGIT
        if c == "w":
            return ASCII_WORD
        return ASCII_SPACE if self.py else ECMA_SPACE

    def parse_property(self, pos: int) -> Ranges:
        if self.peek() != "{":
            # \pL single-letter form (Perl/regex module)
            c = self.peek()
            if c and c.isalpha():
                self.i += 1
                return self.property_ranges(c, pos)
            self.error("bad \\p escape: expected {", pos)
        end = self.p.find("}", self.i)
        if end < 0:
            self.error("unterminated \\p{...}", pos)
        spec = self.p[self.i + 1 : end]
        self.i = end + 1
        return self.property_ranges(spec, pos)

    def property_ranges(self, spec: str, pos: int) -> Ranges:
        name, eq, value = spec.partition("=")
        if eq:
            if _loose(name) not in ("gc", "generalcategory"):
                self.error(f"unsupported Unicode property {spec!r} (only general categories)", pos)
            spec = value
        key = _loose(spec)
        if key == "any":
            return ALL
        if key == "ascii":
            return ((0, 0x7F),)
        if key == "assigned":
            return _negate(_category_ranges(("Cn",)))
        cats = _gc_lookup().get(key)
        if cats is None:
            self.error(f"unsupported Unicode property {spec!r}", pos)
        return _category_ranges(cats)


def parse_regex(pattern: str, dialect: str = "ecma"):
    """Parse ``pattern`` to the character-level AST (raises :class:`RegexError`)."""
    if dialect not in DIALECTS:
        raise OptionError(f"dialect must be one of {DIALECTS}, not {dialect!r}")
    parser = _Parser(pattern, dialect)
    return parser.parse(), parser


# --------------------------------------------------------------------------- lowering


def _utf8_bytes(cp: int) -> bytes:
    return chr(cp).encode("utf-8", "surrogatepass")


def _utf8_sequences(lo: int, hi: int) -> list[list[tuple[int, int]]]:
    """Split ``lo..hi`` (no surrogates) into byte-range sequences (the utf8-ranges split)."""
    out = []
    stack = [(lo, hi)]
    while stack:
        s, e = stack.pop()
        if s > e:
            continue
        if s <= 0xDFFF and e >= 0xD800:
            stack.append((0xE000, e))
            stack.append((s, 0xD7FF))
            continue
        split = False
        for m in (0x7F, 0x7FF, 0xFFFF):
            if s <= m < e:
                stack.append((m + 1, e))
                stack.append((s, m))
                split = True
                break
        if split:
            continue
        if e <= 0x7F:
            out.append([(s, e)])
            continue
        for k in (1, 2, 3):
            m = (1 << (6 * k)) - 1
            if (s & ~m) != (e & ~m):
                if s & m:
                    stack.append(((s | m) + 1, e))
                    stack.append((s, s | m))
                    split = True
                    break
                if (e & m) != m:
                    stack.append((e & ~m, e))
                    stack.append((s, (e & ~m) - 1))
                    split = True
                    break
        if split:
            continue
        out.append(list(zip(_utf8_bytes(s), _utf8_bytes(e))))
    return out


def _digit_sequences(lo: int, hi: int, width: int, base: int = 16) -> list[list[tuple[int, int]]]:
    """Split ``lo..hi`` into sequences of per-digit ranges (fixed ``width`` digits)."""
    if width == 1:
        return [[(lo, hi)]]
    p = base ** (width - 1)
    a, b = divmod(lo, p)
    c, d = divmod(hi, p)
    if a == c:
        return [[(a, a)] + s for s in _digit_sequences(b, d, width - 1, base)]
    out = []
    first, last = a, c
    if b != 0:
        out += [[(a, a)] + s for s in _digit_sequences(b, p - 1, width - 1, base)]
        first = a + 1
    tail = []
    if d != p - 1:
        tail = [[(c, c)] + s for s in _digit_sequences(0, d, width - 1, base)]
        last = c - 1
    if first <= last:
        out.append([(first, last)] + [(0, base - 1)] * (width - 1))
    return out + tail


def _hex_bytes(lo: int, hi: int) -> tuple[tuple[int, int], ...]:
    """Byte ranges spelling hex digit values ``lo..hi`` in either letter case."""
    out = []
    if lo <= 9:
        out.append((0x30 + lo, 0x30 + min(hi, 9)))
    if hi >= 10:
        a, b = max(lo, 10) - 10, hi - 10
        out.append((0x41 + a, 0x41 + b))
        out.append((0x61 + a, 0x61 + b))
    return tuple(out)


def _hex4(lo: int, hi: int) -> list[list[tuple[tuple[int, int], ...]]]:
    return [[_hex_bytes(x, y) for x, y in seq] for seq in _digit_sequences(lo, hi, 4)]


_BS, _U = ((0x5C, 0x5C),), ((0x75, 0x75),)
_JSON_SHORT = {0x22: 0x22, 0x5C: 0x5C, 0x2F: 0x2F, 0x08: 0x62, 0x0C: 0x66, 0x0A: 0x6E, 0x0D: 0x72, 0x09: 0x74}
_JSON_LITERAL: Ranges = _norm([(0x20, 0x21), (0x23, 0x5B), (0x5D, 0xD7FF), (0xE000, MAX_CP)])


def _encoded_sequences(s: Ranges, encoding: str):
    """Byte-set sequences (each element a tuple of byte ranges) spelling the set ``s``."""
    seqs = []
    lit = s if encoding == "utf8" else _intersect(s, _JSON_LITERAL)
    for lo, hi in lit:
        for seq in _utf8_sequences(lo, hi):
            seqs.append([((a, b),) for a, b in seq])
    if encoding == "utf8":
        return seqs
    if encoding == "json-canonical":
        # one spelling per character: the literal one where JSON allows it, else the
        # conventional escape (a short one, or \u00xx in lowercase hex below 0x20)
        for cp, letter in _JSON_SHORT.items():
            if cp != 0x2F and _intersect(s, _single(cp)):
                seqs.append([_BS, ((letter, letter),)])
        for lo, hi in _intersect(s, ((0, 0x1F),)):
            for cp in range(lo, hi + 1):
                if cp not in _JSON_SHORT:
                    seqs.append([_BS, _U] + [((b, b),) for b in b"%04x" % cp])
        return seqs
    for cp, letter in _JSON_SHORT.items():
        if _intersect(s, _single(cp)):
            seqs.append([_BS, ((letter, letter),)])
    for lo, hi in _intersect(s, ((0, 0xD7FF), (0xE000, 0xFFFF))):
        for h in _hex4(lo, hi):
            seqs.append([_BS, _U] + h)
    for lo, hi in _intersect(s, ((0x10000, MAX_CP),)):
        # group by high surrogate: (high range, low range) blocks
        a, b = lo - 0x10000, hi - 0x10000
        ha, la = divmod(a, 0x400)
        hb, lb = divmod(b, 0x400)
        blocks = []
        if ha == hb:
            blocks.append((ha, ha, la, lb))
        else:
            blocks.append((ha, ha, la, 0x3FF))
            if ha + 1 <= hb - 1:
                blocks.append((ha + 1, hb - 1, 0, 0x3FF))
            blocks.append((hb, hb, 0, lb))
        for h0, h1, l0, l1 in blocks:
            for hs in _hex4(0xD800 + h0, 0xD800 + h1):
                for ls in _hex4(0xDC00 + l0, 0xDC00 + l1):
                    seqs.append([_BS, _U] + hs + [_BS, _U] + ls)
    return seqs


@register_lru
@functools.lru_cache(maxsize=4096)
def charset_dfa(ranges: Ranges, encoding: str = "utf8") -> ByteDFA:
    """Minimized byte DFA of one character from ``ranges`` in ``encoding`` (cached)."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, not {encoding!r}")
    seqs = _encoded_sequences(_norm(ranges), encoding)
    if not seqs:
        return ByteDFA.empty()
    nfa = NFA(256, budget=10 * DEFAULT_BUDGET)
    root = nfa.add_state()
    final = nfa.add_state()
    trie: dict[tuple[int, tuple], int] = {}
    for seq in seqs:
        cur = root
        for k, elem in enumerate(seq):
            if k == len(seq) - 1:
                nxt = final
            else:
                nxt = trie.get((cur, elem))
                if nxt is None:
                    nxt = trie[(cur, elem)] = nfa.add_state()
                    for a, b in elem:
                        nfa.add_range(cur, a, b, nxt)
                cur = nxt
                continue
            for a, b in elem:
                nfa.add_range(cur, a, b, nxt)
    return nfa.to_dfa(root, final, budget=10 * DEFAULT_BUDGET)


def any_char_dfa(encoding: str = "utf8") -> ByteDFA:
    """One character of any code point (not a surrogate) in ``encoding``."""
    return charset_dfa(ALL, encoding)


@register_lru
@functools.lru_cache(maxsize=256)
def _classifier(partition: tuple, encoding: str):
    """DFA reading one encoded character and telling which set of ``partition`` it is in.

    Built over bytes plus one label symbol per set (256 + c after a character of set c), so
    minimization cannot merge different answers. Returns ``(dfa, label, inner)``: ``label[q]``
    is the set whose character is complete in state ``q`` (-1 if none) and ``inner`` the
    states inside a character (the start included).
    """
    k = len(partition)
    nfa = NFA(256 + k, budget=10 * DEFAULT_BUDGET)
    start = nfa.add_state()
    end = nfa.add_state()
    for c, rs in enumerate(partition):
        a, b = nfa.add_dfa(charset_dfa(rs, encoding))
        nfa.add_eps(start, a)
        mid = nfa.add_state()
        nfa.add_eps(b, mid)
        nfa.add_range(mid, 256 + c, 256 + c, end)
    K = nfa.to_dfa(start, end, budget=10 * DEFAULT_BUDGET)
    label = np.full(K.num_states + 1, -1, dtype=np.int64)  # label[-1] == -1
    for c in range(k):
        label[:-1][K._T[:, K._cmap[256 + c]] >= 0] = c
    inner = [q for q in range(K.num_states) if label[q] < 0 and not K.accept[q]]
    return K, label, inner


@register_lru
@functools.lru_cache(maxsize=len(ENCODINGS))
def _sigma_star(encoding: str) -> ByteDFA:
    return any_char_dfa(encoding).star()


# --------------------------------------------------------------------------- compilation

_AHEAD_OK = frozenset({"end", "pyend", "mend", "lookahead"})
_BEHIND_OK = frozenset({"start", "mstart", "lookbehind"})
_ALL_OK = frozenset({"start", "end", "pyend", "mstart", "mend", "wordb", "nwordb", "lookahead", "lookbehind"})
_BIG_PART = 256
"""DFAs above this size are combined at the DFA level rather than embedded in an NFA."""
_FORWARD = frozenset({"end", "pyend", "mend", "lookahead"})
_KIND_TEXT = {
    "start": "'^'", "end": "'$'", "pyend": "'$'", "mstart": "'^' (multiline)", "mend": "'$' (multiline)",
    "wordb": "'\\b'", "nwordb": "'\\B'", "lookahead": "lookahead", "lookbehind": "lookbehind",
}


def _with_marker_loops(d: ByteDFA, n_symbols: int) -> ByteDFA:
    """``h^-1(L(d))`` for the homomorphism erasing markers: markers loop on every state."""
    S, C = d._T.shape
    T = np.concatenate([d._T.astype(np.int64), np.arange(S)[:, None]], axis=1)
    cmap = np.concatenate([d._cmap[:256], np.full(n_symbols - 256, C, dtype=np.int64)])
    return _finalize(T, d.accept, cmap)


def _erase_markers(d: ByteDFA, budget: int) -> ByteDFA:
    """Replace every marker transition (symbol >= 256) by epsilon and determinize over bytes."""
    nfa = NFA(256, budget)
    S = d.num_states
    base = nfa._grow(S + 1)
    end = base + S
    ranges = d._class_ranges()
    for s, row in enumerate(d._T.tolist()):
        for k, t in enumerate(row):
            if t < 0:
                continue
            for lo, hi in ranges[k]:
                if lo < 256:
                    nfa.add_range(base + s, lo, min(hi, 255), base + t)
                if hi >= 256:
                    nfa.add_eps(base + s, base + t)
    for s in np.flatnonzero(d.accept).tolist():
        nfa.add_eps(base + s, end)
    return nfa.to_dfa(base, end, budget)


class _Compiler:
    """Lowers the AST for one (encoding, dialect) to DFAs, resolving assertions."""

    def __init__(self, pattern: str, encoding: str, dialect: str, budget: int, unicode_word: bool):
        self.pattern = pattern
        self.enc = encoding
        self.dialect = dialect
        self.budget = budget
        self.unicode_word = unicode_word  # \b uses Python's Unicode \w (else [A-Za-z0-9_])
        self.newline = NEWLINE if dialect == "python" else ECMA_LINE_TERMINATORS

    def err(self, msg: str, pos: int | None):
        raise RegexError(msg, self.pattern, pos)

    # -- analysis

    def collect(self, node, kinds: dict, looks: dict) -> None:
        """Gather assertion kinds (first position) and lookaround nodes, outside lookarounds."""
        stack = [node]
        while stack:
            x = stack.pop()
            if isinstance(x, (Seq, Alt)):
                stack.extend(x.items)
            elif isinstance(x, Repeat):
                stack.append(x.item)
            elif isinstance(x, Assert):
                kinds.setdefault(x.kind, x.pos)
            elif isinstance(x, Look):
                looks.setdefault(x, None)
                kinds.setdefault("lookbehind" if x.behind else "lookahead", x.pos)

    # -- NFA emission

    def emit(self, nfa: NFA, node, ctx: dict) -> tuple[int, int]:
        if isinstance(node, Chars):
            s = nfa.add_state()
            e = nfa.add_state()
            if self.enc == "utf8" and (not node.ranges or node.ranges[-1][1] < 0x80):
                for lo, hi in node.ranges:
                    nfa.add_range(s, lo, hi, e)
                return s, e
            a, b = nfa.add_dfa(charset_dfa(node.ranges, self.enc))
            nfa.add_eps(s, a)
            nfa.add_eps(b, e)
            return s, e
        if isinstance(node, Seq):
            s = cur = nfa.add_state()
            for item in node.items:
                a, b = self.emit(nfa, item, ctx)
                nfa.add_eps(cur, a)
                cur = b
            return s, cur
        if isinstance(node, Alt):
            s = nfa.add_state()
            e = nfa.add_state()
            for item in node.items:
                a, b = self.emit(nfa, item, ctx)
                nfa.add_eps(s, a)
                nfa.add_eps(b, e)
            return s, e
        if isinstance(node, Repeat):
            return self.emit_repeat(nfa, node, ctx)
        if isinstance(node, (Assert, Look)):
            s = nfa.add_state()
            e = nfa.add_state()
            m = ctx["markers"][node.kind if isinstance(node, Assert) else node]
            nfa.add_range(s, m, m, e)
            return s, e
        if isinstance(node, _AnyStar):
            return nfa.add_dfa(_sigma_star(self.enc))
        raise TypeError(f"unknown regex node {node!r}")  # pragma: no cover

    def emit_repeat(self, nfa: NFA, node: Repeat, ctx: dict) -> tuple[int, int]:
        mn, mx = node.min, node.max
        if mx == 0:
            s = nfa.add_state()
            return s, s
        if (mn, mx) in ((0, 1), (0, None), (1, None), (1, 1)):
            a, b = self.emit(nfa, node.item, ctx)
            if mx == 1 and mn == 1:
                return a, b
            s = nfa.add_state()
            e = nfa.add_state()
            nfa.add_eps(s, a)
            nfa.add_eps(b, e)
            if mn == 0:
                nfa.add_eps(s, e)
            if mx is None:
                nfa.add_eps(b, a)
            return s, e
        # counted repetition: built at the DFA level (a direct chain when the body is
        # prefix-free), then embedded once
        return nfa.add_dfa(self.dfa_of(node, ctx))

    def dfa_of(self, node, ctx: dict) -> ByteDFA:
        """Canonical DFA (over ``ctx`` symbols, markers kept) of one node, cached per build."""
        cache = ctx["cache"]
        d = cache.get(node)
        if d is None:
            if isinstance(node, Chars):
                d = charset_dfa(node.ranges, self.enc)
            elif isinstance(node, _AnyStar):
                d = _sigma_star(self.enc)
            elif isinstance(node, Repeat) and not (node.min <= 1 and node.max in (1, None)):
                d = self.dfa_of(node.item, ctx).repeat(node.min, node.max, self.budget)
            elif isinstance(node, Seq) and any(self.is_big(item, ctx) for item in node.items):
                d = self.seq_dfa(node, ctx)
            else:
                d = self.nfa_dfa(node, ctx)
            cache[node] = d
        return d

    def nfa_dfa(self, node, ctx: dict) -> ByteDFA:
        sub = NFA(ctx["n_symbols"], self.budget)
        s, e = self.emit(sub, node, ctx)
        return sub.to_dfa(s, e, self.budget)

    def is_big(self, node, ctx: dict) -> bool:
        """A counted repetition whose DFA is large: concatenate it at the DFA level."""
        if not isinstance(node, Repeat) or (node.min <= 1 and node.max in (1, None)):
            return False
        return self.dfa_of(node, ctx).num_states > _BIG_PART

    def seq_dfa(self, node: Seq, ctx: dict) -> ByteDFA:
        """Concatenation with big parts glued DFA-to-DFA instead of re-expanded into an NFA."""
        parts: list[ByteDFA] = []
        pending: list = []
        for item in node.items:
            if self.is_big(item, ctx):
                if pending:
                    parts.append(self.nfa_dfa(Seq(tuple(pending)), ctx))
                    pending = []
                parts.append(self.dfa_of(item, ctx))
            else:
                pending.append(item)
        if pending:
            parts.append(self.nfa_dfa(Seq(tuple(pending)), ctx))
        return ByteDFA.concat_all(parts, self.budget)

    # -- languages

    def build(self, node, allowed: frozenset = _ALL_OK, where: str = "") -> ByteDFA:
        """Marker-free byte DFA of ``node`` matched against the whole text."""
        kinds: dict[str, int] = {}
        looks: dict[Look, None] = {}
        self.collect(node, kinds, looks)
        for kind, pos in kinds.items():
            if kind not in allowed:
                self.err(f"{_KIND_TEXT[kind]} is not supported {where}", pos)
        if not kinds:
            return self.dfa_of(node, {"markers": {}, "cache": {}, "n_symbols": 256})
        markers: dict = {}
        for kind in kinds:
            if kind not in ("lookahead", "lookbehind"):
                markers[kind] = 256 + len(markers)
        for look in looks:
            markers[look] = 256 + len(markers)
        n_symbols = 256 + len(markers)
        ctx = {"markers": markers, "cache": {}, "n_symbols": n_symbols}
        nfa = NFA(n_symbols, self.budget)
        s, e = self.emit(nfa, node, ctx)
        d = nfa.to_dfa(s, e, self.budget)
        for kind in kinds:
            if kind in ("lookahead", "lookbehind") or d.is_empty():
                continue
            d = d.intersect(self.context_dfa(kind, markers, n_symbols), self.budget)
        for look in looks:
            if d.is_empty():
                break
            d = self.apply_look(d, look, markers[look], n_symbols)
        return _erase_markers(d, self.budget)

    def char_automaton(self, n_states, partition, delta, marks, accepting, handled, n_symbols) -> ByteDFA:
        """Byte+marker DFA of a deterministic automaton over character classes.

        ``partition``: disjoint code-point sets (class ``c`` = ``partition[c]``);
        ``delta[(s, c)]``: successor on a character of class ``c``; ``marks[(s, m)]``:
        successor on marker ``m``. Markers not in ``handled`` loop on every state.
        Composed directly with a *classifier* DFA that reads one encoded character and
        reports its class, so no subset construction is needed.
        """
        K, label, inner = _classifier(partition, self.enc)
        KT, Kc = K._T.astype(np.int64), K._cmap
        byte_cls = np.unique(Kc[:256])
        B, ni = byte_cls.size, len(inner)
        local = np.full(K.num_states + 1, -1, dtype=np.int64)
        local[inner] = np.arange(ni)
        KB = KT[inner][:, byte_cls]  # [ni, B] successor K-states of incomplete states
        lab = np.where(KB >= 0, label[KB], -1)
        n_mark = n_symbols - 256
        T = np.full((n_states * ni, B + n_mark), -1, dtype=np.int64)
        for st in range(n_states):
            nxt = np.array([delta.get((st, c), -1) for c in range(len(partition))] + [-1], dtype=np.int64)
            block = np.where(KB >= 0, st * ni + local[KB], -1)  # stay inside the character
            done = nxt[lab] if len(partition) else np.full_like(lab, -1)
            block = np.where(lab >= 0, np.where(done >= 0, done * ni, -1), block)
            T[st * ni : (st + 1) * ni, :B] = block
            for m in range(256, n_symbols):  # markers only between characters (K state 0)
                t = marks.get((st, m), -1) if m in handled else st
                T[st * ni, B + m - 256] = t * ni if t >= 0 else -1
        acc = np.zeros(n_states * ni, dtype=bool)
        acc[np.array(sorted(accepting), dtype=np.int64) * ni] = True
        cmap = np.concatenate([np.searchsorted(byte_cls, Kc[:256]), B + np.arange(n_mark)])
        return _finalize(T, acc, cmap)

    def context_dfa(self, kind: str, markers: dict, n_symbols: int) -> ByteDFA:
        """Where the marker of an anchor / word-boundary assertion may occur."""
        m = markers[kind]
        h = {m}
        if kind == "start":  # only before the first character
            return self.char_automaton(2, (ALL,), {(0, 0): 1, (1, 0): 1}, {(0, m): 0}, [0, 1], h, n_symbols)
        if kind == "end":  # only after the last character
            return self.char_automaton(2, (ALL,), {(0, 0): 0}, {(0, m): 1, (1, m): 1}, [0, 1], h, n_symbols)
        if kind in ("pyend", "mstart", "mend"):
            nl = NEWLINE if kind == "pyend" else self.newline
            part = (nl, _negate(nl))  # class 0: newline, 1: other
            if kind == "pyend":  # at the end, or before a final newline
                delta = {(0, 0): 0, (0, 1): 0, (1, 0): 2}
                marks = {(0, m): 1, (1, m): 1, (2, m): 2}
                return self.char_automaton(3, part, delta, marks, [0, 1, 2], h, n_symbols)
            if kind == "mstart":  # at the start or after a newline
                delta = {(0, 0): 0, (0, 1): 1, (1, 0): 0, (1, 1): 1}
                return self.char_automaton(2, part, delta, {(0, m): 0}, [0, 1], h, n_symbols)
            delta = {(0, 0): 0, (0, 1): 0, (1, 0): 0}  # mend: at the end or before a newline
            return self.char_automaton(2, part, delta, {(0, m): 1, (1, m): 1}, [0, 1], h, n_symbols)
        if kind in ("wordb", "nwordb"):
            # state = prev (0 non-word/start, 1 word) * 3 + pending (0 none, 1 need a word
            # character next, 2 need a non-word character or the end); class 0 word, 1 other
            delta, marks = {}, {}
            for prev in (0, 1):
                for pend in (0, 1, 2):
                    st = prev * 3 + pend
                    if pend != 2:
                        delta[(st, 0)] = 3
                    if pend != 1:
                        delta[(st, 1)] = 0
                    need = (2 if prev else 1) if kind == "wordb" else (1 if prev else 2)
                    if pend in (0, need):
                        marks[(st, m)] = prev * 3 + need
            word = _python_class("w") if self.unicode_word else ASCII_WORD
            part = (word, _negate(word))
            return self.char_automaton(6, part, delta, marks, [0, 2, 3, 5], h, n_symbols)
        raise AssertionError(kind)  # pragma: no cover

    def apply_look(self, d: ByteDFA, look: Look, m: int, n_symbols: int) -> ByteDFA:
        """Remove from ``d`` the strings where marker ``m`` sits at a failing lookaround.

        Lookahead: ``Bad = P · m · h⁻¹(Y)`` where ``P`` = the prefixes of ``d`` that are
        followed by ``m`` and ``Y`` = the suffixes violating the lookahead (not in
        ``L(X)·Σ*`` for a positive one, in it for a negative one). Lookbehind mirrors it with
        the suffixes of ``d`` after ``m``. Restricting to ``d``'s own prefixes/suffixes keeps
        the subset construction small (e.g. ``P = {ε}`` for a lookahead at the start).
        """
        sigma = _sigma_star(self.enc)
        if look.behind:
            body = self.build(Seq((ANY_STAR, look.body)), _BEHIND_OK, "inside a lookbehind")
        else:
            body = self.build(Seq((look.body, ANY_STAR)), _AHEAD_OK, "inside a lookahead")
        y = body if look.negative else sigma.difference(body, self.budget)
        if y.is_empty():
            return d
        y = _with_marker_loops(y, n_symbols)
        col = d._cmap[m]
        has_m = d._T[:, col] >= 0
        nfa = NFA(n_symbols, self.budget)
        if not look.behind:
            p = _finalize(d._T, has_m, d._cmap)  # prefixes followed by m
            ps, pe = nfa.add_dfa(p)
            ys, ye = nfa.add_dfa(y)
            nfa.add_range(pe, m, m, ys)
            bad = nfa.to_dfa(ps, ye, self.budget)
        else:
            ys, ye = nfa.add_dfa(y)
            mid = nfa.add_state()
            nfa.add_range(ye, m, m, mid)
            # suffixes of d after an m transition
            S = d.num_states
            base = nfa._grow(S + 1)
            end = base + S
            ranges = d._class_ranges()
            for s, row in enumerate(d._T.tolist()):
                for k, t in enumerate(row):
                    if t >= 0:
                        for lo, hi in ranges[k]:
                            nfa.add_range(base + s, lo, hi, base + t)
            for t in np.unique(d._T[has_m, col]).tolist():
                nfa.add_eps(mid, base + t)
            for s in np.flatnonzero(d.accept).tolist():
                nfa.add_eps(base + s, end)
            bad = nfa.to_dfa(ys, end, self.budget)
        return d.difference(bad, self.budget)


def _strip_anchors(branch, py: bool):
    """Split leading ``^``/``\\A`` and trailing ``$``/``\\Z`` off a top-level branch.

    Returns (items, anchored_start, end_kind) with end_kind None, "end" or "pyend".
    """
    items = list(branch.items) if isinstance(branch, Seq) else [branch]
    start = False
    while items and isinstance(items[0], Assert) and items[0].kind == "start":
        items.pop(0)
        start = True
    end = None
    while items and isinstance(items[-1], Assert) and items[-1].kind in ("end", "pyend"):
        k = items.pop().kind
        end = "end" if (k == "end" or end == "end") else "pyend"
    return items, start, end


@register_lru
@functools.lru_cache(maxsize=1024)
def _compile(pattern: str, encoding: str, search: bool, dialect: str, budget: int) -> ByteDFA:
    ast, parser = parse_regex(pattern, dialect)
    py = dialect == "python"
    comp = _Compiler(pattern, encoding, dialect, budget, unicode_word=py and not parser.flags["a"])
    branches = ast.items if isinstance(ast, Alt) else (ast,)
    # Branches without assertions are grouped by anchoring so each group gets ONE Σ* prefix
    # and suffix: with a Σ* copy per branch, subsets would record which branches have
    # matched so far (2^branches states for an unanchored alternation of words).
    plain: dict[tuple[bool, str | None], list] = {}
    dfas: list[ByteDFA] = []
    for br in branches:
        items, a_start, a_end = _strip_anchors(br, py)
        pad = search and not a_start
        suffix: list = []
        if search and a_end is None:
            suffix = [ANY_STAR]
        elif search and a_end == "pyend":
            suffix = [Repeat(Chars(NEWLINE), 0, 1)]
        kinds: dict[str, int] = {}
        comp.collect(Seq(tuple(items)), kinds, {})
        if not kinds:
            plain.setdefault((pad, a_end if search else None), []).append(
                items[0] if len(items) == 1 else Seq(tuple(items))
            )
        elif pad and set(kinds) <= _FORWARD:
            # forward-looking assertions only see the suffix: resolve them on the anchored
            # branch, then pad. Resolving under a Σ* prefix would make the marker DFA track
            # every start position at once (exponential in the worst case).
            core = comp.build(Seq(tuple(items + suffix)))
            dfas.append(_sigma_star(encoding).concat(core, budget))
        else:
            dfas.append(comp.build(Seq(tuple([ANY_STAR] * pad + items + suffix))))
    for (pad, end), cores in plain.items():
        core = cores[0] if len(cores) == 1 else Alt(tuple(cores))
        suffix = []
        if search and end is None:
            suffix = [ANY_STAR]
        elif search and end == "pyend":
            suffix = [Repeat(Chars(NEWLINE), 0, 1)]
        items = [ANY_STAR] * pad + [core] + suffix
        dfas.append(comp.build(items[0] if len(items) == 1 else Seq(tuple(items))))
    if len(dfas) == 1:
        return dfas[0]
    return ByteDFA.union_all(dfas, budget)


def regex_to_dfa(
    pattern: str,
    *,
    encoding: str = "utf8",
    search: bool = False,
    dialect: str = "ecma",
    budget: int = DEFAULT_BUDGET,
) -> ByteDFA:
    """Compile ``pattern`` to a canonical :class:`ByteDFA` over encoded text.

    ``search=False``: the whole text must match (``re.fullmatch``). ``search=True``: JSON
    Schema ``pattern`` semantics (``re.search``): the match may be anywhere, except that a
    top-level branch starting with ``^`` is anchored at the start and one ending with ``$``
    at the end. ``dialect`` picks ECMA-262 (``\\d`` = ``[0-9]``, ``$`` = very end, ``.``
    excludes all line terminators) or Python ``re`` (Unicode classes, ``$`` also before a
    final newline). Results are cached. Raises :class:`RegexError` (with the position) on
    bad syntax and non-regular features, :class:`CompileBudgetError` past ``budget`` states.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, not {encoding!r}")
    if dialect not in DIALECTS:
        raise OptionError(f"dialect must be one of {DIALECTS}, not {dialect!r}")
    return _compile(pattern, encoding, bool(search), dialect, int(budget))
