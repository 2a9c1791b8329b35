"""``structgen bench generate``: the harness with a scripted backend (no model) gives known numbers.

The ``fake`` backend (``decode.bench.generate.FakeGenBackend``) reads what to output from the
schema's ``"x-fake-gen"`` object, so one tiny dataset exercises valid / invalid / non-JSON /
unfinished outputs, a compile error and a timeout in the real worker process.
"""

from __future__ import annotations

import gzip
import json

import pytest

from decode.bench import generate as gb
from decode.bench.generate.runner import ProgressBar

OBJ = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}


def _write(dirpath, name, fakes):
    with gzip.open(dirpath / name, "wt", encoding="utf-8") as f:
        for i, fake in enumerate(fakes):
            schema = dict(OBJ, **{"x-fake-gen": fake})
            f.write(json.dumps({"id": f"{name}-{i}", "schema": schema, "tests": []}) + "\n")


# Six schemas in two files; what each mode outputs (see FakeGenBackend).
CASES_A = [
    # 1: both valid (unconstrained inside a ```json fence)
    {"constrained": {"text": '{"a": 1}', "ttft_ms": 10, "tpot_ms": 1, "tokens": 5},
     "unconstrained": {"text": 'Sure:\n```json\n{"a": 2}\n```', "ttft_ms": 20, "tpot_ms": 2, "tokens": 9}},
    # 2: parses but invalid in both modes
    {"constrained": {"text": '{"a": "x"}', "ttft_ms": 30, "tpot_ms": 3, "tokens": 6},
     "unconstrained": {"text": '{"b": 1}', "ttft_ms": 40, "tpot_ms": 4, "tokens": 6}},
    # 3: not JSON
    {"constrained": {"text": "nope", "ttft_ms": 50, "tpot_ms": 5, "tokens": 2},
     "unconstrained": {"text": "I cannot help with that.", "ttft_ms": 60, "tpot_ms": 6, "tokens": 7}},
]
CASES_B = [
    # 4: unfinished: constrained truncated; unconstrained has a complete first value then chatter
    {"constrained": {"text": '{"a": 12', "finished": False, "ttft_ms": 70, "tpot_ms": 7, "tokens": 512},
     "unconstrained": {"text": '{"a": 3} and here is why: ...', "finished": False, "ttft_ms": 80,
                       "tpot_ms": 8, "tokens": 512}},
    # 5: compile error; unconstrained valid
    {"compile_error": "patternProperties",
     "unconstrained": {"text": '{"a": 5}', "ttft_ms": 100, "tpot_ms": 10, "tokens": 5}},
    # 6: constrained generation exceeds the time limit; unconstrained valid
    {"constrained": {"sleep": 60},
     "unconstrained": {"text": ' {"a": 6} ', "ttft_ms": 120, "tpot_ms": 12, "tokens": 5}},
]


