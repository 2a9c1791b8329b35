"""``structgen bench bfcl``'s pieces that need neither the model nor bfcl-eval: BFCL schemas to
JSON Schema, case sampling, scoring, the table, the held-out live categories."""

from __future__ import annotations

import argparse
import json

import jsonschema

from decode.bench import bfcl
from decode.tools.envelopes import ENVELOPES

DOC = {"name": "math.hypot", "description": "Hypotenuse.",
       "parameters": {"type": "dict", "properties": {
           "x": {"type": "integer"}, "y": {"type": "float", "optional": True},
           "pts": {"type": "array", "items": {"type": "tuple"}}, "any": {"type": "any", "description": "d"},
           "opts": {"type": "dict", "properties": {"z": {"type": "float"}}}},
           "required": ["x"]}}


def test_bfcl_schemas_become_json_schema():
    tool = bfcl.bfcl_tool(DOC)
    p = tool["function"]["parameters"]
    assert tool["function"]["name"] == "math.hypot" and p["type"] == "object"
    assert p["properties"]["y"] == {"type": "number"}  # float -> number, BFCL's "optional" flag dropped
    assert p["properties"]["pts"]["items"] == {"type": "array"}
    assert p["properties"]["any"] == {"description": "d"}
    assert p["properties"]["opts"]["properties"]["z"] == {"type": "number"}
    jsonschema.Draft202012Validator.check_schema(p)


def _write_cases(tmp_path, n=6):
    data = tmp_path / "data"
    (data / "possible_answer").mkdir(parents=True)
    with open(data / bfcl.CATEGORIES["simple"], "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"simple_python_{i}", "question": [[{"role": "user", "content": "q"}]],
                                "function": [DOC]}) + "\n")
    with open(data / "possible_answer" / bfcl.CATEGORIES["simple"], "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"simple_python_{i}", "ground_truth": [{"math.hypot": {"x": [i]}}]}) + "\n")


def test_cases_are_a_seeded_sample_with_their_answers(tmp_path):
    _write_cases(tmp_path)
    a = bfcl.load_cases(tmp_path, "simple", 3, seed=1)
    assert a == bfcl.load_cases(tmp_path, "simple", 3, seed=1) and len(a) == 3
    assert [c["id"] for c in a] == sorted((c["id"] for c in a), key=lambda s: int(s.rsplit("_", 1)[1]))
    assert all(c["ground_truth"] == [{"math.hypot": {"x": [int(c["id"].rsplit("_", 1)[1])]}}] for c in a)
    assert len(bfcl.load_cases(tmp_path, "simple", None)) == 6


def test_scoring_counts_valid_calls_and_reads_irrelevance_as_no_call():
    env, tools = ENVELOPES["hermes"], [bfcl.bfcl_tool(DOC)]
    seen = []

    def checker(docs, output, answer, language, category, model):
        seen.append(output)
        return {"valid": output == [{"math.hypot": {"x": 3}}]}

    lang = argparse.Namespace(PYTHON="python")
    good = '<tool_call>{"name": "math.hypot", "arguments": {"x": 3}}</tool_call>'
    bad_type = '<tool_call>{"name": "math.hypot", "arguments": {"x": "3"}}</tool_call>'
    broken = '<tool_call>{"name": "math.hypot", "arguments": {"x": 3</tool_call>'
    case = {"function": [DOC], "ground_truth": []}
    assert bfcl._score(case, "simple", good, tools, env, checker, lang) == {"calls": 1, "valid_calls": 1, "ast": True}
    assert bfcl._score(case, "simple", bad_type, tools, env, checker, lang) == {"calls": 1, "valid_calls": 0, "ast": False}
    assert bfcl._score(case, "simple", broken, tools, env, checker, lang) == {"calls": 1, "valid_calls": 0, "ast": False}
    assert len(seen) == 2  # a call that does not parse never reaches the checker
    assert bfcl._score(case, "irrelevance", "No function fits.", tools, env, checker, lang)["ast"] is True
    assert bfcl._score(case, "irrelevance", good, tools, env, checker, lang)["ast"] is False


def test_table_and_held_out_categories(capsys):
    recs = [{"category": "simple", "mode": m, "tool_choice": "required", "calls": c, "valid_calls": v, "ast": a,
             "tokens": 10, "seconds": 1.0, "error": None}
            for m, c, v, a in [("constrained", 1, 1, True), ("constrained", 2, 2, False), ("unconstrained", 1, 0, False)]]
    rows = bfcl.summarize(recs)
    assert [(r["mode"], r["calls"], r["valid_pct"], r["ast_pct"]) for r in rows] == [
        ("constrained", 3, 100.0, 50.0), ("unconstrained", 1, 0.0, 0.0)]
    assert "| simple | required | constrained | 2 | 3 | 100% | 50% | 10 | 1.0 |" in bfcl.format_table(rows)
    p = argparse.ArgumentParser()
    bfcl.add_arguments(p)
    assert bfcl.main(p.parse_args(["--categories", "simple,live_simple"])) == 2
    assert "held out" in capsys.readouterr().err
