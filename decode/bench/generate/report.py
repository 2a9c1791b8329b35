"""The benchmark's summary per mode (coverage, compliance, timings), its text report and plots."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from ..report import fmt_count_pct, fmt_num, fmt_pct, format_table, percentile, top_counts

from .protocol import MODES


def _compiled(r: dict) -> bool:
    if r["status"] in ("ok", "prompt_too_long"):
        return True
    return r["status"] in ("timeout", "crash") and r.get("compile_ms") is not None


def _median(xs):
    return percentile(xs, 50) if xs else None


def _dataset(key: str) -> str:
    from ..coverage_stats import dataset_name

    return dataset_name(key)


def _mode_summary(rs: list[dict], mode: str) -> dict:
    st = Counter(r["status"] for r in rs)
    gen = [r for r in rs if r["status"] == "ok"]
    n_compiled = sum(1 for r in rs if _compiled(r)) if mode == "constrained" else None
    n_ptl = st["prompt_too_long"]
    denom_cov = n_compiled - n_ptl if mode == "constrained" else None
    run = len(rs) - n_ptl
    valid = sum(1 for r in rs if r.get("success"))
    cerr = [r for r in rs if r["status"] == "compile_error"]
    per_ds: dict[str, Counter] = {}
    for r in rs:
        c = per_ds.setdefault(_dataset(r["key"]), Counter())
        c["schemas"] += 1
        c["run"] += r["status"] != "prompt_too_long"
        if mode == "constrained":
            c["compiled"] += _compiled(r) and r["status"] != "prompt_too_long"
        c["valid"] += bool(r.get("success"))
    return {
        "schemas": len(rs),
        "compiled": n_compiled,
        "compile_errors": len(cerr),
        "compile_error_keywords": top_counts(Counter(str((r.get("error") or {}).get("keyword")
                                                         or f"({(r.get('error') or {}).get('class')})")
                                                     for r in cerr), 20),
        "prompt_too_long": n_ptl,
        "prompt_fitted": sum(1 for r in rs if r.get("prompt_fit")),
        "timeouts": st["timeout"],
        "crashes": st["crash"],
        "generated": len(gen),
        "finished": sum(1 for r in gen if r.get("finished")),
        # closed by the grammar's shortest completion as the budget ran out (finish_within_budget)
        "closed_by_grammar": sum(1 for r in gen if r.get("stop_reason") == "budget"),
        "parses": sum(1 for r in gen if r.get("parses")),
        "validates": sum(1 for r in gen if r.get("valid")),
        "unvalidatable": sum(1 for r in gen if r.get("parses") and r.get("valid") is None),
        "valid": valid,
        "coverage_denominator": denom_cov,
        "empirical_coverage": (valid / denom_cov) if denom_cov else None,
        "run": run,
        "compliance": (valid / run) if run else None,
        "extracted": dict(Counter(r.get("extracted") for r in gen if r.get("extracted"))),
        "median_compile_ms": _median([r["compile_ms"] for r in rs if _compiled(r) and r.get("compile_ms") is not None]),
        "median_ttft_ms": _median([r["ttft_ms"] for r in gen if r.get("ttft_ms") is not None]),
        "median_tpot_ms": _median([r["tpot_ms"] for r in gen if r.get("tpot_ms")]),
        "median_output_tokens": _median([r["output_tokens"] for r in gen if r.get("output_tokens") is not None]),
        "per_dataset": {ds: dict(c) for ds, c in sorted(per_ds.items())},
        "invalid_keys": [r["key"] for r in gen if not r.get("success")],
        "timeout_keys": [r["key"] for r in rs if r["status"] == "timeout"],
        "crash_keys": [r["key"] for r in rs if r["status"] == "crash"],
    }


def summarize_generate(results: Sequence[dict], modes: Sequence[str] = MODES) -> dict:
    """Per mode: counts, coverage / compliance and medians; plus, when both modes ran, the
    unconstrained compliance on the schemas that compiled (the same denominator as coverage)."""
    out: dict[str, Any] = {}
    for mode in modes:
        out[mode] = _mode_summary([r for r in results if r["mode"] == mode], mode)
    if "constrained" in out and "unconstrained" in out:
        ok_keys = {r["key"] for r in results if r["mode"] == "constrained" and _compiled(r)
                   and r["status"] != "prompt_too_long"}
        un = [r for r in results if r["mode"] == "unconstrained" and r["key"] in ok_keys
              and r["status"] != "prompt_too_long"]
        v = sum(1 for r in un if r.get("success"))
        out["unconstrained"]["valid_on_compiled"] = v
        out["unconstrained"]["compliance_on_compiled"] = (v / len(un)) if un else None
        out["unconstrained"]["n_on_compiled"] = len(un)
    return out


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100.0 * x:.1f}%"


def format_generate_report(payload: dict, *, max_ids: int = 20) -> str:
    """Markdown: the summary table (one column per mode), per-dataset table, failure samples."""
    cfg = payload.get("config", {})
    info = payload.get("info", {})
    S = payload.get("summary") or summarize_generate(payload.get("results", []), cfg.get("modes", MODES))
    modes = [m for m in MODES if m in S]
    out = [f"Generation benchmark: {cfg.get('n_schemas')} schemas (sample {cfg.get('sample') or 'all'}, seed {cfg.get('seed')}"
           f"{', files ' + cfg['files'] if cfg.get('files') else ''}), model {info.get('model', cfg.get('model'))}"
           f" on {info.get('device', '?')}, max_new_tokens {cfg.get('max_new_tokens')}, temperature "
           f"{cfg.get('temperature')}, timeout {cfg.get('timeout_s')} s, wall {fmt_num(payload.get('wall_s'))} s"]
    if payload.get("setup_error"):
        out.append(f"worker setup failed: {payload['setup_error'].splitlines()[0]}")
    if not modes:
        return "\n".join(out)

    def row(label, fn):
        return [label] + [fn(S[m], m) for m in modes]

    def count(field, whole="schemas"):
        return lambda s, m: "-" if s.get(field) is None else fmt_count_pct(s[field], s[whole])

    rows = [
        row("schemas", lambda s, m: str(s["schemas"])),
        row("compiled (declared coverage)", lambda s, m: count("compiled")(s, m) if m == "constrained" else "-"),
        row("compile errors", lambda s, m: count("compile_errors")(s, m) if m == "constrained" else "-"),
        row("prompt too long (skipped)", lambda s, m: str(s["prompt_too_long"])),
        row("prompt without annotations or cut, to fit", lambda s, m: str(s.get("prompt_fitted", 0))),
        row("timeouts", lambda s, m: str(s["timeouts"])),
        row("crashes", lambda s, m: str(s["crashes"])),
        row("finished (EOS within budget; % of generated)", count("finished", "generated")),
        row("of which closed by the grammar as the budget ran out", count("closed_by_grammar", "generated")),
        row("parses as JSON (% of generated)", count("parses", "generated")),
        row("validates (% of generated)", count("validates", "generated")),
        row("valid outputs", lambda s, m: str(s["valid"])),
        row("**empirical coverage** (valid / compiled)",
            lambda s, m: (f"**{_pct(s['empirical_coverage'])}**" if m == "constrained" else "-")),
        row("compliance (valid / schemas run)", lambda s, m: _pct(s["compliance"])),
    ]
    if "unconstrained" in S and "compliance_on_compiled" in S["unconstrained"]:
        u = S["unconstrained"]
        rows.append(["compliance on the schemas that compiled",
                     *[(_pct(S[m]["empirical_coverage"]) if m == "constrained" else
                        f"{_pct(u['compliance_on_compiled'])} ({u['valid_on_compiled']}/{u['n_on_compiled']})")
                       for m in modes]])
    rows += [
        row("median compile (ms)", lambda s, m: fmt_num(s["median_compile_ms"]) if m == "constrained" else "-"),
        row("median TTFT (ms)", lambda s, m: fmt_num(s["median_ttft_ms"])),
        row("median TPOT (ms)", lambda s, m: fmt_num(s["median_tpot_ms"])),
        row("median output tokens", lambda s, m: fmt_num(s["median_output_tokens"])),
    ]
    out.append("")
    out.append(format_table(["", *modes], rows, markdown=True))

    dss = sorted({ds for m in modes for ds in S[m]["per_dataset"]})
    if dss:
        heads = ["dataset", "schemas"]
        if "constrained" in modes:
            heads.append("constrained valid / compiled")
        if "unconstrained" in modes:
            heads.append("unconstrained valid / run")
        drows = []
        for ds in dss:
            any_m = S[modes[0]]["per_dataset"].get(ds, {})
            r = [ds, str(any_m.get("schemas", 0))]
            if "constrained" in modes:
                d = S["constrained"]["per_dataset"].get(ds, {})
                r.append(f"{d.get('valid', 0)}/{d.get('compiled', 0)} ({fmt_pct(d.get('valid', 0), d.get('compiled', 0))})")
            if "unconstrained" in modes:
                d = S["unconstrained"]["per_dataset"].get(ds, {})
                r.append(f"{d.get('valid', 0)}/{d.get('run', 0)} ({fmt_pct(d.get('valid', 0), d.get('run', 0))})")
            drows.append(r)
        out.append("")
        out.append(format_table(heads, drows, markdown=True))

    res = payload.get("results", [])
    for m in modes:
        s = S[m]
        lines = []
        if s["compile_error_keywords"]:
            lines.append("compile errors by keyword: " + ", ".join(f"{k} {n}" for k, n in s["compile_error_keywords"]))
        if s["extracted"] and m == "unconstrained":
            lines.append("JSON found by: " + ", ".join(f"{k} {n}" for k, n in sorted(s["extracted"].items())))
        bad = [r for r in res if r["mode"] == m and r["status"] == "ok" and not r.get("success")]
        for r in bad[:max_ids]:
            why = r.get("validation_error") or ("unfinished" if not r.get("finished") else "?")
            if not r.get("finished"):
                why = f"unfinished ({r.get('output_tokens')} tokens); {why}"
            lines.append(f"  invalid {r['key']}: {why[:160]}")
        if len(bad) > max_ids:
            lines.append(f"  ... {len(bad) - max_ids} more invalid (see the JSON file)")
        for r in res:
            if r["mode"] == m and r["status"] in ("timeout", "crash"):
                lines.append(f"  {r['status']} {r['key']} in {r.get('phase')}"
                             + (f": {(r.get('error') or {}).get('message', '')[:120]}" if r.get("error") else ""))
        if lines:
            out.append("")
            out.append(f"{m}:")
            out.extend(lines)
    return "\n".join(out)


# ============================================================================ plots


def plot_generate(payload: dict, out_dir: str | os.PathLike, *, prefix: str = "generate") -> list[str]:
    """``{prefix}_coverage.png`` (per dataset: constrained valid/compiled next to unconstrained
    valid/run) and ``{prefix}_cdf.png`` (CDFs of TPOT and TTFT per mode).  Needs matplotlib."""
    from .. import plots as P

    plt = P._plt()
    cfg = payload.get("config", {})
    S = payload.get("summary") or summarize_generate(payload.get("results", []), cfg.get("modes", MODES))
    modes = [m for m in MODES if m in S]
    sub = f"{cfg.get('n_schemas')} schemas, {payload.get('info', {}).get('model', cfg.get('model'))}"
    d = Path(out_dir)
    paths = []

    datasets = sorted({ds for m in modes for ds in S[m]["per_dataset"]}) + ["total"]
    n, k = len(datasets), max(1, len(modes))
    h = 0.8 / k
    fig, ax = plt.subplots(figsize=(7, 0.3 * n * max(1, k / 2) + 1.2))
    for j, m in enumerate(modes):
        vals = []
        for ds in datasets:
            if ds == "total":
                v = S[m]["empirical_coverage"] if m == "constrained" else S[m]["compliance"]
                vals.append(100.0 * v if v is not None else 0.0)
                continue
            c = S[m]["per_dataset"].get(ds, {})
            den = c.get("compiled", 0) if m == "constrained" else c.get("run", 0)
            vals.append(100.0 * c.get("valid", 0) / den if den else 0.0)
        ys = [i + (j - (k - 1) / 2) * h for i in range(n)]
        label = "constrained: valid / compiled" if m == "constrained" else "unconstrained: valid / schemas run"
        ax.barh(ys, vals, height=h, color=P.COLORS[j % len(P.COLORS)], label=label)
    ax.set_yticks(range(n))
    ax.set_yticklabels(datasets)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of schemas with a valid output")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8, frameon=False, ncol=k,
              title=f"Generation: valid outputs per dataset ({sub})", title_fontsize=10)
    fig.tight_layout()
    paths.append(P._save(fig, d / f"{prefix}_coverage.png"))

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for j, m in enumerate(modes):
        gen = [r for r in payload.get("results", []) if r["mode"] == m and r["status"] == "ok"]
        c = P.COLORS[j % len(P.COLORS)]
        P._ecdf(axes[0], [r.get("tpot_ms") for r in gen], m, c)
        P._ecdf(axes[1], [r.get("ttft_ms") for r in gen], m, c)
    for ax, xl in ((axes[0], "time per output token (ms)"), (axes[1], "time to first token (ms)")):
        ax.set_xscale("log")
        ax.set_ylim(0, 1.0)
        ax.set_xlabel(xl)
        ax.set_ylabel("fraction of outputs")
        ax.grid(alpha=0.3, which="both")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Generation latency ({sub})", fontsize=10)
    fig.tight_layout()
    paths.append(P._save(fig, d / f"{prefix}_cdf.png"))
    return paths
