"""Exactness of the complement-based keywords (``not``, non-disjoint ``oneOf``,
``if``/``then``/``else``, ``dependentSchemas``) and the disjointness proofs, against ``jsonschema``.

Each case compiles a schema and walks valid and invalid instances through the matcher with a
real tokenizer; an instance is accepted exactly when ``jsonschema`` says it is valid, except
for the documented narrowings (numbers written with an exponent, integers with a fraction),
which these instances avoid.
"""

from __future__ import annotations

import json

import jsonschema
import pytest

from constrain import EmptyLanguageError, UnsupportedSchemaError, compile_json_schema

from oracles import accepts_json as accepts, check_against_jsonschema

VALUES = [
    None, True, False, 0, 1, -3, 7, 12, 2.5, -0.25, 100, "", "a", "abc", "x1", "hello world", "2024-01-02",
    [], [1], [1, 2], ["a", "b"], [1, "a"], [[]], [1, 1], ["a", 1, "b"], ["a", "a", 1], [[1], 1, [1]], [True, False],
    [True, True], [False], [1, 2, 3], ["x", "y", 2], {}, {"a": 1}, {"a": "x"}, {"b": 2}, {"a": 1, "b": 2},
    {"kind": "cat", "lives": 9}, {"kind": "dog", "lives": 9}, {"kind": "dog", "bark": True},
    {"kind": "cat"}, {"a": None}, {"c": [1, 2]}, {"a": 1, "c": "s"}, {"a": "x", "b": "y"},
]


def check(schema, vocab, extra=()):
    check_against_jsonschema(schema, vocab, list(VALUES) + list(extra))


