"""``format_assertion``: ``True`` (the default) enforces ``format``; ``False`` reads it as draft
2020-12's default annotation vocabulary does (no check), as the Test Suite's required
``format.json`` expects.  Verdicts through the matcher (full mask before each token, EOS
after the last) on a byte vocabulary, against ``jsonschema`` without a format checker
(``False``) and with ``FormatChecker`` (``True``).
"""

from __future__ import annotations

import json
import warnings

import jsonschema
import pytest

from constrain import EmptyLanguageError, JsonOptions, compile_json_schema
from tests.constrain.frontends.test_allof import accepts, byte_vocab  # noqa: F401  (fixture)

STRINGS = ["a@b.co", "not an email", "1.2.3.4", "1.2.3.400", "2024-02-29", "2023-02-29",
           "12345678-1234-1234-1234-123456789abc", "xyz", ""]

SCHEMAS = [
    {"type": "string", "format": "email"},
    {"format": "ipv4"},
    {"anyOf": [{"format": "date"}, {"format": "uuid"}]},
    {"type": "array", "items": {"format": "date"}},
    {"type": "object", "properties": {"k": {"format": "ipv4"}}},
    {"type": "object", "propertyNames": {"format": "email"}},
    {"type": "string", "format": "ipv4", "minLength": 8},
]
# complements: with assertion a complement reads format as satisfied (docs/json_schema.md), so
# only soundness there; without assertion that reading is exact
COMPLEMENTS = [
    {"not": {"format": "email"}},
    {"oneOf": [{"format": "ipv4"}, {"type": "string", "minLength": 8}]},
]


def _instances(schema):
    if schema.get("type") == "array":
        return [[s] for s in STRINGS] + [[]]
    if "properties" in schema:
        return [{"k": s} for s in STRINGS] + [{}]
    if "propertyNames" in schema:
        return [{s: 1} for s in STRINGS] + [{}]
    return STRINGS + [1]


@pytest.mark.parametrize("assertion", [True, False])
@pytest.mark.parametrize("schema", SCHEMAS)
def test_verdicts_equal_jsonschema(byte_vocab, schema, assertion):
    compiled = compile_json_schema(schema, byte_vocab, format_assertion=assertion)
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER if assertion else None
    valid = jsonschema.Draft202012Validator(schema, format_checker=checker).is_valid
    bad = [(x, valid(x)) for x in _instances(schema) if accepts(compiled, byte_vocab, json.dumps(x)) != valid(x)]
    assert bad == []


@pytest.mark.parametrize("assertion", [True, False])
@pytest.mark.parametrize("schema", COMPLEMENTS)
def test_complements(byte_vocab, schema, assertion):
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER if assertion else None
    valid = jsonschema.Draft202012Validator(schema, format_checker=checker).is_valid
    try:
        compiled = compile_json_schema(schema, byte_vocab, format_assertion=assertion)
    except EmptyLanguageError:
        # every instance rejected: exact without assertion (not: {format} is not: {}), sound with it
        assert assertion or not any(valid(x) for x in _instances(schema))
        return
    for x in _instances(schema):
        got = accepts(compiled, byte_vocab, json.dumps(x))
        assert got == valid(x) if not assertion else (not got or valid(x)), x


def test_option_plumbing(byte_vocab):
    assert JsonOptions().format_assertion is True
    assert JsonOptions.GENERATION.format_assertion is True
    opts = JsonOptions(format_assertion=False)
    c = compile_json_schema({"format": "uuid"}, byte_vocab, options=opts)
    assert accepts(c, byte_vocab, '"nope"')
    # an unknown format warns when formats are asserted, and is silent when they are annotations
    with pytest.warns(UserWarning, match="unknown format"):
        compile_json_schema({"format": "no-such"}, byte_vocab)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compile_json_schema({"format": "no-such"}, byte_vocab, format_assertion=False)


# OpenAPI's `byte` (base64) is no JSON Schema format: a validator (jsonschema, with or without
# its format checker) ignores it, so asserting it by default rejected valid instances
# (MaskBench's Kubernetes `caBundle: "-----BEGIN ..."`); `openapi_formats=True` asserts it.
BYTE_SCHEMAS = [
    {"type": "string", "format": "byte"},
    {"type": "object", "properties": {"caBundle": {"type": "string", "format": "byte"}}},
    {"type": "object", "propertyNames": {"format": "byte"}},
]
BYTE_STRINGS = ["-----BEGIN CERTIFICATE-----", "base64 encoded", "aGVsbG8=", "aGVsbG8", "", "YQ=="]


