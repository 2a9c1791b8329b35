"""Coverage figures of a MaskBench payload, per dataset file and engine (no I/O, no plotting).

Why a module of its own: :mod:`.coverage` (the CLI that prints and plots them), :mod:`.plots`
and :mod:`.generate` all read these figures; here, below all three, no import goes in a circle.
"""

from __future__ import annotations

from collections import Counter

from .report import top_counts

__all__ = ["coverage_from_payload", "dataset_name"]


def dataset_name(key_or_file: str) -> str:
    """``Github_easy.jsonl.gz:17`` -> ``Github_easy``."""
    f = key_or_file.rsplit(":", 1)[0] if ":" in key_or_file else key_or_file
    for ext in (".jsonl.gz", ".jsonl", ".json"):
        if f.endswith(ext):
            return f[: -len(ext)]
    return f


def _keyword(err: dict | None) -> str:
    if not err:
        return "?"
    return str(err.get("keyword") or f"({err.get('class')})")


def _compiled(r: dict) -> bool:
    if r["status"] in ("pass", "fail"):
        return True
    if r["status"] in ("timeout", "crash"):
        return r.get("phase") != "compile" and r.get("compile_ms") is not None
    return False


def coverage_from_payload(payload: dict) -> dict:
    """``{"datasets": [...], "engines": {name: {"per_dataset": {ds: counts}, "total": counts,
    "compile_error_keywords": [[kw, n], ...], "compile_error_keywords_by_dataset": {...}}}}``."""
    datasets: list[str] = []
    out: dict = {"datasets": datasets, "engines": {}}
    for name, eng in (payload.get("engines") or {}).items():
        if "results" not in eng:
            continue
        per: dict[str, Counter] = {}
        kw_all: Counter = Counter()
        kw_by: dict[str, Counter] = {}
        for r in eng["results"]:
            ds = dataset_name(r["key"])
            if ds not in datasets:
                datasets.append(ds)
            c = per.setdefault(ds, Counter())
            c["schemas"] += 1
            c["compiled"] += _compiled(r)
            c["exact"] += r["status"] == "pass"
            c["compile_errors"] += r["status"] == "compile_error"
            c["invalid_accepted"] += bool(r.get("invalidation_error"))
            c["valid_rejected"] += bool(r.get("validation_error"))
            c["inconsistent"] += bool(r.get("inconsistent"))
            c["crashes"] += r["status"] == "crash"
            c["timeouts"] += r["status"] == "timeout"
            if r["status"] == "compile_error":
                kw = _keyword(r.get("error"))
                kw_all[kw] += 1
                kw_by.setdefault(ds, Counter())[kw] += 1
        total: Counter = Counter()
        for c in per.values():
            total.update(c)
        keys = ("schemas", "compiled", "exact", "compile_errors", "invalid_accepted", "valid_rejected",
                "inconsistent", "crashes", "timeouts")
        out["engines"][name] = {
            "version": (eng.get("info") or {}).get("version", ""),
            "per_dataset": {ds: {k: int(c[k]) for k in keys} for ds, c in per.items()},
            "total": {k: int(total[k]) for k in keys},
            "compile_error_keywords": top_counts(kw_all, 50),
            "compile_error_keywords_by_dataset": {ds: top_counts(c, 20) for ds, c in kw_by.items()},
        }
    datasets.sort()
    return out
