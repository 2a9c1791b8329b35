"""Compile-only pass over a MaskBench split: which schemas fail to compile, and why.

A full MaskBench run over the development split takes over an hour (every instance, every
token's mask); finding which constructs keep schemas from compiling needs only the compile.
This compiles each schema once with structgen's default options (as MaskBench's structgen
engine does) and records per schema the error class, ``keyword``, ``budget`` and message,
one JSON line per schema (written as it goes, so an interrupted run keeps what it did), then
prints the failures grouped by ``Class[keyword]`` (and budget), with counts and examples.

Entry point: ``python -m decode.bench compile-errors DATA [--files GLOB] [--out OUT.jsonl]``;
``--from OUT.jsonl`` only groups a previous run's lines; ``--only-failed PREV.jsonl`` compiles
again only what failed there (minutes instead of the whole split's hour).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable, Sequence

__all__ = ["compile_record", "group_failures", "format_groups", "add_arguments", "main"]


def compile_record(compile_fn, key: str, schema) -> dict:
    """One schema's line: ``key``, ``ok`` or the error's class/keyword/budget/message, compile ms."""
    from constrain.errors import ConstraintError

    from .engines import error_info

    t0 = time.perf_counter()
    rec: dict = {"key": key}
    try:
        compile_fn(schema)
        rec["status"] = "ok"
    except ConstraintError as e:
        rec["status"] = "compile_error"
        rec["error"] = dict(error_info(e), budget=getattr(e, "budget", None))
    except Exception as e:  # noqa: BLE001 -- a crash is data here, not a reason to stop the pass
        rec["status"] = "crash"
        rec["error"] = {"class": type(e).__name__, "keyword": None, "budget": None, "message": str(e)[:300]}
    rec["compile_ms"] = round((time.perf_counter() - t0) * 1e3, 2)
    return rec


def group_key(rec: dict) -> str:
    err = rec.get("error") or {}
    key = str(err.get("class"))
    if err.get("keyword"):
        key += f"[{err['keyword']}]"
    if err.get("budget"):
        key += f" budget={err['budget']}"
    return key


def group_failures(records: Iterable[dict]) -> dict[str, list[dict]]:
    """Failing records by :func:`group_key`, largest group first."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        if r.get("status") != "ok":
            groups[group_key(r)].append(r)
    return dict(sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])))


def format_groups(records: Sequence[dict], *, examples: int = 3) -> str:
    n_ok = sum(r.get("status") == "ok" for r in records)
    statuses = Counter(r.get("status") for r in records)
    out = [f"{len(records)} schemas: {n_ok} compiled, "
           + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()) if k != "ok")]
    for key, recs in group_failures(records).items():
        out.append(f"\n{len(recs):5d}  {key}")
        for r in recs[:examples]:
            msg = (r.get("error") or {}).get("message", "").replace("\n", " ")
            out.append(f"       {r['key']}: {msg[:220]}")
    return "\n".join(out)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", help="MaskBench data folder (*.jsonl.gz)")
    p.add_argument("--tokenizer", default="smollm2", help="smollm2 | tekken | mistral (default smollm2)")
    p.add_argument("--files", default=None, help="comma-separated globs on file names")
    p.add_argument("--sample", type=int, default=None, help="a deterministic sample of N schemas (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, metavar="OUT.jsonl", help="one JSON line per schema, appended as it goes")
    p.add_argument("--from", dest="from_jsonl", default=None, metavar="OUT.jsonl",
                   help="group a previous run's lines instead of compiling")
    p.add_argument("--only-failed", default=None, metavar="PREV.jsonl",
                   help="compile only the schemas that failed in a previous run (the others are taken as "
                        "compiled: a change that only lifts refusals leaves them as they were)")
    p.add_argument("--examples", type=int, default=3, help="example schemas printed per group")


def _read_lines(path: str) -> list[dict]:
    recs = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            recs[r["key"]] = r  # a rerun's line replaces the earlier one
    return list(recs.values())


def main(argv: Sequence[str] | None = None, args: argparse.Namespace | None = None) -> int:
    if args is None:
        p = argparse.ArgumentParser(prog="python -m decode.bench compile-errors", description=__doc__.split("\n")[0])
        add_arguments(p)
        args = p.parse_args(argv)
    if args.from_jsonl:
        print(format_groups(_read_lines(args.from_jsonl), examples=args.examples))
        return 0
    import constrain

    from .engines import load_bench_tokenizer
    from .maskbench import load_sample

    vocab = load_bench_tokenizer(args.tokenizer).vocab
    entries = load_sample(args.data_dir, sample=args.sample, seed=args.seed, files_glob=args.files)
    records = []
    if args.only_failed:
        prev = {r["key"]: r for r in _read_lines(args.only_failed)}
        records = [prev[e.key] for e in entries if e.key in prev and prev[e.key]["status"] == "ok"]
        entries = [e for e in entries if e.key not in prev or prev[e.key]["status"] != "ok"]
    sink = open(args.out, "a", encoding="utf-8") if args.out else None
    try:
        for e in entries:
            rec = compile_record(lambda s: constrain.compile_json_schema(s, vocab), e.key, e.schema)
            records.append(rec)
            if sink:
                sink.write(json.dumps(rec) + "\n")
                sink.flush()
    finally:
        if sink:
            sink.close()
    print(format_groups(records, examples=args.examples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
