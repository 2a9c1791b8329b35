"""constrain.frontends.json_schema.formats: regexes for string formats, checked with Python's ``re.fullmatch``.

Oracles: the JSON Schema Test Suite (draft 2020-12 optional/format), ``ipaddress``,
``uuid``, ``datetime``, ``base64``, ``idna`` and ``jsonschema``'s FormatChecker where it
has a checker, plus small hand-written reference checkers.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import re
import unicodedata
import uuid
from pathlib import Path

import pytest

from tests import paths
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from constrain.frontends.json_schema.formats import (FORMAT_MAX_LENGTH, FORMAT_REGEXES, FORMAT_UNIONS, NUMERIC_FORMATS, format_matches,
                               format_parts, format_regex, time_regex)

try:  # Python 3.11+
    from re import _constants as sre_c  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_constants as sre_c  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SUITE = paths.SHARED_DATA / "json-schema-test-suite" / "tests" / "draft2020-12" / "optional" / "format"

_ALLOWED_OPS = {sre_c.LITERAL, sre_c.IN, sre_c.BRANCH, sre_c.SUBPATTERN, sre_c.MAX_REPEAT}


def assert_plain_dialect(pattern: str) -> None:
    """Literals, positive classes without surrogates, (?:...), | and greedy quantifiers only."""

    def walk(seq):
        for op, av in seq:
            assert op in _ALLOWED_OPS, (op, pattern[:200])
            if op == sre_c.LITERAL:
                assert not 0xD800 <= av <= 0xDFFF
            elif op == sre_c.IN:
                for iop, iav in av:
                    assert iop in (sre_c.LITERAL, sre_c.RANGE), (iop, pattern[:200])
                    lo, hi = (iav, iav) if iop == sre_c.LITERAL else iav
                    assert hi < 0xD800 or lo > 0xDFFF, "surrogates in a class"
            elif op == sre_c.BRANCH:
                for sub in av[1]:
                    walk(sub)
            elif op == sre_c.SUBPATTERN:
                group, add_flags, del_flags, sub = av
                assert group is None and not add_flags and not del_flags
                walk(sub)
            elif op == sre_c.MAX_REPEAT:
                walk(av[2])

    walk(sre_parse.parse(pattern))
    # ^ $ \b, lookarounds, \d \w \s and capture groups are rejected by the parse above;
    # non-ASCII must be literal (\u / \U / \N{} are spelled differently across dialects)
    for esc in ("\\u", "\\U", "\\N"):
        assert esc not in pattern.replace("\\\\", ""), (esc, pattern[:200])


def fm(fmt: str, s: str, **kw) -> bool:
    """The language of ``fmt``: its regex(es) and length caps, as the compiler enforces them."""
    if kw:
        rx = format_regex(fmt, **kw)
        assert rx is not None and fmt not in FORMAT_MAX_LENGTH and fmt not in FORMAT_UNIONS
        return re.fullmatch(rx, s) is not None
    return format_matches(fmt, s)


# ---------------------------------------------------------------------------
# basics
# ---------------------------------------------------------------------------

REQUIRED = ["date-time", "date", "time", "duration", "email", "idn-email", "hostname", "idn-hostname",
            "ipv4", "ipv6", "uri", "uri-reference", "iri", "iri-reference", "uri-template", "uuid",
            "json-pointer", "relative-json-pointer", "regex", "byte", "binary", "password"]


@pytest.mark.parametrize("name", REQUIRED)
def test_known_formats_are_plain_regexes(name):
    rx = format_regex(name)
    assert rx is not None and FORMAT_REGEXES[name] == rx
    assert_plain_dialect(rx)
    re.compile(rx)


@pytest.mark.parametrize("variant", ["utc", "exact", "none"])
def test_time_variants_are_plain(variant):
    assert_plain_dialect(time_regex(variant))
    assert_plain_dialect(format_regex("date-time", leap_seconds=variant))


def test_unknown_and_numeric_formats():
    assert format_regex("unknown") is None
    assert format_regex("color") is None
    for name in ("int32", "int64", "float", "double"):
        assert name in NUMERIC_FORMATS
        assert format_regex(name) is None
    with pytest.raises(ValueError):
        time_regex("sometimes")


# ---------------------------------------------------------------------------
# JSON Schema Test Suite, data-driven
# ---------------------------------------------------------------------------

# Known, documented disagreements (see the module docstring of constrain/frontends/json_schema/formats.py),
# as reason -> [(format, data)].  Each entry is asserted to still disagree.
_LONG_HOST = ".".join(["abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk"] * 4) + ".com"
_LONG_IDN = ".".join(["a" * 63] * 3 + ["a" * 62])
KNOWN_DISAGREEMENTS: dict[str, list[tuple[str, str]]] = {
    # narrowing: RFC 3339 leap seconds are exact only with leap_seconds="exact" (~11k DFA states)
    "leap second accepted only at 23:59:60 UTC by default": [
        ("time", "01:29:60+01:30"),
        ("time", "23:29:60+23:30"),
        ("time", "15:59:60-08:00"),
        ("time", "00:29:60-23:30"),
        ("date-time", "1998-12-31T15:59:60.123-08:00"),
    ],
    # narrowing: Punycode decoding + IDNA2008 rules are not regular; labels with "--" in
    # positions 3-4 are never produced
    "A-labels (xn--) are not generated": [
        ("hostname", "xn--9n2bp8q.xn--9t4b11yi5a"),
        ("hostname", "xn--zca29lwxobi7a"),
        ("hostname", "xn--qmbc"),
        ("hostname", "xn--ll-0ea"),
        ("hostname", "xn--wva3je"),
        ("hostname", "xn--4dbc5h"),
        ("hostname", "xn--4dbc8h"),
        ("hostname", "xn--k8j5u"),
        ("hostname", "xn--bck0j"),
        ("hostname", "xn--vek778f"),
        ("hostname", "xn--ngba1o"),
        ("hostname", "xn--0-gyc"),
        ("hostname", "xn--11b2ezcw70k"),
        ("hostname", "xn--11b2ezcs70k"),
        ("hostname", "xn--ngba5hb2804a"),
        ("idn-hostname", "xn--ihqwcrb4cv8a8dqg056pqjye"),
    ],
    # narrowing: a name with a non-ASCII label has at most 8 characters (then every A-label
    # has at most 62 octets whatever the code points; Punycode length is not regular to count)
    "idn-hostname names with a non-ASCII label: at most 8 characters": [
        ("idn-hostname", "\u03c0\u03b1\u03c1\u03ac\u03b4\u03b5\u03b9\u03b3\u03bc\u03b1" * 5 + "\u03c0\u03b1" + sep + "com")
        for sep in ".\u3002\uff0e\uff61"
    ],
    # narrowing: backreferences (their group must exist: not regular) are never generated
    "format 'regex' without backreferences": [
        ("regex", "(?<n>a)\\k<n>"),
    ],
}
_KNOWN = {item: reason for reason, items in KNOWN_DISAGREEMENTS.items() for item in items}


def _suite_cases():
    cases = []
    for path in sorted(SUITE.glob("*.json")):
        for group in json.loads(path.read_text(encoding="utf-8")):
            fmt = group["schema"].get("format")
            for t in group["tests"]:
                if isinstance(t["data"], str):
                    cases.append(pytest.param(fmt, t["data"], t["valid"], id=f"{path.stem}:{t['description'][:60]}"))
    return cases


SUITE_CASES = _suite_cases()
# the suite is workspace data (../shared/data), absent from a bare clone: those tests skip there
needs_suite = pytest.mark.skipif(not SUITE.exists(), reason="../shared/data/json-schema-test-suite not present")


@needs_suite
def test_suite_present():
    assert len(SUITE_CASES) > 400


@pytest.mark.parametrize("fmt,data,valid", SUITE_CASES)
def test_json_schema_test_suite(fmt, data, valid):
    if format_parts(fmt) is None:
        assert fmt == "unknown"
        return
    got = format_matches(fmt, data)
    if (fmt, data) in _KNOWN:
        assert got != valid, f"stale known disagreement ({_KNOWN[(fmt, data)]}): {fmt} {data!r}"
    else:
        assert got == valid, f"{fmt} {data!r}: regex says {got}, suite says {valid}"


@needs_suite
@pytest.mark.parametrize("fmt", ["time", "date-time"])
def test_suite_exact_leap_seconds(fmt):
    rx = re.compile(format_regex(fmt, leap_seconds="exact"))
    for path in (SUITE / f"{fmt}.json",):
        for group in json.loads(path.read_text(encoding="utf-8")):
            for t in group["tests"]:
                if isinstance(t["data"], str):
                    assert (rx.fullmatch(t["data"]) is not None) == t["valid"], t


# ---------------------------------------------------------------------------
# IP addresses (oracle: ipaddress, jsonschema)
# ---------------------------------------------------------------------------

def ipv4_ok(s: str) -> bool:
    try:
        ipaddress.IPv4Address(s)
        return True
    except ValueError:
        return False


def ipv6_ok(s: str) -> bool:
    if "%" in s:  # zone ids are not part of the format
        return False
    try:
        ipaddress.IPv6Address(s)
        return True
    except ValueError:
        return False


octets = st.one_of(st.integers(0, 255).map(str), st.sampled_from(["256", "300", "00", "01", "099", "1000", "", "-1", "a"]))


@st.composite
def ipv4_candidates(draw):
    parts = draw(st.lists(octets, min_size=3, max_size=5))
    s = ".".join(parts)
    if draw(st.booleans()):
        i = draw(st.integers(0, len(s)))
        s = s[:i] + draw(st.sampled_from(["", ".", "0", "5", " ", "x"])) + s[i + 1:]
    return s


@SETTINGS
@given(ipv4_candidates())
def test_ipv4_oracle(s):
    assert fm("ipv4", s) == ipv4_ok(s), s


@st.composite
def ipv6_candidates(draw):
    n = draw(st.integers(1, 9))
    groups = [draw(st.one_of(st.just("0"), st.text("0123456789abcdefABCDEF", min_size=1, max_size=5))) for _ in range(n)]
    if draw(st.booleans()) and n >= 2:
        groups[-2:] = [draw(ipv4_candidates())]
    s = ":".join(groups)
    if draw(st.booleans()):
        # compress a run of groups into '::'
        k = draw(st.integers(0, len(groups)))
        j = draw(st.integers(k, len(groups)))
        s = ":".join(groups[:k]) + "::" + ":".join(groups[j:])
    if draw(st.integers(0, 3)) == 0:
        i = draw(st.integers(0, len(s)))
        s = s[:i] + draw(st.sampled_from([":", "::", "", "g", ".", "0"])) + s[i:]
    return s


@SETTINGS
@given(ipv6_candidates())
def test_ipv6_oracle(s):
    assert fm("ipv6", s) == ipv6_ok(s), s


def test_ipv6_all_compressions():
    full = ["1", "22", "333", "4444", "a", "bB", "cCc", "DdDd"]
    for i in range(9):
        for j in range(i, 9):
            s = ":".join(full[:i]) + "::" + ":".join(full[j:])
            assert fm("ipv6", s) == ipv6_ok(s), s
            if j <= 6:
                s4 = ":".join(full[:i]) + "::" + ":".join(full[j:6] + ["192.0.2.33"])
                assert fm("ipv6", s4) == ipv6_ok(s4), s4
    assert fm("ipv6", ":".join(full))
    assert fm("ipv6", ":".join(full[:6]) + ":1.2.3.4")


def test_jsonschema_checker_agrees_on_ip_and_uuid():
    jsonschema = pytest.importorskip("jsonschema")
    fc = jsonschema.FormatChecker()
    samples = ["::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "::ffff:1.2.3.4", "1.2.3.4", "1.2.3.04",
               "256.1.1.1", "fe80::1%eth0", "::ffff:1.2.3", "0.0.0.0", ":::", "1::2::3"]
    for s in samples:
        for fmt in ("ipv4", "ipv6"):
            assert fm(fmt, s) == fc.conforms(s, fmt), (fmt, s)
    for s in ["2eb8aa08-aa98-11ea-b4aa-73b441d16380", "2EB8AA08-AA98-11EA-B4AA-73B441D16380",
              "2eb8aa08aa9811eab4aa73b441d16380", "2eb8aa08-aa98-11ea-b4aa-73b441d1638", "g" * 36]:
        assert fm("uuid", s) == fc.conforms(s, "uuid"), s


# ---------------------------------------------------------------------------
# uuid, byte, json pointers
# ---------------------------------------------------------------------------

def uuid_ok(s: str) -> bool:
    try:
        return str(uuid.UUID(s)) == s.lower()
    except ValueError:
        return False


@st.composite
def uuid_candidates(draw):
    s = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))
    if draw(st.booleans()):
        s = s.upper() if draw(st.booleans()) else "".join(c.upper() if draw(st.booleans()) else c for c in s)
    if draw(st.integers(0, 2)) == 0:
        i = draw(st.integers(0, len(s) - 1))
        s = s[:i] + draw(st.sampled_from(["", "-", "g", "0", "00", "{", "\u0663"])) + s[i + 1:]
    return s


@SETTINGS
@given(uuid_candidates())
def test_uuid_oracle(s):
    assert fm("uuid", s) == uuid_ok(s), s


def b64_canonical(s: str) -> bool:
    try:
        return base64.b64encode(base64.b64decode(s, validate=True)).decode() == s
    except ValueError:
        return False


@SETTINGS
@given(st.one_of(st.binary(max_size=12).map(lambda b: base64.b64encode(b).decode()),
                 st.text("AQgwBCz+/=9", max_size=12)))
def test_byte_oracle(s):
    assert fm("byte", s) == b64_canonical(s), s


def json_pointer_ok(s: str) -> bool:
    if s and not s.startswith("/"):
        return False
    i = 0
    while i < len(s):
        if s[i] == "~":
            if i + 1 >= len(s) or s[i + 1] not in "01":
                return False
            i += 2
        else:
            i += 1
    return True


def relative_json_pointer_ok(s: str) -> bool:
    i = 0
    while i < len(s) and s[i] in "0123456789":
        i += 1
    num, rest = s[:i], s[i:]
    if not num or (len(num) > 1 and num[0] == "0"):
        return False
    return rest == "#" or json_pointer_ok(rest)


@SETTINGS
@given(st.text("/~01a#%\u00e9\U0001f600\n", max_size=10))
def test_json_pointer_oracles(s):
    assert fm("json-pointer", s) == json_pointer_ok(s), s
    assert fm("relative-json-pointer", s) == relative_json_pointer_ok(s), s


# ---------------------------------------------------------------------------
# dates and times (oracle: datetime + a hand-written RFC 3339 reader)
# ---------------------------------------------------------------------------

def _digits(s: str) -> bool:
    return bool(s) and all(c in "0123456789" for c in s)


def date_ok(s: str) -> bool:
    if len(s) != 10 or s[4] != "-" or s[7] != "-":
        return False
    y, m, d = s[:4], s[5:7], s[8:]
    if not (_digits(y) and _digits(m) and _digits(d)):
        return False
    yy = int(y)
    if yy == 0:  # RFC 3339 allows it; the documented narrowing (as datetime) does not
        return False
    try:
        datetime.date(yy, int(m), int(d))
        return True
    except ValueError:
        return False


def time_ok(s: str, leap: str = "utc") -> bool:
    if len(s) < 9 or s[2] != ":" or s[5] != ":":
        return False
    hh, mm, ss, rest = s[:2], s[3:5], s[6:8], s[8:]
    if not (_digits(hh) and _digits(mm) and _digits(ss)):
        return False
    if rest.startswith("."):
        j = 1
        while j < len(rest) and rest[j] in "0123456789":
            j += 1
        if j == 1:
            return False
        rest = rest[j:]
    h, m, sec = int(hh), int(mm), int(ss)
    if h > 23 or m > 59 or sec > 60:
        return False
    if rest in ("Z", "z"):
        off = 0
        utc_form = True
    else:
        if len(rest) != 6 or rest[0] not in "+-" or rest[3] != ":" or not (_digits(rest[1:3]) and _digits(rest[4:])):
            return False
        oh, om = int(rest[1:3]), int(rest[4:])
        if oh > 23 or om > 59:
            return False
        off = (oh * 60 + om) * (1 if rest[0] == "+" else -1)
        utc_form = off == 0
    if sec == 60:
        if leap == "none":
            return False
        if (h * 60 + m - off) % 1440 != 23 * 60 + 59:
            return False
        if leap == "utc" and not utc_form:
            return False
    return True


def date_time_ok(s: str, leap: str = "utc") -> bool:
    return len(s) > 11 and s[10] in "Tt" and date_ok(s[:10]) and time_ok(s[11:], leap)


@st.composite
def date_candidates(draw):
    y = draw(st.one_of(st.integers(0, 9999), st.sampled_from([0, 100, 400, 1900, 2000, 2100, 2024, 2023])))
    m = draw(st.integers(0, 13))
    d = draw(st.integers(0, 32))
    s = "%04d-%02d-%02d" % (y, m, d)
    if draw(st.integers(0, 4)) == 0:
        i = draw(st.integers(0, len(s) - 1))
        s = s[:i] + draw(st.sampled_from(["", "-", "0", "00", "\u09e8", " "])) + s[i + 1:]
    return s


@st.composite
def time_candidates(draw):
    h = draw(st.one_of(st.integers(0, 24), st.just(23)))
    m = draw(st.one_of(st.integers(0, 60), st.sampled_from([59, 29, 14])))
    sec = draw(st.one_of(st.integers(0, 61), st.just(60)))
    frac = draw(st.sampled_from(["", ".5", ".123456789", "."]))
    off = draw(st.one_of(st.sampled_from(["Z", "z", "+00:00", "-00:00", "", "+01", "Zz"]),
                         st.tuples(st.sampled_from("+-"), st.integers(0, 24), st.integers(0, 60)).map(
                             lambda t: "%s%02d:%02d" % t)))
    return "%02d:%02d:%02d%s%s" % (h, m, sec, frac, off)


@SETTINGS
@given(date_candidates())
def test_date_oracle(s):
    assert fm("date", s) == date_ok(s), s


def test_date_exhaustive_years_and_days():
    rx = re.compile(format_regex("date"))
    for y in list(range(0, 2401, 1)) + [9996, 9999]:
        for m, d in ((2, 28), (2, 29), (2, 30), (4, 31), (12, 31), (1, 32)):
            s = "%04d-%02d-%02d" % (y, m, d)
            assert (rx.fullmatch(s) is not None) == date_ok(s), s


def test_date_against_jsonschema():
    jsonschema = pytest.importorskip("jsonschema")
    fc = jsonschema.FormatChecker()
    for s in ["2020-02-29", "2021-02-29", "1900-02-29", "2000-02-29", "2020-13-01", "2020-1-01", "20200101",
              "2020-04-31", "2020-12-31", "0001-01-01", "0000-01-01", "0000-02-29", "2020-01-01T00:00:00Z"]:
        assert fm("date", s) == fc.conforms(s, "date"), s


@SETTINGS
@given(time_candidates(), st.sampled_from(["utc", "exact", "none"]))
def test_time_oracle(s, leap):
    assert fm("time", s, leap_seconds=leap) == time_ok(s, leap), (s, leap)


@SETTINGS
@given(date_candidates(), st.sampled_from("Tt "), time_candidates())
def test_date_time_oracle(d, sep, t):
    s = d + sep + t
    assert fm("date-time", s) == date_time_ok(s), s


@SETTINGS
@given(date_candidates(), time_candidates())
def test_date_time_against_fromisoformat(d, t):
    s = d + "T" + t
    if not fm("date-time", s) or ":60" in t:
        return
    # every accepted (non-leap-second) value parses with datetime.fromisoformat
    frac_fixed = re.sub(r"\.([0-9]+)", lambda mo: "." + (mo.group(1) + "000000")[:6], s)
    dt = datetime.datetime.fromisoformat(frac_fixed.replace("z", "Z").replace("Z", "+00:00"))
    assert dt.tzinfo is not None


def test_time_leap_second_examples():
    assert fm("time", "23:59:60Z") and fm("time", "23:59:60.5z") and fm("time", "23:59:60-00:00")
    assert not fm("time", "23:59:60+01:00") and not fm("time", "22:59:60Z")
    assert fm("time", "15:59:60-08:00", leap_seconds="exact")
    assert fm("time", "00:00:60+00:01", leap_seconds="exact")
    assert not fm("time", "15:59:60-07:00", leap_seconds="exact")
    assert not fm("time", "23:59:60Z", leap_seconds="none")


# ---------------------------------------------------------------------------
# duration, hostnames, e-mail, URIs (hand-picked)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("s,ok", [
    ("P1Y", True), ("P1Y2M3DT4H5M6S", True), ("PT1H", True), ("P1W", True), ("P0D", True),
    ("P1M2D", True), ("PT5M6S", True), ("P1DT1M", True), ("P12345678901234567890D", True),
    ("P", False), ("PT", False), ("P1", False), ("P1W2D", False), ("P1.5D", False), ("p1d", False),
    ("P1YT", False), ("PT1H2S", False), ("P1Y2D", False), ("1D", False), ("P-1D", False), ("P1D ", False),
])
def test_duration_examples(s, ok):
    assert fm("duration", s) == ok


def hostname_ok(s: str) -> bool:
    """RFC 1123 host name, without the total-length limit; A-labels (xn--, any case) excluded."""
    if not s:
        return False
    for label in s.split("."):
        if not 1 <= len(label) <= 63:
            return False
        if not all(c.isascii() and (c.isalnum() or c == "-") for c in label):
            return False
        if label[0] == "-" or label[-1] == "-" or label[:4].lower() == "xn--":
            return False
    return True


@SETTINGS
@given(st.one_of(st.text("ab0-.Z_xnN", max_size=12),
                 st.lists(st.sampled_from(["a", "b-c", "xn--a", "a" * 63, "a" * 64, "ab--c", "-a", "a-", "9", "Xn--b",
                                           "xn-a", "co----m", "xn-", "x", "xN--", "ab--", "w--ww"]),
                          min_size=1, max_size=3).map(".".join)))
def test_hostname_oracle(s):
    assert fm("hostname", s) == hostname_ok(s), s


@pytest.mark.parametrize("s,ok", [
    ("a@b", True), ("first.last@example.co.uk", True), ("x+tag@sub.example.org", True),
    ('"a\\"b"@example.com', True), ('"a b"@example.com', True), ("a@[192.168.0.1]", True),
    ("a@[IPv6:2001:db8::1]", True), ("a@[IPv6:::ffff:1.2.3.4]", True), ("a!#$%&'*+/=?^_`{|}~-@x", True),
    ("a@b.", False), ("a@.b", False), ("a@-b.com", False), ("a@b-.com", False), ("a..b@c", False),
    ("a@[300.1.1.1]", False), ("a@[::1]", False), ('"a"b"@c', False), ("a b@c", False), ("a@b@c", False),
    ("\u00e9@example.com", False), ("a@ex\u00e4mple.com", False), ("", False),
])
def test_email_examples(s, ok):
    assert fm("email", s) == ok


@pytest.mark.parametrize("s,ok", [
    ("\u00e9@example.com", True), ("\u7528\u6237@\u4f8b\u5b50.\u5e7f\u544a", True), ("a@ex\u00e4mple.com", True),
    ('"\u00e9 x"@example.com', True), ("a@b", True), ("a@\u0645\u062b\u0627\u0644", False), ("a@", False),
])
def test_idn_email_examples(s, ok):
    assert fm("idn-email", s) == ok


def test_idn_hostname_examples():
    for s in ["\u4f8b\u5b50.\u6d4b\u8bd5", "b\u00fcch.de", "m\u00fcn-ost", "\u0440\u0444", "a.b",
              "Example.COM", "\u03b1\u0375\u03b2", "l\u00b7l", "\u30fb\u3041", "\u0915\u094d\u200d\u0937",
              "\u4f8b\u3002\u6d4b", "\u06f00", "abc\u0301", "\u05d0"]:
        assert fm("idn-hostname", s), ascii(s)
    for s in ["B\u00fccher", "\u00c4", "a--\u00e4", "-\u00e4", "\u00e4-", "\u0301a", "\u00e4..b", "\u00e4 b",
              "a\u00b7b", "\u0375", "\u30fb", "\u200d", "a\u200db", "\u00e4_b", "xn--\u00e4"]:
        assert not fm("idn-hostname", s), ascii(s)


@SETTINGS
@given(st.lists(st.one_of(st.sampled_from(["a", "z9", "-", "\u00e4", "\u00df", "\u4e2d", "\u03b1", "\u0432",
                                           "\u0301", "\u094d", "\u0915", "\u200d", "\u00b7", "l", "\u30fb",
                                           "\u3041", "\u0375", "\uac00", "\U00020000", "."]),
                          st.characters(min_codepoint=0x80, max_codepoint=0x3000)),
                max_size=8).map("".join))
def test_idn_hostname_is_sound_against_idna(s):
    """Whatever the format accepts, idna (jsonschema's checker) accepts -- except the documented
    over-approximation: NFC."""
    idna = pytest.importorskip("idna")
    if not fm("idn-hostname", s):
        return
    if unicodedata.normalize("NFC", s) != s:
        return
    try:
        encoded = idna.encode(s)  # includes the 63-octet A-label and 253-character checks
    except idna.IDNAError as e:
        raise AssertionError(f"regex accepts {ascii(s)} but idna says {e}")
    assert len(encoded) > 0


# Bidi domain names (RFC 5893 over the whole name, as the Test Suite reads it: "0a.\u05d0" is
# invalid although each label alone passes idna's per-label check)

def _bidi_label_ok(label: str) -> bool:
    dirs = [unicodedata.bidirectional(c) for c in label]
    if dirs[0] in ("R", "AL"):
        if not set(dirs) <= {"R", "AL", "AN", "EN", "ES", "CS", "ET", "ON", "BN", "NSM"}:
            return False
        last = [d for d in dirs if d != "NSM"][-1]
        return last in ("R", "AL", "EN", "AN") and not ("EN" in dirs and "AN" in dirs)
    if dirs[0] == "L":
        if not set(dirs) <= {"L", "EN", "ES", "CS", "ET", "ON", "BN", "NSM"}:
            return False
        return [d for d in dirs if d != "NSM"][-1] in ("L", "EN")
    return False


def idn_bidi_reference(s: str) -> bool:
    """idn-hostname by idna's per-label checks (code points, CONTEXTJ/CONTEXTO, hyphens, per-label
    Bidi), the Bidi rule over the whole name when a label is right-to-left, and the documented
    8-character cap of names with a non-ASCII label."""
    idna = pytest.importorskip("idna")
    labels = re.split("[.\u3002\uff0e\uff61]", s)
    if not s or any(not lbl for lbl in labels):
        return False
    for lbl in labels:
        try:
            idna.encode(lbl)
        except (idna.IDNAError, UnicodeError):
            return False
    if any(unicodedata.bidirectional(c) in ("R", "AL", "AN") for c in s):
        if not all(_bidi_label_ok(lbl) for lbl in labels):
            return False
    return s.isascii() or len(s) <= 8


# characters where the regex is exact (no "--", no mark after a hyphen, no upper case, no
# KATAKANA MIDDLE DOT: documented narrowings of non-ASCII labels)
_BIDI_ALPHABET = ["a", "l", "0", "-", ".", "\u3002", "\u05d0", "\u05d1", "\u05f3", "\u05f4", "\u05b4",
                  "\u0628", "\u064a", "\u0627", "\u064b", "\u0660", "\u06f0", "\u06fd", "\u200c", "\u200d",
                  "\u0915", "\u094d", "\u00e4", "\u0903", "\u02b9", "\u07c0", "\U00010d30", "\u00b7"]


@SETTINGS
@given(st.lists(st.sampled_from(_BIDI_ALPHABET), min_size=1, max_size=7).map("".join))
def test_idn_bidi_names_exact(s):
    """Names with right-to-left characters: the regexes agree with the reference both ways
    (outside the documented narrowings of non-ASCII labels, excluded below)."""
    got = fm("idn-hostname", s)
    want = idn_bidi_reference(s)
    if got:
        # NFC is the one documented over-approximation (formats.py: "Not checked (O): NFC
        # normalisation"): marks out of canonical order, e.g. U+064B before U+05B4
        assert want or unicodedata.normalize("NFC", s) != s, f"regex accepts {ascii(s)}"
    elif want:
        labels = re.split("[.\u3002]", s)
        rtl = any(unicodedata.bidirectional(c) in ("R", "AL", "AN") for c in s)
        narrowed = any(not lbl.isascii() and ("--" in lbl or (re.search("-[\u064b\u05b4\u094d\u0903]", lbl) and not rtl)
                                               or "\u00b7" in lbl) for lbl in labels)
        # a Bidi domain name's left-to-right labels are ASCII, its marks from right-to-left blocks
        from constrain.frontends.json_schema.formats import _RTL_MARK_BLOCKS
        narrowed |= rtl and any(not lbl.isascii() and unicodedata.bidirectional(lbl[0]) == "L" for lbl in labels)
        narrowed |= rtl and any(unicodedata.category(c).startswith("M") and not any(a <= ord(c) <= b for a, b in _RTL_MARK_BLOCKS)
                                for c in s)
        assert narrowed, f"regex rejects {ascii(s)}"


@pytest.mark.parametrize("s,ok", [
    ("\u05d0", True), ("\u05d0.com", True), ("com.\u05d0\u05d1", True), ("\u05d00", True), ("\u0628\u0660", True),
    ("\u05d0\u05b4", True), ("\u05d0\u05f3\u05f4", True), ("\u05d0-\u05d1", True),
    ("0a.\u05d0", False), ("0\u0627", False), ("a\u05d0", False), ("\u05d00\u0660", False), ("\u0660", False),
    ("\u05d0-", False), ("\u05d0\u05b4\u05f3", True), ("\u0628\u0903", False), ("\u05d0.a-b", True), ("\u05d0.a\u0301", False),
    ("\u05d0.\u0301a", False), ("\u0628\u200c", False), ("\u0628\u200c\u064b\u0628", True),
    ("\u0628\u064b\u200c\u0628", True), ("\u0627\u200c\u0628", False), ("\u05d0\u200c\u05d1", False),
    ("\u0628\u200c\u0628\u200c\u0628", True), ("\u0628\u200c\u200c\u0628", False),
    ("\u05d0.\u06f0", False), ("\u05d0.a0", True), ("\u05d0-\u064b\u05d1", True), ("\u05d0\u3002\u0628", True), ("\u05d0..a", False),
])
def test_idn_bidi_examples(s, ok):
    assert fm("idn-hostname", s) == ok, ascii(s)
    assert idn_bidi_reference(s) == ok, ascii(s)


@pytest.mark.parametrize("fmt,s,ok", [
    ("uri", "http://example.com", True), ("uri", "http://", True), ("uri", "a:", True),
    ("uri", "foo://u:p@[v7.x:y]:8080/a/b;c?d=e&f#g/h?i", True), ("uri", "http://[fe80::1]:80/", True),
    ("uri", "http://[fe80::1%25eth0]/", False), ("uri", "http://a/%7e", True), ("uri", "http://a/%7", False),
    ("uri", "http://a/b c", False), ("uri", "http://a#b#c", False), ("uri", "http://a:b:c/", False),
    ("uri", "http://\u00e9.com/", False), ("uri", "-a:b", False), ("uri", "a+b.c-d:x", True),
    ("uri-reference", "", True), ("uri-reference", "a/b:c", True), ("uri-reference", "a:b/c", True),
    ("uri-reference", "?#", True), ("uri-reference", "#a#", False), ("uri-reference", "//[::1", False),
    ("iri", "http://\u00e9.com/\u00e9?\ue000#\u00e9", True), ("iri", "http://a/#\ue000", False),
    ("iri", "http://a/\ufffe", False), ("iri", "http://[v1.\u00e9]", False),
    ("iri-reference", "\u00e9/\u00e9", True), ("iri-reference", "a b", False),
    ("uri-template", "http://example.com/{a}{+b}{#c}{.d}{/e*}{;f:3}{?g,h}{&i}", True),
    ("uri-template", "{a.b.c}", True), ("uri-template", "{.a}", True), ("uri-template", "{a.}", False),
    ("uri-template", "{a b}", False), ("uri-template", "{=a}", False), ("uri-template", "%zz", False),
    ("uri-template", "{a:9999}", True), ("uri-template", "{a*:1}", False), ("uri-template", "}", False),
])
def test_uri_family_examples(fmt, s, ok):
    assert fm(fmt, s) == ok


def test_idn_tables_up_to_date():
    """The embedded IDNA tables are what _generate_idn_tables() gives for the recorded versions."""
    idna = pytest.importorskip("idna")
    from constrain.frontends.json_schema import formats

    v = formats.IDN_TABLE_VERSIONS
    if (idna.__version__, unicodedata.unidata_version) != (v["idna"], v["python_unicodedata"]):
        pytest.skip("different idna / unicodedata versions than the embedded tables")
    fresh = formats._generate_idn_tables()
    assert {k: v.split() for k, v in fresh.items()} == {k: v.split() for k, v in formats._IDN_TABLES.items()}


def test_any_string_formats():
    for fmt in ("password", "binary"):
        for s in ("", "a", "\x00\n", "\U0010ffff", "(?<=a)b"):
            assert fm(fmt, s)


def test_format_regexes_are_small_enough():
    # the exact leap-second variant is opt-in because it is large; the defaults are compact
    for name, rx in FORMAT_REGEXES.items():
        assert len(rx) < 40_000, name
    assert len(time_regex("exact")) > len(time_regex("utc"))


# ---------------------------------------------------------------------------
# length limits of hostname / idn-hostname (a character counter in the compiled constraint)
# ---------------------------------------------------------------------------

def _name(labels: int, last: int, size: int = 63, sep: str = ".") -> str:
    return sep.join(["a" * size] * (labels - 1) + ["b" * last])


HOST_LENGTH_CASES = [
    ("a" * 63, True), ("a" * 64, False), (_name(4, 61), True), (_name(4, 62), False),
    (_LONG_HOST, False), (_LONG_IDN, False), (_name(5, 1, size=50), True), (_name(6, 1, size=50), False),
    ("a-b.c", True), ("-a", False),
]


@pytest.mark.parametrize("fmt", ["hostname", "idn-hostname"])
def test_hostname_lengths_exact(fmt):
    """253 characters in all (255 octets on the wire), 63 per label: exact, not over-approximated."""
    assert len(_name(4, 61)) == 253 and len(_LONG_HOST) > 253
    for s, ok in HOST_LENGTH_CASES:
        assert fm(fmt, s) == ok, (fmt, len(s), s[:20])
    if fmt == "idn-hostname":
        assert fm(fmt, _name(4, 61, sep="\u3002")) and not fm(fmt, _name(4, 62, sep="\uff0e"))


def test_idn_hostname_non_ascii_names_are_short():
    assert fm("idn-hostname", "\u00fc" * 8) and not fm("idn-hostname", "\u00fc" * 9)
    assert fm("idn-hostname", "b\u00fcch.de") and not fm("idn-hostname", "b\u00fccher.de")
    assert not fm("idn-hostname", "\u00fc" * 60)  # JSON Schema Test Suite: A-label over 63 octets
    # the worst case of 8 characters: the highest PVALID code points, alternating with the lowest
    idna = pytest.importorskip("idna")
    for s in ["\U0003134a" * 8, "\U0003134a\u00df" * 4, "a\U0003134a" * 4, "\U00030000\U0003134a" * 4]:
        assert fm("idn-hostname", s)
        assert all(len(lbl) <= 63 for lbl in idna.encode(s).split(b"."))


def _walk(compiled, vocab, text: str) -> bool:
    m = compiled.matcher()
    for t in vocab.encode(json.dumps(text, ensure_ascii=False)):
        if not m.advance(t):
            return False
    return m.is_accepting()


@pytest.mark.parametrize("fmt", ["hostname", "idn-hostname"])
def test_compiled_hostname_lengths(fmt, smollm2_vocab):
    """The compiled constraint enforces the caps (counted lexemes), alone and under maxLength."""
    from constrain import compile_json_schema

    compiled = compile_json_schema({"type": "string", "format": fmt}, smollm2_vocab)
    for s, ok in HOST_LENGTH_CASES:
        assert _walk(compiled, smollm2_vocab, s) == ok, (fmt, len(s), s[:20])
    short = compile_json_schema({"type": "string", "format": fmt, "maxLength": 100, "minLength": 2}, smollm2_vocab)
    assert _walk(short, smollm2_vocab, _name(2, 36)) and not _walk(short, smollm2_vocab, _name(2, 37))
    assert not _walk(short, smollm2_vocab, "a")
    if fmt == "idn-hostname":
        assert _walk(compiled, smollm2_vocab, "\uc2e4\ub840.\ud14c\uc2a4\ud2b8")
        assert not _walk(compiled, smollm2_vocab, "\u00fc" * 60)
        # Bidi domain names (the third union part): exact through the token layer too
        for s, ok in [("\u05d0\u05f3\u05d1", True), ("com.\u0628\u0660\u0628", True), ("0a.\u05d0", False),
                      ("\u0628\u064a\u200c\u0628\u064a", True), ("\u0628\u200c\u0627", True),
                      ("\u0627\u200c\u0628", False), ("\u05d00\u0660", False), ("\u05d0" * 9, False)]:
            assert _walk(compiled, smollm2_vocab, s) == ok, ascii(s)


@pytest.mark.parametrize("schema", [
    {"type": "string", "pattern": "^(?:aa|n)*$", "maxLength": 35},  # completion lengths with gaps
    {"type": "string", "pattern": "^(?:aa|n)*$", "maxLength": 34, "minLength": 3},
    {"type": "string", "pattern": "a", "maxLength": 33},
    {"type": "string", "format": "uuid", "maxLength": 40},
])
def test_counted_content_matches_materialized(monkeypatch, schema):
    """A content automaton (patterns, formats) with a long maxLength runs with a character
    counter; every mask equals the materialized automaton's, along random walks."""
    import constrain.frontends.json_schema.lexemes as jl
    from constrain import compile_json_schema
    from constrain.tokens import Vocabulary
    from oracles import assert_same_masks

    toks = [bytes(p) for n in (1, 2, 3) for p in __import__("itertools").product(b'a"\\nu0', repeat=n)]
    toks += ["\u00e9".encode(), b"ab" * 8, b"aaaa" * 4, b'"', b" ", None]
    vocab = Vocabulary.from_token_bytes(toks, eos_ids=[len(toks) - 1])
    counted = compile_json_schema(schema, vocab, max_whitespace=2)
    assert any(getattr(lx.dfa, "counted", False) for lx in counted.rtn.lexemes)
    monkeypatch.setattr(jl, "COUNTED_ABOVE", 10_000)
    plain = compile_json_schema({**schema, "description": "materialized"}, vocab, max_whitespace=2)
    assert not any(getattr(lx.dfa, "counted", False) for lx in plain.rtn.lexemes)
    assert_same_masks(counted, plain, seed=len(str(schema)), walks=40, steps=40, skip=(len(toks) - 1,))


