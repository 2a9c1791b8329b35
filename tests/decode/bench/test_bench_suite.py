"""The test-suite and coverage harnesses: a scripted fake engine on a tiny hand-made suite
folder (and a hand-made MaskBench payload) gives the known tables.

Like tests/decode/bench/test_bench.py: the ``bytes`` tokenizer (one id per byte, EOS 256) and the ``fake``
engine (the schema's ``"x-fake"`` object says what the engine does) drive the real worker
processes; no real tokenizer or peer engine is needed.
"""

from __future__ import annotations

import json

import pytest

from decode.bench import coverage as cv
from decode.bench import test_suite as ts


def _group(desc, fake, tests):
    schema = {"type": "object"}
    if fake is not None:
        schema["x-fake"] = fake
    return {"description": desc, "schema": schema,
            "tests": [{"description": f"case {i}", "data": d, "valid": v} for i, (d, v) in enumerate(tests)]}


def _suite(root):
    d = root / "tests" / "draft2020-12"
    (d / "optional" / "format").mkdir(parents=True)
    files = {
        "a.json": [
            _group("forbids x", {"forbid": "x"}, [({"a": 1}, True), ({"a": "x"}, False)]),   # 2 correct
            _group("accepts all", None, [(1, True), ("x", False)]),                         # correct + wrong accept
        ],
        "b.json": [
            _group("declined", {"compile_error": "not"}, [(1, True), (2, False)]),          # 2 unsupported
            _group("forbids y", {"forbid": "y"}, [("y", True), (3, True)]),                 # wrong reject + correct
        ],
        "optional/c.json": [
            _group("forbids z", {"forbid": "z"}, [("z", False), (1, True), ("\ud800", True)]),  # 2 correct + skipped
        ],
        "optional/format/d.json": [
            _group("slow", {"sleep": 30}, [(1, True)]),                                     # error (timeout)
            _group("inconsistent", {"forbid": "z", "inconsistent": True}, [("z", False), ("w", True)]),
        ],
    }
    for rel, groups in files.items():
        (d / rel).write_text(json.dumps(groups), encoding="utf-8")
    return d


EXPECTED = {
    "a.json": {"groups": 2, "cases": 4, "compiled": 4, "correct": 3, "wrong_accept": 1, "wrong_reject": 0,
               "inconsistent": 0, "unsupported": 0, "error": 0, "skipped": 0, "fully_correct": False},
    "b.json": {"groups": 2, "cases": 4, "compiled": 2, "correct": 1, "wrong_accept": 0, "wrong_reject": 1,
               "inconsistent": 0, "unsupported": 2, "error": 0, "skipped": 0, "fully_correct": False},
    "optional/c.json": {"groups": 1, "cases": 3, "compiled": 2, "correct": 2, "wrong_accept": 0, "wrong_reject": 0,
                        "inconsistent": 0, "unsupported": 0, "error": 0, "skipped": 1, "fully_correct": True},
    "optional/format/d.json": {"groups": 2, "cases": 3, "compiled": 2, "correct": 1, "wrong_accept": 0,
                               "wrong_reject": 0, "inconsistent": 1, "unsupported": 0, "error": 1, "skipped": 0,
                               "fully_correct": False},
}


def test_load_suite_and_prepare(tmp_path):
    d = _suite(tmp_path)
    assert ts.find_suite_dir(tmp_path) == d == ts.find_suite_dir(d)
    entries = ts.load_suite(tmp_path)
    assert [e.key for e in entries] == ["a.json:0", "a.json:1", "b.json:0", "b.json:1", "optional/c.json:0",
                                        "optional/format/d.json:0", "optional/format/d.json:1"]
    assert {e.file for e in ts.load_suite(tmp_path, optional=False)} == {"a.json", "b.json"}
    assert {e.file for e in ts.load_suite(tmp_path, files_glob="optional/format/*,b.json")} == {
        "b.json", "optional/format/d.json"}
    from decode.bench.engines import load_bench_tokenizer

    ts.prepare_suite(entries, load_bench_tokenizer("bytes"))
    a = entries[0]
    assert a.texts == ['{"a":1}', '{"a":"x"}']  # compact serialization
    assert a.ids[0] == list(b'{"a":1}')
    c = entries[4]
    assert c.skipped[:2] == [None, None] and c.skipped[2].startswith("unserializable")


