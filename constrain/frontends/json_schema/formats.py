"""Regexes for JSON Schema / OpenAPI string ``format`` values.

Each regex describes the *decoded string value* (characters, not the JSON
encoding) and is written in the plain dialect shared with
:mod:`constrain.frontends.regex`: literals, ``[...]`` classes, ``(?:...)``, ``|``,
``* + ? {n} {n,} {n,m}``; implicitly full-match (no ``^``/``$``), no
lookarounds, no backreferences, no ``\\d``/``\\w``, no capture groups.
Non-ASCII characters appear literally in the pattern (never as ``\\u``/``\\U``
escapes, whose astral spelling differs between dialects); ASCII control
characters appear as ``\\xNN``.  Surrogates (U+D800-U+DFFF) are never matched.

``format_regex(name)`` returns the regex or ``None`` for a format it does not
know (the caller warns and ignores it: ``format`` is an annotation).  The
OpenAPI numeric formats (int32, int64, float, double, ...) are not string
formats: ``format_regex`` returns ``None`` for them, see
``constrain.frontends.json_schema.numeric.INTEGER_FORMAT_BOUNDS``.

Exact vs documented narrowings (N: the regex accepts a subset of the valid
strings -- safe for generation; O: it accepts a superset):

* date, date-time: exact, including the days of each month and February 29 in
  leap years only (a 4-digit year makes the Gregorian leap rule finite), except
  year 0000 (N: RFC 3339 allows it, Python's ``datetime`` and so jsonschema's
  format checker do not).
* time, date-time: exact except leap seconds.  RFC 3339 allows ``:60`` only at
  23:59 UTC, i.e. at the local time ``23:59 + offset``; checking that for all
  2880 offsets needs ~10^4 DFA states, so by default (``leap_seconds="utc"``)
  ``:60`` is accepted only as ``23:59:60`` with ``Z``/``z``/``+00:00``/``-00:00``
  (N).  ``leap_seconds="exact"`` gives the exact (large) regex,
  ``leap_seconds="none"`` rejects every ``:60`` (N).  ``T``/``Z`` are
  case-insensitive as RFC 3339 section 5.6 allows; no space instead of ``T``.
* duration: RFC 3339 appendix A, exact, upper-case designators only (N: ABNF
  literals are case-insensitive, ``p1d`` is left out).
* hostname: RFC 1123 labels of 1-63 letters/digits/hyphens, not starting or
  ending with a hyphen, at most 253 characters in all (exact; the total is in
  ``FORMAT_MAX_LENGTH``, enforced by the compiler's character counter: in the
  regex it would multiply the DFA size by ~250).  Reserved LDH labels (``--`` in
  positions 3-4, such as ``co--m``) are host names, but A-labels (``xn--...`` in any
  case) are rejected (N): whether the Punycode decodes to a valid IDNA2008 label
  (code points, contextual rules, Bidi rule, canonical re-encoding) is a finite but
  not a practically regular property (the decoder's state is the decoded text so
  far, with insertions at computed positions and an adaptive bias), and accepting
  every syntactically valid one would accept the Test Suite's invalid ones
  (``xn--hello-txk``, ``xn--07jt112bpxg``).  ``format_regex("hostname")`` is the
  narrower single regex without reserved LDH labels (email domains use it).
  ``format_parts(..., a_labels=True)`` (``lenient=True`` compiles): A-labels by their
  syntax only (``xn--`` + LDH, not checked to decode), in hostname and in the
  ASCII names of idn-hostname: a documented superset, opt-in.
* idn-hostname: ASCII labels as for hostname; labels with non-ASCII
  characters are built from IDNA2008 PVALID code points (tables of the
  ``idna`` package, embedded below) excluding right-to-left characters (bidi
  classes R, AL, AN: those make Bidi domain names, below), with the CONTEXTO /
  CONTEXTJ characters only in simple safe contexts (``l\u00b7l``, U+0375 before a
  Greek letter, U+30FB next to Hiragana/Katakana/Han, ZWJ/ZWNJ after a virama)
  (N), lower-case ASCII only, no ``--`` and no combining mark first or after a
  hyphen (N).  Right-to-left labels (Bidi domain names): exact, see ``_idn_bidi_name``
  (RFC 5893 over the whole name, CONTEXTO/CONTEXTJ rules; no ``--`` in them, marks
  only from right-to-left blocks and generic diacritics, and ASCII left-to-right labels
  only in such names (N)).  Separators: ``.`` U+3002 U+FF0E U+FF61.  Lengths (``FORMAT_UNIONS``):
  names of ASCII labels are exact (63 per label, 253 in all, as hostname); a name
  with a non-ASCII label has at most ``IDN_SHORT_NAME`` = 8 characters (N): then
  every A-label has at most 62 octets whatever the code points (Punycode digits
  per delta <= 2 + log10(delta), deltas summing to at most 0x3134A * 9), while the
  exact A-label length is not regular to count.  Not checked (O): NFC normalisation.
* email: RFC 5321 mailbox: dot-atom or quoted-string local part, domain of
  hostname labels (as above) or ``[IPv4]`` / ``[IPv6:...]`` address literal.
  General address literals (``[tag:...]``) and length limits (64/255 octets)
  are not covered (N resp. O).  No comments, no folding white space.
* idn-email: RFC 6531: as email with any non-ASCII character allowed in atoms
  and quoted strings and an idn-hostname domain.
* ipv4: exact (dotted quad, 0-255, no leading zeros).  ipv6: exact RFC 4291 /
  RFC 3986 text forms, all ``::`` compressions, embedded dotted IPv4, no zone
  id, no brackets, no prefix length.
* uri, uri-reference: exact RFC 3986 (percent-encoding, IP literals, IPvFuture,
  empty authority/port allowed, as in the ABNF).  iri, iri-reference: exact
  RFC 3987 (ucschar everywhere RFC 3987 allows it, iprivate in the query).
* uri-template: RFC 6570 level 4, exact except that the apostrophe is allowed
  in literals (as the JSON Schema Test Suite expects).
* uuid: exact 8-4-4-4-12 hex digits, either case, any version/variant.
* json-pointer, relative-json-pointer: exact (RFC 6901, draft-handrews
  relative JSON pointer, with ``#`` form).
* regex: ECMA-262 patterns valid in unicode mode (``new RegExp(s, "u")``), a regular
  subset (N): groups nested at most ``REGEX_GROUP_DEPTH`` (2) deep, at most one named group
  (the first term of the pattern, ASCII name), no backreferences (``\\1``, ``\\k<name>``), no ``\\0``, no
  ``\\p{...}``; class ranges only between ASCII letters/digits in order, ``-`` only first or
  last in a class; ``{n,m}`` only where ``n <= m`` is plain (single digits, or ``m`` with
  more digits).  Balanced parentheses, ``n <= m`` and group-name uniqueness are not regular;
  within the subset every check is exact.  password, binary: any string (exact).
* byte: canonical base64 (RFC 4648 section 4, padded, pad bits zero) (N:
  non-canonical pad bits that lenient decoders accept are left out).  OpenAPI's
  format, not JSON Schema's: the compiler asserts it only with
  ``openapi_formats=True`` (``OPENAPI_FORMATS``; generation's default), else it is an
  unknown format (a warning, no check), as a JSON Schema validator reads it.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["A_LABEL_FORMATS", "EXACT_FORMATS", "format_superset_parts", "FORMAT_MAX_LENGTH", "FORMAT_REGEXES", "NUMERIC_FORMATS", "OPENAPI_FORMATS", "FORMAT_UNIONS", "capped", "format_matches", "format_parts", "format_regex", "regexes", "time_regex", "date_time_regex"]

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

_META = set("\\.^$*+?()[]{}|/")
_CLASS_META = set("\\]^-[")


def _char(c: str) -> str:
    cp = ord(c)
    if cp < 0x20 or cp == 0x7F:
        return "\\x%02x" % cp
    return c


def _class_char(c: str) -> str:
    if c in _CLASS_META:
        return "\\" + c
    return _char(c)


def _ranges(spec) -> list[tuple[int, int]]:
    """Normalise ranges: list of (lo, hi) inclusive code point pairs, or a string of chars."""
    if isinstance(spec, str):
        pairs = [(ord(c), ord(c)) for c in spec]
    else:
        pairs = list(spec)
    pairs.sort()
    out: list[list[int]] = []
    for a, b in pairs:
        if out and a <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _cls(*specs) -> str:
    """A character class from ranges / strings; surrogates are removed."""
    pairs: list[tuple[int, int]] = []
    for s in specs:
        pairs.extend(_ranges(s))
    pairs = _ranges(pairs)
    clean = []
    for a, b in pairs:
        if a <= 0xDFFF and b >= 0xD800:
            if a < 0xD800:
                clean.append((a, 0xD7FF))
            if b > 0xDFFF:
                clean.append((0xE000, b))
        else:
            clean.append((a, b))
    parts = []
    for a, b in clean:
        if a == b:
            parts.append(_class_char(chr(a)))
        elif b == a + 1:
            parts.append(_class_char(chr(a)) + _class_char(chr(b)))
        else:
            parts.append(_class_char(chr(a)) + "-" + _class_char(chr(b)))
    body = "".join(parts)
    if len(clean) == 1 and clean[0][0] == clean[0][1]:
        c = chr(clean[0][0])
        return ("\\" + c) if c in _META else _char(c)
    return "[" + body + "]"


def _g(s: str) -> str:
    return "(?:" + s + ")"


def _alt(*parts: str) -> str:
    return _g("|".join(parts))


def _opt(s: str) -> str:
    return _g(s) + "?"


def _trie(strings) -> str:
    """Compact regex (trie, identical siblings merged into classes) for a finite set of strings."""
    END = None
    root: dict = {}
    for s in strings:
        node = root
        for ch in s:
            node = node.setdefault(ch, {})
        node[END] = True
    memo: dict = {}

    def rx(node) -> str:
        if id(node) in memo:
            return memo[id(node)]
        groups: dict[str, list[str]] = {}
        for ch in sorted(k for k in node if k is not END):
            groups.setdefault(rx(node[ch]), []).append(ch)
        alts = [_cls("".join(chs)) + r for r, chs in groups.items()]
        if not alts:
            res = ""
        elif len(alts) == 1:
            res = alts[0]
        else:
            res = _g("|".join(alts))
        if END in node and alts:
            res = (res if res.startswith("(?:") and res.endswith(")") and len(alts) > 1 else _g(res)) + "?"
        memo[id(node)] = res
        return res

    return rx(root)


# Any character (no surrogates); json-pointer's unescaped; RFC 3987 ucschar / iprivate.
ANY_CHAR = _cls([(0x00, 0x10FFFF)])
ANY_STRING = ANY_CHAR + "*"
_NON_ASCII = [(0x80, 0x10FFFF)]
_UCSCHAR = [(0xA0, 0xD7FF), (0xF900, 0xFDCF), (0xFDF0, 0xFFEF)] + [
    (p << 16, (p << 16) + 0xFFFD) for p in range(1, 14)] + [(0xE1000, 0xEFFFD)]
_IPRIVATE = [(0xE000, 0xF8FF), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD)]

HEXDIG = "[0-9A-Fa-f]"

# ---------------------------------------------------------------------------
# IP addresses
# ---------------------------------------------------------------------------

DEC_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
IPV4 = DEC_OCTET + "(?:\\." + DEC_OCTET + "){3}"


def _ipv6() -> str:
    h16 = HEXDIG + "{1,4}"
    h16c = _g(h16 + ":")
    ls32 = _alt(h16 + ":" + h16, IPV4)

    def pre(n: int) -> str:  # [ *n( h16 ":" ) h16 ]
        if n < 0:
            return ""
        body = (h16c + ("{0,%d}" % n if n > 1 else "?") if n > 0 else "") + h16
        return _opt(body)

    alts = [
        h16c + "{6}" + ls32,
        "::" + h16c + "{5}" + ls32,
        pre(0) + "::" + h16c + "{4}" + ls32,
        pre(1) + "::" + h16c + "{3}" + ls32,
        pre(2) + "::" + h16c + "{2}" + ls32,
        pre(3) + "::" + h16 + ":" + ls32,
        pre(4) + "::" + ls32,
        pre(5) + "::" + h16,
        pre(6) + "::",
    ]
    return _alt(*alts)


IPV6 = _ipv6()

# ---------------------------------------------------------------------------
# dates and times (RFC 3339 section 5.6)
# ---------------------------------------------------------------------------

# years 0001-9999: RFC 3339's 4DIGIT also allows 0000, which Python's datetime (and so
# jsonschema's format checker, the usual referee of generated output) rejects
_YEAR = "(?:[0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})"
_LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_MONTH_DAY = _alt(
    "(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])",
    "(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)",
    "02-(?:0[1-9]|1[0-9]|2[0-8])",
)
FULL_DATE = _alt(_YEAR + "-" + _MONTH_DAY, _LEAP_YEAR + "-02-29")

_HOUR = "(?:[01][0-9]|2[0-3])"
_MINUTE = "[0-5][0-9]"
_SECFRAC = "(?:\\.[0-9]+)?"
_NUMOFFSET = "[+\\-]" + _HOUR + ":" + _MINUTE
TIME_OFFSET = _alt("[Zz]", _NUMOFFSET)


def _two(n: int) -> str:
    return "%02d" % n


@lru_cache(maxsize=None)
def time_regex(leap_seconds: str = "utc") -> str:
    """RFC 3339 full-time.  leap_seconds: "utc" (default), "exact" or "none" (see module doc)."""
    normal = _HOUR + ":" + _MINUTE + ":" + _MINUTE + _SECFRAC + TIME_OFFSET
    if leap_seconds == "none":
        return normal
    if leap_seconds == "utc":
        leap = "23:59:60" + _SECFRAC + "(?:[Zz]|[+\\-]00:00)"
    elif leap_seconds == "exact":
        # :60 is valid iff local time - offset == 23:59 (mod 24 h)
        by_local: dict[str, list[str]] = {}
        for local in range(24 * 60):
            plus = (local + 1) % 1440  # local - plus == 1439
            minus = (1439 - local) % 1440  # local + minus == 1439
            offs = ["+" + _two(plus // 60) + ":" + _two(plus % 60), "-" + _two(minus // 60) + ":" + _two(minus % 60)]
            if local == 1439:
                offs += ["Z", "z"]
            key = _trie(offs)
            by_local.setdefault(key, []).append(_two(local // 60) + ":" + _two(local % 60))
        # group the local times by the offsets they need (each is unique except for Z)
        alts = []
        for offs_rx, locals_ in by_local.items():
            alts.append(_trie(locals_) + ":60" + _SECFRAC + offs_rx)
        leap = _alt(*alts)
    else:
        raise ValueError(f"leap_seconds must be 'utc', 'exact' or 'none', not {leap_seconds!r}")
    return _alt(normal, leap)


@lru_cache(maxsize=None)
def date_time_regex(leap_seconds: str = "utc") -> str:
    """RFC 3339 date-time (``T``/``t`` separator); leap_seconds as for :func:`time_regex`."""
    return FULL_DATE + "[Tt]" + _g(time_regex(leap_seconds))


def _duration() -> str:
    n = "[0-9]+"
    second = n + "S"
    minute = n + "M" + _opt(second)
    hour = n + "H" + _opt(minute)
    dtime = "T" + _alt(hour, minute, second)
    day = n + "D"
    month = n + "M" + _opt(day)
    year = n + "Y" + _opt(month)
    ddate = _alt(day, month, year) + _opt(dtime)
    week = n + "W"
    return "P" + _alt(ddate, dtime, week)


DURATION = _duration()

# ---------------------------------------------------------------------------
# host names and e-mail
# ---------------------------------------------------------------------------

_AN = "[A-Za-z0-9]"
_LDH = "[A-Za-z0-9\\-]"
# 1-63 chars, alnum at both ends, and not "--" in positions 3-4 (A-labels / reserved)
HOSTNAME_LABEL = (
    _AN + "(?:" + _AN + "|" + _LDH + _AN + "|" + _LDH
    + "(?:(?:" + _AN + "|\\-)" + _AN + "|(?:" + _AN + _LDH + "|\\-" + _AN + ")" + _LDH + "{0,58}" + _AN + "))?"
)
HOSTNAME = HOSTNAME_LABEL + "(?:\\." + HOSTNAME_LABEL + ")*"
# format "hostname": RFC 1123 labels, "--" in positions 3-4 allowed (reserved LDH labels are host
# names) except in A-labels ("xn--", any case: see the module doc), as an intersection
_LDH_LABEL = _AN + "(?:" + _LDH + "{0,61}" + _AN + ")?"
_LDH_TAIL = "[A-Za-z0-9\\-]*"
_NOT_XN_LABEL = ("(?:[A-WYZa-wyz0-9\\-]" + _LDH_TAIL + "|[xX](?:[A-MO-Za-mo-z0-9\\-]" + _LDH_TAIL
                 + "|[nN](?:[A-Za-z0-9]" + _LDH_TAIL + "|\\-(?:[A-Za-z0-9]" + _LDH_TAIL + ")?)?)?)")
HOSTNAME_RLDH = (_LDH_LABEL + "(?:\\." + _LDH_LABEL + ")*", _NOT_XN_LABEL + "(?:\\." + _NOT_XN_LABEL + ")*")

_QTEXT_SMTP = [(0x20, 0x21), (0x23, 0x5B), (0x5D, 0x7E)]
_ADDRESS_LITERAL = "\\[" + _alt(IPV4, "IPv6:" + IPV6) + "\\]"


IDN_HOSTNAME = ""  # set by _build() from the embedded IDNA tables


def _email(idn: bool) -> str:
    extra = _NON_ASCII if idn else []
    atext = _cls("!#$%&'*+/=?^_`{|}~-", [(0x41, 0x5A), (0x61, 0x7A), (0x30, 0x39)], extra)
    qtext = _cls(_QTEXT_SMTP, extra)
    dot_atom = atext + "+(?:\\." + atext + "+)*"
    quoted = '"' + _alt(qtext, "\\\\[ -~]") + '*"'
    local = _alt(dot_atom, quoted)
    domain = IDN_HOSTNAME if idn else HOSTNAME
    return local + "@" + _alt(domain, _ADDRESS_LITERAL)


# --- idn-hostname ----------------------------------------------------------
# IDNA2008 PVALID code points (idna package tables) outside ASCII, minus the
# right-to-left ones (bidi R, AL, AN), split into marks (category M*) and the
# rest; viramas (canonical combining class 9); Greek, and Hiragana/Katakana/Han
# letters for the CONTEXTO rules.  Generated by ``_generate_idn_tables()`` from
# the versions below; ranges are hex ``lo-hi`` or ``cp``.
IDN_TABLE_VERSIONS = {"idna": "3.20", "idna_unicode": "18.0.0", "python_unicodedata": "14.0.0"}
_IDN_TABLES: dict[str, str] = {}  # filled at the end of the module


def _decode_table(s: str) -> list[tuple[int, int]]:
    out = []
    for tok in s.split():
        if "-" in tok:
            a, b = tok.split("-")
            out.append((int(a, 16), int(b, 16)))
        else:
            out.append((int(tok, 16), int(tok, 16)))
    return out


def _generate_idn_tables() -> dict[str, str]:
    """Regenerate ``_IDN_TABLES`` from the installed ``idna`` package (maintenance helper)."""
    import unicodedata

    from idna import idnadata

    def dec(r):
        return [(x >> 32, (x & 0xFFFFFFFF) - 1) for x in r]

    def enc(cps) -> str:
        runs: list[list[int]] = []
        for c in sorted(cps):
            if runs and runs[-1][1] == c - 1:
                runs[-1][1] = c
            else:
                runs.append([c, c])
        return " ".join(("%x" % a) if a == b else ("%x-%x" % (a, b)) for a, b in runs)

    def in_ranges(cp, ranges):
        return any(a <= cp <= b for a, b in ranges)

    base, marks, virama = set(), set(), set()
    for a, b in dec(idnadata.codepoint_classes["PVALID"]):
        for cp in range(max(a, 0x80), b + 1):
            ch = chr(cp)
            # unknown to this Python's Unicode database: idna cannot check it here either
            if unicodedata.category(ch) == "Cn" or unicodedata.bidirectional(ch) in ("", "R", "AL", "AN"):
                continue
            if unicodedata.category(ch).startswith("M"):
                marks.add(cp)
                if unicodedata.combining(ch) == 9:
                    virama.add(cp)
            else:
                base.add(cp)
    # EXTENDED ARABIC-INDIC DIGITS (CONTEXTO, bidi EN): their only rule is not to be mixed
    # with ARABIC-INDIC DIGITS, which are AN and left out, so they are always safe here.
    base.update(range(0x6F0, 0x6FA))
    greek_r = dec(idnadata.scripts["Greek"])
    hkh_r = dec(idnadata.scripts["Hiragana"]) + dec(idnadata.scripts["Katakana"]) + dec(idnadata.scripts["Han"])
    greek = {cp for cp in base if in_ranges(cp, greek_r)}
    hkh = {cp for cp in base if in_ranges(cp, hkh_r)}
    # right-to-left labels (RFC 5893): R/AL letters (PVALID), AN digits (PVALID, and the CONTEXTO
    # ARABIC-INDIC DIGITS), and the bidi classes the Bidi rule needs for every label of a name
    rtl, an, ltr, on = set(), set(range(0x660, 0x66A)), set(), {0xB7, 0x375, 0x30FB}
    for a, b in dec(idnadata.codepoint_classes["PVALID"]):
        for cp in range(max(a, 0x80), b + 1):
            ch = chr(cp)
            if unicodedata.category(ch) == "Cn":
                continue
            bd = unicodedata.bidirectional(ch)
            if bd in ("R", "AL") and not unicodedata.category(ch).startswith("M"):
                rtl.add(cp)
            elif bd == "AN":
                an.add(cp)
            elif bd == "L":
                ltr.add(cp)
            elif bd == "ON":
                on.add(cp)
    hebrew_r = dec(idnadata.scripts["Hebrew"])
    valid = base | marks | rtl | an
    hebrew = {cp for cp in valid | {0x5F3, 0x5F4} if in_ranges(cp, hebrew_r)}
    jt = {k: dec(v) for k, v in idnadata.joining_types.items()}
    jt = {k: {cp for cp in valid if in_ranges(cp, r)} for k, r in jt.items()}
    return {"base": enc(base), "marks": enc(marks), "virama": enc(virama), "greek": enc(greek), "hkh": enc(hkh),
            "rtl": enc(rtl), "an": enc(an), "ltr": enc(ltr), "on": enc(on), "hebrew": enc(hebrew),
            "join_ld": enc(jt.get("L", set()) | jt.get("D", set())),
            "join_rd": enc(jt.get("R", set()) | jt.get("D", set())),
            "join_d": enc(jt.get("D", set())), "join_t": enc(jt.get("T", set()))}


def _format_idn_tables(tables: dict[str, str]) -> str:
    """The table block at the end of this module, as source text (maintenance helper)."""
    out = ["_IDN_TABLES" + ".update({"]
    for k, v in tables.items():
        out.append(f'    "{k}": (')
        line = ""
        for tok in v.split():
            if len(line) + len(tok) + 1 > 96:
                out.append(f'        "{line}"')
                line = ""
            line += tok + " "
        if line:
            out.append(f'        "{line}"')
        out.append("    ),")
    out.append("})")
    return "\n".join(out)


def _idn_hostname(bidi: bool = False) -> str:
    """idn-hostname names without right-to-left characters; with ``bidi``, the label syntax
    of names that may have them, whose contexts :func:`_idn_bidi_name` checks by intersection."""
    t = {k: _decode_table(v) for k, v in _IDN_TABLES.items()}
    if bidi:
        # R/AL letters and AN digits are plain characters here; GERESH/GERSHAYIM, ZWJ and ZWNJ
        # may follow any character (their contexts, the Bidi rule and the digit mixing rule are
        # the other regexes of the intersection)
        base = _cls(t["base"], t["rtl"], t["an"])
        mark = _cls(t["marks"], "\u05f3\u05f4\u200c\u200d")
    else:
        base = _cls(t["base"])
        mark = _alt(_cls(t["marks"]), _cls(t["virama"]) + "[\u200c\u200d]")
    greek = _cls(t["greek"])
    hkh = _cls(t["hkh"])
    # non-ASCII units that may start a label
    uni = _alt(base, "\u0375" + greek, "\u30fb" + hkh, hkh + "\u30fb", "l\u00b7l")
    a = "[a-z0-9]"
    label_u = (
        _alt(a + "(?:-?" + a + ")*" + _alt("-?" + uni, mark), uni)
        + "(?:-?" + _alt(a, uni) + "|" + mark + ")*"
    )
    label = _alt(HOSTNAME_LABEL, label_u)
    sep = "[.\u3002\uff0e\uff61]"
    return label + "(?:" + sep + label + ")*"


def _complement(*specs) -> str:
    """Any character (no surrogates) outside the given ranges / strings."""
    pairs, prev = [], 0
    for a, b in _ranges([r for sp in specs for r in _ranges(sp)]):
        if a > prev:
            pairs.append((prev, a - 1))
        prev = b + 1
    if prev <= 0x10FFFF:
        pairs.append((prev, 0x10FFFF))
    return _cls(pairs)


_IDN_SEP = "[.\u3002\uff0e\uff61]"


# Marks allowed in right-to-left labels (N): the blocks of the right-to-left scripts and the
# generic combining diacritics; marks of other scripts (Devanagari, Thai, ...) would make the
# automaton (and the compile) about twice as large for labels no registry allows
_RTL_MARK_BLOCKS = [(0x300, 0x36F), (0x590, 0x8FF), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF),
                    (0xFB1D, 0xFDFF), (0xFE20, 0xFE2F), (0xFE70, 0xFEFF), (0x10800, 0x10FFF), (0x1E800, 0x1EFFF)]


def _idn_bidi_name() -> tuple[str, ...]:
    """Bidi domain names (RFC 5893: a name with a label holding an R, AL or AN character) as
    an intersection of regexes over whole names (the separators are outside every label
    alphabet, so the intersection is label by label):

    1. the labels and the Bidi rule for every label of the name (the Test Suite reads it over
       the whole name): right-to-left labels start with R/AL, hold only R, AL, AN, EN, ES, ON,
       BN, NSM characters that are PVALID or CONTEXTJ/CONTEXTO (the three CONTEXTO characters
       that need Latin, Greek or Japanese neighbours left out: they cannot have them here), end
       with R, AL, EN or AN (then NSM*), do not mix EN and AN (this is also the CONTEXTO rule of
       the two kinds of Arabic digits), have no ``--`` (N) and marks only from
       ``_RTL_MARK_BLOCKS`` (N); left-to-right labels are ASCII
       host name labels that start with a letter (N: no non-ASCII left-to-right label in a
       Bidi domain name); at least one right-to-left label;
    2. HEBREW PUNCTUATION GERESH / GERSHAYIM right after a Hebrew character (CONTEXTO);
    3. ZERO WIDTH JOINER right after a virama (CONTEXTJ);
    4. ZERO WIDTH NON-JOINER right after a virama, or inside
       ``(Joining_Type:{L,D})(Joining_Type:T)* ZWNJ (Joining_Type:T)*(Joining_Type:{R,D})`` (CONTEXTJ).
    """
    t = {k: _decode_table(v) for k, v in _IDN_TABLES.items()}
    nsm = _intersect(_nsm_ranges(t), _RTL_MARK_BLOCKS)
    on = _minus(t["on"], [(0xB7, 0xB7), (0x375, 0x375), (0x30FB, 0x30FB)])
    en = [(0x30, 0x39), (0x6F0, 0x6F9)]
    geresh_r = [(0x5F3, 0x5F4)]
    r_al = list(t["rtl"]) + geresh_r
    # the characters of right-to-left labels, then all characters of Bidi domain names
    rtl_chars = _ranges(r_al + t["an"] + en + nsm + on + [(0x2D, 0x2D), (0x200C, 0x200D)])
    alphabet = _ranges(rtl_chars + [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A), (0x2E, 0x2E),
                                    (0x3002, 0x3002), (0xFF0E, 0xFF0E), (0xFF61, 0xFF61)])

    def within(rs):
        return _intersect(rs, alphabet)

    R_, NSM = _cls(r_al), _cls(nsm)
    mid_en = _cls(r_al, en, nsm, on, "\u200c\u200d")  # every middle character but the hyphen
    mid_an = _cls(r_al, t["an"], nsm, on, "\u200c\u200d")
    rtl_en = R_ + _opt("(?:-?" + mid_en + ")*-?" + _alt(R_, _cls(en))) + NSM + "*"
    rtl_an = R_ + _opt("(?:-?" + mid_an + ")*-?" + _alt(R_, _cls(t["an"]))) + NSM + "*"
    rtl_label = _alt(rtl_en, rtl_an)
    # HOSTNAME_LABEL with a letter first and no 63-character count (the name has at most 8)
    assert HOSTNAME_LABEL.startswith(_AN) and _LDH + "{0,58}" in HOSTNAME_LABEL
    ltr_label = "[A-Za-z]" + HOSTNAME_LABEL[len(_AN):].replace(_LDH + "{0,58}", _LDH + "*")
    any_label = _alt(ltr_label, rtl_label)
    bidi = "(?:" + ltr_label + _IDN_SEP + ")*" + rtl_label + "(?:" + _IDN_SEP + any_label + ")*"
    # 2. GERESH / GERSHAYIM after a Hebrew character
    heb = _cls(within(_minus(t["hebrew"], geresh_r)))
    # (the classes outside a set are over all characters: fewer ranges, the same intersection)
    geresh = "(?:" + _complement(t["hebrew"]) + "|" + heb + "[\u05f3\u05f4]*)*"
    # 3. ZWJ after a virama (right-to-left labels may carry the NSM viramas of any script)
    virama_r = within(t["virama"])
    virama = _cls(virama_r)
    zwj = "(?:" + _complement(virama_r, "\u200d") + "|" + virama + "\u200d?)*"
    # 4. ZWNJ: the text between two ZWNJs (W) ends with a virama (V) or with L/D T* (J, and then
    # the next one starts with T* R/D (Q)); solved from the two-state automaton
    # free -> W | V z free | J z req;  req -> Q | V' z free | J' z req  (V', J': V, J starting as Q)
    W = _complement("\u200c") + "*"
    T = _cls(within(t["join_t"])) + "*"
    LD, RD, D = (_cls(within(t[k])) for k in ("join_ld", "join_rd", "join_d"))
    z = "\u200c"
    a = W + virama + z
    b = W + LD + T + z
    Q = T + RD + W
    c = T + RD + W + virama + z
    dq = _g(_alt(T + RD + W + LD + T, T + D + T) + z) + "*"
    zwnj = _g(_alt(a, b + dq + c)) + "*" + _alt(W, b + dq + Q)
    return (bidi, geresh, zwj, zwnj)


def _intersect(ranges, other) -> list[tuple[int, int]]:
    """The code points in both ``ranges`` and ``other``."""
    return _minus(ranges, _minus([(0, 0x10FFFF)], other))


def _minus(ranges, minus) -> list[tuple[int, int]]:
    """The code points of ``ranges`` outside ``minus`` (both lists of inclusive pairs)."""
    out, cut = [], _ranges(minus)
    k = 0
    for a, b in _ranges(ranges):
        while k < len(cut) and cut[k][1] < a:
            k += 1
        lo, j = a, k
        while j < len(cut) and cut[j][0] <= b:
            if cut[j][0] > lo:
                out.append((lo, cut[j][0] - 1))
            lo = max(lo, cut[j][1] + 1)
            j += 1
        if lo <= b:
            out.append((lo, b))
    return out


def _nsm_ranges(t) -> list[tuple[int, int]]:
    """Marks of bidi class NSM: the mark table less the (spacing, bidi L) marks of the L table."""
    return _minus(t["marks"], t["ltr"])


def _idn_hostname_ascii() -> str:
    """idn-hostname names made of ASCII labels only (any of the four separators)."""
    return HOSTNAME_LABEL + "(?:[.\u3002\uff0e\uff61]" + HOSTNAME_LABEL + ")*"


# ---------------------------------------------------------------------------
# URIs / IRIs (RFC 3986, RFC 3987) and URI templates (RFC 6570)
# ---------------------------------------------------------------------------

_PCT = "%" + HEXDIG + "{2}"
_SUB_DELIMS = "!$&'()*+,;="


def _uri_parts(iri: bool) -> dict[str, str]:
    u = _UCSCHAR if iri else []
    unreserved_sub = [(0x41, 0x5A), (0x61, 0x7A), (0x30, 0x39)]
    base = "._~-" + _SUB_DELIMS

    def c(extra: str, more=()) -> str:
        return _cls(unreserved_sub, base + extra, u, list(more))

    pchar = _alt(c(":@"), _PCT)
    segment = pchar + "*"
    segment_nz = pchar + "+"
    segment_nz_nc = _alt(c("@"), _PCT) + "+"
    query = _alt(c(":@/?", _IPRIVATE if iri else ()), _PCT) + "*"
    fragment = _alt(c(":@/?"), _PCT) + "*"
    userinfo = _alt(c(":"), _PCT) + "*"
    reg_name = _alt(c(""), _PCT) + "*"
    ipvfuture = "[vV]" + HEXDIG + "+\\." + _cls(unreserved_sub, base + ":") + "+"
    ip_literal = "\\[" + _alt(IPV6, ipvfuture) + "\\]"
    host = _alt(ip_literal, reg_name)  # IPv4address is a subset of reg-name
    authority = _opt(userinfo + "@") + host + "(?::[0-9]*)?"
    path_abempty = "(?:/" + segment + ")*"
    path_absolute = "/" + _opt(segment_nz + "(?:/" + segment + ")*")
    path_rootless = segment_nz + "(?:/" + segment + ")*"
    path_noscheme = segment_nz_nc + "(?:/" + segment + ")*"
    scheme = "[A-Za-z][A-Za-z0-9+.\\-]*"
    tail = "(?:\\?" + query + ")?(?:#" + fragment + ")?"
    hier = _alt("//" + authority + path_abempty, path_absolute, path_rootless, "")
    rel = _alt("//" + authority + path_abempty, path_absolute, path_noscheme, "")
    uri = scheme + ":" + hier + tail
    rel_ref = rel + tail
    return {"uri": uri, "reference": _alt(uri, rel_ref)}


_URI = _uri_parts(False)
_IRI = _uri_parts(True)


def _uri_template() -> str:
    literal = _alt(
        _cls("!#$&'", [(0x28, 0x3B)], "=", [(0x3F, 0x5B)], "]_", [(0x61, 0x7A)], "~", _UCSCHAR, _IPRIVATE),
        _PCT,
    )
    varchar = _alt("[A-Za-z0-9_]", _PCT)
    varname = varchar + "(?:\\.?" + varchar + ")*"
    varspec = varname + "(?::[1-9][0-9]{0,3}|\\*)?"
    expression = "\\{[+#./;?&]?" + varspec + "(?:," + varspec + ")*\\}"
    return _alt(literal, expression) + "*"


# ---------------------------------------------------------------------------
# regex: ECMA-262 patterns (unicode mode), a regular subset
# ---------------------------------------------------------------------------

def _all_but(chars: str) -> str:
    """Any character (no surrogates) except ``chars``."""
    pairs, prev = [], 0
    for c in sorted({ord(x) for x in chars}):
        if c > prev:
            pairs.append((prev, c - 1))
        prev = c + 1
    pairs.append((prev, 0x10FFFF))
    return _cls(pairs)


REGEX_GROUP_DEPTH = 2


def _ecma_regex(depth: int = REGEX_GROUP_DEPTH) -> str:
    """ECMA-262 Pattern[+UnicodeMode] syntax, restricted to a regular subset (see module doc)."""
    syntax = "^$\\.*+?()[]{}|"
    ucode = "u(?:" + HEXDIG + "{4}|\\{0*(?:" + HEXDIG + "{1,5}|10" + HEXDIG + "{4})\\})"
    char_esc = _alt("[fnrtv]", "c[A-Za-z]", "x" + HEXDIG + "{2}", ucode, _cls(syntax + "/"))
    atom_esc = "\\\\" + _alt(char_esc, "[dDsSwW]")
    # classes: '-' only first or last; ranges only between ASCII alphanumerics, low <= high
    alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    ranges = _alt(*[c + "\\-" + _cls(alnum[i:]) for i, c in enumerate(alnum)])
    item = _alt(ranges, _all_but("\\]-"), "\\\\" + _alt(char_esc, "[dDsSwWb\\-]"))
    char_class = "\\[\\^?\\-?" + item + "*\\-?\\]"
    # {n}, {n,}, and {n,m} where n <= m is plain: same single digit order, or m has more digits
    pair = _alt(*[str(i) + "," + _cls("".join(str(j) for j in range(i, 10))) for i in range(10)],
                "[0-9],[1-9][0-9]+", "[1-9][0-9],[1-9][0-9]{2,}")
    quant = _opt(_alt("[*+?]", "\\{" + _alt("[0-9]+,?", pair) + "\\}") + "\\??")
    atom = _alt(_all_but(syntax), "\\.", atom_esc, char_class)
    assertion = "[\\^$]|\\\\[bB]"
    disj = "(?:" + atom + quant + "|" + assertion + "|\\|)*"
    inner = disj
    for _ in range(depth):
        inner = disj
        group = "\\((?:\\?:)?" + inner + "\\)"
        look = "\\(\\?<?[=!]" + inner + "\\)"  # lookarounds are not quantifiable in unicode mode
        disj = "(?:" + _alt(atom, group) + quant + "|" + assertion + "|" + look + "|\\|)*"
    # at most one named group (so no duplicate names), the pattern's first term: anywhere else
    # it would double the automaton (the rest of the pattern after it is a second copy)
    named = "\\(\\?<[A-Za-z$_][A-Za-z0-9$_]*>" + inner + "\\)"
    return _opt(named + quant) + disj


# ---------------------------------------------------------------------------
# the rest
# ---------------------------------------------------------------------------

UUID = HEXDIG + "{8}-" + HEXDIG + "{4}-" + HEXDIG + "{4}-" + HEXDIG + "{4}-" + HEXDIG + "{12}"
JSON_POINTER = "(?:/(?:" + _cls([(0x00, 0x2E), (0x30, 0x7D), (0x7F, 0x10FFFF)]) + "|~[01])*)*"
RELATIVE_JSON_POINTER = "(?:0|[1-9][0-9]*)(?:#|" + JSON_POINTER + ")"
_B64 = "[A-Za-z0-9+/]"
BYTE = "(?:" + _B64 + "{4})*(?:" + _B64 + "[AQgw]==|" + _B64 + "{2}[AEIMQUYcgkosw048]=)?"

#: OpenAPI string formats with a check, asserted only with ``openapi_formats=True``: JSON
#: Schema does not define them, so a validator reads them as unknown formats (annotations).
#: (``binary`` and ``password`` allow every string either way.)
OPENAPI_FORMATS = frozenset({"byte"})

# OpenAPI numeric formats: not string formats (see constrain.frontends.json_schema.numeric.INTEGER_FORMAT_BOUNDS).
NUMERIC_FORMATS = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                             "float", "double", "decimal"})

FORMAT_REGEXES: dict[str, str] = {}


def _build() -> None:
    global IDN_HOSTNAME
    IDN_HOSTNAME = _idn_hostname()
    FORMAT_UNIONS["hostname"] = [(HOSTNAME_RLDH, 253)]
    FORMAT_UNIONS["idn-hostname"] = [(_idn_hostname_ascii(), 253), (IDN_HOSTNAME, IDN_SHORT_NAME),
                                     (_idn_bidi_name(), IDN_SHORT_NAME)]
    FORMAT_REGEXES.update({
        "date-time": date_time_regex(),
        "date": FULL_DATE,
        "time": time_regex(),
        "duration": DURATION,
        "email": _email(False),
        "idn-email": _email(True),
        "hostname": HOSTNAME,
        "idn-hostname": IDN_HOSTNAME,
        "ipv4": IPV4,
        "ipv6": IPV6,
        "uri": _URI["uri"],
        "uri-reference": _URI["reference"],
        "iri": _IRI["uri"],
        "iri-reference": _IRI["reference"],
        "uri-template": _uri_template(),
        "uuid": UUID,
        "json-pointer": JSON_POINTER,
        "relative-json-pointer": RELATIVE_JSON_POINTER,
        "regex": _ecma_regex(),
        "byte": BYTE,
        "binary": ANY_STRING,
        "password": ANY_STRING,
    })


# Length limits of formats, in characters, kept out of the regexes: a counter enforces them
# (like ``maxLength``), where a DFA counting 253 characters across labels of at most 63 would
# need ~10^4 states per spelling.  DNS: 253 characters in text form (255 octets on the wire).
FORMAT_MAX_LENGTH: dict[str, int] = {"hostname": 253}

# Formats whose language is a union of length-capped regular languages, as
# [(regex or tuple of regexes to intersect, max characters)]: idn-hostname = names of ASCII
# labels (exact, 253 characters), names with a non-ASCII label and no right-to-left character,
# and Bidi domain names (an intersection, see _idn_bidi_name), both of at most IDN_SHORT_NAME
# characters (see the module doc).
FORMAT_UNIONS: dict[str, list[tuple[str | tuple[str, ...], int]]] = {}
IDN_SHORT_NAME = 8


#: formats whose A-labels ``a_labels=True`` accepts by syntax (see the module doc)
A_LABEL_FORMATS = frozenset({"hostname", "idn-hostname"})
# an A-label by syntax: "xn--" (any case) + LDH, alnum last, 63 characters in all
_A_LABEL = "[xX][nN]\\-\\-" + _AN + "(?:" + _LDH + "{0,57}" + _AN + ")?"


def format_parts(name: str, *, a_labels: bool = False) -> list[tuple[str | tuple[str, ...], int | None]] | None:
    """The language of format ``name`` as a union of ``(regex, max characters or None)``, or
    None for an unknown format; a tuple of regexes in place of a regex is their intersection
    (:func:`regexes`).  Callers enforce the cap with their character counter.
    ``a_labels=True``: hostname / idn-hostname also take A-labels by syntax (a superset)."""
    if not isinstance(name, str):
        return None
    if a_labels and name == "hostname":
        return [(HOSTNAME_RLDH[0], 253)]  # every RFC 1123 label, A-labels and reserved LDH ones
    if a_labels and name == "idn-hostname":
        label = "(?:" + HOSTNAME_LABEL + "|" + _A_LABEL + ")"
        return [(label + "(?:" + _IDN_SEP + label + ")*", 253)] + list(FORMAT_UNIONS[name][1:])
    if name in FORMAT_UNIONS:
        return list(FORMAT_UNIONS[name])
    rx = FORMAT_REGEXES.get(name)
    return None if rx is None else [(rx, FORMAT_MAX_LENGTH.get(name))]


#: formats whose language here is exactly the valid strings (the module doc: no "N" entry), so
#: that a ``oneOf`` may subtract them as they are
EXACT_FORMATS = frozenset({"ipv4", "ipv6", "uri", "uri-reference", "iri", "iri-reference", "uuid", "json-pointer",
                           "relative-json-pointer", "binary", "password"})


def format_superset_parts(name: str) -> list[tuple[str | tuple[str, ...], int | None]] | None:
    """A language containing every valid string of format ``name``, as :func:`format_parts`
    gives it, for the places that subtract a format (``oneOf`` branches): the format's own
    where it is exact, the A-labels added for hostname (RFC 1123 labels of any kind: the valid
    ones among them are a subset), and None for the other narrowed formats."""
    if name in EXACT_FORMATS:
        return format_parts(name)
    if name == "hostname":
        return format_parts(name, a_labels=True)
    return None


def regexes(rx: str | tuple[str, ...] | None) -> list[str]:
    """The regexes of a :func:`format_parts` part, to intersect (none for None)."""
    if rx is None:
        return []
    return list(rx) if isinstance(rx, tuple) else [rx]


def capped(max_length: int | None, cap: int | None) -> int | None:
    """The smaller of a ``maxLength`` (or None) and a format's cap (or None)."""
    if cap is None:
        return max_length
    return cap if max_length is None else min(int(max_length), cap)


