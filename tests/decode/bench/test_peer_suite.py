"""The peer suite as a guard: other engines' JSON Schema cases never see an invalid text
accepted, and every compile either succeeds or declines with a ``ConstraintError``.

The whole suite (6,964 cases, 1,198 schemas) runs in about 15 s with the SmolLM2 tokenizer,
so it is part of the default run; it is skipped when ``../shared/data`` is absent.  The
runner's own counting is checked on a small hand-made cases file with a byte vocabulary.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests import paths

from decode.bench import peer_suite

SUITE = paths.SHARED_DATA / "peer-suite" / "cases.jsonl.gz"


def test_peer_suite_has_no_wrong_accepts_and_no_crashes():
    if not SUITE.is_file():
        pytest.skip(f"{SUITE} is absent")
    payload = peer_suite.run_peer_suite(SUITE, tokenizer="smollm2")
    s = payload["summary"]
    assert s["cases"] == 6964
    assert s["crash"] == 0, {r["id"]: r["error"] for r in payload["results"] if r["outcome"] == "crash"}
    assert s["wrong_accept"] == 0, [(r["id"], r["text"]) for r in payload["results"] if r["outcome"] == "wrong_accept"]
    # (a compile error is by definition a ConstraintError: anything else counts as a crash)
    # no regression of coverage below what was measured when the guard was added
    assert s["compiled"] >= 6586, s["compile_errors_by_class"]


def _case(i, schema, text, valid, ambiguous=False):
    return {"id": i, "source": "hand", "test": f"t{i}", "schema": schema, "text": text,
            "valid_by_jsonschema": valid, "ambiguous": ambiguous}


HAND_CASES = [
    _case(0, {"type": "integer"}, "12", True),                       # correct
    _case(1, {"type": "integer"}, '"x"', False),                     # correct (rejected)
    _case(2, {"type": "integer"}, "1.5", True),                      # wrong reject (the label lies)
    _case(3, {"type": "string"}, '"ab"', False),                     # wrong accept (the label lies)
    _case(4, {"type": "string"}, ' "a" ', True),                     # outer whitespace: correct
    _case(5, {"type": "string"}, '"a', None),                        # no ground truth: unscored
    _case(6, {"type": "string"}, '"b"', False, ambiguous=True),      # ambiguous: unscored
    _case(7, {"$ref": "#/nowhere"}, "1", True),                      # SchemaError
    _case(8, {"$ref": "#/nowhere"}, "2", False),                     # same schema: compiled once, same error
    _case(9, {"uniqueItems": True}, "1", True),                     # UnsupportedSchemaError
    _case(10, {"type": "string"}, '"\ud800"', True),                 # lone surrogate: skipped
    _case(11, {"not": {}}, "1", False),                              # empty language: rejected, correct
    _case(12, {"not": {}}, "2", True),                               # wrong reject (the label lies)
]


def test_runner_counts_a_hand_made_file(tmp_path, capsys):
    path = tmp_path / "cases.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for c in HAND_CASES:
            f.write(json.dumps(c) + "\n")
    payload = peer_suite.run_peer_suite(tmp_path, tokenizer="bytes")
    s = payload["summary"]
    assert payload["config"]["n_schemas"] == 5
    outcome = {r["id"]: r["outcome"] for r in payload["results"]}
    assert outcome == {0: "correct", 1: "correct", 2: "wrong_reject", 3: "wrong_accept", 4: "correct",
                       5: "unscored", 6: "unscored", 7: "compile_error", 8: "compile_error",
                       9: "compile_error", 10: "skipped", 11: "correct", 12: "wrong_reject"}
    assert (s["cases"], s["scored"], s["compiled"]) == (13, 11, 10)
    assert (s["correct"], s["wrong_accept"], s["wrong_reject"], s["compile_error"], s["crash"]) == (4, 1, 2, 3, 0)
    assert s["compile_errors_by_class"] == {"SchemaError": 2, "UnsupportedSchemaError": 1}
    assert s["wrong_accept_ids"] == [3] and s["wrong_reject_ids"] == [2, 12]

    # the CLI: table, exit status 1 on a wrong accept, --json with every case
    out_json = tmp_path / "out.json"
    from decode.bench.__main__ import main

    rc = main(["peer-suite", str(path), "--tokenizer", "bytes", "--json", str(out_json), "--text",
               "--no-progress"])
    printed = capsys.readouterr().out
    assert rc == 1
    assert "wrong accepts" in printed and "SchemaError" in printed and "#3 hand 't3'" in printed
    assert json.loads(out_json.read_text())["summary"]["wrong_accept"] == 1

    # only the schemas with an invalid scored case: integer, string, the dangling $ref
    sub = peer_suite.run_peer_suite(path, tokenizer="bytes", schemas="invalid")
    assert sub["config"]["n_schemas"] == 4 and sub["summary"]["cases"] == 12


def test_lenient_reading_takes_a_labels():
    """``--lenient``: A-labels by syntax (the opt-in superset); the default refuses them."""
    cases = [_case(0, {"format": "hostname"}, '"xn--ll-0ea"', True),
             _case(1, {"format": "hostname"}, '"-a.com"', False)]
    default = peer_suite.run_peer_suite(cases=cases, tokenizer="bytes")
    lenient = peer_suite.run_peer_suite(cases=cases, tokenizer="bytes", lenient=True)
    assert [r["outcome"] for r in default["results"]] == ["wrong_reject", "correct"]
    assert [r["outcome"] for r in lenient["results"]] == ["correct", "correct"]
    assert lenient["config"]["lenient"] is True and default["config"]["lenient"] is False


def test_a_crash_is_reported_not_raised(monkeypatch):
    import constrain

    def boom(*a, **k):
        raise KeyError("bug")

    monkeypatch.setattr(constrain, "compile_json_schema", boom)
    payload = peer_suite.run_peer_suite(cases=HAND_CASES[:2], tokenizer="bytes")
    assert payload["summary"]["crash"] == 2 and payload["summary"]["compiled"] == 0
    assert payload["summary"]["crashes_by_class"] == {"KeyError": 2}


def test_remotes_are_served(tmp_path):
    """``--remotes DIR``: the folder's documents at http://localhost:1234/, as the Test Suite
    serves them; ``none``: a remote $ref is a compile error."""
    (tmp_path / "remotes").mkdir()
    (tmp_path / "remotes" / "int.json").write_text('{"type": "integer"}', encoding="utf-8")
    (tmp_path / "cases").mkdir()
    cases = [_case(0, {"$ref": "http://localhost:1234/int.json"}, "3", True),
             _case(1, {"$ref": "http://localhost:1234/int.json"}, '"a"', False)]
    res = peer_suite._remotes_arg(str(tmp_path / "remotes"), str(tmp_path / "cases"))
    assert res == {"http://localhost:1234/int.json": {"type": "integer"}}
    assert peer_suite._remotes_arg("none", str(tmp_path / "cases")) is None
    served = peer_suite.run_peer_suite(cases=cases, tokenizer="bytes", resources=res)
    assert [r["outcome"] for r in served["results"]] == ["correct", "correct"]
    plain = peer_suite.run_peer_suite(cases=cases, tokenizer="bytes")
    assert [r["outcome"] for r in plain["results"]] == ["compile_error", "compile_error"]
