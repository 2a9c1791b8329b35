"""PNG plots of benchmark results (matplotlib, an optional ``bench`` extra).

- :func:`plot_coverage_bars` -- per dataset file, declared coverage and exactness per engine
  (grouped horizontal bars), from a MaskBench payload (via :mod:`.coverage`).
- :func:`plot_cdfs` -- empirical CDFs of compile time and of per-token time per engine (log x),
  from a MaskBench or test-suite payload (both keep ``compile_ms`` and ``token_us`` per record).
- :func:`plot_test_suite_bars` -- per keyword file of the JSON Schema Test Suite, the fraction
  of cases each engine gets right, with wrong accepts marked.

Figures are small (about 100 dpi, few colours) so they can be committed under ``docs/img/``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

__all__ = ["plot_coverage_bars", "plot_cdfs", "plot_test_suite_bars", "plot_maskbench", "plot_test_suite",
           "plot_any", "MissingExtraError", "require_matplotlib"]

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
DPI = 90


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def require_matplotlib() -> None:
    """Raise :class:`MissingExtraError` unless matplotlib imports.  Commands with ``--plots``
    call it before their run, so a missing extra is one line at the start, not a traceback
    after an hour of benchmarking."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingExtraError("plots need matplotlib, which is not installed: "
                                "pip install 'structgen[bench]'") from None


def _plt():
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    _plt().close(fig)
    return str(path)


def _engines_with_results(payload: dict) -> list[str]:
    return [k for k, v in (payload.get("engines") or {}).items() if v.get("results")]


def plot_coverage_bars(cov: dict, path: str | os.PathLike, *, title: str | None = None) -> str:
    """Two panels side by side (declared coverage, exactness), one bar per engine per dataset."""
    plt = _plt()
    names = list(cov["engines"])
    datasets = list(cov["datasets"]) + ["total"]
    n, m = len(datasets), max(1, len(names))
    h = 0.8 / m
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.32 * n * max(1, m / 2) + 1.2), sharey=True)
    for ax, (field, label) in zip(axes, (("compiled", "declared coverage (compiles)"),
                                         ("exact", "exactness (MaskBench pass)"))):
        for j, k in enumerate(names):
            e = cov["engines"][k]
            vals = []
            for ds in datasets:
                d = e["total"] if ds == "total" else e["per_dataset"].get(ds)
                vals.append(100.0 * d[field] / d["schemas"] if d and d["schemas"] else 0.0)
            ys = [i + (j - (m - 1) / 2) * h for i in range(n)]
            ax.barh(ys, vals, height=h, color=COLORS[j % len(COLORS)], label=k)
        ax.set_xlim(0, 100)
        ax.set_xlabel(f"% of schemas: {label}")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(n))
    axes[0].set_yticklabels(datasets)
    axes[0].set_ylim(n - 0.5, -0.5)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=m,
               fontsize=8, frameon=False, title=title, title_fontsize=10)
    fig.tight_layout()
    return _save(fig, Path(path))


