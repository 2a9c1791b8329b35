"""Reading a request's constraint from ``SamplingParams.extra_args`` (no vLLM needed)."""

from __future__ import annotations

import json

import pytest

from decode import GENERATION_JSON_OPTIONS, GenerationArgumentError
from decode.vllm import ConstraintSpec, spec_from_extra_args
from decode.vllm.spec import check_spec


def test_requests_without_a_structgen_entry_are_unconstrained():
    assert spec_from_extra_args(None) is None
    assert spec_from_extra_args({}) is None
    assert spec_from_extra_args({"someone_else": {"regex": "x"}}) is None


def test_the_three_kinds_in_canonical_form():
    a = spec_from_extra_args({"structgen": {"json_schema": {"type": "object", "required": ["a"]}}})
    b = spec_from_extra_args({"structgen": {"json_schema": '{"required": ["a"], "type": "object"}'}})
    assert a == b and hash(a) == hash(b) and a.kind == "json_schema"
    assert json.loads(a.text) == {"type": "object", "required": ["a"]}
    assert dict(a.json_options) == GENERATION_JSON_OPTIONS  # what decode.generate compiles with
    loose = spec_from_extra_args({"structgen": {"json_schema": True, "json_options": {"strict": False}}})
    assert dict(loose.json_options)["strict"] is False and loose != a
    assert spec_from_extra_args({"structgen": {"regex": "[0-9]+"}}) == ConstraintSpec("regex", "[0-9]+")
    lark = spec_from_extra_args({"structgen": {"lark": "value: \"x\"", "start": "value"}})
    assert (lark.kind, lark.start) == ("lark", "value")


@pytest.mark.parametrize("extra_args,where,what", [
    ([1], "extra_args", "expected a dict"),
    ({"structgen": "[0-9]+"}, "extra_args['structgen']", "expected a dict"),
    ({"structgen": {}}, "extra_args['structgen']", "exactly one of"),
    ({"structgen": {"regex": "a", "lark": "start: \"a\""}}, "extra_args['structgen']", "exactly one of"),
    ({"structgen": {"regexp": "a"}}, "extra_args['structgen']", "unknown key(s) ['regexp']"),
    ({"structgen": {"json_schema": "{not json"}}, "['json_schema']", "not valid JSON"),
    ({"structgen": {"json_schema": [1, 2]}}, "['json_schema']", "object or a boolean"),
    ({"structgen": {"regex": 5}}, "['regex']", "non-empty string"),
    ({"structgen": {"lark": "  "}}, "['lark']", "grammar is empty"),
    ({"structgen": {"regex": "a", "start": "s"}}, "['start']", "only a 'lark' grammar"),
    ({"structgen": {"regex": "a", "json_options": {}}}, "['json_options']", "regex takes no JSON options"),
    ({"structgen": {"json_schema": {}, "json_options": [1]}}, "['json_options']", "expected a dict"),
    ({"structgen": {"json_schema": {}, "json_options": {"strict": [1]}}}, "['json_options']", "scalars"),
])
def test_malformed_entries_name_the_entry(extra_args, where, what):
    with pytest.raises(GenerationArgumentError) as e:
        spec_from_extra_args(extra_args)
    assert isinstance(e.value, ValueError)  # vLLM answers a ValueError from validate_params with a 400
    assert where in str(e.value) and what in str(e.value)


@pytest.mark.parametrize("entry,what", [
    ({"json_schema": {"type": "object", "properties": {"a": {"$ref": "#/$defs/nope"}}}}, "does not resolve"),
    ({"json_schema": {"type": "string", "pattern": "(a)\\1"}}, "backreferences"),
    ({"json_schema": {}, "json_options": {"no_such_option": 1}}, "no_such_option"),
    ({"regex": "a(b"}, "RegexError"),
    ({"lark": "start: missing_rule"}, "missing_rule"),
])
def test_uncompilable_constraints_fail_without_a_tokenizer(entry, what):
    spec = spec_from_extra_args({"structgen": entry})
    with pytest.raises(GenerationArgumentError, match="extra_args\\['structgen'\\]") as e:
        check_spec(spec)
    assert what in str(e.value)
    with pytest.raises(GenerationArgumentError) as again:  # the verdict is cached, and raised again
        check_spec(spec)
    assert str(again.value) == str(e.value) and again.value.argument == e.value.argument


def test_good_constraints_pass_the_check():
    for entry in ({"json_schema": {"type": "object", "properties": {"a": {"type": "integer"}}}},
                  {"regex": "(ab)+"}, {"lark": 'start: "a"+'}):
        check_spec(spec_from_extra_args({"structgen": entry}))


def test_the_flat_form_for_vllms_openai_server():
    """``vllm_xargs`` (the OpenAI server's way to extra_args) takes no nested objects."""
    schema = {"type": "object", "required": ["a"]}
    nested = spec_from_extra_args({"structgen": {"json_schema": schema, "json_options": {"strict": False}}})
    flat = spec_from_extra_args({"structgen_json_schema": json.dumps(schema),
                                 "structgen_json_options": '{"strict": false}', "other": 1})
    assert flat == nested
    assert spec_from_extra_args({"structgen_regex": "[0-9]+"}) == ConstraintSpec("regex", "[0-9]+")
    assert spec_from_extra_args({"structgen_lark": 'v: "x"', "structgen_start": "v"}).start == "v"
    for bad, where, what in [
        ({"structgen_regexp": "a"}, "structgen_* keys", "unknown key(s) ['regexp']"),
        ({"structgen_json_schema": "{", "structgen_regex": "a"}, "structgen_* keys", "exactly one of"),
        ({"structgen_json_schema": "{"}, "extra_args['structgen_json_schema']", "not valid JSON"),
        ({"structgen_json_schema": "{}", "structgen_json_options": "{"}, "extra_args['structgen_json_options']",
         "not valid JSON"),
        ({"structgen": {"regex": "a"}, "structgen_regex": "a"}, "extra_args", "not both"),
    ]:
        with pytest.raises(GenerationArgumentError) as e:
            spec_from_extra_args(bad)
        assert where in str(e.value) and what in str(e.value), str(e.value)
