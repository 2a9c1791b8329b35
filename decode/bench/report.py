"""Small helpers shared by the benchmarks: percentiles, counters and plain-text tables.

Pure Python (numpy is not needed), so they are cheap to import and easy to test.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Iterable, Sequence

__all__ = [
    "percentile",
    "percentiles",
    "top_counts",
    "format_table",
    "fmt_num",
    "fmt_pct",
    "fmt_count_pct",
]


def percentile(values: Sequence[float], q: float, *, presorted: bool = False) -> float | None:
    """The ``q``-th percentile (0 <= q <= 100) with linear interpolation between closest ranks.

    Same definition as ``numpy.percentile(values, q)`` (method ``"linear"``): the value at
    fractional rank ``(n - 1) * q / 100`` of the sorted values.  ``None`` for no values.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside [0, 100]")
    xs = values if presorted else sorted(values)
    n = len(xs)
    if n == 0:
        return None
    pos = (n - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    a, b = float(xs[lo]), float(xs[hi])
    return a + (b - a) * frac


def percentiles(values: Iterable[float], qs: Sequence[float] = (50, 90, 99, 99.9)) -> dict[float, float | None]:
    """``{q: percentile(values, q)}`` for each ``q``, sorting once."""
    xs = sorted(values)
    return {q: percentile(xs, q, presorted=True) for q in qs}


def top_counts(items: Iterable[str] | Counter, k: int = 15) -> list[tuple[str, int]]:
    """The ``k`` most frequent items, ties broken by name (deterministic output)."""
    c = items if isinstance(items, Counter) else Counter(items)
    return sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def fmt_num(x: float | None, digits: int | None = None) -> str:
    """A number for a table: ``-`` for None; 3 significant-ish digits unless ``digits`` given."""
    if x is None:
        return "-"
    if digits is not None:
        return f"{x:,.{digits}f}"
    ax = abs(x)
    if ax >= 100:
        return f"{x:,.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    if ax == 0:
        return "0"
    return f"{x:.3f}"


def fmt_pct(part: int, whole: int) -> str:
    return "-" if whole == 0 else f"{100.0 * part / whole:.1f}%"


def fmt_count_pct(part: int, whole: int) -> str:
    return f"{part} ({fmt_pct(part, whole)})"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *,
                 align: str | None = None, markdown: bool = False) -> str:
    """Rows as an aligned text table (or a Markdown table with ``markdown=True``).

    ``align`` has one letter per column, ``l`` or ``r``; default: first column left, the
    rest right.
    """
    ncol = len(headers)
    if align is None:
        align = "l" + "r" * (ncol - 1)
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    for r in cells:
        if len(r) != ncol:
            raise ValueError(f"row {r!r} has {len(r)} cells, expected {ncol}")
    widths = [max(len(r[i]) for r in cells) for i in range(ncol)]

    def line(r: list[str]) -> str:
        parts = [r[i].ljust(widths[i]) if align[i] == "l" else r[i].rjust(widths[i]) for i in range(ncol)]
        return ("| " + " | ".join(parts) + " |") if markdown else "  ".join(parts).rstrip()

    out = [line(cells[0])]
    if markdown:
        out.append("|" + "|".join(("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2))
                                  for w, a in zip(widths, align)) + "|")
    else:
        out.append("  ".join("-" * w for w in widths))
    out.extend(line(r) for r in cells[1:])
    return "\n".join(out)