@pytest.fixture
def dataset(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    _write(d, "A.jsonl.gz", CASES_A)
    _write(d, "B.jsonl.gz", CASES_B)
    return d


# ----------------------------------------------------------------------------- pure helpers


@pytest.mark.parametrize("text,expected", [
    ('{"a": 1}', ({"a": 1}, "whole")),
    ('  [1, 2]\n', ([1, 2], "whole")),
    ('42', (42, "whole")),
    ('"s"', ("s", "whole")),
    ('```json\n{"a": 1}\n```', ({"a": 1}, "fence")),
    ('Here it is:\n```\n[1, 2]\n```\nDone.', ([1, 2], "fence")),
    ('```json\n{"a": 1}\n```\nor\n```json\n{"a": 2}\n```', ({"a": 1}, "fence")),
    ('```json\nnot json\n```\n```json\n{"b": 2}\n```', ({"b": 2}, "fence")),
    ('```json\n{"a": 1}\n', ({"a": 1}, "fence")),  # unterminated fence, complete value
    ('Sure! {"a": 1} hope this helps {"b": 2}', ({"a": 1}, "first_value")),
    ('text {bad} then [1, {"x": null}] end', ([1, {"x": None}], "first_value")),
    ('```json\n{"a": 1', None),  # truncated
    ('no json here', None),
    ('', None),
    ('   ', None),
])
def test_extract_json(text, expected):
    assert gb.extract_json(text) == expected


def test_validate_instance_draft_and_formats():
    assert gb.validate_instance(OBJ, {"a": 1}) == (True, None)
    ok, msg = gb.validate_instance(OBJ, {"a": "x"})
    assert ok is False and "'x' is not of type 'integer'" in msg and "/a" in msg
    # default Draft 2020-12: prefixItems is enforced
    assert gb.validate_instance({"prefixItems": [{"type": "integer"}]}, ["x"])[0] is False
    # draft-07 ($schema) ignores prefixItems
    d7 = {"$schema": "http://json-schema.org/draft-07/schema#", "prefixItems": [{"type": "integer"}]}
    assert gb.validate_instance(d7, ["x"]) == (True, None)
    # draft-04: boolean exclusiveMaximum
    d4 = {"$schema": "http://json-schema.org/draft-04/schema#", "maximum": 5, "exclusiveMaximum": True}
    assert gb.validate_instance(d4, 5)[0] is False and gb.validate_instance(d4, 4)[0] is True
    # formats are checked
    assert gb.validate_instance({"type": "string", "format": "date"}, "2020-02-30")[0] is False
    assert gb.validate_instance({"type": "string", "format": "date"}, "2020-02-29")[0] is True
    # ... by the schema's draft: a 2020-12 time with an offset is not draft 3's HH:MM:SS
    assert gb.validate_instance({"type": "string", "format": "time"}, "12:00:00Z")[0] is True
    # the validator itself failing is not a verdict
    ok, msg = gb.validate_instance({"$ref": "https://example.invalid/nowhere.json"}, 1)
    assert ok is None and msg.startswith("could not validate")
    assert gb.validate_instance(True, {"x": 1}) == (True, None)


def test_check_output_rules():
    # constrained: the whole text must be JSON, and an unfinished output never counts
    c = gb.check_output(OBJ, '{"a": 1}', "constrained", True)
    assert c["parses"] and c["valid"] and c["success"] and c["extracted"] == "whole"
    c = gb.check_output({"type": "integer"}, "123", "constrained", False)
    assert c["parses"] and c["valid"] and not c["success"]
    c = gb.check_output(OBJ, 'x {"a": 1}', "constrained", True)
    assert not c["parses"] and c["validation_error"].startswith("not JSON")
    # unconstrained: extraction, unfinished allowed
    c = gb.check_output(OBJ, 'x {"a": 1} y', "unconstrained", False)
    assert c["success"] and c["extracted"] == "first_value"


def test_prompt_template():
    msgs = gb.build_messages({"type": "string", "description": "é"})
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert "only a JSON value" in msgs[0]["content"]
    assert msgs[1]["content"].endswith('{"type": "string", "description": "é"}')
    assert gb.PROMPT_TEMPLATE[1]["content"].count("{schema}") == 1


# ----------------------------------------------------------------------------- the harness


def _check_known_summary(S):
    c, u = S["constrained"], S["unconstrained"]
    assert (c["schemas"], c["compiled"], c["compile_errors"], c["timeouts"], c["crashes"]) == (6, 5, 1, 1, 0)
    assert (c["generated"], c["finished"], c["parses"], c["validates"], c["valid"]) == (4, 3, 2, 1, 1)
    assert c["coverage_denominator"] == 5 and c["empirical_coverage"] == pytest.approx(0.2)
    assert c["compliance"] == pytest.approx(1 / 6)
    assert c["compile_error_keywords"] == [["patternProperties", 1]] or \
        c["compile_error_keywords"] == [("patternProperties", 1)]
    assert c["median_ttft_ms"] == pytest.approx(40.0)  # 10, 30, 50, 70
    assert c["median_tpot_ms"] == pytest.approx(4.0)
    assert c["median_output_tokens"] == pytest.approx(5.5)  # 5, 6, 2, 512
    assert c["median_compile_ms"] is not None
    assert (u["schemas"], u["generated"], u["finished"], u["parses"], u["valid"]) == (6, 6, 5, 5, 4)
    assert u["compliance"] == pytest.approx(4 / 6)
    assert u["compiled"] is None and u["empirical_coverage"] is None
    assert (u["valid_on_compiled"], u["n_on_compiled"]) == (3, 5)
    assert u["extracted"] == {"fence": 1, "whole": 3, "first_value": 1}
    assert u["median_ttft_ms"] == pytest.approx(70.0)  # 20, 40, 60, 80, 100, 120
    assert c["per_dataset"]["A"] == {"schemas": 3, "run": 3, "compiled": 3, "valid": 1}
    assert c["per_dataset"]["B"] == {"schemas": 3, "run": 3, "compiled": 2, "valid": 0}
    assert u["per_dataset"]["B"]["valid"] == 3


def test_known_table_in_worker_process(dataset, tmp_path, capsys):
    out = tmp_path / "gen.json"
    rc = gb.main(["--backend", "fake", str(dataset), "--timeout", "3", "--json", str(out), "--no-progress",
                  "--max-new-tokens", "512"])
    assert rc == 0
    table = capsys.readouterr().out
    payload = json.loads(out.read_text())
    assert payload["kind"] == "generate" and len(payload["results"]) == 12
    _check_known_summary(payload["summary"])
    assert payload["worker_starts"] == 2  # restarted after the timeout
    recs = {(r["key"], r["mode"]): r for r in payload["results"]}
    t = recs[("B.jsonl.gz:3", "constrained")]
    assert t["status"] == "timeout" and t["phase"] == "generate" and t["compile_ms"] is not None
    e = recs[("B.jsonl.gz:2", "constrained")]
    assert e["status"] == "compile_error" and e["error"]["keyword"] == "patternProperties"
    bad = recs[("A.jsonl.gz:2", "constrained")]
    assert bad["parses"] and bad["valid"] is False and "integer" in bad["validation_error"]
    assert recs[("B.jsonl.gz:1", "constrained")]["finished"] is False

    assert "| **empirical coverage** (valid / compiled) " in table
    assert "**20.0%**" in table
    assert "66.7%" in table and "60.0% (3/5)" in table
    assert "| A       |       3 |" in table or "| A " in table
    assert "timeout B.jsonl.gz:3 in generate" in table
    assert "JSON found by: fence 1, first_value 1, whole 3" in table

    # the report subcommand prints the same tables from the JSON file
    from decode.bench.__main__ import main as bench_main

    assert bench_main(["report", str(out)]) == 0
    assert capsys.readouterr().out.strip() == table.split("\nraw results:")[0].strip()


def _no_compile_time(summary):
    return {m: {k: v for k, v in s.items() if k != "median_compile_ms"} for m, s in summary.items()}


def test_resume_reuses_finished_results(dataset, tmp_path):
    out = tmp_path / "r.json"
    be = gb.FakeGenBackend()
    cases = {"files_glob": "A*", "modes": ["constrained", "unconstrained"], "progress": False,
             "log": lambda s: None}
    p1 = gb.run_generate_bench(dataset, backend=be, json_out=str(out), **cases)
    assert len(be.calls) == 6 and len(p1["results"]) == 6
    # everything done: nothing runs again, same figures
    be2 = gb.FakeGenBackend()
    p2 = gb.run_generate_bench(dataset, backend=be2, resume=str(out), json_out=str(out), **cases)
    assert be2.calls == [] and p2["summary"] == p1["summary"]
    # drop two records (an interrupted run): only those run
    d = json.loads(out.read_text())
    d["results"] = [r for r in d["results"] if r["key"] != "A.jsonl.gz:2"]
    out.write_text(json.dumps(d))
    be3 = gb.FakeGenBackend()
    p3 = gb.run_generate_bench(dataset, backend=be3, resume=str(out), json_out=str(out), **cases)
    assert [m for _, m in be3.calls] == ["constrained", "unconstrained"]
    assert _no_compile_time(p3["summary"]) == _no_compile_time(p1["summary"])  # compile_ms re-measured
    assert [(r["key"], r["mode"]) for r in p3["results"]] == [(r["key"], r["mode"]) for r in p1["results"]]
    # --retry-timeouts runs timed-out / crashed jobs again, and only those
    d = json.loads(out.read_text())
    d["results"][0].update(status="timeout", success=False)
    out.write_text(json.dumps(d))
    be4 = gb.FakeGenBackend()
    p4 = gb.run_generate_bench(dataset, backend=be4, resume=str(out), retry_timeouts=True, json_out=str(out),
                               **cases)
    assert [m for _, m in be4.calls] == ["constrained"] and p4["results"][0]["status"] == "ok"
    # another token budget is another experiment
    with pytest.raises(ValueError, match="max_new_tokens"):
        gb.run_generate_bench(dataset, backend=gb.FakeGenBackend(), resume=str(out), max_new_tokens=7, **cases)


def test_sample_matches_maskbench_and_modes(dataset):
    from decode.bench import maskbench as mb

    be = gb.FakeGenBackend()
    p = gb.run_generate_bench(dataset, backend=be, sample=4, seed=3, modes=["unconstrained"], progress=False,
                              log=lambda s: None)
    assert [r["key"] for r in p["results"]] == [e.key for e in mb.load_sample(dataset, sample=4, seed=3)]
    assert set(p["summary"]) == {"unconstrained"} and all(m == "unconstrained" for _, m in be.calls)
    assert "unconstrained" in gb.format_generate_report(p)


def test_prompt_too_long_left_out_of_denominators(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    _write(d, "X.jsonl.gz", [{"constrained": {"text": '{"a": 1}'}, "unconstrained": {"text": '{"a": 1}'}},
                             {"constrained": {"prompt_too_long": True}, "unconstrained": {"prompt_too_long": True}}])
    p = gb.run_generate_bench(d, backend=gb.FakeGenBackend(), progress=False, log=lambda s: None)
    c, u = p["summary"]["constrained"], p["summary"]["unconstrained"]
    assert c["prompt_too_long"] == 1 and c["compiled"] == 2 and c["empirical_coverage"] == 1.0
    assert u["prompt_too_long"] == 1 and u["compliance"] == 1.0


def test_prompt_fitted_by_leaving_out_annotations(tmp_path):
    """A schema whose descriptions overflow the context is shown without them, not skipped."""
    d = tmp_path / "d"
    d.mkdir()
    fake = {"constrained": {"text": '{"a": 1}', "prompt_max_chars": 600, "stop_reason": "budget"},
            "unconstrained": {"text": '{"a": 1}', "prompt_max_chars": 600}}
    schema = dict(OBJ, description="x" * 2000, **{"x-fake-gen": fake})
    with gzip.open(d / "X.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(json.dumps({"id": "x", "schema": schema, "tests": []}) + "\n")
    p = gb.run_generate_bench(d, backend=gb.FakeGenBackend(), progress=False, log=lambda s: None)
    assert [r["prompt_fit"] for r in p["results"]] == ["no annotations"] * 2
    assert p["summary"]["constrained"]["prompt_too_long"] == 0
    assert p["summary"]["constrained"]["empirical_coverage"] == 1.0
    assert p["summary"]["constrained"]["closed_by_grammar"] == 1
    assert "closed by the grammar" in gb.format_generate_report(p)


def test_strip_annotations_and_cut_prompt():
    schema = {"title": "T", "description": "long", "type": "object", "properties": {
        "description": {"type": "string", "description": "the name stays, this goes", "default": "d"}},
        "enum": [{"title": "data"}], "$defs": {"title": {"examples": [1], "type": "integer"}}}
    assert gb.strip_annotations(schema) == {"type": "object", "properties": {"description": {"type": "string"}},
                                            "enum": [{"title": "data"}], "$defs": {"title": {"type": "integer"}}}
    msgs = gb.build_messages(schema, max_chars=20)
    assert msgs[-1]["content"].endswith(json.dumps(schema)[:20] + " ... (schema cut to fit the context)")


def test_plots(dataset, tmp_path):
    pytest.importorskip("matplotlib")
    p = gb.run_generate_bench(dataset, backend=gb.FakeGenBackend(), progress=False, log=lambda s: None,
                              files_glob="A*")
    paths = gb.plot_generate(p, tmp_path / "img")
    assert [str(x).rsplit("/", 1)[1] for x in paths] == ["generate_coverage.png", "generate_cdf.png"]
    assert all((tmp_path / "img" / n).stat().st_size > 1000 for n in ("generate_coverage.png", "generate_cdf.png"))


def test_bench_module_imports_without_torch():
    import subprocess
    import sys

    code = "import sys, decode.bench.generate, decode.bench.__main__; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# ---------------------------------------------------------------------------- progress with ETA


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_progress_lines_give_rate_and_eta():
    import io
    from collections import Counter

    clock, out = _Clock(), io.StringIO()
    bar = ProgressBar(5, True, interval=15.0, clock=clock, out=out, use_tqdm=False)
    clock.t = 100.0  # model loading is not a job
    bar.worker_ready()
    stats = Counter({("constrained", "valid"): 1})
    bar.update(stats, reused=True)  # resumed: done, but not in the rate, no line
    assert out.getvalue() == ""
    clock.t = 110.0
    bar.update(stats)  # the first job run prints at once
    clock.t = 115.0
    bar.update(stats)  # within the interval: quiet
    clock.t = 130.0
    bar.update(stats)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[generate] 2/5 jobs, 10.0 s/job, elapsed 0:10, ETA 0:30")
    assert lines[1].startswith("[generate] 4/5 jobs, 10.0 s/job, elapsed 0:30, ETA 0:10")
    assert "C valid 1/1" in lines[1] and len(lines) == 2
    clock.t = 4000.0
    bar.update(stats)  # the last job always prints; no ETA at the end
    assert out.getvalue().splitlines()[-1].startswith("[generate] 5/5 jobs, 975.0 s/job, elapsed 1:05:00  C")


def test_run_prints_progress_with_eta(dataset, capsys):
    gb.run_generate_bench(dataset, backend=gb.FakeGenBackend(), files_glob="A*", log=lambda s: None)
    err = capsys.readouterr().err.splitlines()
    progress = [ln for ln in err if ln.startswith("[generate] ") and " jobs" in ln]
    assert progress[0].startswith("[generate] 1/6 jobs, ") and ", ETA " in progress[0]
    assert progress[-1].startswith("[generate] 6/6 jobs, ")


# ---------------------------------------------------------------------------- --plots without matplotlib


_NO_MPL = "import sys; sys.modules['matplotlib'] = None; from decode.bench.__main__ import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.parametrize("cmd", [
    ["coverage", "{data}", "--tokenizer", "bytes", "--engines", "structgen", "--plots", "{out}"],
    ["generate", "{data}", "--backend", "fake", "--plots", "{out}"],
    ["plots", "{json}", "--out", "{out}"],
])
def test_plots_without_matplotlib_is_one_line_naming_the_extra(cmd, dataset, tmp_path):
    """matplotlib hidden (``sys.modules['matplotlib'] = None``): exit 2 with one line saying what
    to install, before any benchmark runs (no worker started, no JSON written)."""
    import subprocess
    import sys

    js = tmp_path / "x.json"
    js.write_text('{"kind": "maskbench"}')
    argv = [a.format(data=dataset, out=tmp_path / "img", json=js) for a in cmd]
    r = subprocess.run([sys.executable, "-c", _NO_MPL, *argv], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == (f"structgen bench {cmd[0]}: plots need matplotlib, which is not installed: "
                                "pip install 'structgen[bench]'")
    assert r.stdout == "" and not (tmp_path / "img").exists()


def test_require_matplotlib_error(monkeypatch):
    from decode.bench import plots

    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    with pytest.raises(plots.MissingExtraError, match=r"pip install 'structgen\[bench\]'"):
        plots.require_matplotlib()
    with pytest.raises(ImportError):  # still an ImportError for callers that expect one
        plots._plt()
