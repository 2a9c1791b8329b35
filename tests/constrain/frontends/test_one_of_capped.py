"""``oneOf`` over string formats with a long length bound: hostname's 253-character cap, counted
outside the product of the branches (``lexemes.hoist_cap``).

``oneOf: [{format: hostname}, {format: ipv4}, {format: ipv6}]`` and ``[{format: uri}, {format:
hostname}]`` (real schemas: a host or an IP address; a registry URL or host) were refused with
"product automaton exceeds 100000 states": the 253-character counter multiplied the labels'
automaton. The oracle is the formats' own languages (``formats.format_matches``): a string is
valid iff exactly one branch's format holds."""

from __future__ import annotations

import json

import pytest

from constrain import compile_json_schema
from constrain.frontends.json_schema.formats import format_matches
from constrain.frontends.json_schema.lexemes import hoist_cap
from tests.constrain.frontends.test_allof import accepts, byte_vocab  # noqa: F401  (fixture)

LABEL = "a" * 63
STRINGS = ["example.com", "localhost", "1.2.3.4", "1.2.3.400", "255.255.255.255", "01.2.3.4", "1.2.3.4.5", "::1",
           "fe80::1", "2001:db8::8a2e:370:7334", "::ffff:1.2.3.4", "http://example.com", "https://a.b/c?d#e",
           "urn:isbn:0451450523", "example.com:8080", "-bad.com", "a_b.com", "", "a",
           ".".join([LABEL] * 4)[:253], ".".join([LABEL] * 4)[:253] + "b", LABEL + "a.com", "1" * 253, "1" * 254]

CASES = [["hostname", "ipv4", "ipv6"], ["uri", "hostname"], ["hostname", "ipv4"], ["ipv6", "hostname"]]


@pytest.mark.parametrize("fmts", CASES, ids=["+".join(c) for c in CASES])
def test_one_of_formats_with_a_long_cap(byte_vocab, fmts):
    schema = {"type": "string", "oneOf": [{"format": f} for f in fmts]}
    c = compile_json_schema(schema, byte_vocab)
    for s in STRINGS:
        want = sum(format_matches(f, s) for f in fmts) == 1
        assert accepts(c, byte_vocab, json.dumps(s)) == want, (s, [f for f in fmts if format_matches(f, s)])
    assert not accepts(c, byte_vocab, "1")  # not a string


def test_one_of_formats_inside_an_object(byte_vocab):
    schema = {"type": "object", "properties": {"host": {"type": "string", "oneOf": [
        {"format": "hostname"}, {"format": "ipv4"}, {"format": "ipv6"}]}}, "required": ["host"]}
    c = compile_json_schema(schema, byte_vocab)
    assert accepts(c, byte_vocab, '{"host": "db.internal"}')
    assert accepts(c, byte_vocab, '{"host": "::1"}')
    assert not accepts(c, byte_vocab, '{"host": "10.0.0.1"}')  # a hostname and an ipv4: both branches hold
    assert not accepts(c, byte_vocab, '{"host": "' + "1" * 254 + '"}')


def test_hoist_cap_rules():
    spec = lambda full, hi=None, lo=0: ("spec", [], [full], lo, hi, [], [])  # noqa: E731
    a, b = spec("[a-z]+", 100), spec("[a-c]+", 200)
    # (A ∩ C_100) - (B ∩ C_200) = (A - B) ∩ C_100
    assert hoist_cap(("minus", a, b)) == (("minus", spec("[a-z]+"), spec("[a-c]+")), 100)
    # the subtrahend's bound below the minuend's: not hoisted (strings of 51..100 characters in B stay in)
    assert hoist_cap(("minus", a, spec("[a-c]+", 50))) is None
    # a short minuend (at most 3 characters) minus a long-capped subtrahend: the cap dropped
    assert hoist_cap(("minus", spec("[a-z]{1,3}"), b)) == (("minus", spec("[a-z]{1,3}"), spec("[a-c]+")), None)
    # an unbounded minuend disjoint from the subtrahend: itself
    assert hoist_cap(("minus", spec("[0-9]+"), b)) == (spec("[0-9]+"), None)
    # an unbounded minuend that meets it: not hoisted
    assert hoist_cap(("minus", spec("[a-z0-9]+"), b)) is None


# A oneOf branch subtracts the others; a format this engine narrows (hostname refuses A-labels,
# date-time most leap seconds: docs/json_schema.md) subtracted as it is let through the strings
# it refuses but JSON Schema accepts, so both branches held for them and yet they were accepted.
NARROWED = [
    ({"type": "string", "oneOf": [{"format": "hostname"}, {"pattern": "^xn--"}]}, "xn--ihqwcrb4cv8a8dqg056pqjye"),
    ({"type": "string", "oneOf": [{"format": "date-time"}, {"pattern": ":60"}]}, "1990-12-31T15:59:60-08:00"),
    ({"type": "string", "oneOf": [{"format": "time"}, {"pattern": ":60-08:00$"}]}, "15:59:60-08:00"),
]


@pytest.mark.parametrize("schema, text", NARROWED, ids=["hostname", "date-time", "time"])
def test_narrowed_formats_are_not_subtracted_as_they_are(byte_vocab, schema, text):
    import jsonschema

    from constrain import CompileBudgetError

    fc = jsonschema.Draft202012Validator.FORMAT_CHECKER
    assert fc.conforms(text, schema["oneOf"][0]["format"])  # valid for the format: both branches hold
    assert not jsonschema.Draft202012Validator(schema, format_checker=fc).is_valid(text)
    try:
        c = compile_json_schema(schema, byte_vocab)
    except CompileBudgetError:
        return  # refused: never accepted
    assert not accepts(c, byte_vocab, json.dumps(text))


def test_format_supersets_contain_the_formats():
    from constrain.frontends.json_schema import formats

    assert formats.format_superset_parts("ipv4") == formats.format_parts("ipv4")
    assert formats.format_superset_parts("date-time") is None
    sup = formats.format_superset_parts("hostname")
    import re
    assert re.fullmatch(sup[0][0], "xn--ihqwcrb4cv8a8dqg056pqjye.example") and sup[0][1] == 253
    assert not formats.format_matches("hostname", "xn--ihqwcrb4cv8a8dqg056pqjye.example")
