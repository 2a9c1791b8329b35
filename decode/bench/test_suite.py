"""The official JSON Schema Test Suite (draft 2020-12) through every engine's masks.

For every test group (one schema, several instances) of every keyword file
(``tests/draft2020-12/*.json``, ``optional/*.json``, ``optional/format/*.json``): compile the
schema with each engine (structgen: ``constrain.compile_json_schema(schema, vocab)``,
default options), serialize each instance compactly
(``json.dumps(data, separators=(",", ":"), ensure_ascii=False)``), tokenize it canonically
(``Vocabulary.encode``) and walk it exactly as MaskBench does (full mask + bit test +
advance per token, then the EOS bit).  Each test case ends up as one of:

``correct``        the verdict (EOS allowed after the last token, no token refused) equals
                   the suite's ``valid``, and mask and ``advance`` agreed throughout;
``wrong_accept``   an invalid instance was accepted (the serious kind);
``wrong_reject``   a valid instance was refused;
``inconsistent``   right verdict, but the mask disagreed with ``advance``/``accepting``;
``unsupported``    the engine declined the group's schema (its compile error; but structgen's
                   ``EmptyLanguageError`` is a verdict: the engine proved that no instance is
                   valid, so every case counts as rejected: ``correct`` or ``wrong_reject``);
``error``          crash or timeout of the group;
``skipped``        the instance cannot be serialized/tokenized (lone surrogates...).

A keyword file is *fully correct* for an engine when every case that is not skipped is
``correct``.  Remote references: the suite's ``remotes/`` folder is what the suite serves at
``http://localhost:1234/``; structgen gets those documents as ``compile_json_schema(...,
resources=...)`` (``--no-remotes``: not), peers get nothing (groups that need them count as
unsupported unless the engine resolves them on its own). The metaschema URLs are never served.

``format``: draft 2020-12 reads it as an annotation unless a format-assertion vocabulary is in
use; the required ``format.json`` expects exactly that (invalid emails valid), while the
``optional/format/`` files test assertion. By default (``--format-assertion spec``) structgen
compiles the groups outside ``optional/format*`` with ``format_assertion=False`` and the rest
with its default (asserting); ``--format-assertion always`` compiles every group with the
default. Peers take no such option: they run every group the same way.

The worker/timeout/memory-limit machinery is MaskBench's (:func:`.maskbench.run_engines`, one
schema group per task); results can be resumed from the ``--json`` file.

Entry point: ``python -m decode.bench test-suite PATH`` (or ``structgen bench
test-suite PATH``); programmatic: :func:`run_test_suite`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Sequence

from .engines import DEFAULT_ENGINES, BenchTokenizer, load_bench_tokenizer
from .maskbench import SchemaEntry, _make_record, run_engines
from .output import load_previous, output_path, write_json
from .report import fmt_num, format_table, percentiles

__all__ = [
    "CASE_STATUSES",
    "find_suite_dir",
    "FORMAT_MODES",
    "asserts_format",
    "load_remotes",
    "remotes_from_folder",
    "load_suite",
    "prepare_suite",
    "case_statuses",
    "run_test_suite",
    "summarize_suite",
    "format_suite_report",
    "add_arguments",
    "main",
]

JSON_FORMAT_VERSION = 1
CASE_STATUSES = ("correct", "wrong_accept", "wrong_reject", "inconsistent", "unsupported", "error", "skipped")
TOKEN_QS = (50, 90, 99, 99.9)
COMPILE_QS = (50, 90, 99)


# ============================================================================ loading


def find_suite_dir(path: str | os.PathLike, draft: str = "draft2020-12") -> Path:
    """The folder of the draft's keyword files: ``PATH/tests/<draft>``, ``PATH/<draft>`` or
    ``PATH`` itself when it holds ``*.json`` files."""
    p = Path(path)
    for cand in (p / "tests" / draft, p / draft, p):
        if cand.is_dir() and any(cand.glob("*.json")):
            return cand
    raise FileNotFoundError(f"no JSON Schema Test Suite folder for {draft} under {p}")


def suite_files(suite_dir: Path, *, optional: bool = True, files_glob: str | None = None) -> list[str]:
    """Relative names of the keyword files: top level first, then ``optional/``,
    then ``optional/format/`` (each sorted)."""
    import fnmatch

    rels = [f.name for f in sorted(suite_dir.glob("*.json"))]
    if optional:
        rels += [f"optional/{f.name}" for f in sorted((suite_dir / "optional").glob("*.json"))]
        rels += [f"optional/format/{f.name}" for f in sorted((suite_dir / "optional" / "format").glob("*.json"))]
    if files_glob:
        pats = [g.strip() for g in files_glob.split(",") if g.strip()]
        rels = [r for r in rels if any(fnmatch.fnmatch(r, g) or fnmatch.fnmatch(Path(r).name, g) for g in pats)]
    return rels


#: ``--format-assertion``: "spec" reads ``format`` as the suite's files expect it (an annotation,
#: draft 2020-12's default, except in ``optional/format*``, which test assertion); "always"
#: asserts it everywhere (structgen's default, what generation wants: ``format.json`` then fails).
FORMAT_MODES = ("spec", "always")


def asserts_format(rel: str) -> bool:
    """Whether the suite expects ``format`` asserted in this keyword file (``optional/format/``
    and ``optional/format-assertion.json``), not only annotated (every other file)."""
    return rel.startswith("optional/format")


def load_remotes(path, draft: str = "draft2020-12") -> dict[str, Any]:
    """The suite's ``remotes/`` documents by the URI the suite serves them at
    (``http://localhost:1234/<path>``); empty when the folder is missing."""
    return remotes_from_folder(find_suite_dir(path, draft).parent.parent / "remotes")


def remotes_from_folder(root: str | os.PathLike) -> dict[str, Any]:
    """Every ``*.json`` under ``root`` by ``http://localhost:1234/<relative path>`` (the suite's
    convention); empty when ``root`` is not a folder."""
    root = Path(root)
    out: dict[str, Any] = {}
    for p in sorted(root.rglob("*.json")) if root.is_dir() else []:
        out["http://localhost:1234/" + p.relative_to(root).as_posix()] = json.loads(p.read_text(encoding="utf-8"))
    return out


def load_suite(path, *, draft: str = "draft2020-12", optional: bool = True,
               files_glob: str | None = None, format_assertion: str = "spec") -> list[SchemaEntry]:
    """One :class:`SchemaEntry` per test group; ``file`` is the keyword file's relative name,
    ``line`` the group's index in it (0-based), ``id`` its description. With
    ``format_assertion="spec"`` the groups of files that read ``format`` as an annotation
    compile with ``format_assertion=False`` (engines that take the option)."""
    if format_assertion not in FORMAT_MODES:
        raise ValueError(f"format_assertion must be one of {FORMAT_MODES}, not {format_assertion!r}")
    d = find_suite_dir(path, draft)
    entries = []
    for rel in suite_files(d, optional=optional, files_glob=files_glob):
        groups = json.loads((d / rel).read_text(encoding="utf-8"))
        opts = {"format_assertion": False} if format_assertion == "spec" and not asserts_format(rel) else {}
        for i, g in enumerate(groups):
            entries.append(SchemaEntry(rel, i, str(g.get("description", f"{rel}:{i}")), g.get("schema"),
                                       list(g.get("tests") or []), compile_options=dict(opts)))
    return entries


def instance_text(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def prepare_suite(entries: Sequence[SchemaEntry], tok: BenchTokenizer) -> None:
    """Serialize compactly and tokenize canonically; a case whose text cannot be encoded or
    whose ids do not spell its exact bytes is skipped (with the reason)."""
    for e in entries:
        if e.ids:
            continue
        e.texts, e.ids, e.skipped = [], [], []
        for t in e.tests:
            try:
                text = instance_text(t.get("data"))
                raw = text.encode("utf-8")
            except Exception as ex:  # noqa: BLE001 - lone surrogates, NaN...
                e.texts.append(None)
                e.ids.append(None)
                e.skipped.append(f"unserializable: {type(ex).__name__}")
                continue
            try:
                ids = tok.encode(text)
                if b"".join(tok.token_bytes[i] or b"\x00\xff" for i in ids) != raw:
                    raise ValueError("token bytes differ from the text")
            except Exception as ex:  # noqa: BLE001
                e.texts.append(text)
                e.ids.append(None)
                e.skipped.append(f"untokenizable: {type(ex).__name__}: {ex}"[:200])
                continue
            e.texts.append(text)
            e.ids.append(ids)
            e.skipped.append(None)


# ============================================================================ classification


def case_statuses(rec: dict) -> list[str]:
    """Per test case of one group record (as made by ``maskbench._make_record``)."""
    out = []
    # an empty language is a verdict, not a refusal: every instance is rejected
    empty = rec["status"] == "compile_error" and (rec.get("error") or {}).get("class") == "EmptyLanguageError"
    for inst in rec.get("instances", []):
        if "skipped" in inst:
            out.append("skipped")
        elif empty:
            out.append("wrong_reject" if inst["valid"] else "correct")
        elif rec["status"] == "compile_error":
            out.append("unsupported")
        elif "accepted" not in inst:
            out.append("error")
        elif inst["accepted"] and not inst["valid"]:
            out.append("wrong_accept")
        elif inst["valid"] and not inst["accepted"]:
            out.append("wrong_reject")
        elif inst.get("inconsistent"):
            out.append("inconsistent")
        else:
            out.append("correct")
    return out


def _annotate(rec: dict, entry: SchemaEntry) -> dict:
    rec["file"] = entry.file
    rec["group"] = entry.line
    for j, (inst, st) in enumerate(zip(rec["instances"], case_statuses(rec))):
        inst["description"] = str(entry.tests[j].get("description", ""))
        inst["status"] = st
        if st == "wrong_accept" and "text" not in inst and entry.texts[j] is not None:
            inst["text"] = entry.texts[j][:400]
    return rec


# ============================================================================ running


def run_test_suite(path, *, tokenizer: str = "smollm2", engines: Sequence[str] = DEFAULT_ENGINES,
                   draft: str = "draft2020-12", optional: bool = True, files_glob: str | None = None,
                   timeout: float = 30.0, mem_limit_gb: float | None = 8.0, threads: int = 1,
                   start_method: str = "spawn", json_out: str | None = None, resume: str | None = None,
                   progress: bool = True, setup_timeout: float = 600.0, format_assertion: str = "spec",
                   remotes: bool = True,
                   log: Callable[[str], None] | None = None) -> dict:
    """Run every group through every engine; returns the payload written to ``json_out``."""
    say = log or (lambda s: print(s, file=sys.stderr, flush=True))
    t_load = time.perf_counter()
    entries = load_suite(path, draft=draft, optional=optional, files_glob=files_glob,
                         format_assertion=format_assertion)
    tok = load_bench_tokenizer(tokenizer)
    prepare_suite(entries, tok)
    n_inst = sum(len(e.tests) for e in entries)
    n_skip = sum(s is not None for e in entries for s in e.skipped)
    files = list(dict.fromkeys(e.file for e in entries))
    say(f"[test-suite] {len(files)} files, {len(entries)} groups, {n_inst} cases ({n_skip} skipped: "
        f"untokenizable) from {find_suite_dir(path, draft)}; tokenizer {tokenizer} ({tok.size} ids); "
        f"prepared in {time.perf_counter() - t_load:.1f} s")
    config = {"path": str(path), "draft": draft, "optional": optional, "files": files_glob,
              "format_assertion": format_assertion, "remotes": remotes,
              "tokenizer": tokenizer, "vocab_size": tok.size, "timeout_s": timeout,
              "mem_limit_gb": mem_limit_gb, "threads": threads, "start_method": start_method,
              "engines": list(engines), "n_files": len(files), "n_groups": len(entries),
              "n_cases": n_inst, "n_skipped_cases": n_skip,
              "serialization": "json.dumps(data, separators=(',', ':'), ensure_ascii=False)",
              "python": sys.version.split()[0], "cpu_count": os.cpu_count(),
              "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    payload: dict[str, Any] = {"format": JSON_FORMAT_VERSION, "kind": "test-suite", "config": config,
                               "file_order": files, "engines": {}}

    previous = load_previous(resume, tokenizer, say, "test-suite")
    options: dict[str, Any] = {"threads": threads}
    if remotes:
        options["resources"] = load_remotes(path, draft)
    run_engines(entries, payload, engines=engines, tokenizer=tokenizer, options=options,
                mem_limit_gb=mem_limit_gb, check_quick=False, start_method=start_method,
                timeout=timeout, setup_timeout=setup_timeout, json_out=json_out, previous=previous,
                make_record=lambda e, res: _annotate(_make_record(e, res, tok), e),
                summarize=lambda results: summarize_suite(results, files),
                progress=progress, say=say, tag="test-suite", desc=lambda name: f"test-suite {name}")
    if json_out:
        write_json(json_out, payload)
    return payload


# ============================================================================ summary


def summarize_suite(results: Sequence[dict], file_order: Sequence[str] | None = None) -> dict:
    """Per keyword file: groups, cases and the case counts of every status (plus ``compiled``:
    cases of groups the engine compiled, and ``fully_correct``); engine totals; the wrong
    accepts/rejects (file, group, case); compile-time and per-token percentiles."""
    per_file: dict[str, dict] = {}
    for f in file_order or []:
        per_file[f] = {"groups": 0, "cases": 0, "compiled": 0, **{s: 0 for s in CASE_STATUSES}}
    wrong_accepts, wrong_rejects, inconsistent = [], [], []
    compile_ms: list[float] = []
    token_us: list[float] = []
    group_status: Counter = Counter()
    for r in results:
        f = r.get("file") or r["key"].rsplit(":", 1)[0]
        d = per_file.setdefault(f, {"groups": 0, "cases": 0, "compiled": 0, **{s: 0 for s in CASE_STATUSES}})
        d["groups"] += 1
        group_status[r["status"]] += 1
        compiled = r["status"] not in ("compile_error",) and r.get("compile_ms") is not None
        if compiled:
            compile_ms.append(r["compile_ms"])
        token_us.extend(r.get("token_us") or [])
        for j, inst in enumerate(r.get("instances", [])):
            st = inst.get("status") or case_statuses(r)[j]
            d["cases"] += 1
            d[st] += 1
            if compiled and st != "skipped":
                d["compiled"] += 1
            item = {"file": f, "group": r.get("group"), "group_description": r.get("id"),
                    "case": j, "description": inst.get("description", ""), "text": inst.get("text")}
            if st == "wrong_accept":
                wrong_accepts.append(item)
            elif st == "wrong_reject":
                c = inst.get("context") or {}
                item["context"] = c
                wrong_rejects.append(item)
            elif st == "inconsistent":
                item["inconsistent"] = (inst.get("inconsistent") or [None])[0]
                inconsistent.append(item)
    for d in per_file.values():
        run = d["cases"] - d["skipped"]
        d["fully_correct"] = bool(run > 0 and d["correct"] == run)
    tot = {s: sum(d[s] for d in per_file.values()) for s in CASE_STATUSES}
    return {
        "files": len(per_file),
        "files_fully_correct": sum(d["fully_correct"] for d in per_file.values()),
        "groups": sum(d["groups"] for d in per_file.values()),
        "groups_compiled": len(compile_ms),
        "group_status": dict(group_status),
        "cases": sum(d["cases"] for d in per_file.values()),
        "compiled_cases": sum(d["compiled"] for d in per_file.values()),
        **tot,
        "per_file": per_file,
        "wrong_accepts": wrong_accepts,
        "wrong_rejects": wrong_rejects,
        "inconsistent_cases": inconsistent,
        "compile_ms": {str(q): v for q, v in percentiles(compile_ms, COMPILE_QS).items()},
        "token_us": {str(q): v for q, v in percentiles(token_us, TOKEN_QS).items()},
        "n_tokens": len(token_us),
    }


def _cell(d: dict) -> str:
    """``correct/cases`` + markers: ``uN`` unsupported, ``eN`` crash/timeout, ``AN`` wrong
    accepts, ``RN`` wrong rejects, ``iN`` inconsistent, ``sN`` skipped; ``✓`` fully correct."""
    if not d or not d.get("cases"):
        return "-"
    s = f"{d['correct']}/{d['cases']}"
    for key, mark in (("unsupported", "u"), ("error", "e"), ("wrong_accept", "A"), ("wrong_reject", "R"),
                      ("inconsistent", "i"), ("skipped", "s")):
        if d.get(key):
            s += f" {mark}{d[key]}"
    if d.get("fully_correct"):
        s += " ✓"
    return s


def format_suite_report(payload: dict, *, markdown: bool = True, details: bool = True,
                        per_engine_tables: bool = False, max_items: int = 100) -> str:
    cfg = payload.get("config", {})
    engines = payload.get("engines", {})
    out: list[str] = []
    out.append(f"JSON Schema Test Suite {cfg.get('draft')}: {cfg.get('n_files')} keyword files, "
               f"{cfg.get('n_groups')} groups, {cfg.get('n_cases')} cases "
               f"({cfg.get('n_skipped_cases')} skipped: not tokenizable); tokenizer {cfg.get('tokenizer')} "
               f"({cfg.get('vocab_size')} ids), timeout {cfg.get('timeout_s')} s; format: "
               + {"spec": "an annotation except in optional/format* (structgen: format_assertion=False there)",
                  "always": "asserted in every file"}.get(cfg.get("format_assertion", "always"), "?")
               + ("; remotes/ served to structgen (resources=)" if cfg.get("remotes") else ""))
    for k, v in engines.items():
        if v.get("skipped"):
            what = "skipped engine" if "summary" not in v else "engine stopped early"
            out.append(f"{what} {k}: {v['skipped'].splitlines()[0]}")
    ran = {k: v for k, v in engines.items() if "summary" in v}
    if not ran:
        return "\n".join(out)
    names = list(ran)
    S = {k: ran[k]["summary"] for k in names}
    order = list(payload.get("file_order") or [])
    for k in names:
        for f in S[k]["per_file"]:
            if f not in order:
                order.append(f)

    def ver(k):
        return f"{k} {ran[k].get('info', {}).get('version', '')}".strip()

    # summary
    heads = ["", *[ver(k) for k in names]]
    rows = [
        ["keyword files fully correct", *[f"{S[k]['files_fully_correct']}/{S[k]['files']}" for k in names]],
        ["groups compiled", *[f"{S[k]['groups_compiled']}/{S[k]['groups']}" for k in names]],
        ["cases correct", *[f"{S[k]['correct']}/{S[k]['cases']}" for k in names]],
        ["cases in compiled groups", *[str(S[k]["compiled_cases"]) for k in names]],
        ["wrong accepts (invalid accepted)", *[str(S[k]["wrong_accept"]) for k in names]],
        ["wrong rejects (valid refused)", *[str(S[k]["wrong_reject"]) for k in names]],
        ["inconsistent (mask vs advance)", *[str(S[k]["inconsistent"]) for k in names]],
        ["unsupported cases (compile error)", *[str(S[k]["unsupported"]) for k in names]],
        ["crash / timeout cases", *[str(S[k]["error"]) for k in names]],
        ["skipped cases (not tokenizable)", *[str(S[k]["skipped"]) for k in names]],
        ["compile p50 / p99 (ms)", *[f"{fmt_num(S[k]['compile_ms'].get('50'))} / {fmt_num(S[k]['compile_ms'].get('99'))}"
                                     for k in names]],
        ["per-token p50 / p99 (us)", *[f"{fmt_num(S[k]['token_us'].get('50'))} / {fmt_num(S[k]['token_us'].get('99'))}"
                                       for k in names]],
        ["engine wall time (s)", *[fmt_num(ran[k].get("wall_s")) for k in names]],
    ]
    out.append("")
    out.append(format_table(heads, rows, markdown=markdown))
    for k in names:
        s = S[k]
        out.append(f"summary {k}: {s['files_fully_correct']}/{s['files']} keyword files fully correct; "
                   f"{s['wrong_accept']} wrong accepts among {s['compiled_cases']} compiled cases; "
                   f"{s['wrong_reject']} wrong rejects; {s['unsupported']} unsupported cases")

    # per file, one cell per engine
    out.append("")
    out.append("Per keyword file: correct/cases, then uN unsupported (compile error), eN crash/timeout, "
               "AN wrong accepts, RN wrong rejects, iN inconsistent, sN skipped; ✓ fully correct.")
    out.append("")
    frows = []
    for f in order:
        n = max((S[k]["per_file"].get(f, {}).get("cases", 0) for k in names), default=0)
        frows.append([f, str(n), *[_cell(S[k]["per_file"].get(f, {})) for k in names]])
    out.append(format_table(["file", "cases", *names], frows, markdown=markdown, align="lr" + "l" * len(names)))

    if per_engine_tables:
        for k in names:
            out.append("")
            out.append(f"== {k}: per keyword file")
            rows = []
            for f in order:
                d = S[k]["per_file"].get(f)
                if not d:
                    continue
                rows.append([f, d["cases"], d["compiled"], d["unsupported"], d["correct"], d["wrong_accept"],
                             d["wrong_reject"], d["inconsistent"], d["error"], d["skipped"],
                             "yes" if d["fully_correct"] else ""])
            out.append(format_table(["file", "cases", "compiled", "unsupported", "correct", "wrong-accept",
                                     "wrong-reject", "inconsistent", "crash/timeout", "skipped", "fully correct"],
                                    rows, markdown=markdown))

    if details:
        for k in names:
            s = S[k]
            res = {r["key"]: r for r in ran[k]["results"]}
            for label, items in (("WRONG ACCEPTS (invalid instance accepted)", s["wrong_accepts"]),
                                 ("inconsistent", s["inconsistent_cases"]),
                                 ("wrong rejects (valid instance refused)", s["wrong_rejects"])):
                if not items:
                    continue
                out.append("")
                out.append(f"== {k}: {label}: {len(items)}")
                for it in items[:max_items]:
                    extra = ""
                    if it.get("text") is not None:
                        extra = f"  | {it['text'][:100]!r}"
                    elif it.get("context"):
                        c = it["context"]
                        extra = (f"  | at end after ...{c.get('text_tail', '')[-40:]!r}" if c.get("at_end")
                                 else f"  | ...{c.get('before', '')[-40:]!r} + {c.get('token', '')!r}")
                    out.append(f"  {it['file']} #{it['group']} {it['group_description']!r} / "
                               f"case {it['case']} {it['description']!r}{extra}")
                if len(items) > max_items:
                    out.append(f"  ... {len(items) - max_items} more (see the JSON file)")
            crashes = [r for r in res.values() if r["status"] in ("crash", "timeout")]
            if crashes:
                out.append("")
                out.append(f"== {k}: crashes / timeouts: {len(crashes)}")
                for r in crashes[:max_items]:
                    msg = (r.get("error") or {}).get("message", "") if r["status"] == "crash" else f"timeout in {r.get('phase')}"
                    out.append(f"  {r['key']} {r.get('id', '')!r}  | {msg[:150]}")
    return "\n".join(out)


# ============================================================================ CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="the test suite's root (…/json-schema-test-suite) or a draft folder")
    p.add_argument("--draft", default="draft2020-12")
    p.add_argument("--no-optional", action="store_true", help="skip optional/ and optional/format/")
    p.add_argument("--files", default=None, help="glob(s) on relative file names, e.g. 'ref.json,optional/format/*'")
    p.add_argument("--no-remotes", action="store_true",
                   help="do not give structgen the suite's remotes/ documents (remote $refs then unsupported)")
    p.add_argument("--format-assertion", choices=FORMAT_MODES, default="spec",
                   help="spec: format is an annotation except in optional/format* (as the suite expects; "
                   "structgen compiles those groups with format_assertion=False); always: asserted everywhere")
    p.add_argument("--tokenizer", default="smollm2", help="smollm2 | tekken | mistral (| bytes, for tests)")
    p.add_argument("--engines", default=",".join(DEFAULT_ENGINES),
                   help="comma-separated: structgen, structgen-lenient, llguidance, xgrammar, outlines, or module:Class")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per group (compile + all its cases)")
    p.add_argument("--json", dest="json_out", default=None, help="write raw results and summaries here")
    p.add_argument("--resume", default=None, help="reuse the results in this JSON file (and write to it unless --json); "
                   "several files, comma-separated, are merged (engines run apart), written to the first")
    p.add_argument("--mem-limit-gb", type=float, default=8.0, help="RLIMIT_AS per worker (0: none)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--start-method", default="spawn", choices=("spawn", "fork", "forkserver"))
    p.add_argument("--plots", default=None, metavar="DIR", help="write PNG plots here (needs matplotlib)")
    p.add_argument("--text", action="store_true", help="plain-text tables instead of Markdown")
    p.add_argument("--per-engine-tables", action="store_true",
                   help="also one table per engine with every count per keyword file")
    p.add_argument("--max-items", type=int, default=100, help="cases listed per failure kind")
    p.add_argument("--no-progress", action="store_true")


def main(argv: Sequence[str] | None = None, args: argparse.Namespace | None = None) -> int:
    if args is None:
        p = argparse.ArgumentParser(prog="python -m decode.bench test-suite", description=__doc__.split("\n")[0])
        add_arguments(p)
        args = p.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    json_out = output_path(args.json_out, args.resume)
    payload = run_test_suite(
        args.path, tokenizer=args.tokenizer, engines=engines, draft=args.draft, optional=not args.no_optional,
        files_glob=args.files, timeout=args.timeout, mem_limit_gb=args.mem_limit_gb or None,
        threads=args.threads, start_method=args.start_method, json_out=json_out, resume=args.resume,
        progress=not args.no_progress, format_assertion=args.format_assertion, remotes=not args.no_remotes,
    )
    print(format_suite_report(payload, markdown=not args.text, per_engine_tables=args.per_engine_tables,
                              max_items=args.max_items))
    if args.plots:
        from .plots import plot_test_suite

        for pth in plot_test_suite(payload, args.plots):
            print(f"plot: {pth}")
    if json_out:
        print(f"\nraw results: {json_out}")
    return 0
