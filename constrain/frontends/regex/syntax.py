"""Regex syntax (ECMA-262 and Python dialects): the parser and its character-level AST.

:class:`Chars` nodes hold code-point sets (:mod:`.charsets`); assertions and lookarounds are
nodes of their own, compiled exactly by :mod:`.compile`. :func:`parse_regex` raises
:class:`RegexError` with the position for what is not regular or not supported.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from ...errors import OptionError, RegexError
from .charsets import (ASCII_DIGIT, ASCII_SPACE, ASCII_WORD, ECMA_LINE_TERMINATORS, ECMA_SPACE, MAX_CP, NEWLINE, ALL,
                       Ranges, ascii_casefold, casefold, category_ranges, gc_lookup, loose_name, complement, normalize, python_class, single)

__all__ = ["ANY_STAR", "Alt", "AnyStar", "Assert", "Chars", "DIALECTS", "Look", "Repeat", "Seq", "parse_regex"]

DIALECTS = ("ecma", "python")

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
    """Zero-width assertion: start, end, pyend (Python ``$``), mstart, mend, wordb, nwordb
    (awordb, anwordb: over ASCII ``\\w``, the ECMA dialect's and Python's under ``a``)."""

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
class AnyStar:
    """Σ* over the encoding (search-mode padding, lookaround tails)."""


ANY_STAR = AnyStar()


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
            return Chars(complement(NEWLINE if self.py else ECMA_LINE_TERMINATORS))
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
                return Chars(self.fold_set(single(r)))
            return r if not isinstance(r, tuple) else Chars(r)
        if c in _SYNTAX_QUANT or (c == "{" and self.parse_braces(self.i) is not None):
            self.error("nothing to repeat")
        self.i += 1
        return Chars(self.fold_set(single(ord(c))))

    def unicode_word(self) -> bool:
        """Whether ``\\b``/``\\B`` here read Python's Unicode ``\\w`` (else ``[A-Za-z0-9_]``): the
        flags in force where they stand, so a scoped ``(?a:...)`` counts."""
        return self.py and not self.flags["a"]

    def fold_set(self, s: Ranges) -> Ranges:
        if not self.flags["i"]:
            return s
        if self.py and self.flags["a"]:
            return ascii_casefold(s)  # re.ASCII | re.IGNORECASE folds ASCII letters only
        return casefold(s, python=self.py)

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
        s = normalize(list(self.fold_set(normalize(parts))) + shorthand)
        return complement(s) if negate else s

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
            return complement(base) if c.isupper() else base
        if c in "pP":
            s = self.parse_property(pos)
            return complement(s) if c == "P" else s
        if c == "b":
            return 0x08 if in_class else Assert("wordb" if self.unicode_word() else "awordb", pos)
        if c == "B":
            if in_class:
                self.error("bad escape \\B in a character class", pos)
            return Assert("nwordb" if self.unicode_word() else "anwordb", pos)
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
            return python_class(c)
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
            if loose_name(name) not in ("gc", "generalcategory"):
                self.error(f"unsupported Unicode property {spec!r} (only general categories)", pos)
            spec = value
        key = loose_name(spec)
        if key == "any":
            return ALL
        if key == "ascii":
            return ((0, 0x7F),)
        if key == "assigned":
            return complement(category_ranges(("Cn",)))
        cats = gc_lookup().get(key)
        if cats is None:
            self.error(f"unsupported Unicode property {spec!r}", pos)
        return category_ranges(cats)


def parse_regex(pattern: str, dialect: str = "ecma"):
    """Parse ``pattern`` to the character-level AST (raises :class:`RegexError`)."""
    if dialect not in DIALECTS:
        raise OptionError(f"dialect must be one of {DIALECTS}, not {dialect!r}")
    parser = _Parser(pattern, dialect)
    return parser.parse(), parser
