"""Aggregate sweep results into one table and one plot (SVG, no plotting library)."""

from __future__ import annotations

import math
from collections import defaultdict
from html import escape
from typing import Any

METRICS = ("precision", "recall", "f1", "ttd_median_s", "ettr")


def aggregate(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per variant: run count, errors, mean and standard deviation of each metric."""
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by[r["variant"]].append(r)
    out: dict[str, dict[str, Any]] = {}
    for variant, runs in by.items():
        ok = [r for r in runs if "error" not in r]
        entry: dict[str, Any] = {"runs": len(runs), "errors": len(runs) - len(ok)}
        for m in METRICS:
            vals = [float(r[m]) for r in ok if r.get(m) is not None]
            entry[m] = _mean_sd(vals)
        entry["truth"] = sum(int(r.get("truth", 0)) for r in ok)
        entry["matched"] = sum(int(r.get("matched", 0)) for r in ok)
        entry["false"] = sum(int(r.get("false", 0)) for r in ok)
        out[variant] = entry
    return out


def _mean_sd(vals: list[float]) -> tuple[float, float] | None:
    if not vals:
        return None
    mean = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / max(len(vals) - 1, 1))
    return mean, sd


def svg_bars(table: dict[str, dict[str, Any]], metric: str = "f1", width: int = 560) -> str:
    """A horizontal bar chart of one metric per variant, with +/- 1 sd whiskers."""
    rows = [(v, e[metric]) for v, e in table.items() if e.get(metric)]
    bar_h, left, top = 26, 160, 30
    height = top + bar_h * len(rows) + 20
    scale = max((m + sd for _, (m, sd) in rows), default=1.0) or 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">',
             f'<text x="{left}" y="18">{escape(metric)} by variant (mean, +/- 1 sd)</text>']
    span = width - left - 60
    for i, (variant, (mean, sd)) in enumerate(rows):
        y = top + i * bar_h
        w = span * mean / scale
        lo, hi = left + span * max(mean - sd, 0) / scale, left + span * (mean + sd) / scale
        parts += [f'<text x="{left - 8}" y="{y + 16}" text-anchor="end">{escape(variant)}</text>',
                  f'<rect x="{left}" y="{y + 4}" width="{w:.1f}" height="{bar_h - 8}" '
                  f'fill="#4c78a8"/>',
                  f'<line x1="{lo:.1f}" x2="{hi:.1f}" y1="{y + 13}" y2="{y + 13}" '
                  f'stroke="#222"/>',
                  f'<text x="{left + w + 6:.1f}" y="{y + 16}">{mean:.3f}</text>']
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def format_table(table: dict[str, dict[str, Any]]) -> list[list[str]]:
    """Rows of strings for a rich table (header first)."""
    head = ["variant", "runs", "errors", "truth", "matched", "false", *METRICS]
    body = []
    for variant, e in table.items():
        cells = [variant, str(e["runs"]), str(e["errors"]), str(e["truth"]), str(e["matched"]),
                 str(e["false"])]
        for m in METRICS:
            ms = e.get(m)
            cells.append("-" if ms is None else f"{ms[0]:.3f} ± {ms[1]:.3f}")
        body.append(cells)
    return [head, *body]