CASES = {
    "not-properties": {"type": "object", "not": {"properties": {"a": {"type": "integer"}}}},
    "not-items": {"type": "array", "not": {"items": {"type": "integer"}}},
    "not-multipleOf": {"type": "integer", "not": {"multipleOf": 3}},
    "not-enum-numbers": {"not": {"enum": [1, 7, "a", None, [1]]}} if False else {"not": {"enum": [1, 7, "a", None]}},
    "not-const-number": {"type": "number", "not": {"const": 12}},
    "not-minimum": {"not": {"minimum": 7}},
    "not-required-typed": {"not": {"type": "object", "required": ["a"]}},
    "not-allOf": {"not": {"allOf": [{"type": "string"}, {"minLength": 2}]}},
    "not-format": {"anyOf": [{"type": "integer"}, {"type": "string", "not": {"format": "date"}}]},
    "not-anyOf-objects": {"type": "object", "not": {"anyOf": [{"properties": {"a": {"type": "string"}}, "required": ["a"]},
                                                              {"required": ["b"]}]}},
    "not-contains": {"type": "array", "not": {"contains": {"type": "string"}}},
    "not-maxItems": {"not": {"type": "array", "maxItems": 1}},
    "not-dependentRequired": {"type": "object", "not": {"dependentRequired": {"a": ["b"]}}},
    "oneOf-overlapping-numbers": {"oneOf": [{"type": "integer"}, {"minimum": 5}]},
    "oneOf-overlapping-objects": {"oneOf": [{"type": "object", "properties": {"a": {"type": "integer"}}},
                                            {"type": "object", "required": ["b"]}]},
    "oneOf-strings-and-objects": {"oneOf": [{"type": "string", "minLength": 2}, {"type": "string", "pattern": "^a"},
                                            {"type": "object"}]},
    "oneOf-ranges": {"oneOf": [{"type": "integer", "maximum": 5}, {"type": "integer", "minimum": 6}, {"type": "string"}]},
    "oneOf-discriminator-type": {"oneOf": [
        {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}]},
    # untyped branches: the discriminator proves nothing for non-objects (both take 1, "x")
    "oneOf-discriminator-untyped": {"oneOf": [
        {"properties": {"a": {"const": "x"}}, "required": ["a"]},
        {"properties": {"a": {"const": 1}}, "required": ["a"]}]},
    "oneOf-closed-objects": {"oneOf": [
        {"type": "object", "properties": {"a": {}}, "required": ["a"], "additionalProperties": False},
        {"type": "object", "properties": {"b": {}}, "required": ["b"], "additionalProperties": False}]},
    "oneOf-enum-vs-schema": {"oneOf": [{"enum": ["a", 1]}, {"type": "integer", "minimum": 5}]},
    "if-then-else": {"type": "object",
                     "if": {"properties": {"kind": {"const": "cat"}}, "required": ["kind"]},
                     "then": {"required": ["lives"]}, "else": {"not": {"required": ["lives"]}}},
    "if-then-only": {"if": {"type": "integer"}, "then": {"minimum": 5}},
    "if-else-only": {"if": {"type": "string"}, "else": {"type": "array"}},
    "dependentSchemas": {"type": "object", "dependentSchemas": {"a": {"properties": {"b": {"type": "string"}}}}},
    "dependencies-schema": {"$schema": "http://json-schema.org/draft-07/schema#", "properties": {"a": {}, "b": {}, "c": {}}, "dependencies": {"a": {"required": ["b"]}, "c": ["a"]}},
    "dependentSchemas-untyped": {"dependentSchemas": {"kind": {"required": ["lives"]}}},
    "enum-with-presence": {"enum": [{"a": 1}, {"b": 2}, {"a": 1, "b": 2}, 3], "anyOf": [{"required": ["a"]}, {"required": ["b"]}]},
    "allOf-nots": {"allOf": [{"not": {"type": "string"}}, {"not": {"type": "null"}}, {"not": {"const": 1}}]},
    "enum-with-not": {"enum": ["a", "b", 3, 6, 2.5, None, 7], "not": {"anyOf": [{"const": "a"}, {"multipleOf": 3}, {"type": "null"}]}},
    "enum-not-integer": {"enum": ["a", 3, 2.5], "not": {"type": "integer"}},
    "uniqueItems-enum": {"type": "array", "items": {"enum": [1, "a", "b", [1]]}, "uniqueItems": True},
    "uniqueItems-bool-bounded": {"type": "array", "items": {"type": "boolean"}, "uniqueItems": True, "minItems": 1},
    "maxContains": {"type": "array", "contains": {"type": "integer"}, "maxContains": 1},
    "min-maxContains": {"type": "array", "contains": {"type": "string"}, "minContains": 1, "maxContains": 1, "maxItems": 3},
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_matches_jsonschema(name, smollm2_vocab):
    check(CASES[name], smollm2_vocab)


def test_not_properties_extra_instances(smollm2_vocab):
    check({"type": "object", "not": {"properties": {"a": {"enum": [1, "x"]}}, "required": ["a"]}}, smollm2_vocab,
          extra=[{"a": 2}, {"a": "y"}, {"a": [1]}, {"a": 1, "z": 0}])


def test_uncomputable_negation_still_errors(smollm2_vocab):
    with pytest.raises(UnsupportedSchemaError):
        compile_json_schema({"not": {"uniqueItems": True}}, smollm2_vocab)
    with pytest.raises(UnsupportedSchemaError):
        compile_json_schema({"oneOf": [{"type": "array", "uniqueItems": True}, {"type": "array", "maxItems": 3}]}, smollm2_vocab)


def test_one_of_closed_objects_without_required(smollm2_vocab):
    schema = {"oneOf": [
        {"type": "object", "additionalProperties": False, "properties": {"a": {"type": "string"}}},
        {"type": "object", "additionalProperties": False, "properties": {"b": {"type": "string"}}},
        {"type": "object", "additionalProperties": False, "properties": {"c": {"type": "array"}, "a": {"type": "integer"}}}]}
    check(schema, smollm2_vocab, extra=[{"a": "x"}, {"b": "y"}, {"c": [], "a": 1}, {"a": 1}, {"b": 2}, {"c": []}])


def test_one_of_nested_one_of_types(smollm2_vocab):
    schema = {"oneOf": [{"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                        {"type": "object", "additionalProperties": False, "properties": {"path": {"type": "string"}}}]}
    check(schema, smollm2_vocab, extra=[{"path": "x"}, {"path": 1}])


def test_one_of_overlapping_enums_with_if(smollm2_vocab):
    schema = {"type": "array", "oneOf": [{"$ref": "#/definitions/x"}, {"$ref": "#/definitions/y"}, {"$ref": "#/definitions/z"}],
              "if": {"minItems": 1}, "then": {"minItems": 2, "items": {"multipleOf": 2}}, "else": {"minItems": 1},
              "definitions": {"x": {"enum": [[2], [2, 4], [6]]}, "y": {"enum": [[], [2, 3]]}, "z": {"enum": [[1], [2, 4], [6, 8], [6]]}}}
    check(schema, smollm2_vocab, extra=[[2], [2, 4], [6], [2, 3], [6, 8], [1]])


def test_one_of_nested_closed_objects(smollm2_vocab):
    schema = {"oneOf": [
        {"oneOf": [{"type": "object", "properties": {"size": {"type": "number"}, "style": {"enum": ["a", "b"]}},
                    "required": ["size"], "additionalProperties": False},
                   {"type": "string", "pattern": "^[0-9]+px$"}]},
        {"oneOf": [{"type": "object", "properties": {"ref": {"type": "string"}}, "required": ["ref"], "additionalProperties": False},
                   {"type": "object", "patternProperties": {"^[0-9]x$": {"type": "string"}}, "additionalProperties": False,
                    "minProperties": 1}]}]}
    check(schema, smollm2_vocab, extra=[{"size": 1}, {"size": 1, "style": "a"}, "12px", {"ref": "x"}, {"2x": "y"},
                                        {"2x": 1}, {"size": 1, "ref": "x"}, {"ref": "x", "2x": "y"}])


SOME_CASES = {
    "not-additionalProperties": {"type": "object", "not": {"properties": {"a": {}}, "additionalProperties": {"type": "integer"}}},
    "not-closed": {"type": "object", "not": {"properties": {"a": {}, "b": {}}, "additionalProperties": False}},
    "not-patternProperties": {"type": "object", "not": {"patternProperties": {"^[ab]$": {"type": "integer"}}}},
    "not-propertyNames": {"type": "object", "not": {"propertyNames": {"pattern": "^[ab]$"}}},
    "not-propertyNames-not": {"type": "object", "not": {"propertyNames": {"not": {"pattern": "^a"}}}},
    "not-propertyNames-enum": {"not": {"propertyNames": {"enum": ["a", "kind"]}}},
    "oneOf-open-objects": {"oneOf": [{"properties": {"a": {"type": "integer"}}, "additionalProperties": {"type": "string"}},
                                     {"type": "object", "additionalProperties": False, "properties": {"b": {}}}]},
}


@pytest.mark.parametrize("name", sorted(SOME_CASES))
def test_some_property_cases(name, smollm2_vocab):
    check(SOME_CASES[name], smollm2_vocab, extra=[{"a": 1, "z": 2}, {"z": "s"}, {"a": "x", "z": "s"}, {"b": 1, "a": 1}])


REGRESSIONS = {
    # `not: {pattern}` without `type` rejects every non-string (the pattern holds vacuously)
    "not-pattern-untyped": {"not": {"pattern": "b"}},
    "items-not-pattern": {"items": {"not": {"pattern": "^a"}}},
    # two "some property" constraints on one object, and a rule name shared by two schemas
    "two-negated-closures": {"allOf": [{"not": {"additionalProperties": False, "properties": {"a": {}}}},
                                       {"not": {"additionalProperties": {"maxItems": 2}, "properties": {"a": {}}}}]},
    # an enum branch of another type must not contribute its string values
    "oneOf-enum-branch-wrong-type": {"oneOf": [{"not": {"maxProperties": 1}}, {"enum": ["a", "abc"]}],
                                     "anyOf": [{"type": "string", "not": {"enum": ["a"]}}, {"type": "array"}]},
    "nested-oneOf-enum": {"oneOf": [{"allOf": [{"anyOf": [{"type": "integer"}, {"enum": ["a"]}]},
                                               {"dependentSchemas": {"a": {"pattern": "^[0-9]"}}}]},
                                    {"oneOf": [{"not": {"maxProperties": 1}}, {"enum": ["a", "abc"]},
                                               {"allOf": [{"type": "integer"}, {"pattern": "^a"}]}]}]},
    "enum-two-patterns": {"enum": ["a", "abc", "1a", [1], True], "allOf": [{"pattern": "^a"}, {"pattern": "^[0-9]"}]},
    # two `contains` met by different items (and their complement)
    "two-contains": {"allOf": [{"contains": {"const": 1}}, {"contains": {"const": "a"}}]},
    "not-two-contains": {"not": {"allOf": [{"contains": {"const": 1}}, {"contains": {"const": "a"}}]}},
    "oneOf-items-contains": {"type": "array", "oneOf": [{"items": {"minimum": 5}, "contains": {"type": "integer"}},
                                                        {"items": {"type": "integer"}, "contains": {"minimum": 5}}]},
    "if-closed-else-not-oneOf": {"if": {"properties": {"a": {}}, "additionalProperties": False}, "then": False,
                                 "else": {"not": {"oneOf": [{"additionalProperties": {"maxItems": 2}, "properties": {"a": {}}},
                                                            {"required": ["a", "b"]}]}}},
}


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_regressions(name, smollm2_vocab):
    check(REGRESSIONS[name], smollm2_vocab, extra=[{"b": [1, 2, 3]}, {"b": "ab"}, ["ab"], ["b"], [6, 7.5], [7.5, 6],
                                                   [1, "a"], ["a", 2, 1], [5, 6], [7.5]])


def _random_schema(rng, d=0):
    def leaf():
        c = rng.randrange(13)
        return [
            lambda: {"type": rng.choice(["integer", "string", "object", "array", "number", "null", "boolean"])},
            lambda: {"enum": rng.sample([1, 7, "a", "abc", None, True, 2.5, 12], rng.randint(1, 3))},
            lambda: {"minimum": rng.choice([0, 5, 7.5])},
            lambda: {"required": rng.sample(["a", "b"], 1)},
            lambda: {"properties": {rng.choice(["a", "b"]): _random_schema(rng, d + 1)}},
            lambda: {"items": _random_schema(rng, d + 1)},
            lambda: {"minLength": rng.randint(1, 3)},
            lambda: {"pattern": rng.choice(["^a", "b", "^[0-9]"])},
            lambda: {"additionalProperties": rng.choice([False, _random_schema(rng, d + 1)]), "properties": {"a": {}}},
            lambda: {"maxItems": rng.randint(0, 2)},
            lambda: {"multipleOf": rng.choice([2, 3])},
            lambda: {"contains": _random_schema(rng, d + 1)},
            lambda: {"maxProperties": rng.randint(0, 1)},
        ][c]()
    if d > 2:
        return leaf()
    c = rng.randrange(9)
    if c < 3:
        return leaf()
    if c == 3:
        return {"not": _random_schema(rng, d + 1)}
    if c == 4:
        return {"oneOf": [_random_schema(rng, d + 1) for _ in range(rng.randint(2, 3))]}
    if c == 5:
        return {"anyOf": [_random_schema(rng, d + 1) for _ in range(2)]}
    if c == 6:
        return {"if": _random_schema(rng, d + 1), "then": _random_schema(rng, d + 1), "else": _random_schema(rng, d + 1)}
    if c == 7:
        return {"allOf": [_random_schema(rng, d + 1), _random_schema(rng, d + 1)]}
    return {"dependentSchemas": {"a": _random_schema(rng, d + 1)}}


def test_random_combinations_never_accept_invalid(smollm2_vocab):
    """Random nestings of not/oneOf/if/allOf/dependentSchemas: nothing invalid is accepted."""
    import random

    from constrain import ConstraintError

    rng = random.Random(20261125)
    compiled_n, bad = 0, []
    for _ in range(60):
        schema = _random_schema(rng)
        try:
            compiled = compile_json_schema(schema, smollm2_vocab)
        except ConstraintError:
            continue
        compiled_n += 1
        validator = jsonschema.Draft202012Validator(schema)
        for v in VALUES:
            if not validator.is_valid(v) and accepts(compiled, smollm2_vocab, v):
                bad.append((schema, v))
    assert not bad, bad[:5]
    assert compiled_n >= 40


STRING_CASES = {
    "string-boolean-structure": {"type": "string", "allOf": [
        {"not": {"allOf": [{"not": {"anyOf": [{"pattern": "^....$"}, {"pattern": "ab1"}]}}, {"pattern": "x"}]}},
        {"oneOf": [{"pattern": "a"}, {"pattern": "b"}, {"minimum": 3}]}, {"maxLength": 8}]},
    "string-if": {"type": "string", "if": {"pattern": "^a"}, "then": {"minLength": 3}, "else": {"enum": ["x1", "b", 3]}},
    "enum-filtered-by-not": {"allOf": [{"enum": [None, 1, "a", {"foo": 12}, []]}, {"not": {"enum": [6, "foo", [], True, {"foo": 12}]}}]},
    "enum-with-oneOf": {"enum": [1, "a", [1], {"a": 1}], "oneOf": [{"type": "integer"}, {"minimum": 0}, {"type": "array"}]},
    "two-ifs": {"allOf": [{"if": {"type": "integer"}, "then": {"minimum": 5}},
                          {"if": {"type": "string"}, "then": {"minLength": 2}, "else": {"not": {"type": "null"}}}]},
}


@pytest.mark.parametrize("name", sorted(STRING_CASES))
def test_string_and_enum_cases(name, smollm2_vocab):
    check(STRING_CASES[name], smollm2_vocab, extra=["ab1x", "abcx", "aaaa", "b", "xb", "x1", "ab", {"foo": 12}])


@pytest.mark.parametrize("schema", [
    # JSON Schema Test Suite, unevaluatedProperties.json #13: `not` gives no annotations, so
    # "bar" stays unevaluated even though not(not X) == X as a validation result
    {"type": "object", "properties": {"k": {}}, "unevaluatedProperties": False,
     "not": {"not": {"properties": {"bar": {"const": "bar"}}, "required": ["bar"]}}},
    {"type": "object", "properties": {"k": {}}, "unevaluatedProperties": False,
     "if": {"properties": {"a": {"const": 1}}, "required": ["a"]}, "else": {"required": ["k"]}},
])
def test_unevaluated_with_negation_is_exact_not_wrong(schema, smollm2_vocab):
    """A complement (of `not`, of a failed `if`) must not make properties count as evaluated:
    never a constraint that accepts {"k": 1, "bar": "bar"}.  The first schema's language is
    empty (bar must be present and stays unevaluated): the compile says so."""
    extra = [{"k": 1, "bar": "bar"}, {"k": 1}, {"a": 1}, {"k": 1, "a": 2}, {"a": 1, "k": "x"}, {"bar": "bar"}]
    if "not" in schema:
        with pytest.raises(EmptyLanguageError):
            compile_json_schema(schema, smollm2_vocab)
        validator = jsonschema.Draft202012Validator(schema)
        assert not any(validator.is_valid(v) for v in list(VALUES) + extra)
        return
    check(schema, smollm2_vocab, extra=extra)


def test_long_item_bounds_compile_and_count_exactly(smollm2_vocab):
    """``maxItems: 1000`` unrolls a 1000-link chain in the parser; it must compile quickly
    (no quadratic minimization) and still count exactly."""
    import time

    schema = {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 1000}
    t0 = time.perf_counter()
    c = compile_json_schema(schema, smollm2_vocab)
    assert time.perf_counter() - t0 < 20  # was minutes: one Moore round per chain link

    def accepts(n):
        m = c.matcher()
        return m.advance_bytes(json.dumps([0] * n).encode()) and m.is_accepting()

    assert not accepts(1) and accepts(2) and accepts(1000) and not accepts(1001)


def test_time_budget_is_a_clear_error(smollm2_vocab):
    """A compile past its time budget raises CompileBudgetError naming the budget (checked in
    the long loops), rather than running on."""
    from constrain import CompileBudgetError

    schema = {"type": "object", "properties": {f"p{i}": {"type": "string", "pattern": f"^[a-z]{{{i}}}x$"}
                                               for i in range(40)}}
    with pytest.raises(CompileBudgetError, match="time budget of 0.001 s"):
        compile_json_schema(schema, smollm2_vocab, time_budget_s=0.001)


def test_recursion_limit_is_a_clear_error(smollm2_vocab):
    """A schema nested deeper than the compiler's Python stack gives a CompileBudgetError."""
    import sys

    from constrain import CompileBudgetError

    schema: dict = {"type": "integer"}
    for _ in range(400):
        schema = {"type": "array", "items": {"type": "object", "properties": {"x": schema}}}
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(300)
    try:
        with pytest.raises(CompileBudgetError, match="too deeply nested"):
            compile_json_schema(schema, smollm2_vocab)
    finally:
        sys.setrecursionlimit(old)


STRICT_CASES = {
    # a required name missing from `properties` (real schemas do this): strict keeps it
    "required-undeclared": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a", "b"]},
    "nested-required-undeclared": {"type": "object", "properties": {
        "c": {"type": "object", "properties": {"kind": {"type": "string"}}, "required": ["lives"]}}},
    "anyOf-required-undeclared": {"type": "object", "anyOf": [{"required": ["a"]}, {"required": ["kind"]}]},
}


@pytest.mark.parametrize("name", sorted(STRICT_CASES))
def test_strict_mode_counts_required_names_as_declared(name, smollm2_vocab):
    """``strict=True`` closes objects to the names in ``properties`` and ``required``.

    The oracle is jsonschema on the schema with ``additionalProperties: false`` written out and
    each required-but-undeclared name declared with any value. Before, such a name made the
    schema unsatisfiable under strict (an empty language, a compile error in generation).
    """
    schema = STRICT_CASES[name]

    def closed(s):
        if not isinstance(s, dict):
            return s
        out = {k: closed(v) if k in ("anyOf", "allOf") else v for k, v in s.items()}
        if "anyOf" in out:
            out["anyOf"] = [closed(b) for b in out["anyOf"]]
        if s.get("type") == "object":
            props = {k: closed(v) for k, v in (s.get("properties") or {}).items()}
            names = set(s.get("required") or [])
            for b in s.get("anyOf") or []:
                names |= set(b.get("required") or [])
            for r in names:
                props.setdefault(r, True)
            out["properties"] = props
            out["additionalProperties"] = False
        return out

    oracle = jsonschema.Draft202012Validator(closed(schema))
    compiled = compile_json_schema(schema, smollm2_vocab, strict=True)
    extra = [{"a": 1, "b": "x"}, {"a": 1, "b": [1, {}]}, {"a": 1, "b": 2, "c": 3}, {"c": {"lives": 9}},
             {"c": {"kind": "cat", "lives": 9}}, {"c": {"kind": "cat"}}, {"c": {"lives": 1, "x": 2}},
             {"kind": "dog"}, {"a": "x", "kind": "dog"}]
    wrong = [(v, oracle.is_valid(v)) for v in VALUES + extra
             if accepts(compiled, smollm2_vocab, v) != oracle.is_valid(v)]
    assert not wrong, f"(instance, oracle) where the engine disagrees: {wrong}"
    assert any(oracle.is_valid(v) for v in extra), "the case must have valid instances"


def test_enum_that_jsonschema_cannot_check_is_refused_not_weakened(smollm2_vocab):
    """Beside ``enum``, a keyword jsonschema cannot evaluate (here a pattern Python's ``re``
    rejects) used to fall back to checking types only, which accepted ``"1"`` against
    ``^\\p{L}+$``: now either the values are filtered exactly or the compile is refused."""
    pattern = "^\\p{L}+$"
    for schema in ({"enum": ["a", "1"], "pattern": pattern},
                   {"oneOf": [{"pattern": pattern}, {"type": "number"}], "enum": ["a", "1"]}):
        try:
            compiled = compile_json_schema(schema, smollm2_vocab)
        except UnsupportedSchemaError as e:
            assert "enum" in str(e)
            continue
        assert accepts(compiled, smollm2_vocab, "a")
        assert not accepts(compiled, smollm2_vocab, "1")
