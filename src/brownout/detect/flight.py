"""Flight Recorder findings for a replay (``brownout detect --flight-recorder``).

The dumps are analysed once (:func:`~brownout.detect.collectives.analyse`);
each stuck rank becomes one ``rank_hang`` finding, detected when the dumps
can first have been written. They join the engine's findings: a ``rank_hang``
the step records raised at the same component is replaced by the dumps'
one, which says more (the group, the collective, who waits).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from brownout.detect.api import Candidate
from brownout.detect.collectives import HangReport
from brownout.detect.hang_findings import rank_hang
from brownout.detect.hangs import HangDetector
from brownout.detect.tracker import FindingTracker
from brownout.findings import Finding, FindingsFile
from brownout.telemetry.steps import StepRecords
from brownout.topology.model import Topology


def flight_findings(reports: Sequence[HangReport], steps: StepRecords | None,
                    topo: Topology | None) -> tuple[Finding, ...]:
    """One ``rank_hang`` finding per stuck rank of every report (ids ``f-fr-NNNNNN``)."""
    tracker = FindingTracker(id_prefix="f-fr-")
    for rep in sorted(reports, key=lambda r: (r.t_s if math.isfinite(r.t_s) else 0.0,
                                              r.source)):
        t = rep.t_s if math.isfinite(rep.t_s) else 0.0
        tracker.observe(t, t, report_candidates(rep, steps, topo))
    return tracker.findings()


def merge(result: FindingsFile, extra: tuple[Finding, ...]) -> FindingsFile:
    """``result`` with ``extra`` added; same-component ``rank_hang`` findings replaced."""
    named = {(f.kind, f.component) for f in extra}
    kept = tuple(f for f in result.findings if (f.kind, f.component) not in named)
    return FindingsFile(result.cluster, kept + extra, result.notices)


__all__ = ["flight_findings", "merge"]


def report_candidates(rep: HangReport, steps: StepRecords | None,
                      topo: Topology | None) -> list[Candidate]:
    """``rank_hang`` candidates of one report, placed by a step log when one fits.

    The job is the one whose records hold every stuck rank (the one whose
    ranks are exactly the dumps' ranks when several do); a rank is placed at
    the node and GPU of its newest record.
    """
    det = HangDetector()
    det.jobs_ = {}
    steps = steps if steps is not None else StepRecords.empty()
    det._ingest(steps)  # the same bookkeeping as in a tick
    job_name, job = det._job_of(rep)
    names = [n.name for n in topo.nodes] if topo is not None else list(steps.node_names)
    out = []
    for s in rep.stuck:
        node, gpu = job.where(s.rank) if job is not None else (-1, -1)
        comp = f"{names[node]}/gpu{gpu}" if 0 <= node < len(names) else f"rank{s.rank}"
        out.append(rank_hang(s, rep, comp, job_name))
    return out