def test_fake_engine_known_suite_table(tmp_path, capsys):
    _suite(tmp_path)
    out = tmp_path / "ts.json"
    from decode.bench.__main__ import main as bench_main

    rc = bench_main(["test-suite", str(tmp_path), "--tokenizer", "bytes", "--engines", "fake,no-such-engine",
                     "--timeout", "3", "--json", str(out), "--no-progress", "--per-engine-tables"])
    assert rc == 0
    text = capsys.readouterr().out
    payload = json.loads(out.read_text())
    assert payload["kind"] == "test-suite" and payload["config"]["n_cases"] == 14
    assert payload["config"]["n_skipped_cases"] == 1
    assert payload["engines"]["no-such-engine"]["skipped"].startswith("unknown engine")
    s = payload["engines"]["fake"]["summary"]
    assert s["per_file"] == EXPECTED
    assert s["files"] == 4 and s["files_fully_correct"] == 1
    assert (s["correct"], s["wrong_accept"], s["wrong_reject"], s["inconsistent"], s["unsupported"],
            s["error"], s["skipped"]) == (7, 1, 1, 1, 2, 1, 1)
    assert s["compiled_cases"] == 10 and s["groups"] == 7 and s["groups_compiled"] == 5
    assert s["group_status"] == {"pass": 2, "fail": 3, "compile_error": 1, "timeout": 1}
    assert [(w["file"], w["group"], w["case"], w["text"]) for w in s["wrong_accepts"]] == [("a.json", 1, 1, '"x"')]
    assert [(w["file"], w["group"], w["case"]) for w in s["wrong_rejects"]] == [("b.json", 1, 0)]
    assert s["wrong_rejects"][0]["context"]["token"] == "y"
    assert [(w["file"], w["group"], w["case"]) for w in s["inconsistent_cases"]] == [("optional/format/d.json", 1, 0)]
    # the printed tables
    assert "summary fake: 1/4 keyword files fully correct; 1 wrong accepts among 10 compiled cases" in text
    assert "| a.json                 |     4 | 3/4 A1" in text
    assert "1/4 u2 R1" in text
    assert "2/3 s1 ✓" in text
    assert "1/3 e1 i1" in text
    assert "a.json #1 'accepts all' / case 1 'case 1'" in text
    assert "optional/format/d.json:0 'slow'  | timeout in compile" in text
    assert "== fake: per keyword file" in text

    # --resume reuses every group: no worker starts, same summary
    payload2 = ts.run_test_suite(tmp_path, tokenizer="bytes", engines=["fake"], timeout=3, resume=str(out),
                                 progress=False, log=lambda s: None)
    f2 = payload2["engines"]["fake"]
    assert "worker_starts" not in f2 and f2["summary"]["per_file"] == EXPECTED

    # `report` prints the test-suite tables again from the JSON file
    assert bench_main(["report", str(out), "--markdown"]) == 0
    assert "2/3 s1 ✓" in capsys.readouterr().out

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert bench_main(["plots", str(out), "--out", str(tmp_path / "img")]) == 0
    assert sorted(p.name for p in (tmp_path / "img").iterdir()) == ["test_suite_cdf.png", "test_suite_files.png"]