def _ecdf(ax, values: Sequence[float], label: str, color: str) -> None:
    xs = sorted(v for v in values if v is not None and v > 0)
    if not xs:
        return
    n = len(xs)
    # at most ~2000 points per curve keeps the PNG small
    step = max(1, n // 2000)
    px = xs[::step] + [xs[-1]]
    py = [(i * step + 1) / n for i in range(len(px) - 1)] + [1.0]
    ax.step(px, py, where="post", label=f"{label} (n={n:,})", color=color)


def plot_cdfs(payload: dict, path: str | os.PathLike, *, title: str | None = None) -> str:
    """Left: CDF of compile time (ms) per engine; right: CDF of per-token time (µs)."""
    plt = _plt()
    names = _engines_with_results(payload)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for j, k in enumerate(names):
        res = payload["engines"][k]["results"]
        cms = [r["compile_ms"] for r in res if r.get("compile_ms") is not None and r["status"] != "compile_error"]
        tus = [t for r in res for t in (r.get("token_us") or [])]
        c = COLORS[j % len(COLORS)]
        _ecdf(axes[0], cms, k, c)
        _ecdf(axes[1], tus, k, c)
    for ax, xl in ((axes[0], "compile time (ms)"), (axes[1], "per-token time: mask + advance (µs)")):
        ax.set_xscale("log")
        ax.set_ylim(0, 1.0)
        ax.set_xlabel(xl)
        ax.set_ylabel("fraction")
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="lower right", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_test_suite_bars(payload: dict, path: str | os.PathLike, *, title: str | None = None) -> str:
    """Per keyword file: % of cases correct per engine; a red ``x`` where an engine accepted
    an invalid instance; files in the suite's order."""
    plt = _plt()
    names = [k for k in _engines_with_results(payload) if "summary" in payload["engines"][k]]
    order = list(payload.get("file_order") or [])
    for k in names:
        for f in payload["engines"][k]["summary"]["per_file"]:
            if f not in order:
                order.append(f)
    n, m = len(order), max(1, len(names))
    h = 0.8 / m
    fig, ax = plt.subplots(figsize=(8, 0.09 * n * m + 1.6))
    for j, k in enumerate(names):
        pf = payload["engines"][k]["summary"]["per_file"]
        vals, wa_y, wa_x = [], [], []
        for i, f in enumerate(order):
            d = pf.get(f)
            run = (d["cases"] - d["skipped"]) if d else 0
            vals.append(100.0 * d["correct"] / run if run else 0.0)
            if d and d["wrong_accept"]:
                wa_y.append(i + (j - (m - 1) / 2) * h)
                wa_x.append(vals[-1] + 2)
        ys = [i + (j - (m - 1) / 2) * h for i in range(n)]
        s = payload["engines"][k]["summary"]
        ax.barh(ys, vals, height=h, color=COLORS[j % len(COLORS)],
                label=f"{k}: {s['files_fully_correct']}/{s['files']} files fully correct, "
                      f"{s['wrong_accept']} wrong accepts")
        if wa_y:
            ax.plot(wa_x, wa_y, "x", color="red", markersize=4)
    ax.set_yticks(range(n))
    ax.set_yticklabels(order, fontsize=7)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim(0, 105)
    ax.set_xlabel("% of cases correct (red x: an invalid instance accepted)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8, frameon=False, title=title,
              title_fontsize=10)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_maskbench(payload: dict, out_dir: str | os.PathLike, *, prefix: str = "maskbench",
                   coverage: dict | None = None) -> list[str]:
    from .coverage_stats import coverage_from_payload

    cfg = payload.get("config", {})
    cov = coverage or payload.get("coverage") or coverage_from_payload(payload)
    sub = f"{cfg.get('n_schemas')} schemas, tokenizer {cfg.get('tokenizer')}"
    d = Path(out_dir)
    return [plot_coverage_bars(cov, d / f"{prefix}_coverage.png", title=f"MaskBench coverage per dataset ({sub})"),
            plot_cdfs(payload, d / f"{prefix}_cdf.png", title=f"MaskBench compile and per-token time ({sub})")]


def plot_test_suite(payload: dict, out_dir: str | os.PathLike, *, prefix: str = "test_suite") -> list[str]:
    cfg = payload.get("config", {})
    d = Path(out_dir)
    sub = f"JSON Schema Test Suite {cfg.get('draft')}, tokenizer {cfg.get('tokenizer')}"
    return [plot_test_suite_bars(payload, d / f"{prefix}_files.png", title=sub),
            plot_cdfs(payload, d / f"{prefix}_cdf.png", title=f"{sub}: compile and per-token time")]


def plot_any(payload: dict, out_dir: str | os.PathLike, *, prefix: str | None = None) -> list[str]:
    if payload.get("kind") == "test-suite":
        return plot_test_suite(payload, out_dir, prefix=prefix or "test_suite")
    return plot_maskbench(payload, out_dir, prefix=prefix or "maskbench")
