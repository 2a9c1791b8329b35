"""Coverage per dataset file: a per-file breakdown of a MaskBench run.

For every dataset file (``Github_easy``, ..., ``Kubernetes``, ``Glaiveai2K``, ...) and engine:

``declared coverage``  the schema compiled without a compile error (the engine accepted it;
                       a timeout or crash *in compile* does not count as compiled);
``exactness``          the MaskBench verdict ``pass``: every valid instance accepted, every
                       invalid one rejected, mask and ``advance`` consistent;
plus the schemas with an invalid instance accepted, a valid one rejected, crashes and
timeouts, and the compile errors grouped by keyword (``Class[keyword]``).

The figures come from a MaskBench ``--json`` file (``--from OUT.json``) or from a fresh
MaskBench run with the same options as ``maskbench`` (``--json`` then keeps its raw output
together with the coverage figures under ``"coverage"``).

Entry point: ``python -m decode.bench coverage DATA [--from OUT.json] ...``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from .coverage_stats import coverage_from_payload, dataset_name
from .report import fmt_pct, format_table

__all__ = ["dataset_name", "coverage_from_payload", "format_coverage", "add_arguments", "main"]


def format_coverage(cov: dict, *, markdown: bool = True, header: str | None = None) -> str:
    names = list(cov["engines"])
    out: list[str] = []
    if header:
        out.append(header)
    if not names:
        out.append("no engine results")
        return "\n".join(out)

    def cell(d: dict | None) -> str:
        if not d or not d["schemas"]:
            return "-"
        s = f"{fmt_pct(d['compiled'], d['schemas'])} / {fmt_pct(d['exact'], d['schemas'])}"
        if d["invalid_accepted"]:
            s += f" A{d['invalid_accepted']}"
        return s

    rows = []
    for ds in cov["datasets"]:
        n = max(cov["engines"][k]["per_dataset"].get(ds, {}).get("schemas", 0) for k in names)
        rows.append([ds, n, *[cell(cov["engines"][k]["per_dataset"].get(ds)) for k in names]])
    rows.append(["**total**" if markdown else "TOTAL", max(cov["engines"][k]["total"]["schemas"] for k in names),
                 *[cell(cov["engines"][k]["total"]) for k in names]])
    heads = ["dataset", "schemas", *[f"{k} {cov['engines'][k]['version']}".strip() for k in names]]
    out.append("Per dataset file: declared coverage (compiles without error) / exactness (MaskBench pass: "
               "valid accepted, invalid rejected); AN: schemas with an invalid instance accepted.")
    out.append("")
    out.append(format_table(heads, rows, markdown=markdown))

    # raw counts per engine
    for k in names:
        e = cov["engines"][k]
        out.append("")
        out.append(f"== {k}: counts per dataset file")
        crow = []
        for ds in cov["datasets"]:
            d = e["per_dataset"].get(ds)
            if d:
                crow.append([ds, d["schemas"], d["compiled"], d["exact"], d["compile_errors"], d["invalid_accepted"],
                             d["valid_rejected"], d["inconsistent"], d["crashes"], d["timeouts"]])
        t = e["total"]
        crow.append(["total", t["schemas"], t["compiled"], t["exact"], t["compile_errors"], t["invalid_accepted"],
                     t["valid_rejected"], t["inconsistent"], t["crashes"], t["timeouts"]])
        out.append(format_table(["dataset", "schemas", "compiled", "exact", "compile errors", "invalid accepted",
                                 "valid rejected", "inconsistent", "crashes", "timeouts"], crow, markdown=markdown))
        if e["compile_error_keywords"]:
            out.append("")
            out.append(f"compile errors of {k} by keyword: "
                       + ", ".join(f"{kw} {n}" for kw, n in e["compile_error_keywords"]))
    return "\n".join(out)


# ============================================================================ CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    from . import maskbench

    maskbench.add_arguments(p)
    p.add_argument("--from", dest="from_json", default=None, metavar="OUT.json",
                   help="use the results of a previous maskbench run instead of running it "
                        "(DATA is then only used for its name)")
    p.add_argument("--plots", default=None, metavar="DIR", help="write PNG plots here (needs matplotlib)")
    p.add_argument("--text", action="store_true", help="plain-text tables instead of Markdown")


def main(argv: Sequence[str] | None = None, args: argparse.Namespace | None = None) -> int:
    from .output import output_path, write_json

    if args is None:
        p = argparse.ArgumentParser(prog="python -m decode.bench coverage", description=__doc__.split("\n")[0])
        add_arguments(p)
        args = p.parse_args(argv)
    if args.plots:
        from .plots import require_matplotlib

        require_matplotlib()  # before the MaskBench run, not after it
    if args.from_json:
        payload = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        if payload.get("kind") == "test-suite":
            raise SystemExit("coverage --from expects a maskbench JSON file, not a test-suite one")
    else:
        from .maskbench import run_maskbench

        engines = [e.strip() for e in args.engines.split(",") if e.strip()]
        payload = run_maskbench(
            args.data_dir, tokenizer=args.tokenizer, engines=engines, sample=args.sample, seed=args.seed,
            files_glob=args.files, timeout=args.timeout, mem_limit_gb=args.mem_limit_gb or None,
            threads=args.threads, start_method=args.start_method, json_out=output_path(args.json_out, args.resume),
            resume=args.resume, check_quick=args.check_is_allowed, progress=not args.no_progress,
        )
    cov = coverage_from_payload(payload)
    cfg = payload.get("config", {})
    header = (f"Coverage: {cfg.get('n_schemas')} schemas from {cfg.get('data_dir')} (sample {cfg.get('sample')}, "
              f"seed {cfg.get('seed')}), tokenizer {cfg.get('tokenizer')}, timeout {cfg.get('timeout_s')} s")
    print(format_coverage(cov, markdown=not args.text, header=header))
    out_json = args.json_out if args.from_json else output_path(args.json_out, args.resume)
    if out_json:
        if args.from_json and Path(out_json).resolve() == Path(args.from_json).resolve():
            raise SystemExit("--json must differ from --from")
        doc = payload if not args.from_json else {"kind": "coverage", "source": args.from_json,
                                                   "config": cfg}
        doc = dict(doc)
        doc["coverage"] = cov
        write_json(out_json, doc)
        print(f"\nraw results: {out_json}")
    if args.plots:
        from .plots import plot_maskbench

        for pth in plot_maskbench(payload, args.plots, coverage=cov):
            print(f"plot: {pth}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
