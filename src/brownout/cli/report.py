"""``brownout report``: a self-contained HTML report of a recording or a time window.

Thin wiring: read the topology, the recording and the step log (or a
``brownout simulate`` output directory), take the findings from a file or
replay the detectors, build the goodput ledger, read the journal if given,
and write one HTML file atomically.
"""

from __future__ import annotations

import math
from pathlib import Path

import click

from brownout.errors import InputError
from brownout.findings import FindingsFile, read_findings
from brownout.report.html import ReportInput, in_window, write_report
from brownout.telemetry.frame import Frame
from brownout.telemetry.steps import StepRecords, read_steps
from brownout.topology.model import Topology
from brownout.views.model import ActionView


@click.command("report")
@click.option("--recording", type=click.Path(file_okay=False),
              help="A directory as `brownout simulate` writes it (topology.yaml, metrics/,"
                   " steps.jsonl).")
@click.option("--topology", "topology_path", type=click.Path(dir_okay=False),
              help="Topology YAML.")
@click.option("--metrics", multiple=True, type=click.Path(), help="Recorded telemetry.")
@click.option("--steps", "steps_path", type=click.Path(dir_okay=False), help="Step-time log.")
@click.option("--findings", "findings_path", type=click.Path(dir_okay=False),
              help="Findings file; when absent the detectors are replayed on the recording.")
@click.option("--journal", "journal_path", type=click.Path(dir_okay=False),
              help="Action journal (SQLite) to include.")
@click.option("--start", type=float, default=None, help="Window start (unix s).")
@click.option("--end", type=float, default=None, help="Window end (unix s).")
@click.option("--title", default="brownout report", show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="HTML file.")
def command(*, recording: str | None, topology_path: str | None, metrics: tuple[str, ...],
            steps_path: str | None, findings_path: str | None, journal_path: str | None,
            start: float | None, end: float | None, title: str, out: str) -> int:
    """Write a self-contained HTML report (timeline, evidence plots, goodput)."""
    if recording:
        rec = Path(recording)
        topology_path = topology_path or str(rec / "topology.yaml")
        metrics = metrics or ((str(rec / "metrics"),) if (rec / "metrics").exists() else ())
        if steps_path is None and (rec / "steps.jsonl").exists():
            steps_path = str(rec / "steps.jsonl")
    if not topology_path:
        raise InputError("report: give --recording DIR or --topology FILE")
    from brownout.cli.common import load_inputs, report_problems

    topo, _, frame, problems = load_inputs(topology_path, metrics, strict=False)
    steps = read_steps(steps_path, topo, problems) if steps_path else StepRecords.empty()
    report_problems(problems)
    lo, hi = _window(frame, steps, start, end)
    frame = frame.window(lo, math.nextafter(hi, math.inf))
    steps = steps.window(lo, math.nextafter(hi, math.inf))
    ff = read_findings(findings_path) if findings_path else _detect(topo, frame, steps)
    ff = FindingsFile(ff.cluster, in_window(ff.findings, lo, hi), in_window(ff.notices, lo, hi))
    ledger = None
    if len(steps):
        from brownout.recovery.ledger import build_ledger
        ledger = build_ledger(steps, ff.findings, topology=topo)
    sources = tuple(str(p) for p in (*metrics, steps_path, findings_path, journal_path) if p)
    write_report(out, ReportInput(topo, ff, frame, steps, ledger, lo, hi,
                                  _actions(journal_path, lo, hi), title, sources))
    click.echo(f"report: {len(ff.findings)} findings, {len(ff.notices)} notices -> {out}",
               err=True)
    return 0


def _window(frame: Frame, steps: StepRecords, start: float | None, end: float | None
            ) -> tuple[float, float]:
    firsts = [x for x in (frame.start_s, float(steps.ts.min()) if len(steps) else math.nan)
              if math.isfinite(x)]
    lasts = [x for x in (frame.end_s, float(steps.ts.max()) if len(steps) else math.nan)
             if math.isfinite(x)]
    lo = start if start is not None else min(firsts, default=0.0)
    hi = end if end is not None else max(lasts, default=lo + 1.0)
    if hi <= lo:
        raise InputError(f"report: the window is empty (start {lo} >= end {hi})")
    return lo, hi


def _detect(topo: Topology, frame: Frame, steps: StepRecords) -> FindingsFile:
    from brownout.detect.engine import replay

    return replay(topo, frame if len(frame) else None, steps if len(steps) else None)


def _actions(path: str | None, lo: float, hi: float) -> tuple[ActionView, ...]:
    if not path:
        return ()
    if not Path(path).is_file():
        raise InputError(f"{path}: no such journal")
    from brownout.policy.journal import Journal
    from brownout.views.build import action_views

    journal = Journal(path)
    try:
        return tuple(a for a in action_views(journal.entries()) if lo <= a.decided_at_s <= hi)
    finally:
        journal.close()
