"""Character sets: code-point intervals, Unicode classes, and their lowering to byte DFAs.

A set is a tuple of disjoint, sorted, non-adjacent inclusive code-point intervals, so
Unicode classes stay small. :func:`charset_dfa` lowers one set, once, to a minimized byte
DFA for an encoding: ``utf8`` by UTF-8 range splitting; ``json`` / ``json-canonical`` add
the escapes of a JSON string (hex digits from an exact base-16 range split). See
:mod:`constrain.frontends.regex` for what each encoding means.
"""

from __future__ import annotations

import functools
import unicodedata

import numpy as np

from ...automata import DEFAULT_BUDGET, NFA, ByteDFA
from ...cache import register_lru

__all__ = ["ALL", "ASCII_DIGIT", "ASCII_SPACE", "ASCII_WORD", "ECMA_LINE_TERMINATORS", "ECMA_SPACE", "ENCODINGS", "MAX_CP",
           "NEWLINE", "Ranges", "any_char_dfa", "ascii_casefold", "casefold", "category_ranges", "charset_dfa", "classifier",
           "complement", "encoded_sequences", "gc_lookup",
           "intersect", "loose_name", "mask_to_ranges", "normalize", "python_class", "sigma_star", "single"]

MAX_CP = 0x10FFFF
ENCODINGS = ("utf8", "json", "json-canonical")

# --------------------------------------------------------------------------- code-point sets
# A set is a tuple of disjoint, sorted, non-adjacent inclusive intervals (lo, hi).

Ranges = tuple


def normalize(intervals) -> Ranges:
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


def complement(s: Ranges) -> Ranges:
    out = []
    prev = 0
    for a, b in s:
        if a > prev:
            out.append((prev, a - 1))
        prev = b + 1
    if prev <= MAX_CP:
        out.append((prev, MAX_CP))
    return tuple(out)


def intersect(a: Ranges, b: Ranges) -> Ranges:
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


def single(cp: int) -> Ranges:
    return ((cp, cp),)


ALL: Ranges = ((0, MAX_CP),)
SURROGATES: Ranges = ((0xD800, 0xDFFF),)
NEWLINE: Ranges = single(0x0A)
ECMA_LINE_TERMINATORS: Ranges = normalize([(0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029)])
ASCII_DIGIT: Ranges = ((0x30, 0x39),)
ASCII_WORD: Ranges = normalize([(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)])
ASCII_SPACE: Ranges = normalize([(0x09, 0x0D), (0x20, 0x20)])
ECMA_SPACE: Ranges = normalize(
    [(0x09, 0x0D), (0x20, 0x20), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A), (0x2028, 0x2029),
     (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000), (0xFEFF, 0xFEFF)]
)


def mask_to_ranges(mask: np.ndarray, offset: int = 0) -> Ranges:
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


def loose_name(name: str) -> str:
    """UAX44-LM3 loose matching: ignore case, spaces, underscores and hyphens."""
    return name.replace("_", "").replace(" ", "").replace("-", "").lower()


@functools.lru_cache(maxsize=None)
def gc_lookup() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for short, long in _GC_NAMES.items():
        table[loose_name(short)] = table[loose_name(long)] = (short,)
    for short, (long, members) in _GC_GROUPS.items():
        table[loose_name(short)] = table[loose_name(long)] = members
    for alias, target in _GC_ALIASES.items():
        table[loose_name(alias)] = table[loose_name(target)]
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
def category_ranges(cats: tuple[str, ...]) -> Ranges:
    arr, idx = _category_array()
    return mask_to_ranges(np.isin(arr, [idx[c] for c in cats]))


@functools.lru_cache(maxsize=None)
def python_class(kind: str) -> Ranges:
    """Python's Unicode ``\\d`` ``\\w`` ``\\s`` (str.isdecimal / isalnum+_ / isspace)."""
    if kind == "d":
        return category_ranges(("Nd",))
    test = (lambda ch: ch.isalnum() or ch == "_") if kind == "w" else str.isspace
    mask = np.fromiter((test(chr(c)) for c in range(MAX_CP + 1)), dtype=bool, count=MAX_CP + 1)
    return mask_to_ranges(mask)