# ---------------------------------------------------------------------------
# regex: every accepted string is an ECMA-262 pattern in unicode mode (oracle: node)
# ---------------------------------------------------------------------------

REGEX_EXAMPLES = [
    ("([abc])+\\s+$", True), ("(?<name>x)", True), ("(?<=a+)b", True), ("(?<!a)b(?=c)(?!d)", True), ("[]", True),
    ("[^]", True), ("\\cA", True), ("a{2,3}?", True), ("a{0,10}", True), ("[a-z-]", True), ("[-\\d]", True),
    ("((a)|b)*", True), ("\\u{10FFFF}\\u00e9\\x41", True), ("", True), ("a||b", True), ("\\/\\.\\[\\]", True),
    ("^(abc]", False), ("\\a", False), ("(?P<name>x)", False), ("(?#c)a", False), ("(?i)abc", False), ("a{3,2}", False),
    ("a**", False), ("(?=a)*", False), ("^*", False), ("[z-a]", False), ("]", False), ("{", False), ("a{1", False),
    ("\\u{110000}", False), ("(?<a>x)(?<a>y)", False), ("\\-", False), ("[\\w-a]", False), (")", False),
    # narrowings: valid, but outside the regular subset
    ("(?<n>a)\\k<n>", False), ("(a)\\1", False), ("(((a)))", False), ("\\p{L}", False), ("a{10,20}", False),
    ("a(?<n>x)", False),
]