def _mb_payload():
    def rec(key, status, **kw):
        r = {"key": key, "id": key, "status": status, "phase": kw.pop("phase", None), "compile_ms": 1.0,
             "error": None, "validation_error": False, "invalidation_error": False, "inconsistent": 0,
             "token_us": [1.0, 2.0], "instances": []}
        r.update(kw)
        return r

    err = {"class": "UnsupportedSchemaError", "keyword": "not", "pointer": "#", "message": "x"}
    return {
        "format": 1, "config": {"n_schemas": 6, "data_dir": "d", "tokenizer": "bytes"},
        "engines": {
            "e1": {"info": {"version": "1"}, "results": [
                rec("Github_easy.jsonl.gz:1", "pass"),
                rec("Github_easy.jsonl.gz:2", "fail", invalidation_error=True),
                rec("Github_easy.jsonl.gz:3", "compile_error", error=err, compile_ms=0.5),
                rec("Kubernetes.jsonl.gz:1", "fail", validation_error=True),
                rec("Kubernetes.jsonl.gz:2", "timeout", phase="compile", compile_ms=None),
                rec("Kubernetes.jsonl.gz:3", "timeout", phase="match"),
            ]},
            "e2": {"skipped": "not installed"},
        },
    }


def test_coverage_from_payload_known_table(tmp_path, capsys):
    cov = cv.coverage_from_payload(_mb_payload())
    assert cov["datasets"] == ["Github_easy", "Kubernetes"] and list(cov["engines"]) == ["e1"]
    e = cov["engines"]["e1"]
    assert e["per_dataset"]["Github_easy"] == {"schemas": 3, "compiled": 2, "exact": 1, "compile_errors": 1,
                                               "invalid_accepted": 1, "valid_rejected": 0, "inconsistent": 0,
                                               "crashes": 0, "timeouts": 0}
    assert e["per_dataset"]["Kubernetes"]["compiled"] == 2 and e["per_dataset"]["Kubernetes"]["timeouts"] == 2
    assert e["total"]["schemas"] == 6 and e["total"]["compiled"] == 4 and e["total"]["exact"] == 1
    assert e["compile_error_keywords"] == [["not", 1]] or e["compile_error_keywords"] == [("not", 1)]
    text = cv.format_coverage(cov)
    assert "| Github_easy |       3 | 66.7% / 33.3% A1 |" in text
    assert "| Kubernetes  |       3 |     66.7% / 0.0% |" in text
    assert "compile errors of e1 by keyword: not 1" in text

    src = tmp_path / "mb.json"
    src.write_text(json.dumps(_mb_payload()))
    out = tmp_path / "cov.json"
    assert cv.main(["d", "--from", str(src), "--json", str(out)]) == 0
    assert "66.7% / 33.3% A1" in capsys.readouterr().out
    assert json.loads(out.read_text())["coverage"]["engines"]["e1"]["total"]["exact"] == 1


