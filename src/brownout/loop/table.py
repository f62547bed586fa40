"""The evaluation table (text) and the ETTR-over-time plot (SVG)."""

from __future__ import annotations

from collections.abc import Sequence

from brownout.loop.evaluate import EvalResult
from brownout.recovery.ledger import CAUSES
from brownout.report.svg import PALETTE, Line, line_plot

HEADER = ("policy", "ETTR", "goodput GPU-h", "availability", "interruptions",
          *(f"{c} h" for c in CAUSES))


def rows(results: Sequence[EvalResult]) -> list[tuple[str, ...]]:
    """One row per result: ETTR, goodput, availability, interruptions, hours lost by cause."""
    return [(r.policy, f"{r.ettr:.4f}", f"{r.goodput_gpu_h:,.0f}", f"{r.availability:.4f}",
             str(r.interruptions), *(f"{r.lost_s.get(c, 0.0) / 3600:.2f}" for c in CAUSES))
            for r in results]


def format_table(results: Sequence[EvalResult]) -> str:
    """A plain-text table with aligned columns."""
    body = [HEADER, *rows(results)]
    widths = [max(len(r[i]) for r in body) for i in range(len(HEADER))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                       enumerate(zip(r, widths, strict=True))) for r in body]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def gap_closed(results: Sequence[EvalResult]) -> float | None:
    """Share of the baseline-to-oracle ETTR gap brownout closes (None if no gap)."""
    by = {r.policy: r.ettr for r in results}
    if not {"baseline", "brownout", "oracle"} <= set(by):
        return None
    gap = by["oracle"] - by["baseline"]
    return (by["brownout"] - by["baseline"]) / gap if gap > 1e-9 else None


def ettr_svg(results: Sequence[EvalResult], title: str) -> str:
    """Cumulative ETTR over time, one line per policy."""
    lines = [Line([t for t, _ in r.series], [e for _, e in r.series], r.policy,
                  PALETTE[i % len(PALETTE)]) for i, r in enumerate(results)]
    return line_plot(lines, title=title, unit="ETTR so far", width=640, height=240,
                     y_range=(0.0, 1.0))