def format_matches(name: str, value: str) -> bool:
    """Whether ``value`` is in the language of the known format ``name`` (regex and length caps)."""
    import re

    parts = format_parts(name)
    if parts is None:
        raise KeyError(name)
    return any(all(re.fullmatch(r, value) is not None for r in regexes(rx)) and (cap is None or len(value) <= cap)
               for rx, cap in parts)


def format_regex(name: str, *, leap_seconds: str = "utc") -> str | None:
    """Regex for the string format ``name``, or None if unknown (or numeric, see NUMERIC_FORMATS).

    ``leap_seconds`` selects the variant for ``time``/``date-time`` (see module doc).
    """
    if leap_seconds != "utc" and name in ("time", "date-time"):
        return time_regex(leap_seconds) if name == "time" else date_time_regex(leap_seconds)
    return FORMAT_REGEXES.get(name)




# --- generated by _generate_idn_tables() (see IDN_TABLE_VERSIONS) ---
_IDN_TABLES.update({
    "base": (
        "df-f6 f8-ff 101 103 105 107 109 10b 10d 10f 111 113 115 117 119 11b 11d 11f 121 123 125 127 129 "
        "12b 12d 12f 131 135 137-138 13a 13c 13e 142 144 146 148 14b 14d 14f 151 153 155 157 159 15b 15d "
        "15f 161 163 165 167 169 16b 16d 16f 171 173 175 177 17a 17c 17e 180 183 185 188 18c-18d 192 195 "
        "199-19b 19e 1a1 1a3 1a5 1a8 1aa-1ab 1ad 1b0 1b4 1b6 1b9-1bb 1bd-1c3 1ce 1d0 1d2 1d4 1d6 1d8 1da "
        "1dc-1dd 1df 1e1 1e3 1e5 1e7 1e9 1eb 1ed 1ef-1f0 1f5 1f9 1fb 1fd 1ff 201 203 205 207 209 20b 20d "
        "20f 211 213 215 217 219 21b 21d 21f 221 223 225 227 229 22b 22d 22f 231 233-239 23c 23f-240 242 "
        "247 249 24b 24d 24f-2af 2b9-2c1 2c6-2d1 2ec 2ee 371 373 377 37b-37d 390 3ac-3ce 3d7 3d9 3db 3dd "
        "3df 3e1 3e3 3e5 3e7 3e9 3eb 3ed 3ef 3f3 3f8 3fb-3fc 430-45f 461 463 465 467 469 46b 46d 46f 471 "
        "473 475 477 479 47b 47d 47f 481 48b 48d 48f 491 493 495 497 499 49b 49d 49f 4a1 4a3 4a5 4a7 4a9 "
        "4ab 4ad 4af 4b1 4b3 4b5 4b7 4b9 4bb 4bd 4bf 4c2 4c4 4c6 4c8 4ca 4cc 4ce-4cf 4d1 4d3 4d5 4d7 4d9 "
        "4db 4dd 4df 4e1 4e3 4e5 4e7 4e9 4eb 4ed 4ef 4f1 4f3 4f5 4f7 4f9 4fb 4fd 4ff 501 503 505 507 509 "
        "50b 50d 50f 511 513 515 517 519 51b 51d 51f 521 523 525 527 529 52b 52d 52f 559 560-586 588 "
        "6f0-6f9 904-939 93d 950 960-961 966-96f 971-980 985-98c 98f-990 993-9a8 9aa-9b0 9b2 9b6-9b9 9bd "
        "9ce 9e0-9e1 9e6-9f1 9fc a05-a0a a0f-a10 a13-a28 a2a-a30 a32 a35 a38-a39 a5c a66-a6f a72-a74 "
        "a85-a8d a8f-a91 a93-aa8 aaa-ab0 ab2-ab3 ab5-ab9 abd ad0 ae0-ae1 ae6-aef af9 b05-b0c b0f-b10 "
        "b13-b28 b2a-b30 b32-b33 b35-b39 b3d b5f-b61 b66-b6f b71 b83 b85-b8a b8e-b90 b92-b95 b99-b9a b9c "
        "b9e-b9f ba3-ba4 ba8-baa bae-bb9 bd0 be6-bef c05-c0c c0e-c10 c12-c28 c2a-c39 c3d c58-c5a c5d "
        "c60-c61 c66-c6f c80 c85-c8c c8e-c90 c92-ca8 caa-cb3 cb5-cb9 cbd cdd-cde ce0-ce1 ce6-cef cf1-cf2 "
        "d04-d0c d0e-d10 d12-d3a d3d d4e d54-d56 d5f-d61 d66-d6f d7a-d7f d85-d96 d9a-db1 db3-dbb dbd "
        "dc0-dc6 de6-def e01-e30 e32 e40-e46 e50-e59 e81-e82 e84 e86-e8a e8c-ea3 ea5 ea7-eb0 eb2 ebd "
        "ec0-ec4 ec6 ed0-ed9 ede-edf f00 f0b f20-f29 f40-f42 f44-f47 f49-f4c f4e-f51 f53-f56 f58-f5b "
        "f5d-f68 f6a-f6c f88-f8c 1000-102a 103f-1049 1050-1055 105a-105d 1061 1065-1066 106e-1070 "
        "1075-1081 108e 1090-1099 10d0-10fa 10fd-10ff 1200-1248 124a-124d 1250-1256 1258 125a-125d "
        "1260-1288 128a-128d 1290-12b0 12b2-12b5 12b8-12be 12c0 12c2-12c5 12c8-12d6 12d8-1310 1312-1315 "
        "1318-135a 1380-138f 13a0-13f5 1401-166c 166f-167f 1681-169a 16a0-16ea 16f1-16f8 1700-1711 "
        "171f-1731 1740-1751 1760-176c 176e-1770 1780-17b3 17d7 17dc 17e0-17e9 1810-1819 1820-1878 "
        "1880-1884 1887-18a8 18aa 18b0-18f5 1900-191e 1946-196d 1970-1974 1980-19ab 19b0-19c9 19d0-19d9 "
        "1a00-1a16 1a20-1a54 1a80-1a89 1a90-1a99 1aa7 1b05-1b33 1b45-1b4c 1b50-1b59 1b83-1ba0 1bae-1be5 "
        "1c00-1c23 1c40-1c49 1c4d-1c7d 1ce9-1cec 1cee-1cf3 1cf5-1cf6 1cfa 1d00-1d2b 1d2f 1d3b 1d4e "
        "1d6b-1d77 1d79-1d9a 1e01 1e03 1e05 1e07 1e09 1e0b 1e0d 1e0f 1e11 1e13 1e15 1e17 1e19 1e1b 1e1d "
        "1e1f 1e21 1e23 1e25 1e27 1e29 1e2b 1e2d 1e2f 1e31 1e33 1e35 1e37 1e39 1e3b 1e3d 1e3f 1e41 1e43 "
        "1e45 1e47 1e49 1e4b 1e4d 1e4f 1e51 1e53 1e55 1e57 1e59 1e5b 1e5d 1e5f 1e61 1e63 1e65 1e67 1e69 "
        "1e6b 1e6d 1e6f 1e71 1e73 1e75 1e77 1e79 1e7b 1e7d 1e7f 1e81 1e83 1e85 1e87 1e89 1e8b 1e8d 1e8f "
        "1e91 1e93 1e95-1e99 1e9c-1e9d 1e9f 1ea1 1ea3 1ea5 1ea7 1ea9 1eab 1ead 1eaf 1eb1 1eb3 1eb5 1eb7 "
        "1eb9 1ebb 1ebd 1ebf 1ec1 1ec3 1ec5 1ec7 1ec9 1ecb 1ecd 1ecf 1ed1 1ed3 1ed5 1ed7 1ed9 1edb 1edd "
        "1edf 1ee1 1ee3 1ee5 1ee7 1ee9 1eeb 1eed 1eef 1ef1 1ef3 1ef5 1ef7 1ef9 1efb 1efd 1eff-1f07 "
        "1f10-1f15 1f20-1f27 1f30-1f37 1f40-1f45 1f50-1f57 1f60-1f67 1f70 1f72 1f74 1f76 1f78 1f7a 1f7c "
        "1fb0-1fb1 1fb6 1fc6 1fd0-1fd2 1fd6-1fd7 1fe0-1fe2 1fe4-1fe7 1ff6 214e 2184 2c30-2c5f 2c61 "
        "2c65-2c66 2c68 2c6a 2c6c 2c71 2c73-2c74 2c76-2c7b 2c81 2c83 2c85 2c87 2c89 2c8b 2c8d 2c8f 2c91 "
        "2c93 2c95 2c97 2c99 2c9b 2c9d 2c9f 2ca1 2ca3 2ca5 2ca7 2ca9 2cab 2cad 2caf 2cb1 2cb3 2cb5 2cb7 "
        "2cb9 2cbb 2cbd 2cbf 2cc1 2cc3 2cc5 2cc7 2cc9 2ccb 2ccd 2ccf 2cd1 2cd3 2cd5 2cd7 2cd9 2cdb 2cdd "
        "2cdf 2ce1 2ce3-2ce4 2cec 2cee 2cf3 2d00-2d25 2d27 2d2d 2d30-2d67 2d80-2d96 2da0-2da6 2da8-2dae "
        "2db0-2db6 2db8-2dbe 2dc0-2dc6 2dc8-2dce 2dd0-2dd6 2dd8-2dde 2e2f 3005-3007 303c 3041-3096 "
        "309d-309e 30a1-30fa 30fc-30fe 3105-312f 31a0-31bf 31f0-31ff 3400-4dbf 4e00-a48c a4d0-a4fd "
        "a500-a60c a610-a62b a641 a643 a645 a647 a649 a64b a64d a64f a651 a653 a655 a657 a659 a65b a65d "
        "a65f a661 a663 a665 a667 a669 a66b a66d-a66e a67f a681 a683 a685 a687 a689 a68b a68d a68f a691 "
        "a693 a695 a697 a699 a69b a6a0-a6e5 a717-a71f a723 a725 a727 a729 a72b a72d a72f-a731 a733 a735 "
        "a737 a739 a73b a73d a73f a741 a743 a745 a747 a749 a74b a74d a74f a751 a753 a755 a757 a759 a75b "
        "a75d a75f a761 a763 a765 a767 a769 a76b a76d a76f a771-a778 a77a a77c a77f a781 a783 a785 "
        "a787-a788 a78c a78e-a78f a791 a793-a795 a797 a799 a79b a79d a79f a7a1 a7a3 a7a5 a7a7 a7a9 a7af "
        "a7b5 a7b7 a7b9 a7bb a7bd a7bf a7c1 a7c3 a7c8 a7ca a7d1 a7d3 a7d5 a7d7 a7d9 a7f6-a7f7 a7fa-a801 "
        "a803-a805 a807-a80a a80c-a822 a840-a873 a882-a8b3 a8d0-a8d9 a8f2-a8f7 a8fb a8fd-a8fe a900-a925 "
        "a930-a946 a984-a9b2 a9cf-a9d9 a9e0-a9e4 a9e6-a9fe aa00-aa28 aa40-aa42 aa44-aa4b aa50-aa59 "
        "aa60-aa76 aa7a aa7e-aaaf aab1 aab5-aab6 aab9-aabd aac0 aac2 aadb-aadd aae0-aaea aaf2-aaf4 "
        "ab01-ab06 ab09-ab0e ab11-ab16 ab20-ab26 ab28-ab2e ab30-ab5a ab60-ab68 abc0-abe2 abf0-abf9 "
        "ac00-d7a3 fa0e-fa0f fa11 fa13-fa14 fa1f fa21 fa23-fa24 fa27-fa29 10000-1000b 1000d-10026 "
        "10028-1003a 1003c-1003d 1003f-1004d 10050-1005d 10080-100fa 10280-1029c 102a0-102d0 10300-1031f "
        "1032d-10340 10342-10349 10350-10375 10380-1039d 103a0-103c3 103c8-103cf 10428-1049d 104a0-104a9 "
        "104d8-104fb 10500-10527 10530-10563 10597-105a1 105a3-105b1 105b3-105b9 105bb-105bc 10600-10736 "
        "10740-10755 10760-10767 10780 11003-11037 11066-1106f 11071-11072 11075 11083-110af 110d0-110e8 "
        "110f0-110f9 11103-11126 11136-1113f 11144 11147 11150-11172 11176 11183-111b2 111c1-111c4 "
        "111d0-111da 111dc 11200-11211 11213-1122b 11280-11286 11288 1128a-1128d 1128f-1129d 1129f-112a8 "
        "112b0-112de 112f0-112f9 11305-1130c 1130f-11310 11313-11328 1132a-11330 11332-11333 11335-11339 "
        "1133d 11350 1135d-11361 11400-11434 11447-1144a 11450-11459 1145f-11461 11480-114af 114c4-114c5 "
        "114c7 114d0-114d9 11580-115ae 115d8-115db 11600-1162f 11644 11650-11659 11680-116aa 116b8 "
        "116c0-116c9 11700-1171a 11730-11739 11740-11746 11800-1182b 118c0-118e9 118ff-11906 11909 "
        "1190c-11913 11915-11916 11918-1192f 1193f 11941 11950-11959 119a0-119a7 119aa-119d0 119e1 119e3 "
        "11a00 11a0b-11a32 11a3a 11a50 11a5c-11a89 11a9d 11ab0-11af8 11c00-11c08 11c0a-11c2e 11c40 "
        "11c50-11c59 11c72-11c8f 11d00-11d06 11d08-11d09 11d0b-11d30 11d46 11d50-11d59 11d60-11d65 "
        "11d67-11d68 11d6a-11d89 11d98 11da0-11da9 11ee0-11ef2 11fb0 12000-12399 12480-12543 12f90-12ff0 "
        "13000-1342e 14400-14646 16800-16a38 16a40-16a5e 16a60-16a69 16a70-16abe 16ac0-16ac9 16ad0-16aed "
        "16b00-16b2f 16b40-16b43 16b50-16b59 16b63-16b77 16b7d-16b8f 16e60-16e7f 16f00-16f4a 16f50 "
        "16f93-16f9f 16fe0-16fe1 16fe3 17000-187f7 18800-18cd5 18d00-18d08 1aff0-1aff3 1aff5-1affb "
        "1affd-1affe 1b000-1b122 1b150-1b152 1b164-1b167 1b170-1b2fb 1bc00-1bc6a 1bc70-1bc7c 1bc80-1bc88 "
        "1bc90-1bc99 1df00-1df1e 1e100-1e12c 1e137-1e13d 1e140-1e149 1e14e 1e290-1e2ad 1e2c0-1e2eb "
        "1e2f0-1e2f9 1e7e0-1e7e6 1e7e8-1e7eb 1e7ed-1e7ee 1e7f0-1e7fe 20000-2a6df 2a700-2b738 2b740-2b81d "
        "2b820-2cea1 2ceb0-2ebe0 30000-3134a "
    ),
    "marks": (
        "300-33f 342 346-34e 350-36f 483-487 591-5bd 5bf 5c1-5c2 5c4-5c5 5c7 610-61a 64b-65f 670 6d6-6dc "
        "6df-6e4 6e7-6e8 6ea-6ed 711 730-74a 7a6-7b0 7eb-7f3 7fd 816-819 81b-823 825-827 829-82d 859-85b "
        "898-89f 8ca-8e1 8e3-903 93a-93c 93e-94f 951-957 962-963 981-983 9bc 9be-9c4 9c7-9c8 9cb-9cd 9d7 "
        "9e2-9e3 9fe a01-a03 a3c a3e-a42 a47-a48 a4b-a4d a51 a70-a71 a75 a81-a83 abc abe-ac5 ac7-ac9 "
        "acb-acd ae2-ae3 afa-aff b01-b03 b3c b3e-b44 b47-b48 b4b-b4d b55-b57 b62-b63 b82 bbe-bc2 bc6-bc8 "
        "bca-bcd bd7 c00-c04 c3c c3e-c44 c46-c48 c4a-c4d c55-c56 c62-c63 c81-c83 cbc cbe-cc4 cc6-cc8 "
        "cca-ccd cd5-cd6 ce2-ce3 d00-d03 d3b-d3c d3e-d44 d46-d48 d4a-d4d d57 d62-d63 d81-d83 dca dcf-dd4 "
        "dd6 dd8-ddf df2-df3 e31 e34-e3a e47-e4e eb1 eb4-ebc ec8-ecd f18-f19 f35 f37 f39 f3e-f3f f71-f72 "
        "f74 f7a-f80 f82-f84 f86-f87 f8d-f92 f94-f97 f99-f9c f9e-fa1 fa3-fa6 fa8-fab fad-fb8 fba-fbc fc6 "
        "102b-103e 1056-1059 105e-1060 1062-1064 1067-106d 1071-1074 1082-108d 108f 109a-109d 135d-135f "
        "1712-1715 1732-1734 1752-1753 1772-1773 17b6-17d3 17dd 1885-1886 18a9 1920-192b 1930-193b "
        "1a17-1a1b 1a55-1a5e 1a60-1a7c 1a7f 1ab0-1abd 1abf-1ace 1b00-1b04 1b34-1b44 1b6b-1b73 1b80-1b82 "
        "1ba1-1bad 1be6-1bf3 1c24-1c37 1cd0-1cd2 1cd4-1ce8 1ced 1cf4 1cf7-1cf9 1dc0-1dff 2cef-2cf1 2d7f "
        "2de0-2dff 302a-302d 3099-309a a66f a674-a67d a69e-a69f a6f0-a6f1 a802 a806 a80b a823-a827 a82c "
        "a880-a881 a8b4-a8c5 a8e0-a8f1 a8ff a926-a92d a947-a953 a980-a983 a9b3-a9c0 a9e5 aa29-aa36 aa43 "
        "aa4c-aa4d aa7b-aa7d aab0 aab2-aab4 aab7-aab8 aabe-aabf aac1 aaeb-aaef aaf5-aaf6 abe3-abea "
        "abec-abed fb1e fe20-fe2f 101fd 102e0 10376-1037a 10a01-10a03 10a05-10a06 10a0c-10a0f "
        "10a38-10a3a 10a3f 10ae5-10ae6 10d24-10d27 10eab-10eac 10f46-10f50 10f82-10f85 11000-11002 "
        "11038-11046 11070 11073-11074 1107f-11082 110b0-110ba 110c2 11100-11102 11127-11134 11145-11146 "
        "11173 11180-11182 111b3-111c0 111c9-111cc 111ce-111cf 1122c-11237 1123e 112df-112ea 11300-11303 "
        "1133b-1133c 1133e-11344 11347-11348 1134b-1134d 11357 11362-11363 11366-1136c 11370-11374 "
        "11435-11446 1145e 114b0-114c3 115af-115b5 115b8-115c0 115dc-115dd 11630-11640 116ab-116b7 "
        "1171d-1172b 1182c-1183a 11930-11935 11937-11938 1193b-1193e 11940 11942-11943 119d1-119d7 "
        "119da-119e0 119e4 11a01-11a0a 11a33-11a39 11a3b-11a3e 11a47 11a51-11a5b 11a8a-11a99 11c2f-11c36 "
        "11c38-11c3f 11c92-11ca7 11ca9-11cb6 11d31-11d36 11d3a 11d3c-11d3d 11d3f-11d45 11d47 11d8a-11d8e "
        "11d90-11d91 11d93-11d97 11ef3-11ef6 16af0-16af4 16b30-16b36 16f4f 16f51-16f87 16f8f-16f92 16fe4 "
        "16ff0-16ff1 1bc9d-1bc9e 1cf00-1cf2d 1cf30-1cf46 1da00-1da36 1da3b-1da6c 1da75 1da84 1da9b-1da9f "
        "1daa1-1daaf 1e000-1e006 1e008-1e018 1e01b-1e021 1e023-1e024 1e026-1e02a 1e130-1e136 1e2ae "
        "1e2ec-1e2ef 1e8d0-1e8d6 1e944-1e94a "
    ),
    "virama": (
        "94d 9cd a4d acd b4d bcd c4d ccd d3b-d3c d4d dca e3a eba f84 1039-103a 1714-1715 1734 17d2 1a60 "
        "1b44 1baa-1bab 1bf2-1bf3 2d7f a806 a82c a8c4 a953 a9c0 aaf6 abed 10a3f 11046 11070 1107f 110b9 "
        "11133-11134 111c0 11235 112ea 1134d 11442 114c2 115bf 1163f 116b6 1172b 11839 1193d-1193e 119e0 "
        "11a34 11a47 11a99 11c3f 11d44-11d45 11d97 "
    ),
    "greek": (
        "371 373 377 37b-37d 390 3ac-3ce 3d7 3d9 3db 3dd 3df 3e1 3f3 3f8 3fb-3fc 1d26-1d2a 1f00-1f07 "
        "1f10-1f15 1f20-1f27 1f30-1f37 1f40-1f45 1f50-1f57 1f60-1f67 1f70 1f72 1f74 1f76 1f78 1f7a 1f7c "
        "1fb0-1fb1 1fb6 1fc6 1fd0-1fd2 1fd6-1fd7 1fe0-1fe2 1fe4-1fe7 1ff6 ab65 "
    ),
    "hkh": (
        "3005 3007 3041-3096 309d-309e 30a1-30fa 30fd-30fe 31f0-31ff 3400-4dbf 4e00-9fff fa0e-fa0f fa11 "
        "fa13-fa14 fa1f fa21 fa23-fa24 fa27-fa29 16fe3 1aff0-1aff3 1aff5-1affb 1affd-1affe 1b000-1b122 "
        "1b150-1b152 1b164-1b167 20000-2a6df 2a700-2b738 2b740-2b81d 2b820-2cea1 2ceb0-2ebe0 30000-3134a "
    ),
    "rtl": (
        "5d0-5ea 5ef-5f2 620-63f 641-64a 66e-66f 671-674 679-6d3 6d5 6e5-6e6 6ee-6ef 6fa-6ff 710 712-72f "
        "74d-7a5 7b1 7c0-7ea 7f4-7f5 800-815 81a 824 828 840-858 860-86a 870-887 889-88e 8a0-8c9 fe73 "
        "10800-10805 10808 1080a-10835 10837-10838 1083c 1083f-10855 10860-10876 10880-1089e 108e0-108f2 "
        "108f4-108f5 10900-10915 10920-10939 10980-109b7 109be-109bf 10a00 10a10-10a13 10a15-10a17 "
        "10a19-10a35 10a60-10a7c 10a80-10a9c 10ac0-10ac7 10ac9-10ae4 10b00-10b35 10b40-10b55 10b60-10b72 "
        "10b80-10b91 10c00-10c48 10cc0-10cf2 10d00-10d23 10e80-10ea9 10eb0-10eb1 10f00-10f1c 10f27 "
        "10f30-10f45 10f70-10f81 10fb0-10fc4 10fe0-10ff6 1e800-1e8c4 1e922-1e943 1e94b 1e950-1e959 "
    ),
    "an": (
        "660-669 10d30-10d39 "
    ),
    "ltr": (
        "df-f6 f8-ff 101 103 105 107 109 10b 10d 10f 111 113 115 117 119 11b 11d 11f 121 123 125 127 129 "
        "12b 12d 12f 131 135 137-138 13a 13c 13e 142 144 146 148 14b 14d 14f 151 153 155 157 159 15b 15d "
        "15f 161 163 165 167 169 16b 16d 16f 171 173 175 177 17a 17c 17e 180 183 185 188 18c-18d 192 195 "
        "199-19b 19e 1a1 1a3 1a5 1a8 1aa-1ab 1ad 1b0 1b4 1b6 1b9-1bb 1bd-1c3 1ce 1d0 1d2 1d4 1d6 1d8 1da "
        "1dc-1dd 1df 1e1 1e3 1e5 1e7 1e9 1eb 1ed 1ef-1f0 1f5 1f9 1fb 1fd 1ff 201 203 205 207 209 20b 20d "
        "20f 211 213 215 217 219 21b 21d 21f 221 223 225 227 229 22b 22d 22f 231 233-239 23c 23f-240 242 "
        "247 249 24b 24d 24f-2af 2bb-2c1 2d0-2d1 2ee 371 373 377 37b-37d 390 3ac-3ce 3d7 3d9 3db 3dd 3df "
        "3e1 3e3 3e5 3e7 3e9 3eb 3ed 3ef 3f3 3f8 3fb-3fc 430-45f 461 463 465 467 469 46b 46d 46f 471 473 "
        "475 477 479 47b 47d 47f 481 48b 48d 48f 491 493 495 497 499 49b 49d 49f 4a1 4a3 4a5 4a7 4a9 4ab "
        "4ad 4af 4b1 4b3 4b5 4b7 4b9 4bb 4bd 4bf 4c2 4c4 4c6 4c8 4ca 4cc 4ce-4cf 4d1 4d3 4d5 4d7 4d9 4db "
        "4dd 4df 4e1 4e3 4e5 4e7 4e9 4eb 4ed 4ef 4f1 4f3 4f5 4f7 4f9 4fb 4fd 4ff 501 503 505 507 509 50b "
        "50d 50f 511 513 515 517 519 51b 51d 51f 521 523 525 527 529 52b 52d 52f 559 560-586 588 903-939 "
        "93b 93d-940 949-94c 94e-950 960-961 966-96f 971-980 982-983 985-98c 98f-990 993-9a8 9aa-9b0 9b2 "
        "9b6-9b9 9bd-9c0 9c7-9c8 9cb-9cc 9ce 9d7 9e0-9e1 9e6-9f1 9fc a03 a05-a0a a0f-a10 a13-a28 a2a-a30 "
        "a32 a35 a38-a39 a3e-a40 a5c a66-a6f a72-a74 a83 a85-a8d a8f-a91 a93-aa8 aaa-ab0 ab2-ab3 ab5-ab9 "
        "abd-ac0 ac9 acb-acc ad0 ae0-ae1 ae6-aef af9 b02-b03 b05-b0c b0f-b10 b13-b28 b2a-b30 b32-b33 "
        "b35-b39 b3d-b3e b40 b47-b48 b4b-b4c b57 b5f-b61 b66-b6f b71 b83 b85-b8a b8e-b90 b92-b95 b99-b9a "
        "b9c b9e-b9f ba3-ba4 ba8-baa bae-bb9 bbe-bbf bc1-bc2 bc6-bc8 bca-bcc bd0 bd7 be6-bef c01-c03 "
        "c05-c0c c0e-c10 c12-c28 c2a-c39 c3d c41-c44 c58-c5a c5d c60-c61 c66-c6f c80 c82-c83 c85-c8c "
        "c8e-c90 c92-ca8 caa-cb3 cb5-cb9 cbd-cc4 cc6-cc8 cca-ccb cd5-cd6 cdd-cde ce0-ce1 ce6-cef cf1-cf2 "
        "d02-d0c d0e-d10 d12-d3a d3d-d40 d46-d48 d4a-d4c d4e d54-d57 d5f-d61 d66-d6f d7a-d7f d82-d83 "
        "d85-d96 d9a-db1 db3-dbb dbd dc0-dc6 dcf-dd1 dd8-ddf de6-def df2-df3 e01-e30 e32 e40-e46 e50-e59 "
        "e81-e82 e84 e86-e8a e8c-ea3 ea5 ea7-eb0 eb2 ebd ec0-ec4 ec6 ed0-ed9 ede-edf f00 f0b f20-f29 "
        "f3e-f42 f44-f47 f49-f4c f4e-f51 f53-f56 f58-f5b f5d-f68 f6a-f6c f7f f88-f8c 1000-102c 1031 1038 "
        "103b-103c 103f-1049 1050-1057 105a-105d 1061-1070 1075-1081 1083-1084 1087-108c 108e-109c "
        "10d0-10fa 10fd-10ff 1200-1248 124a-124d 1250-1256 1258 125a-125d 1260-1288 128a-128d 1290-12b0 "
        "12b2-12b5 12b8-12be 12c0 12c2-12c5 12c8-12d6 12d8-1310 1312-1315 1318-135a 1380-138f 13a0-13f5 "
        "1401-166c 166f-167f 1681-169a 16a0-16ea 16f1-16f8 1700-1711 1715 171f-1731 1734 1740-1751 "
        "1760-176c 176e-1770 1780-17b3 17b6 17be-17c5 17c7-17c8 17d7 17dc 17e0-17e9 1810-1819 1820-1878 "
        "1880-1884 1887-18a8 18aa 18b0-18f5 1900-191e 1923-1926 1929-192b 1930-1931 1933-1938 1946-196d "
        "1970-1974 1980-19ab 19b0-19c9 19d0-19d9 1a00-1a16 1a19-1a1a 1a20-1a55 1a57 1a61 1a63-1a64 "
        "1a6d-1a72 1a80-1a89 1a90-1a99 1aa7 1b04-1b33 1b35 1b3b 1b3d-1b41 1b43-1b4c 1b50-1b59 1b82-1ba1 "
        "1ba6-1ba7 1baa 1bae-1be5 1be7 1bea-1bec 1bee 1bf2-1bf3 1c00-1c2b 1c34-1c35 1c40-1c49 1c4d-1c7d "
        "1ce1 1ce9-1cec 1cee-1cf3 1cf5-1cf7 1cfa 1d00-1d2b 1d2f 1d3b 1d4e 1d6b-1d77 1d79-1d9a 1e01 1e03 "
        "1e05 1e07 1e09 1e0b 1e0d 1e0f 1e11 1e13 1e15 1e17 1e19 1e1b 1e1d 1e1f 1e21 1e23 1e25 1e27 1e29 "
        "1e2b 1e2d 1e2f 1e31 1e33 1e35 1e37 1e39 1e3b 1e3d 1e3f 1e41 1e43 1e45 1e47 1e49 1e4b 1e4d 1e4f "
        "1e51 1e53 1e55 1e57 1e59 1e5b 1e5d 1e5f 1e61 1e63 1e65 1e67 1e69 1e6b 1e6d 1e6f 1e71 1e73 1e75 "
        "1e77 1e79 1e7b 1e7d 1e7f 1e81 1e83 1e85 1e87 1e89 1e8b 1e8d 1e8f 1e91 1e93 1e95-1e99 1e9c-1e9d "
        "1e9f 1ea1 1ea3 1ea5 1ea7 1ea9 1eab 1ead 1eaf 1eb1 1eb3 1eb5 1eb7 1eb9 1ebb 1ebd 1ebf 1ec1 1ec3 "
        "1ec5 1ec7 1ec9 1ecb 1ecd 1ecf 1ed1 1ed3 1ed5 1ed7 1ed9 1edb 1edd 1edf 1ee1 1ee3 1ee5 1ee7 1ee9 "
        "1eeb 1eed 1eef 1ef1 1ef3 1ef5 1ef7 1ef9 1efb 1efd 1eff-1f07 1f10-1f15 1f20-1f27 1f30-1f37 "
        "1f40-1f45 1f50-1f57 1f60-1f67 1f70 1f72 1f74 1f76 1f78 1f7a 1f7c 1fb0-1fb1 1fb6 1fc6 1fd0-1fd2 "
        "1fd6-1fd7 1fe0-1fe2 1fe4-1fe7 1ff6 214e 2184 2c30-2c5f 2c61 2c65-2c66 2c68 2c6a 2c6c 2c71 "
        "2c73-2c74 2c76-2c7b 2c81 2c83 2c85 2c87 2c89 2c8b 2c8d 2c8f 2c91 2c93 2c95 2c97 2c99 2c9b 2c9d "
        "2c9f 2ca1 2ca3 2ca5 2ca7 2ca9 2cab 2cad 2caf 2cb1 2cb3 2cb5 2cb7 2cb9 2cbb 2cbd 2cbf 2cc1 2cc3 "
        "2cc5 2cc7 2cc9 2ccb 2ccd 2ccf 2cd1 2cd3 2cd5 2cd7 2cd9 2cdb 2cdd 2cdf 2ce1 2ce3-2ce4 2cec 2cee "
        "2cf3 2d00-2d25 2d27 2d2d 2d30-2d67 2d80-2d96 2da0-2da6 2da8-2dae 2db0-2db6 2db8-2dbe 2dc0-2dc6 "
        "2dc8-2dce 2dd0-2dd6 2dd8-2dde 3005-3007 303c 3041-3096 309d-309e 30a1-30fa 30fc-30fe 3105-312f "
        "31a0-31bf 31f0-31ff 3400-4dbf 4e00-a48c a4d0-a4fd a500-a60c a610-a62b a641 a643 a645 a647 a649 "
        "a64b a64d a64f a651 a653 a655 a657 a659 a65b a65d a65f a661 a663 a665 a667 a669 a66b a66d-a66e "
        "a681 a683 a685 a687 a689 a68b a68d a68f a691 a693 a695 a697 a699 a69b a6a0-a6e5 a723 a725 a727 "
        "a729 a72b a72d a72f-a731 a733 a735 a737 a739 a73b a73d a73f a741 a743 a745 a747 a749 a74b a74d "
        "a74f a751 a753 a755 a757 a759 a75b a75d a75f a761 a763 a765 a767 a769 a76b a76d a76f a771-a778 "
        "a77a a77c a77f a781 a783 a785 a787 a78c a78e-a78f a791 a793-a795 a797 a799 a79b a79d a79f a7a1 "
        "a7a3 a7a5 a7a7 a7a9 a7af a7b5 a7b7 a7b9 a7bb a7bd a7bf a7c1 a7c3 a7c8 a7ca a7d1 a7d3 a7d5 a7d7 "
        "a7d9 a7f6-a7f7 a7fa-a801 a803-a805 a807-a80a a80c-a824 a827 a840-a873 a880-a8c3 a8d0-a8d9 "
        "a8f2-a8f7 a8fb a8fd-a8fe a900-a925 a930-a946 a952-a953 a983-a9b2 a9b4-a9b5 a9ba-a9bb a9be-a9c0 "
        "a9cf-a9d9 a9e0-a9e4 a9e6-a9fe aa00-aa28 aa2f-aa30 aa33-aa34 aa40-aa42 aa44-aa4b aa4d aa50-aa59 "
        "aa60-aa76 aa7a-aa7b aa7d-aaaf aab1 aab5-aab6 aab9-aabd aac0 aac2 aadb-aadd aae0-aaeb aaee-aaef "
        "aaf2-aaf5 ab01-ab06 ab09-ab0e ab11-ab16 ab20-ab26 ab28-ab2e ab30-ab5a ab60-ab68 abc0-abe4 "
        "abe6-abe7 abe9-abea abec abf0-abf9 ac00-d7a3 fa0e-fa0f fa11 fa13-fa14 fa1f fa21 fa23-fa24 "
        "fa27-fa29 10000-1000b 1000d-10026 10028-1003a 1003c-1003d 1003f-1004d 10050-1005d 10080-100fa "
        "10280-1029c 102a0-102d0 10300-1031f 1032d-10340 10342-10349 10350-10375 10380-1039d 103a0-103c3 "
        "103c8-103cf 10428-1049d 104a0-104a9 104d8-104fb 10500-10527 10530-10563 10597-105a1 105a3-105b1 "
        "105b3-105b9 105bb-105bc 10600-10736 10740-10755 10760-10767 10780 11000 11002-11037 11066-1106f "
        "11071-11072 11075 11082-110b2 110b7-110b8 110d0-110e8 110f0-110f9 11103-11126 1112c 11136-1113f "
        "11144-11147 11150-11172 11176 11182-111b5 111bf-111c4 111ce 111d0-111da 111dc 11200-11211 "
        "11213-1122e 11232-11233 11235 11280-11286 11288 1128a-1128d 1128f-1129d 1129f-112a8 112b0-112de "
        "112e0-112e2 112f0-112f9 11302-11303 11305-1130c 1130f-11310 11313-11328 1132a-11330 11332-11333 "
        "11335-11339 1133d-1133f 11341-11344 11347-11348 1134b-1134d 11350 11357 1135d-11363 11400-11437 "
        "11440-11441 11445 11447-1144a 11450-11459 1145f-11461 11480-114b2 114b9 114bb-114be 114c1 "
        "114c4-114c5 114c7 114d0-114d9 11580-115b1 115b8-115bb 115be 115d8-115db 11600-11632 1163b-1163c "
        "1163e 11644 11650-11659 11680-116aa 116ac 116ae-116af 116b6 116b8 116c0-116c9 11700-1171a "
        "11720-11721 11726 11730-11739 11740-11746 11800-1182e 11838 118c0-118e9 118ff-11906 11909 "
        "1190c-11913 11915-11916 11918-11935 11937-11938 1193d 1193f-11942 11950-11959 119a0-119a7 "
        "119aa-119d3 119dc-119df 119e1 119e3-119e4 11a00 11a07-11a08 11a0b-11a32 11a39-11a3a 11a50 "
        "11a57-11a58 11a5c-11a89 11a97 11a9d 11ab0-11af8 11c00-11c08 11c0a-11c2f 11c3e-11c40 11c50-11c59 "
        "11c72-11c8f 11ca9 11cb1 11cb4 11d00-11d06 11d08-11d09 11d0b-11d30 11d46 11d50-11d59 11d60-11d65 "
        "11d67-11d68 11d6a-11d8e 11d93-11d94 11d96 11d98 11da0-11da9 11ee0-11ef2 11ef5-11ef6 11fb0 "
        "12000-12399 12480-12543 12f90-12ff0 13000-1342e 14400-14646 16800-16a38 16a40-16a5e 16a60-16a69 "
        "16a70-16abe 16ac0-16ac9 16ad0-16aed 16b00-16b2f 16b40-16b43 16b50-16b59 16b63-16b77 16b7d-16b8f "
        "16e60-16e7f 16f00-16f4a 16f50-16f87 16f93-16f9f 16fe0-16fe1 16fe3 16ff0-16ff1 17000-187f7 "
        "18800-18cd5 18d00-18d08 1aff0-1aff3 1aff5-1affb 1affd-1affe 1b000-1b122 1b150-1b152 1b164-1b167 "
        "1b170-1b2fb 1bc00-1bc6a 1bc70-1bc7c 1bc80-1bc88 1bc90-1bc99 1df00-1df1e 1e100-1e12c 1e137-1e13d "
        "1e140-1e149 1e14e 1e290-1e2ad 1e2c0-1e2eb 1e2f0-1e2f9 1e7e0-1e7e6 1e7e8-1e7eb 1e7ed-1e7ee "
        "1e7f0-1e7fe 20000-2a6df 2a700-2b738 2b740-2b81d 2b820-2cea1 2ceb0-2ebe0 30000-3134a "
    ),
    "on": (
        "b7 2b9-2ba 2c6-2cf 2ec 375 2e2f 30fb a67f a717-a71f a788 "
    ),
    "hebrew": (
        "591-5bd 5bf 5c1-5c2 5c4-5c5 5c7 5d0-5ea 5ef-5f4 fb1e "
    ),
    "join_ld": (
        "620 626 628 62a-62e 633-63f 641-647 649-64a 66e-66f 679-687 69a-6bf 6c1-6c2 6cc 6ce 6d0-6d1 "
        "6fa-6fc 6ff 712-714 71a-71d 71f-727 729 72b 72d-72e 74e-758 75c-76a 76d-770 772 775-777 77a-77f "
        "7ca-7ea 841-845 848 84a-853 855 860 862-865 868 886 889-88d 8a0-8a9 8af-8b0 8b3-8b8 8ba-8c8 "
        "1820-1878 1887-18a8 18aa a840-a872 10ac0-10ac4 10acd 10ad3-10adc 10ade-10ae0 10b80 10b82 "
        "10b86-10b88 10b8a-10b8b 10b8d 10b90 10d00-10d21 10d23 10f30-10f32 10f34-10f44 10f70-10f73 "
        "10f76-10f81 10fb0 10fb2-10fb3 10fb8 10fbb-10fbc 10fbe-10fbf 10fc1 10fc4 1e922-1e943 "
    ),
    "join_rd": (
        "620 622-63f 641-64a 66e-66f 671-673 679-6d3 6d5 6ee-6ef 6fa-6fc 6ff 710 712-72f 74d-77f 7ca-7ea "
        "840-858 860 862-865 867-86a 870-882 886 889-88e 8a0-8ac 8ae-8c8 1820-1878 1887-18a8 18aa "
        "a840-a871 10ac0-10ac5 10ac7 10ac9-10aca 10ace-10ad6 10ad8-10ae1 10ae4 10b80-10b91 10d01-10d23 "
        "10f30-10f44 10f70-10f81 10fb0 10fb2-10fb6 10fb8-10fbf 10fc1-10fc4 1e922-1e943 "
    ),
    "join_d": (
        "620 626 628 62a-62e 633-63f 641-647 649-64a 66e-66f 679-687 69a-6bf 6c1-6c2 6cc 6ce 6d0-6d1 "
        "6fa-6fc 6ff 712-714 71a-71d 71f-727 729 72b 72d-72e 74e-758 75c-76a 76d-770 772 775-777 77a-77f "
        "7ca-7ea 841-845 848 84a-853 855 860 862-865 868 886 889-88d 8a0-8a9 8af-8b0 8b3-8b8 8ba-8c8 "
        "1820-1878 1887-18a8 18aa a840-a871 10ac0-10ac4 10ad3-10ad6 10ad8-10adc 10ade-10ae0 10b80 10b82 "
        "10b86-10b88 10b8a-10b8b 10b8d 10b90 10d01-10d21 10d23 10f30-10f32 10f34-10f44 10f70-10f73 "
        "10f76-10f81 10fb0 10fb2-10fb3 10fb8 10fbb-10fbc 10fbe-10fbf 10fc1 10fc4 1e922-1e943 "
    ),
    "join_t": (
        "300-33f 342 346-34e 350-36f 483-487 591-5bd 5bf 5c1-5c2 5c4-5c5 5c7 610-61a 64b-65f 670 6d6-6dc "
        "6df-6e4 6e7-6e8 6ea-6ed 711 730-74a 7a6-7b0 7eb-7f3 7fd 816-819 81b-823 825-827 829-82d 859-85b "
        "898-89f 8ca-8e1 8e3-902 93a 93c 941-948 94d 951-957 962-963 981 9bc 9c1-9c4 9cd 9e2-9e3 9fe "
        "a01-a02 a3c a41-a42 a47-a48 a4b-a4d a51 a70-a71 a75 a81-a82 abc ac1-ac5 ac7-ac8 acd ae2-ae3 "
        "afa-aff b01 b3c b3f b41-b44 b4d b55-b56 b62-b63 b82 bc0 bcd c00 c04 c3c c3e-c40 c46-c48 c4a-c4d "
        "c55-c56 c62-c63 c81 cbc cbf cc6 ccc-ccd ce2-ce3 d00-d01 d3b-d3c d41-d44 d4d d62-d63 d81 dca "
        "dd2-dd4 dd6 e31 e34-e3a e47-e4e eb1 eb4-ebc ec8-ecd f18-f19 f35 f37 f39 f71-f72 f74 f7a-f7e f80 "
        "f82-f84 f86-f87 f8d-f92 f94-f97 f99-f9c f9e-fa1 fa3-fa6 fa8-fab fad-fb8 fba-fbc fc6 102d-1030 "
        "1032-1037 1039-103a 103d-103e 1058-1059 105e-1060 1071-1074 1082 1085-1086 108d 109d 135d-135f "
        "1712-1714 1732-1733 1752-1753 1772-1773 17b7-17bd 17c6 17c9-17d3 17dd 1885-1886 18a9 1920-1922 "
        "1927-1928 1932 1939-193b 1a17-1a18 1a1b 1a56 1a58-1a5e 1a60 1a62 1a65-1a6c 1a73-1a7c 1a7f "
        "1ab0-1abd 1abf-1ace 1b00-1b03 1b34 1b36-1b3a 1b3c 1b42 1b6b-1b73 1b80-1b81 1ba2-1ba5 1ba8-1ba9 "
        "1bab-1bad 1be6 1be8-1be9 1bed 1bef-1bf1 1c2c-1c33 1c36-1c37 1cd0-1cd2 1cd4-1ce0 1ce2-1ce8 1ced "
        "1cf4 1cf8-1cf9 1dc0-1dff 2cef-2cf1 2d7f 2de0-2dff 302a-302d 3099-309a a66f a674-a67d a69e-a69f "
        "a6f0-a6f1 a802 a806 a80b a825-a826 a82c a8c4-a8c5 a8e0-a8f1 a8ff a926-a92d a947-a951 a980-a982 "
        "a9b3 a9b6-a9b9 a9bc-a9bd a9e5 aa29-aa2e aa31-aa32 aa35-aa36 aa43 aa4c aa7c aab0 aab2-aab4 "
        "aab7-aab8 aabe-aabf aac1 aaec-aaed aaf6 abe5 abe8 abed fb1e fe20-fe2f 101fd 102e0 10376-1037a "
        "10a01-10a03 10a05-10a06 10a0c-10a0f 10a38-10a3a 10a3f 10ae5-10ae6 10d24-10d27 10eab-10eac "
        "10f46-10f50 10f82-10f85 11001 11038-11046 11070 11073-11074 1107f-11081 110b3-110b6 110b9-110ba "
        "110c2 11100-11102 11127-1112b 1112d-11134 11173 11180-11181 111b6-111be 111c9-111cc 111cf "
        "1122f-11231 11234 11236-11237 1123e 112df 112e3-112ea 11300-11301 1133b-1133c 11340 11366-1136c "
        "11370-11374 11438-1143f 11442-11444 11446 1145e 114b3-114b8 114ba 114bf-114c0 114c2-114c3 "
        "115b2-115b5 115bc-115bd 115bf-115c0 115dc-115dd 11633-1163a 1163d 1163f-11640 116ab 116ad "
        "116b0-116b5 116b7 1171d 1171f 11722-11725 11727-1172b 1182f-11837 11839-1183a 1193b-1193c 1193e "
        "11943 119d4-119d7 119da-119db 119e0 11a01-11a0a 11a33-11a38 11a3b-11a3e 11a47 11a51-11a56 "
        "11a59-11a5b 11a8a-11a96 11a98-11a99 11c30-11c36 11c38-11c3d 11c3f 11c92-11ca7 11caa-11cb0 "
        "11cb2-11cb3 11cb5-11cb6 11d31-11d36 11d3a 11d3c-11d3d 11d3f-11d45 11d47 11d90-11d91 11d95 11d97 "
        "11ef3-11ef4 16af0-16af4 16b30-16b36 16f4f 16f8f-16f92 16fe4 1bc9d-1bc9e 1cf00-1cf2d 1cf30-1cf46 "
        "1da00-1da36 1da3b-1da6c 1da75 1da84 1da9b-1da9f 1daa1-1daaf 1e000-1e006 1e008-1e018 1e01b-1e021 "
        "1e023-1e024 1e026-1e02a 1e130-1e136 1e2ae 1e2ec-1e2ef 1e8d0-1e8d6 1e944-1e94b "
    ),
})

_build()
