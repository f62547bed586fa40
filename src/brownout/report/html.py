"""The self-contained HTML report: timeline, evidence plots, goodput decomposition.

One file, no external resources (inline CSS, inline SVG, no script), so it can
be mailed, attached to a ticket or archived. Every string from the data is
escaped. Written atomically.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import numpy as np

from brownout import __version__
from brownout.atomic import atomic_write_text
from brownout.findings import Finding, FindingsFile
from brownout.recovery.ledger import CAUSES, Ledger
from brownout.report.evidence import evidence_series
from brownout.report.svg import PALETTE, Line, Span, line_plot, stacked_bars, timeline
from brownout.telemetry.frame import Frame
from brownout.telemetry.steps import StepRecords
from brownout.topology.model import Topology
from brownout.views.model import ActionView

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;border-bottom:1px solid #ddd;
padding-bottom:3px;margin-top:28px}table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #eee;vertical-align:top}
th{color:#666;font-weight:normal}.muted{color:#777}.finding{border:1px solid #ddd;
border-radius:4px;padding:8px 10px;margin:10px 0;display:grid;
grid-template-columns:1fr 430px;gap:6px}.kind{font-family:monospace;color:#1f5fa8}
code,pre{font-family:ui-monospace,monospace;font-size:12px}pre{white-space:pre-wrap;
word-break:break-all;margin:0;color:#555}.kpi{display:inline-block;margin-right:28px}
.kpi b{font-size:20px;display:block}
"""
KIND_COLOURS = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(
    ("gpu_failed", "gpu_degraded", "gpu_overheating", "cooling_fault", "nic_degraded",
     "switch_congestion", "host_straggler", "telemetry_loss"))}


@dataclass(frozen=True)
class ReportInput:
    """What a report covers.

    Attributes:
        topology: the cluster.
        findings: findings (and notices) of the window.
        frame: telemetry of the window (may be empty).
        steps: step records of the window (may be empty).
        ledger: the goodput ledger of the window, if step records exist.
        actions: the journal's actions, if a journal was given.
        start_s, end_s: the window.
        title: the report's title.
        sources: what was read (shown in the header).
    """

    topology: Topology
    findings: FindingsFile
    frame: Frame
    steps: StepRecords
    ledger: Ledger | None
    start_s: float
    end_s: float
    actions: tuple[ActionView, ...] = ()
    title: str = "brownout report"
    sources: tuple[str, ...] = field(default_factory=tuple)


