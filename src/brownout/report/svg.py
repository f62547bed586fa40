"""Small SVG charts as strings: line plots, a timeline, stacked bars.

Every piece of text that came from data is escaped (``html.escape``); numbers
are formatted by this module. The output is embedded inline in the report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def hhmm(t_s: float) -> str:
    """``HH:MM:SS`` (UTC) of a unix time."""
    return datetime.fromtimestamp(t_s, UTC).strftime("%H:%M:%S")


@dataclass(frozen=True)
class Line:
    """One line of a plot: times, values (NaN breaks the line), legend label."""

    t_s: Sequence[float]
    value: Sequence[float]
    label: str = ""
    colour: str = PALETTE[0]
    dashed: bool = False


def _bounds(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    return lo, hi


def line_plot(lines: Sequence[Line], *, title: str = "", unit: str = "", width: int = 420,
              height: int = 150, markers: Sequence[tuple[float, str]] = (),
              y_range: tuple[float, float] | None = None) -> str:
    """A line plot with a time axis; ``markers`` are (time, label) vertical lines."""
    left, right, top, bottom = 46, 8, 18, 22
    ts = [t for ln in lines for t in ln.t_s]
    if len(ts) < 2:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="40">'
                f'<text x="4" y="24" font-size="11">{escape(title)}: no data</text></svg>')
    t0, t1 = min(ts), max(ts)
    t1 = t1 if t1 > t0 else t0 + 1.0
    lo, hi = y_range or _bounds([v for ln in lines for v in ln.value])

    def x(t: float) -> float:
        return left + (width - left - right) * (t - t0) / (t1 - t0)

    def y(v: float) -> float:
        return top + (height - top - bottom) * (1.0 - (v - lo) / (hi - lo))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="10">',
           f'<text x="{left}" y="12" font-weight="bold">{escape(title)}</text>']
    for v in (lo, (lo + hi) / 2, hi):
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                   f'stroke="#ddd"/><text x="2" y="{y(v) + 3:.1f}">{v:.4g}</text>')
    out.append(f'<text x="{left}" y="{height - 6}">{hhmm(t0)}</text>'
               f'<text x="{width - right - 44}" y="{height - 6}">{hhmm(t1)}</text>'
               f'<text x="{width // 2 - 10}" y="{height - 6}">{escape(unit)}</text>')
    for t, label in markers:
        if t0 <= t <= t1:
            out.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" '
                       f'y2="{height - bottom}" stroke="#d62728" stroke-dasharray="3 2">'
                       f'<title>{escape(label)}</title></line>')
    for ln in lines:
        out.append(_path(ln, x, y))
    out.append("</svg>")
    return "".join(out)


def _path(ln: Line, x: object, y: object) -> str:
    assert callable(x)
    assert callable(y)
    parts, pen = [], False
    for t, v in zip(ln.t_s, ln.value, strict=True):
        if not math.isfinite(v):
            pen = False
            continue
        parts.append(f"{'L' if pen else 'M'}{x(t):.1f},{y(v):.1f}")
        pen = True
    dash = ' stroke-dasharray="5 3"' if ln.dashed else ""
    return (f'<path d="{" ".join(parts)}" fill="none" stroke="{ln.colour}" stroke-width="1.5"'
            f'{dash}><title>{escape(ln.label)}</title></path>')


@dataclass(frozen=True)
class Span:
    """One row of the timeline: a bar from ``start_s`` to ``end_s``, a dot at ``mark_s``."""

    label: str
    start_s: float
    end_s: float
    mark_s: float | None = None
    colour: str = PALETTE[0]
    tip: str = ""


def timeline(spans: Sequence[Span], t0: float, t1: float, *, width: int = 900,
             row_h: int = 16) -> str:
    """Rows of bars on one time axis (findings and actions)."""
    left, right = 230, 10
    t1 = t1 if t1 > t0 else t0 + 1.0
    height = 24 + row_h * max(1, len(spans))

    def x(t: float) -> float:
        return left + (width - left - right) * (min(max(t, t0), t1) - t0) / (t1 - t0)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="10">']
    for k in range(6):
        t = t0 + (t1 - t0) * k / 5
        out.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="12" y2="{height}" stroke="#eee"/>'
                   f'<text x="{x(t) - 20:.1f}" y="10">{hhmm(t)}</text>')
    for i, s in enumerate(spans):
        yy = 16 + i * row_h
        w = max(2.0, x(s.end_s) - x(s.start_s))
        out.append(f'<text x="2" y="{yy + 11}">{escape(s.label[:40])}</text>'
                   f'<rect x="{x(s.start_s):.1f}" y="{yy + 2}" width="{w:.1f}" '
                   f'height="{row_h - 5}" fill="{s.colour}" opacity="0.55">'
                   f'<title>{escape(s.tip or s.label)}</title></rect>')
        if s.mark_s is not None:
            out.append(f'<circle cx="{x(s.mark_s):.1f}" cy="{yy + row_h / 2 - 0.5:.1f}" r="3.5" '
                       f'fill="{s.colour}" stroke="#000" stroke-width="0.6"/>')
    out.append("</svg>")
    return "".join(out)


def stacked_bars(rows: Sequence[tuple[str, Sequence[tuple[str, float]]]], *,
                 width: int = 900, row_h: int = 22) -> str:
    """One horizontal bar per row, split into labelled parts (seconds); a legend below."""
    left, right = 120, 10
    names = list(dict.fromkeys(name for _, parts in rows for name, _ in parts))
    colour = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}
    height = 34 + row_h * max(1, len(rows))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="10">']
    for i, (label, parts) in enumerate(rows):
        total = sum(max(0.0, v) for _, v in parts) or 1.0
        xx, yy = float(left), 4 + i * row_h
        out.append(f'<text x="2" y="{yy + 13}">{escape(label)}</text>')
        for name, v in parts:
            w = (width - left - right) * max(0.0, v) / total
            out.append(f'<rect x="{xx:.1f}" y="{yy}" width="{w:.1f}" height="{row_h - 6}" '
                       f'fill="{colour[name]}"><title>{escape(name)}: {v:.0f} s '
                       f'({100 * v / total:.1f} %)</title></rect>')
            xx += w
    lx = float(left)
    for n in names:
        out.append(f'<rect x="{lx:.0f}" y="{height - 14}" width="10" height="10" '
                   f'fill="{colour[n]}"/><text x="{lx + 13:.0f}" y="{height - 5}">'
                   f'{escape(n)}</text>')
        lx += 24 + 6.5 * len(n)
    out.append("</svg>")
    return "".join(out)