def test_plots_write_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    from decode.bench import plots

    paths = plots.plot_maskbench(_mb_payload(), tmp_path / "img")
    assert [p.rsplit("/", 1)[1] for p in paths] == ["maskbench_coverage.png", "maskbench_cdf.png"]
    for p in paths:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_coverage_runs_maskbench(tmp_path, capsys):
    import gzip

    def _write(dirpath, name, records):
        with gzip.open(dirpath / name, "wt", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")

    def _rec(i, fake, tests):
        schema = {"type": "object"}
        if fake is not None:
            schema["x-fake"] = fake
        return {"id": f"s{i}", "schema": schema, "tests": [{"data": d, "valid": v} for d, v in tests]}

    data = tmp_path / "data"
    data.mkdir()
    ok = ({"a": 1}, True)
    _write(data, "Github_easy.jsonl.gz", [_rec(0, {"forbid": "x"}, [ok, ({"a": "x"}, False)]),   # exact
                                          _rec(1, None, [ok, ({"a": "x"}, False)])])             # invalid accepted
    _write(data, "Kubernetes.jsonl.gz", [_rec(0, {"compile_error": "not"}, [ok])])               # compile error
    out = tmp_path / "cov.json"
    assert cv.main([str(data), "--tokenizer", "bytes", "--engines", "fake", "--timeout", "5",
                    "--no-progress", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| Github_easy |       2 | 100.0% / 50.0% A1 |" in text
    assert "| Kubernetes  |       1 |       0.0% / 0.0% |" in text
    doc = json.loads(out.read_text())
    assert doc["engines"]["fake"]["summary"]["passing"] == 1  # the MaskBench payload itself
    assert doc["coverage"]["engines"]["fake"]["compile_error_keywords"] == [["not", 1]]


def test_empty_language_is_a_verdict():
    """structgen's EmptyLanguageError rejects every instance: invalid ones are correct."""
    from decode.bench.test_suite import case_statuses

    insts = [{"valid": False}, {"valid": True}, {"valid": True, "skipped": "x"}]
    empty = {"status": "compile_error", "error": {"class": "EmptyLanguageError"}, "instances": insts}
    other = {"status": "compile_error", "error": {"class": "UnsupportedSchemaError"}, "instances": insts}
    assert case_statuses(empty) == ["correct", "wrong_reject", "skipped"]
    assert case_statuses(other) == ["unsupported", "unsupported", "skipped"]


def test_format_assertion_modes_per_file(tmp_path):
    """``spec``: every file outside optional/format* reads format as an annotation (its groups
    compile with format_assertion=False); ``always``: no per-group option."""
    _suite(tmp_path)
    spec = {e.key: e.compile_options for e in ts.load_suite(tmp_path)}
    assert spec["a.json:0"] == spec["optional/c.json:0"] == {"format_assertion": False}
    assert spec["optional/format/d.json:0"] == {}
    assert all(e.compile_options == {} for e in ts.load_suite(tmp_path, format_assertion="always"))
    with pytest.raises(ValueError, match="format_assertion"):
        ts.load_suite(tmp_path, format_assertion="never")
    assert ts.asserts_format("optional/format-assertion.json") and not ts.asserts_format("format.json")


def test_structgen_engine_takes_format_assertion_per_job():
    """The worker's ``run_schema`` passes a job's compile options the engine knows (structgen:
    ``format_assertion``) and drops the others (a peer engine takes none)."""
    from decode.bench.engines import FakeEngine, StructgenEngine, load_bench_tokenizer
    from decode.bench.maskbench import run_schema

    tok = load_bench_tokenizer("bytes")
    eng = StructgenEngine(tok)
    schema = {"type": "string", "format": "email"}
    job = {"key": "k", "schema": schema, "instances": [list(b'"x"'), list(b'"a@b.c"')]}
    asserted = run_schema(eng, job)
    annotated = run_schema(eng, dict(job, compile_options={"format_assertion": False}))
    assert [i["accepted"] for i in asserted["instances"]] == [False, True]
    assert [i["accepted"] for i in annotated["instances"]] == [True, True]
    fake = run_schema(FakeEngine(tok), dict(job, compile_options={"format_assertion": False}))
    assert fake["status"] != "crash"


def test_remotes_are_served_to_structgen(tmp_path):
    """``remotes/`` documents by the URI the suite serves them at, given to structgen as
    ``resources`` (a remote ``$ref`` then compiles); without them it is unsupported."""
    d = _suite(tmp_path)
    (tmp_path / "remotes" / "sub").mkdir(parents=True)
    (tmp_path / "remotes" / "sub" / "int.json").write_text('{"type": "integer"}', encoding="utf-8")
    remotes = ts.load_remotes(tmp_path)
    assert remotes == {"http://localhost:1234/sub/int.json": {"type": "integer"}}
    assert ts.load_remotes(d) == remotes
    from decode.bench.engines import StructgenEngine, load_bench_tokenizer
    from decode.bench.maskbench import run_schema

    tok = load_bench_tokenizer("bytes")
    job = {"key": "k", "schema": {"$ref": "http://localhost:1234/sub/int.json"}, "instances": [list(b"3"), list(b'"a"')]}
    served = run_schema(StructgenEngine(tok, {"resources": remotes}), job)
    assert [i["accepted"] for i in served["instances"]] == [True, False]
    assert run_schema(StructgenEngine(tok), job)["status"] == "compile_error"