@functools.lru_cache(maxsize=None)
def _fold_table(python: bool = False) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Case-insensitive orbits.

    ECMA (``python=False``): code points linked by single-char ``lower()``/``upper()``.
    Python (``python=True``), as ``re`` reads the ``i`` flag: two code points match
    each other when their simple lowercase mappings (one code point each: ``İ`` -> ``i``, not
    ``str.lower``'s two) are equal, or are joined by ``re``'s extra cases (``s``/``ſ``,
    ``i``/``ı``, ``ΐ``/``ΐ``, ...).

    Returns the sorted code points that have case variants and, for each, its orbit.
    """
    import _sre
    try:
        from re._casefix import _EXTRA_CASES  # CPython's table of the extra equivalences
    except ImportError:  # pragma: no cover - other Pythons
        _EXTRA_CASES = {}
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(x: int, y: int) -> None:
        a, b = find(x), find(y)
        if a != b:
            parent[a] = b

    for c in range(0x20000):
        if python:
            lo = _sre.unicode_tolower(c)
            if lo != c:
                union(c, lo)
            for e in _EXTRA_CASES.get(lo, ()):
                union(lo, e)
        else:
            ch = chr(c)
            for v in (ch.lower(), ch.upper()):
                if len(v) == 1 and ord(v) != c:
                    union(c, ord(v))
    orbits: dict[int, list[int]] = {}
    for c in list(parent):
        orbits.setdefault(find(c), []).append(c)
    orbit_of = {}
    for members in orbits.values():
        if len(members) > 1:
            t = tuple(sorted(members))
            for m in members:
                orbit_of[m] = t
    cps = sorted(orbit_of)
    return np.array(cps, dtype=np.int64), [orbit_of[c] for c in cps]


def ascii_casefold(s: Ranges) -> Ranges:
    """Close a set under ASCII case folding only (the ``i`` flag with ``a``)."""
    extra = []
    for lo, hi in s:
        for a, z, shift in ((0x41, 0x5A, 0x20), (0x61, 0x7A, -0x20)):
            x, y = max(lo, a), min(hi, z)
            if x <= y:
                extra.append((x + shift, y + shift))
    return normalize(list(s) + extra) if extra else s


def casefold(s: Ranges, python: bool = False) -> Ranges:
    """Close a set under case folding (for the ``i`` flag; ``python``: ``re``'s reading)."""
    cps, orbits = _fold_table(python)
    extra = []
    for lo, hi in s:
        a = int(np.searchsorted(cps, lo, side="left"))
        b = int(np.searchsorted(cps, hi, side="right"))
        for k in range(a, b):
            extra.extend((m, m) for m in orbits[k])
    return normalize(list(s) + extra) if extra else s


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
_JSON_LITERAL: Ranges = normalize([(0x20, 0x21), (0x23, 0x5B), (0x5D, 0xD7FF), (0xE000, MAX_CP)])


def encoded_sequences(s: Ranges, encoding: str):
    """Byte-set sequences (each element a tuple of byte ranges) spelling the set ``s``."""
    seqs = []
    lit = s if encoding == "utf8" else intersect(s, _JSON_LITERAL)
    for lo, hi in lit:
        for seq in _utf8_sequences(lo, hi):
            seqs.append([((a, b),) for a, b in seq])
    if encoding == "utf8":
        return seqs
    if encoding == "json-canonical":
        # one spelling per character: the literal one where JSON allows it, else the
        # conventional escape (a short one, or \u00xx in lowercase hex below 0x20)
        for cp, letter in _JSON_SHORT.items():
            if cp != 0x2F and intersect(s, single(cp)):
                seqs.append([_BS, ((letter, letter),)])
        for lo, hi in intersect(s, ((0, 0x1F),)):
            for cp in range(lo, hi + 1):
                if cp not in _JSON_SHORT:
                    seqs.append([_BS, _U] + [((b, b),) for b in b"%04x" % cp])
        return seqs
    for cp, letter in _JSON_SHORT.items():
        if intersect(s, single(cp)):
            seqs.append([_BS, ((letter, letter),)])
    for lo, hi in intersect(s, ((0, 0xD7FF), (0xE000, 0xFFFF))):
        for h in _hex4(lo, hi):
            seqs.append([_BS, _U] + h)
    for lo, hi in intersect(s, ((0x10000, MAX_CP),)):
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
    seqs = encoded_sequences(normalize(ranges), encoding)
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
def classifier(partition: tuple, encoding: str):
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
        label[:-1][K.table[:, K.classes[256 + c]] >= 0] = c
    inner = [q for q in range(K.num_states) if label[q] < 0 and not K.accept[q]]
    return K, label, inner


@register_lru
@functools.lru_cache(maxsize=len(ENCODINGS))
def sigma_star(encoding: str) -> ByteDFA:
    return any_char_dfa(encoding).star()
