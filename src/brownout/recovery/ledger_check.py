"""Detection and the goodput ledger agree: a straggler the ledger sees is never silent.

Where the ledger (``brownout goodput``) attributes ``min_share`` (10%) or more
of a job's wall time to ``straggler``, detection must name the rank that
holds the barrier (a finding at its GPU, its node or its cooling domain), or
say why not. :func:`straggler_notices` finds the rank whose compute the job
waited for most (per step, the slowest rank's excess over the slowest rank
within the healthy spread of its stage, as the ledger counts it) and, when
no finding names it, returns one ``straggler_unnamed`` notice per job with
the reason read from the steps:

- the slowest rank changes from step to step (data-dependent imbalance:
  sequence lengths, expert routing), no rank holds most of the wait;
- the rank that holds it is slower than its stage peers by no more than
  healthy static heterogeneity (mixed SKUs, placement, NUMA);
- it was slow for too few records or seconds to be a persistent fault;
- otherwise, plainly, that it was not reported, with its numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from brownout.findings import Finding
from brownout.recovery.findings_map import job_findings
from brownout.recovery.groups import dense_ids, group_max, group_median
from brownout.recovery.instances import rank_epochs
from brownout.recovery.ledger import STRAGGLER_KINDS, Ledger, LedgerConfig
from brownout.telemetry.steps import StepRecords
from brownout.topology.model import Topology

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Holder:
    """The rank a job waited for most.

    Attributes:
        rank, node, gpu: who (node and GPU as topology names).
        wait_share: its share of the job's straggler wait.
        excess: its median compute over its stage's median, minus one.
        slow_records: its records beyond the healthy spread; ``slow_s`` their span.
    """

    rank: int
    node: str
    gpu: str
    wait_share: float
    excess: float
    slow_records: int
    slow_s: float


def barrier_holder(rec: StepRecords, topo: Topology, max_spread: float) -> Holder | None:
    """The rank of one job's records that the job waited for most (None: no wait)."""
    rank, step = rec.rank.astype(np.int64), rec.step.astype(np.int64)
    epoch, _ = rank_epochs(rank, step, rec.ts)
    inst, n = dense_ids(epoch, step)
    grp, m = dense_ids(inst, rec.stage.astype(np.int64))
    med = group_median(grp, rec.compute_s, m)[grp]
    within = rec.compute_s <= med * (1.0 + max_spread)
    cmax = group_max(inst, rec.compute_s, n)
    chealthy = group_max(inst, np.where(within, rec.compute_s, -np.inf), n, fill=0.0)
    wait = np.maximum(cmax - np.where(np.isfinite(chealthy), chealthy, cmax), 0.0)
    is_max = rec.compute_s >= cmax[inst]
    per_rank = np.bincount(rank, np.where(is_max, wait[inst], 0.0))
    if per_rank.sum() <= 0:
        return None
    r = int(np.argmax(per_rank))
    mine = rank == r
    ratio = rec.compute_s[mine] / np.where(med[mine] > 0, med[mine], np.nan)
    slow = ~within[mine]
    ts = rec.ts[mine][slow]
    node = int(rec.node[mine][-1])
    name = topo.nodes[node].name if node >= 0 else "?"
    gpu = topo.gpu_name(topo.gpu_id(node, int(rec.gpu[mine][-1]))) if node >= 0 else "?"
    return Holder(r, name, gpu, float(per_rank[r] / per_rank.sum()),
                  float(np.nanmedian(ratio)) - 1.0, int(slow.sum()),
                  float(ts[-1] - ts[0]) if ts.size else 0.0)


def why_not(h: Holder, static_excess: float, min_records: int, min_s: float) -> str:
    """Why detection does not name the rank holding the barrier (one sentence)."""
    who = f"rank {h.rank} on {h.gpu}"
    if h.wait_share < 0.5:
        return (f"the slowest rank changes from step to step ({who} holds only "
                f"{h.wait_share:.0%} of the wait): data-dependent imbalance such as sequence "
                "lengths or expert routing, not a component")
    if h.excess <= static_excess:
        return (f"{who} holds {h.wait_share:.0%} of the wait but computes only "
                f"{h.excess:.0%} more than its stage peers: within healthy static "
                "heterogeneity (mixed SKUs, placement), not a fault")
    if h.slow_records < min_records or h.slow_s < min_s:
        return (f"{who} was beyond the healthy spread in only {h.slow_records} records over "
                f"{h.slow_s:.0f} s: too short to be a persistent fault")
    return (f"{who} holds {h.wait_share:.0%} of the wait and computes {h.excess:.0%} more "
            "than its stage peers, but did not pass the detector's bars for long enough "
            "(noisy or intermittent); look at it")


def straggler_notices(steps: StepRecords, ledger: Ledger, findings: Sequence[Finding],
                      topo: Topology, *, min_share: float = 0.10, static_excess: float = 0.15,
                      min_records: int = 7, min_s: float = 120.0,
                      config: LedgerConfig | None = None) -> list[Finding]:
    """One notice per job whose straggler time no finding explains (module docstring)."""
    cfg = config or LedgerConfig()
    out: list[Finding] = []
    for j, name in enumerate(steps.jobs):
        led = ledger.jobs.get(name)
        if led is None or led.wall_s <= 0 or led.lost_s["straggler"] < min_share * led.wall_s:
            continue
        rec = steps.take(np.flatnonzero(steps.job == j))
        h = barrier_holder(rec, topo, cfg.max_spread)
        if h is None or _named(h, findings, topo):
            continue
        share = led.lost_s["straggler"] / led.wall_s
        out.append(_notice(name, share, h, why_not(h, static_excess, min_records, min_s),
                           span=(float(rec.ts[0]), float(rec.ts[-1])), i=len(out)))
    return out


def _named(h: Holder, findings: Sequence[Finding], topo: Topology) -> bool:
    named = [f for f in job_findings(findings, {h.node}, topo) if f.kind in STRAGGLER_KINDS]
    return any(f.component in (h.node, h.gpu) or f.component_type == "cooling" for f in named)


def _notice(job: str, share: float, h: Holder, reason: str, *, span: tuple[float, float],
            i: int) -> Finding:
    start_s, end_s = span
    ev: dict[str, Any] = {"job": job, "straggler_share": round(share, 3), "rank": h.rank,
                          "node": h.node, "gpu": h.gpu, "wait_share": round(h.wait_share, 3),
                          "compute_excess": round(h.excess, 3), "slow_records": h.slow_records,
                          "reason": reason}
    return Finding(
        id=f"n-ledger-{i + 1}", kind="straggler_unnamed", component=job, component_type="job",
        onset=start_s, detected_at=end_s, confidence=0.9, severity="minor",
        summary=f"goodput attributes {share:.0%} of {job}'s wall time to stragglers and no "
        f"finding names a rank: {reason}", evidence=ev, recommended_action="investigate")