def _t(t_s: float | None) -> str:
    if t_s is None or not math.isfinite(t_s):
        return ""
    return datetime.fromtimestamp(t_s, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _resolved(f: Finding) -> float | None:
    return f.resolved_at


def render_report(r: ReportInput) -> str:
    """The whole report as one HTML string."""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">",
        f"<title>{escape(r.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(r.title)}</h1>",
        f"<p class='muted'>cluster <b>{escape(r.topology.name)}</b> · "
        f"{r.topology.n_nodes} nodes · {r.topology.n_gpus} GPUs · "
        f"{escape(_t(r.start_s))} to {escape(_t(r.end_s))} UTC · brownout {__version__}"
        f"{' · ' + escape(', '.join(r.sources)) if r.sources else ''}</p>",
        _summary(r), _timeline(r), _evidence(r), _goodput(r), _actions(r), _notices(r),
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(path: str | Path, r: ReportInput) -> None:
    """Write the report atomically (complete or absent)."""
    atomic_write_text(path, render_report(r))


def _summary(r: ReportInput) -> str:
    kinds = Counter(f.kind for f in r.findings.findings)
    statuses = Counter(a.status for a in r.actions)
    kpis = [("findings", str(len(r.findings.findings))), ("notices", str(len(r.findings.notices))),
            ("actions", str(len(r.actions)))]
    if r.ledger is not None and r.ledger.jobs:
        kpis += [("goodput (ETTR)", f"{100 * r.ledger.ettr:.1f} %"),
                 ("availability", f"{100 * r.ledger.availability:.1f} %")]
    out = ["<h2>Summary</h2><div>"]
    out += [f"<span class='kpi'><b>{escape(v)}</b>{escape(k)}</span>" for k, v in kpis]
    out.append("</div><table><tr><th>finding kind</th><th>count</th></tr>")
    out += [f"<tr><td class='kind'>{escape(k)}</td><td>{n}</td></tr>"
            for k, n in sorted(kinds.items())]
    out.append("</table>")
    if statuses:
        out.append("<p>actions: " + ", ".join(f"{escape(s)} {n}" for s, n in
                                              sorted(statuses.items())) + "</p>")
    return "".join(out)


def _timeline(r: ReportInput) -> str:
    spans = [Span(f"{f.kind} {f.component}", f.onset, _resolved(f) or r.end_s, f.detected_at,
                  KIND_COLOURS.get(f.kind, PALETTE[7]),
                  f"{f.id}: onset {_t(f.onset)}, detected {_t(f.detected_at)}: {f.summary}")
             for f in r.findings.findings]
    spans += [Span(f"{a.kind} {a.node or a.component} ({a.status})", a.decided_at_s,
                   a.decided_at_s + (r.end_s - r.start_s) / 200, a.decided_at_s, "#444",
                   f"{a.key}: {a.reason}") for a in r.actions if a.kind != "notify"]
    if not spans:
        return "<h2>Timeline</h2><p class='muted'>no findings or actions in this window</p>"
    return ("<h2>Timeline</h2><p class='muted'>bars: from onset to resolution (or the end);"
            " dots: detection (findings) and decision (actions)</p>"
            + timeline(spans, r.start_s, r.end_s))


def _evidence(r: ReportInput) -> str:
    out = ["<h2>Findings and their evidence</h2>"]
    for f in r.findings.findings:
        got = evidence_series(f, r.topology, r.frame, r.steps)
        plot = "<p class='muted'>no telemetry for a plot</p>"
        if got is not None:
            label, unit, t, own, peers = got
            plot = line_plot([Line(t.tolist(), own.tolist(), f.component, PALETTE[1]),
                              Line(t.tolist(), peers.tolist(), "peer median", PALETTE[0],
                                   dashed=True)],
                             title=f"{label} (red: {f.component}; dashed: peers)", unit=unit,
                             markers=[(f.onset, "onset"), (f.detected_at, "detected")])
        ev = "\n".join(f"{k}: {v}" for k, v in f.evidence.items())
        out.append(
            f"<div class='finding'><div><b class='kind'>{escape(f.kind)}</b> "
            f"<code>{escape(f.component)}</code> <span class='muted'>{escape(f.severity)} · "
            f"confidence {f.confidence:.2f} · {escape(f.id)}</span><br>"
            f"onset {escape(_t(f.onset))} · detected {escape(_t(f.detected_at))} "
            f"(+{f.detected_at - f.onset:.0f} s)"
            f"{' · resolved ' + escape(_t(_resolved(f))) if _resolved(f) else ''}<br>"
            f"{escape(f.summary)}<br>recommended: {escape(f.recommended_action)}"
            f"<pre>{escape(ev[:1500])}</pre></div><div>{plot}</div></div>")
    if not r.findings.findings:
        out.append("<p class='muted'>none</p>")
    return "".join(out)


def _goodput(r: ReportInput) -> str:
    if r.ledger is None or not r.ledger.jobs:
        return "<h2>Goodput</h2><p class='muted'>no step records: no goodput ledger</p>"
    rows = [(name, [("productive", j.productive_s), *[(c, j.lost_s[c]) for c in CAUSES]])
            for name, j in r.ledger.jobs.items()]
    table = ["<table><tr><th>job</th><th>wall</th><th>productive</th><th>ETTR</th>"
             "<th>availability</th>" + "".join(f"<th>{c}</th>" for c in CAUSES) + "</tr>"]
    for name, j in r.ledger.jobs.items():
        table.append(f"<tr><td>{escape(name)}</td><td>{j.wall_s:.0f} s</td>"
                     f"<td>{j.productive_s:.0f} s</td><td>{100 * j.ettr:.1f} %</td>"
                     f"<td>{100 * j.availability:.1f} %</td>"
                     + "".join(f"<td>{j.lost_s[c]:.0f} s</td>" for c in CAUSES) + "</tr>")
    table.append("</table>")
    return ("<h2>Goodput decomposition</h2><p class='muted'>where each job's wall time went:"
            " productive steps, and time lost by cause (spec/cli.md); availability counts"
            " only restart gaps as lost</p>" + stacked_bars(rows) + "".join(table))


def _actions(r: ReportInput) -> str:
    if not r.actions:
        return ""
    rows = "".join(
        f"<tr><td>{escape(_t(a.decided_at_s))}</td><td>{escape(a.kind)}</td>"
        f"<td><code>{escape(a.node or a.component)}</code></td><td>{escape(a.status)}</td>"
        f"<td>{escape(a.reason)}</td></tr>" for a in r.actions)
    return ("<h2>Actions (journal)</h2><table><tr><th>decided</th><th>action</th>"
            f"<th>target</th><th>status</th><th>reason</th></tr>{rows}</table>")


def _notices(r: ReportInput) -> str:
    if not r.findings.notices:
        return ""
    rows = "".join(f"<tr><td>{escape(_t(n.detected_at))}</td><td>{escape(n.kind)}</td>"
                   f"<td>{escape(n.summary)}</td></tr>" for n in r.findings.notices)
    return ("<h2>Notices</h2><table><tr><th>detected</th><th>kind</th><th>summary</th></tr>"
            f"{rows}</table>")


def in_window(findings: Sequence[Finding], start_s: float, end_s: float) -> tuple[Finding, ...]:
    """Findings detected within the window, or open across it."""
    return tuple(f for f in findings if f.detected_at <= end_s
                 and (f.detected_at >= start_s or (_resolved(f) or np.inf) >= start_s))
