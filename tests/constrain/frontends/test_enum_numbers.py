"""An enum's number values are one lexeme (one regex: a trie of their plain texts, then the
trailing-zero suffix), not one per value.

The language is the same as one number lexeme per value, so the masks must be too: checked
state by state against the per-value construction (``GROUP_NUMBER_ENUMS = False``) along walks
on SmolLM2's vocabulary, and verdicts against ``jsonschema`` on a byte vocabulary for the
spellings the engine admits (plain text, trailing zeros after a point: docs/json_schema.md)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from constrain import compile_json_schema
from tests.constrain.frontends.test_allof import accepts, byte_vocab  # noqa: F401  (fixture)
from tests.constrain.frontends.test_enum_strings import assert_grouping_keeps_masks

SCHEMAS = [
    {"enum": [1, 12, 123, 2, 20, 200, -1, -12, 0]},
    {"type": "number", "enum": [0.5, 1.25, 1, 2.0, -3.75, 1e-7, 1099511627776]},
    {"enum": ["1", 1, "a", 2.5, None, 3, True, [1], {"k": 2}]},
    {"type": "integer", "enum": [1, 1.5, 2, 3, -4], "minimum": 0},  # 1.5 and -4 filtered out
    {"type": "object", "properties": {"code": {"enum": list(range(100, 120)) + [404, 500]}}, "required": ["code"]},
    {"anyOf": [{"enum": [1, 2, 3]}, {"enum": [3, 4.5, "x"]}]},
    {"type": "array", "items": {"enum": [1, 2, 10, 21], "not": {"const": 2}}},
]
TEXTS = ["1", "1.0", "1.00", "12", "123", "1234", "2", "20", "200", "2000", "-1", "-1.0", "-12", "-2", "0", "0.0",
         "-0", "-0.0", "00", "01", "0.5", "0.50", "0.05", "1.25", "1.250", "1.2", "2.0", "-3.75", "-3.7500",
         "0.0000001", "0.00000010", "1099511627776", "1099511627776.0", "\"1\"", "\"a\"", "2.5", "null",
         "3", "3.0", "true", "[1]", "{\"k\": 2}", "{\"k\": 2.0}", "-4", "1.5", "{\"code\": 404}", "{\"code\": 119}",
         "{\"code\": 120}", "{\"code\": 100.0}", "4.5", "4.50", "\"x\"", "[1, 10, 21]", "[2]", "[1, 2.0]", "[10.00]"]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_grouped_number_enums_give_the_same_masks(smollm2_vocab, schema, monkeypatch):
    """Every mask along every text's walk (as far as it goes) equals the per-value build's."""
    assert_grouping_keeps_masks(schema, smollm2_vocab, TEXTS, monkeypatch, "GROUP_NUMBER_ENUMS")


@pytest.mark.parametrize("schema", SCHEMAS)
def test_grouped_number_enums_verdicts(byte_vocab, schema):
    c = compile_json_schema(schema, byte_vocab)
    v = jsonschema.Draft202012Validator(schema)
    for t in TEXTS:
        try:
            want = v.is_valid(json.loads(t))
        except json.JSONDecodeError:  # "00", "01": no JSON text
            want = False
        assert accepts(c, byte_vocab, t) == want, t


def test_many_numbers_are_one_lexeme(byte_vocab):
    """2,000 integers: one lexeme (the grammar's lexeme count does not grow with the values)."""
    few = compile_json_schema({"enum": [1, 2]}, byte_vocab)
    many = compile_json_schema({"enum": list(range(0, 4000, 2))}, byte_vocab)
    assert len(many.rtn.lexemes) == len(few.rtn.lexemes)
    assert accepts(many, byte_vocab, "3998") and not accepts(many, byte_vocab, "3997")


def test_long_scalar_enums_compile_and_long_structured_ones_are_refused(byte_vocab):
    """Strings and numbers share a lexeme per kind, so thousands of them compile (ISO 3166-2
    lists ~5,000 subdivision codes; the limit was 2,000 values of any kind); objects and
    arrays are one alternative each and keep the 2,000 limit, with a clear error past it."""
    from constrain import UnsupportedSchemaError

    codes = [f"{a}{b}-{n}" for a in "ABCDEFGHIJ" for b in "KLMNOPQRST" for n in range(50)]  # 5,000
    c = compile_json_schema({"type": "string", "enum": codes}, byte_vocab)
    assert accepts(c, byte_vocab, '"JT-49"') and not accepts(c, byte_vocab, '"JT-50"')
    c = compile_json_schema({"enum": list(range(5000)) + codes[:10]}, byte_vocab)
    assert accepts(c, byte_vocab, "4999") and accepts(c, byte_vocab, '"AK-9"') and not accepts(c, byte_vocab, "5000")
    with pytest.raises(UnsupportedSchemaError, match="not strings or numbers") as ei:
        compile_json_schema({"properties": {"p": {"enum": [[i] for i in range(2001)]}}}, byte_vocab)
    assert ei.value.keyword == "enum" and ei.value.pointer == "#/properties/p"


def test_fresh_rule_names_count_on(byte_vocab):
    """Rule names at one pointer: ``base``, ``base#1``, ... skipping taken ones, as the linear
    probe gave them (the next suffix is now remembered per base)."""
    from constrain.frontends.json_schema.lower import SchemaLowering
    from constrain.frontends.json_schema.lexemes import JsonLexemes

    ctx = SchemaLowering(True, strict=False, lenient=False, lexemes=JsonLexemes("flexible", 16))
    got = []
    for _ in range(3):
        got.append(ctx.fresh_rule_name("value:#"))
        ctx.rules[got[-1]] = None
    ctx.rules["value:#/x#2"] = None  # taken by someone else
    for _ in range(2):
        got.append(ctx.fresh_rule_name("value:#/x"))
        ctx.rules[got[-1]] = None
    assert got == ["value:#", "value:##1", "value:##2", "value:#/x", "value:#/x#1"]
    assert ctx.fresh_rule_name("value:#/x") == "value:#/x#3"
