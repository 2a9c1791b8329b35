"""MaskBench harness: a scripted fake engine over a tiny hand-made dataset gives known numbers.

No real tokenizer or peer engine is needed: the ``bytes`` tokenizer (one id per byte, EOS 256)
and the ``fake`` engine (the schema's ``"x-fake"`` object says what the engine does) drive
the real worker processes, timeouts, crashes and the summary table.
"""

from __future__ import annotations

import gzip
import json
import random

import pytest

from decode.bench import maskbench as mb
from decode.bench.engines import FakeEngine, load_bench_tokenizer
from decode.bench.report import format_table, percentile, percentiles, top_counts


def _write(dirpath, name, records):
    with gzip.open(dirpath / name, "wt", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


def _rec(i, fake, tests):
    schema = {"type": "object"}
    if fake is not None:
        schema["x-fake"] = fake
    return {"id": f"s{i}", "description": "", "meta": {}, "schema": schema,
            "tests": [{"data": d, "valid": v} for d, v in tests]}


# ----------------------------------------------------------------------------- report helpers


def test_percentile_matches_linear_interpolation():
    np = pytest.importorskip("numpy")
    rng = random.Random(1)
    for n in (1, 2, 3, 10, 101, 1000):
        xs = [rng.expovariate(1.0) for _ in range(n)]
        for q in (0, 1, 50, 90, 99, 99.9, 100):
            assert percentile(xs, q) == pytest.approx(float(np.percentile(xs, q)), rel=1e-12, abs=1e-12)
    assert percentile([], 50) is None
    assert percentile([7], 99.9) == 7
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentiles([3, 1, 2], (50, 100)) == {50: 2.0, 100: 3.0}
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_top_counts_and_table():
    assert top_counts(["b", "a", "b", "c", "a", "b"], 2) == [("b", 3), ("a", 2)]
    assert top_counts(["x", "y"], 5) == [("x", 1), ("y", 1)]  # ties by name
    t = format_table(["", "e1"], [["passing", "3 (50.0%)"], ["p50", "1.5"]])
    lines = t.splitlines()
    assert lines[0].rstrip().endswith("e1") and "3 (50.0%)" in lines[2]
    md = format_table(["", "e1"], [["a", 1]], markdown=True)
    assert md.splitlines()[1].endswith("-:|")


# ----------------------------------------------------------------------------- sampler


def test_sampler_is_deterministic(tmp_path):
    _write(tmp_path, "B.jsonl.gz", [_rec(i, None, []) for i in range(30)])
    _write(tmp_path, "A.jsonl.gz", [_rec(i, None, []) for i in range(20)])
    _write(tmp_path, "C_other.jsonl.gz", [_rec(i, None, []) for i in range(5)])
    files = mb.list_files(tmp_path)
    assert [p.name for p in files] == ["A.jsonl.gz", "B.jsonl.gz", "C_other.jsonl.gz"]
    idx = mb.index_dataset(files)
    assert len(idx) == 55 and idx[0] == ("A.jsonl.gz", 1)
    s1 = mb.sample_index(idx, 10, seed=3)
    assert s1 == mb.sample_index(list(reversed(idx)), 10, seed=3)  # order of the index is irrelevant
    assert s1 == sorted(s1) and len(set(s1)) == 10
    assert mb.sample_index(idx, 10, seed=4) != s1
    assert mb.sample_index(idx, None) == sorted(idx) == mb.sample_index(idx, 1000)
    entries = mb.load_sample(tmp_path, sample=10, seed=3)
    assert [e.key for e in entries] == [f"{f}:{i}" for f, i in s1]
    assert [e.key for e in mb.load_sample(tmp_path, sample=10, seed=3)] == [e.key for e in entries]
    only = mb.load_sample(tmp_path, files_glob="A*,C_*")
    assert {e.file for e in only} == {"A.jsonl.gz", "C_other.jsonl.gz"} and len(only) == 25


# ----------------------------------------------------------------------------- in-process walk


def test_run_instance_in_process():
    tok = load_bench_tokenizer("bytes")
    eng = FakeEngine(tok)
    ids = tok.encode('{"a": "xy"}')
    r, times = mb.run_instance(eng, eng.compile({"x-fake": {"forbid": "y"}}), ids)
    assert r["accepted"] is False and r["reject_at"] == ids.index(ord("y")) and not r["inconsistent"]
    assert len(times) == r["reject_at"] + 1
    r, times = mb.run_instance(eng, eng.compile({}), ids)
    assert r["accepted"] is True and r["reject_at"] is None and len(times) == len(ids) + 1
    r, _ = mb.run_instance(eng, eng.compile({"x-fake": {"forbid": "y", "inconsistent": True}}), ids)
    assert r["inconsistent"][0]["kind"] == "advance" and r["accepted"] is False
    r, _ = mb.run_instance(eng, eng.compile({"x-fake": {"never_accept": True}}), ids)
    assert r["accepted"] is False and r["reject_at"] is None


def test_clock_cpu_leaves_out_time_not_spent_computing():
    """--clock cpu times compiles and steps by the worker thread's CPU time: a sleeping
    engine (as a preempted process is) takes wall time and next to no CPU time."""
    tok = load_bench_tokenizer("bytes")
    eng = FakeEngine(tok)
    job = {"key": "k", "schema": {"x-fake": {"sleep": 0.2, "sleep_per_token": 0.01}},
           "instances": [tok.encode('{"a": 1}')]}
    wall = mb.run_schema(eng, job, clock="wall")
    cpu = mb.run_schema(eng, job, clock="cpu")
    assert wall["status"] == cpu["status"] == "ok"
    assert wall["compile_ms"] >= 190 and cpu["compile_ms"] < 100
    # every mask sleeps 10 ms (the last sample, the EOS check, does not ask for a full mask)
    assert min(wall["token_us"][:-1]) >= 9000 and max(cpu["token_us"]) < 5000
    with pytest.raises(ValueError, match="--clock"):
        mb.run_maskbench("unused", clock="gpu")


# ----------------------------------------------------------------------------- end to end


def _dataset(tmp_path):
    ok = ({"a": 1}, True)
    _write(tmp_path, "one.jsonl.gz", [
        _rec(0, None, [ok, ({"a": "x"}, False)]),                      # invalid accepted
        _rec(1, {"forbid": "x"}, [ok, ({"a": "x"}, False)]),           # pass
        _rec(2, {"forbid": "y"}, [({"b": "y"}, True), ok]),            # valid rejected
        _rec(3, {"compile_error": "not"}, [ok]),                       # compile error
        _rec(4, {"sleep": 30}, [ok]),                                  # timeout
        _rec(5, {"forbid": "q"}, [ok, ({"q": 1}, False)]),             # pass (fresh worker)
    ])
    _write(tmp_path, "two.jsonl.gz", [
        _rec(0, {"forbid": "z", "inconsistent": True}, [ok, ({"z": 0}, False)]),  # inconsistent
        _rec(1, {"raise": "boom"}, [ok]),                              # crash (exception)
        _rec(2, {"exit": 3}, [ok]),                                    # crash (worker died)
        _rec(3, {"never_accept": True}, [ok]),                         # valid rejected at the end
        _rec(4, {"signal": "SIGSEGV"}, [ok]),                          # crash (segfault)
        _rec(5, {"allocate_gb": 6}, [ok]),                             # MemoryError under 2 GiB
        _rec(6, None, [ok]),                                           # pass
    ])


def test_fake_engine_known_table(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    _dataset(data)
    out = tmp_path / "out.json"
    rc = mb.main([
        str(data), "--tokenizer", "bytes", "--engines", "fake,no-such-engine", "--timeout", "3",
        "--json", str(out), "--mem-limit-gb", "2", "--no-progress",
    ])
    assert rc == 0
    text = capsys.readouterr().out
    payload = json.loads(out.read_text())
    assert payload["engines"]["no-such-engine"]["skipped"].startswith("unknown engine")
    fake = payload["engines"]["fake"]
    s = fake["summary"]
    assert s["schemas"] == 13
    assert s["passing"] == 3
    assert s["compile_errors"] == 1 and s["compile_error_groups"] == [["FakeUnsupported[not]", 1]]
    assert s["validation_errors"] == 2 and s["validation_keys"] == ["one.jsonl.gz:3", "two.jsonl.gz:4"]
    assert s["invalidation_errors"] == 1 and s["invalidation_keys"] == ["one.jsonl.gz:1"]
    assert s["inconsistent"] == 1 and s["inconsistent_keys"] == ["two.jsonl.gz:1"]
    assert s["timeouts"] == 1 and s["timeout_keys"] == ["one.jsonl.gz:5"] and s["timeouts_in_compile"] == 1
    assert s["crashes"] == 4
    assert s["crash_keys"] == ["two.jsonl.gz:2", "two.jsonl.gz:3", "two.jsonl.gz:5", "two.jsonl.gz:6"]
    msgs = " | ".join(s["crash_samples"])
    assert "boom" in msgs and "exited with code 3" in msgs and "SIGSEGV" in msgs and "MemoryError" in msgs
    # 6 compiled-and-walked schemas contribute per-token samples; percentiles are ordered
    assert s["n_tokens"] > 0 and s["token_us"]["50"] <= s["token_us"]["99.9"]
    assert s["compile_ms"]["50"] is not None and s["peak_rss_mb"] > 0
    # initial worker + after timeout, exit, segfault, MemoryError
    assert fake["worker_starts"] == 5
    rec = {r["key"]: r for r in fake["results"]}
    ctx = rec["one.jsonl.gz:3"]["instances"][0]["context"]
    assert ctx["token"] == "y" and ctx["before"] == '{"b": "'
    assert rec["two.jsonl.gz:4"]["instances"][0]["context"]["at_end"]
    # the printed report
    assert "skipped engine no-such-engine" in text
    assert "3 (23.1%)" in text
    assert "INVALIDATION errors (invalid instance accepted): 1" in text
    assert "one.jsonl.gz:1  s0" in text
    assert "FakeUnsupported[not]" in text

    # --resume: everything is reused, no worker is started
    payload2 = mb.run_maskbench(data, tokenizer="bytes", engines=["fake"], timeout=3,
                                resume=str(out), progress=False, log=lambda s: None)
    f2 = payload2["engines"]["fake"]
    assert "worker_starts" not in f2 and f2["wall_s"] >= fake["wall_s"]
    assert f2["summary"]["passing"] == 3 and f2["summary"]["crash_keys"] == s["crash_keys"]

    # engines run apart (other files) are merged by a comma-separated --resume: one table
    other = tmp_path / "other.json"
    alias = "decode.bench.engines:FakeEngine"
    mb.run_maskbench(data, tokenizer="bytes", engines=[alias], timeout=3, json_out=str(other),
                     progress=False, log=lambda s: None)
    merged = mb.run_maskbench(data, tokenizer="bytes", engines=["fake", alias], timeout=3,
                              resume=f"{out},{other}", progress=False, log=lambda s: None)
    assert set(merged["engines"]) == {"fake", alias}
    assert all("worker_starts" not in merged["engines"][e] for e in merged["engines"])
    assert merged["engines"][alias]["summary"]["passing"] == merged["engines"]["fake"]["summary"]["passing"] == 3

    # the tables can be printed again from the JSON file
    from decode.bench.__main__ import main as bench_main

    assert bench_main(["report", str(out), "--markdown"]) == 0
    md = capsys.readouterr().out
    assert "| passing" in md and "3 (23.1%)" in md


def test_sample_and_timeout_during_matching(tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    # line 3 spends 0.2 s per mask: its instance (~10 tokens) runs past the 1 s timeout
    _write(data, "x.jsonl.gz", [_rec(i, {"sleep_per_token": 0.2} if i == 2 else {"forbid": "x"},
                                     [({"k": i}, True)]) for i in range(6)])
    payload = mb.run_maskbench(data, tokenizer="bytes", engines=["fake"], sample=3, seed=4,
                               timeout=1.0, progress=False, log=lambda s: None)
    fake = payload["engines"]["fake"]
    assert [r["key"] for r in fake["results"]] == ["x.jsonl.gz:1", "x.jsonl.gz:2", "x.jsonl.gz:3"]
    s = fake["summary"]
    assert s["timeouts"] == 1 and s["timeouts_in_compile"] == 0 and s["passing"] == 2
    r = fake["results"][2]
    assert r["status"] == "timeout" and r["phase"] == "match" and r["compile_ms"] is not None


def test_bench_cli_runs_throughput_bare_or_with_its_old_flags(monkeypatch):
    """``python -m decode.bench`` with no subcommand, or with the throughput flags first, is
    the throughput table (as before the benchmarks moved under decode); so is ``structgen bench``."""
    import sys
    import types

    from decode import cli
    from decode.bench.__main__ import main as bench_main

    seen = []
    fake = types.ModuleType("decode.bench.throughput")
    fake.main = lambda args: seen.append(args) or 0
    monkeypatch.setitem(sys.modules, "decode.bench.throughput", fake)
    monkeypatch.setattr(sys.modules["decode.bench"], "throughput", fake, raising=False)
    assert bench_main([]) == 0 and seen[-1].tokens == 32 and seen[-1].batch_sizes == "1,8"
    assert bench_main(["--tokens", "4", "--reps", "1"]) == 0 and (seen[-1].tokens, seen[-1].reps) == (4, 1)
    assert bench_main(["throughput", "--no-lark"]) == 0 and seen[-1].no_lark
    assert cli.main(["bench", "--batch-sizes", "2"]) == 0 and seen[-1].batch_sizes == "2"
    assert len(seen) == 4


class BrokenSetupEngine:
    """Imports fine in the parent, fails when its worker builds it (a peer whose native
    library is missing fails the same way)."""

    def __init__(self, tok, options):
        raise RuntimeError("broken engine setup")


def test_engine_whose_worker_setup_fails_is_skipped(tmp_path):
    """An engine whose worker fails to set it up is recorded as skipped with the worker's
    reason; the run goes on with the other engines."""
    data = tmp_path / "d"
    data.mkdir()
    _write(data, "x.jsonl.gz", [_rec(0, {"forbid": "x"}, [({"a": 1}, True)])])
    broken = "tests.decode.bench.test_bench:BrokenSetupEngine"
    payload = mb.run_maskbench(data, tokenizer="bytes", engines=[broken, "fake"], timeout=5,
                               progress=False, log=lambda s: None)
    assert "broken engine setup" in payload["engines"][broken]["skipped"]
    assert payload["engines"]["fake"]["summary"]["passing"] == 1


def test_empty_language_is_a_verdict_not_a_compile_error():
    """structgen's EmptyLanguageError proves every instance invalid: the schema passes when
    its tests are all invalid (or none) and fails with a validation error when one is valid."""
    tok = load_bench_tokenizer("bytes")
    from decode.bench.engines import StructgenEngine

    eng = StructgenEngine(tok)
    empty = {"type": "object", "required": ["a"], "properties": {"a": False}}
    res = mb.run_schema(eng, {"schema": empty, "instances": [tok.encode("{}")]})
    assert res["status"] == "compile_error" and res["error"]["class"] == "EmptyLanguageError"
    for tests, status, val_err in (([({}, False)], "pass", False), ([], "pass", False),
                                   ([({}, False), ({"a": 1}, True)], "fail", True)):
        entry = mb.SchemaEntry("f.jsonl.gz", 1, "s", empty, [{"data": d, "valid": v} for d, v in tests])
        mb._prepare([entry], tok)
        rec = mb._make_record(entry, res, tok)
        assert rec["status"] == status and rec["validation_error"] is val_err
        assert rec["empty_language"] and all(i["accepted"] is False for i in rec["instances"])
    other = dict(res, error=dict(res["error"], **{"class": "UnsupportedSchemaError"}))
    assert mb._make_record(entry, other, tok)["status"] == "compile_error"


def test_compile_errors_pass_groups_by_class_keyword_and_budget(tmp_path, capsys):
    from decode.bench import compile_errors as ce

    _write(tmp_path, "one.jsonl.gz", [
        {"id": "ok", "schema": {"type": "string"}, "tests": []},
        {"id": "uniq", "schema": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}, "tests": []},
        {"id": "uniq2", "schema": {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}, "tests": []},
        {"id": "empty", "schema": {"not": {}}, "tests": []},
    ])
    out = tmp_path / "out.jsonl"
    assert ce.main([str(tmp_path), "--tokenizer", "bytes", "--out", str(out)]) == 0
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["status"] for r in recs] == ["ok", "compile_error", "compile_error", "compile_error"]
    groups = ce.group_failures(recs)
    assert list(groups) == ["UnsupportedSchemaError[uniqueItems]", "EmptyLanguageError"]
    assert [r["key"] for r in groups["UnsupportedSchemaError[uniqueItems]"]] == ["one.jsonl.gz:2", "one.jsonl.gz:3"]
    capsys.readouterr()
    assert ce.main(["x", "--from", str(out)]) == 0  # grouping a previous run's lines again
    text = capsys.readouterr().out
    assert text.startswith("4 schemas: 1 compiled, compile_error 3") and "    2  UnsupportedSchemaError[uniqueItems]" in text
    again = tmp_path / "again.jsonl"  # only the three failures compiled again, the same summary
    assert ce.main([str(tmp_path), "--tokenizer", "bytes", "--only-failed", str(out), "--out", str(again)]) == 0
    assert [json.loads(x)["key"] for x in again.read_text().splitlines()] == [r["key"] for r in recs[1:]]
    assert capsys.readouterr().out.startswith("4 schemas: 1 compiled, compile_error 3")
