"""NVIDIA NVRx's published straggler rule, re-implemented on step logs (the peer).

nvidia-resiliency-ext (``nvidia_resiliency_ext.straggler``, reporting.py)
scores each rank once per report interval from the median time of a timed
section:

- relative score = the fastest rank's median / this rank's median;
- individual score = this rank's best (lowest) median of any interval so far
  / this interval's median;

and names a rank a straggler when either score is below the threshold (0.7,
NeMo's ``gpu_relative_perf_threshold`` / ``gpu_individual_perf_threshold``
defaults; the report interval defaults to 300 s). The section here is the
step's ``compute_s``. Ranks are compared within their pipeline stage (the
favourable reading: NVRx itself compares the whole process group).

The findings use brownout's component convention so that ``brownout score``
judges both alike: a rank alone on its node -> ``host_straggler`` at the node;
most of a node's ranks flagged in the same interval -> ``host_straggler``;
otherwise ``gpu_degraded`` at the rank's GPU. A component flagged in
consecutive intervals is one finding.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from brownout.findings import Finding
from brownout.telemetry.steps import StepRecords
from brownout.topology.model import Topology

THRESHOLD = 0.7
INTERVAL_S = 300.0


def _scores(rec: StepRecords, lo: float, hi: float, best: dict[int, float]
            ) -> dict[int, tuple[float, float]]:
    """Per rank: (relative, individual) score of one report interval."""
    sel = (rec.ts >= lo) & (rec.ts < hi)
    med: dict[int, float] = {}
    stage: dict[int, int] = {}
    for r in np.unique(rec.rank[sel]):
        mine = sel & (rec.rank == r)
        med[int(r)] = float(np.median(rec.compute_s[mine]))
        stage[int(r)] = int(rec.stage[mine][-1])
    fastest: dict[int, float] = defaultdict(lambda: np.inf)
    for r, m in med.items():
        fastest[stage[r]] = min(fastest[stage[r]], m)
    out = {}
    for r, m in med.items():
        best[r] = min(best.get(r, np.inf), m)
        out[r] = (fastest[stage[r]] / m if m > 0 else 1.0, best[r] / m if m > 0 else 1.0)
    return out


def nvrx_findings(steps: StepRecords, topo: Topology, interval_s: float = INTERVAL_S,
                  threshold: float = THRESHOLD) -> list[Finding]:
    """Findings of the NVRx rule over a whole step log (causal, interval by interval)."""
    found: list[Finding] = []
    for j in range(len(steps.jobs)):
        rec = steps.take(np.flatnonzero(steps.job == j))
        if not len(rec):
            continue
        found.extend(_job(rec, topo, interval_s, threshold))
    return found


def _job(rec: StepRecords, topo: Topology, interval_s: float, threshold: float
         ) -> list[Finding]:
    best: dict[int, float] = {}
    place = {int(r): (int(n), int(g)) for r, n, g in zip(rec.rank, rec.node, rec.gpu,
                                                          strict=True)}
    per_node = defaultdict(set)
    for r, (n, _) in place.items():
        per_node[n].add(r)
    open_: dict[tuple[str, str], int] = {}
    out: list[Finding] = []
    t0 = float(rec.ts[0])
    for k in range(int((rec.ts[-1] - t0) // interval_s) + 1):
        lo, hi = t0 + k * interval_s, t0 + (k + 1) * interval_s
        scores = _scores(rec, lo, hi, best)
        flagged = {r for r, (rel, ind) in scores.items() if min(rel, ind) < threshold}
        now = _components(flagged, place, per_node, topo)
        sel = rec.ts[(rec.ts >= lo) & (rec.ts < hi)]
        at = float(sel[-1]) if sel.size else hi
        for key in now:
            if key not in open_:
                out.append(_finding(key, lo, at, len(out)))
            open_[key] = k
        open_ = {key: kk for key, kk in open_.items() if kk == k}
    return out


def _components(flagged: set[int], place: dict[int, tuple[int, int]],
                per_node: dict[int, set[int]], topo: Topology) -> set[tuple[str, str]]:
    out = set()
    for n, ranks in per_node.items():
        hit = ranks & flagged
        if not hit or n < 0:
            continue
        if len(ranks) == 1 or (len(hit) >= 2 and len(hit) * 2 >= len(ranks)):
            out.add(("host_straggler", topo.nodes[n].name))
            continue
        for r in hit:
            out.add(("gpu_degraded", topo.gpu_name(topo.gpu_id(n, place[r][1]))))
    return out


def _finding(key: tuple[str, str], onset: float, at: float, i: int) -> Finding:
    kind, comp = key
    ev: dict[str, Any] = {"rule": "nvrx relative/individual score < 0.7"}
    return Finding(id=f"nvrx-{i:05d}", kind=kind, component=comp,
                   component_type="node" if kind == "host_straggler" else "gpu",
                   onset=onset, detected_at=at, confidence=0.5, severity="minor",
                   summary="NVRx rule", evidence=ev, recommended_action="investigate")