@pytest.mark.parametrize("s,ok", REGEX_EXAMPLES)
def test_regex_examples(s, ok):
    assert fm("regex", s) == ok


def _node_compiles(patterns: list[str]) -> list[bool]:
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    js = ("let d='';process.stdin.on('data',c=>d+=c).on('end',()=>{const out=JSON.parse(d).map(p=>"
          "{try{new RegExp(p,'u');return true}catch(e){return false}});process.stdout.write(JSON.stringify(out))})")
    res = subprocess.run([node, "-e", js], input=json.dumps(patterns), capture_output=True, text=True, timeout=60)
    return json.loads(res.stdout)


def test_regex_examples_against_node():
    """The examples' validity (narrowings aside) is what a JavaScript engine says."""
    got = _node_compiles([s for s, _ in REGEX_EXAMPLES])
    narrowed = {"(?<n>a)\\k<n>", "(a)\\1", "(((a)))", "\\p{L}", "a{10,20}", "a(?<n>x)"}
    for (s, ok), valid in zip(REGEX_EXAMPLES, got):
        assert valid == (ok or s in narrowed), s


def test_regex_is_sound_against_node():
    """Random strings of the format's language (random walks of its DFA) all compile in node
    with the ``u`` flag."""
    import random

    from constrain.frontends.regex import regex_to_dfa

    d = regex_to_dfa(format_regex("regex"), encoding="utf8")
    trans, accept = d.trans, d.accept
    rng = random.Random(0)
    samples = []
    while len(samples) < 400:
        q, out = 0, bytearray()
        for _ in range(60):
            if accept[q] and rng.random() < 0.15:
                break
            nxt = [b for b in range(256) if trans[q, b] >= 0]
            if not nxt:
                break
            b = rng.choice(nxt)
            out.append(b)
            q = int(trans[q, b])
        if accept[q]:
            samples.append(out.decode("utf-8"))
    assert all(fm("regex", s) for s in samples)
    bad = [s for s, ok in zip(samples, _node_compiles(samples)) if not ok]
    assert not bad, bad[:5]


def test_counted_content_too_short_for_the_format_is_empty(smollm2_vocab):
    """A format whose strings are all longer than maxLength leaves no string at all (the
    counted lexeme says it is empty, so no token may start one)."""
    from constrain import compile_json_schema

    c = compile_json_schema({"type": ["string", "null"], "format": "uuid", "maxLength": 35}, smollm2_vocab)
    m = c.matcher()
    quote = smollm2_vocab.encode('"')[0]
    assert not m.is_allowed(quote)
    for t in smollm2_vocab.encode("null"):
        assert m.advance(t)
    assert m.is_accepting()