def _byte_instances(schema):
    if "properties" in schema:
        return [{"caBundle": s} for s in BYTE_STRINGS] + [{}]
    if "propertyNames" in schema:
        return [{s: 1} for s in BYTE_STRINGS] + [{}]
    return BYTE_STRINGS


@pytest.mark.parametrize("schema", BYTE_SCHEMAS)
def test_openapi_byte_is_an_annotation_by_default(byte_vocab, schema):
    with pytest.warns(UserWarning, match="OpenAPI"):
        compiled = compile_json_schema(schema, byte_vocab)
    valid = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    bad = [x for x in _byte_instances(schema) if accepts(compiled, byte_vocab, json.dumps(x)) != valid.is_valid(x)]
    assert bad == []


@pytest.mark.parametrize("schema", BYTE_SCHEMAS)
def test_openapi_byte_asserted_on_request(byte_vocab, schema):
    import base64

    def b64(s):
        try:
            return base64.b64encode(base64.b64decode(s, validate=True)).decode() == s
        except ValueError:
            return False

    compiled = compile_json_schema(schema, byte_vocab, openapi_formats=True)
    for x in _byte_instances(schema):
        strings = [v for v in (x.values() if "properties" in schema else x if isinstance(x, dict) else [x])]
        assert accepts(compiled, byte_vocab, json.dumps(x)) == all(b64(s) for s in strings), x


def test_openapi_formats_plumbing(byte_vocab):
    assert JsonOptions().openapi_formats is False
    assert JsonOptions.GENERATION.openapi_formats is True  # generation writes base64 where asked
    c = compile_json_schema({"format": "byte"}, byte_vocab, options=JsonOptions.GENERATION)
    assert not accepts(c, byte_vocab, '"not base64"')
    # with format_assertion=False no format is checked, OpenAPI's included, and nothing warns
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = compile_json_schema({"format": "byte"}, byte_vocab, format_assertion=False, openapi_formats=True)
    assert accepts(c, byte_vocab, '"not base64"')


# The complement of an asserted format that is exact here and has no length cap is exact:
# `not: {format: ipv4}` is the strings that are no IPv4 address (it was the empty language,
# every string refused, as for the narrowed formats, whose complement still leaves it out).
EXACT_COMPLEMENTS = [
    {"not": {"format": "ipv4"}},
    {"type": "string", "not": {"format": "ipv6"}},
    {"type": "string", "not": {"format": "uuid", "minLength": 3}},
    {"oneOf": [{"format": "ipv4"}, {"type": ["string", "number"], "maxLength": 9}]},
    {"anyOf": [{"type": "integer"}, {"not": {"anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}}]},
    {"type": "object", "additionalProperties": {"not": {"format": "ipv4"}}},
]
COMPLEMENT_VALUES = ["1.2.3.4", "1.2.3.400", "example.com", "::1", "fe80::1:2", "12345678-1234-1234-1234-123456789abc",
                     "x", "", "1.2.3", "1234567890", 5, 2.5, None, [1], {"k": "1.2.3.4"}, {"k": "a"}]


@pytest.mark.parametrize("schema", EXACT_COMPLEMENTS)
def test_complements_of_exact_formats_are_exact(byte_vocab, schema):
    valid = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).is_valid
    compiled = compile_json_schema(schema, byte_vocab)
    bad = [(x, valid(x)) for x in COMPLEMENT_VALUES if accepts(compiled, byte_vocab, json.dumps(x)) != valid(x)]
    assert bad == []


def test_complements_of_narrowed_formats_stay_narrowings(byte_vocab):
    """hostname (A-labels refused here) and date (year 0000): their complements still leave
    the format out, so they refuse every string rather than accept a valid one."""
    for fmt in ("hostname", "date"):
        with pytest.raises(EmptyLanguageError):
            compile_json_schema({"type": "string", "not": {"format": fmt}}, byte_vocab)
