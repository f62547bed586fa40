"""What the straggler detector says: its findings' words, evidence and confidence.

:mod:`brownout.detect.stragglers` decides which rank or node is slow and
why; this module turns one decision into a :class:`Candidate` in the
taxonomy of spec/findings.md. ``lv`` is the detector's per-rank level table
of one tick (``job``, ``rank``, ``node``, ``gpu``, ``rel``, ``rise``, ``bar``,
``n``, ``holds``, ``span_s``, ``since``, ``stage``, ``by_stage``,
``established``); ``i`` indexes a rank in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from brownout.detect.api import Candidate, severity_of
from brownout.detect.one_node_jobs import Rise
from brownout.topology.model import Topology

HOST_SIDE = ("clock with its node peers, no thermal or slowdown reason, below its throttle point")


@dataclass(frozen=True)
class Words:
    """The detector's settings a finding quotes, and the job names it knows."""

    source: str
    min_records: int
    abs_excess: float
    jobs: dict[str, int]

    def job_name(self, j: int) -> str:
        return next((name for name, k in self.jobs.items() if k == j), str(j))

    def confidence(self, excess: float, bar: float, records: float) -> float:
        """Grows with the margin over the bar and with the records behind it."""
        margin = min(1.0, max(0.0, (excess - bar) / max(bar, 1e-9)))
        evidence = min(1.0, records / (6.0 * self.min_records))
        return float(min(0.99, 0.5 + 0.25 * margin + 0.24 * evidence))

    def evidence(self, lv: dict[str, Any], i: int) -> dict[str, Any]:
        return {"from": "step records", "job": self.job_name(int(lv["job"][i])),
                "rank": int(lv["rank"][i]), "compute_excess": round(float(lv["rel"][i]), 3),
                "over_own_baseline": round(float(lv["rise"][i]), 3),
                "bar": round(float(lv["bar"][i]), 3), "records": int(lv["n"][i]),
                "barrier_share": round(float(lv["holds"][i]), 2),
                "slow_for_s": round(float(lv["span_s"][i]), 1)}

    def what(self, lv: dict[str, Any], i: int) -> str:
        rel, rise = float(lv["rel"][i]), float(lv["rise"][i])
        rank, job = int(lv["rank"][i]), self.job_name(int(lv["job"][i]))
        if lv["by_stage"][i]:
            return (f"rank {rank} of {job}: its whole pipeline stage {int(lv['stage'][i])} "
                    f"computes {rise:.0%} more than its own baseline, relative to the other "
                    "stages")
        own = f", {rise:.0%} above its own baseline" if lv["established"][i] and rise > 0 else ""
        return (f"rank {rank} of {job} computes {rel:.0%} slower than its stage peers{own} "
                f"over {int(lv['n'][i])} records")

    def of_rank(self, lv: dict[str, Any], i: int, kind: str, component: str, action: str,
                *, summary: str, evidence: dict[str, Any]) -> Candidate:
        """A finding from rank ``i``'s level: its onset, confidence and severity."""
        rel = float(lv["rel"][i])
        return Candidate(
            kind, component, float(lv["since"][i]),
            self.confidence(rel, float(lv["bar"][i]), float(lv["n"][i])),
            severity_of(rel, 0.3, 1.0), action, summary, evidence, source=self.source)


def blind_gpu(w: Words, topo: Topology, lv: dict[str, Any], i: int, g: int) -> Candidate:
    """A lone slow rank of a multi-rank node whose GPU has no telemetry."""
    return w.of_rank(
        lv, i, "gpu_degraded", topo.gpu_name(g), "reset_gpu",
        summary=f"{w.what(lv, i)} (it holds the barrier); one rank of its node, no "
        "GPU telemetry: the GPU computes slowly", evidence=w.evidence(lv, i))


def single_rank_node(w: Words, topo: Topology, lv: dict[str, Any], i: int) -> Candidate:
    """A slow rank alone on its node: GPU and host cannot be told apart."""
    name = topo.nodes[int(lv["node"][i])].name
    return w.of_rank(
        lv, i, "host_straggler", name, "drain_node",
        summary=f"{w.what(lv, i)} (it holds the barrier); {name} runs this one rank, "
        "so steps cannot tell its GPU from its host",
        evidence={**w.evidence(lv, i), "gpu_or_host": "cannot be told apart: one rank on "
                  f"{name}; check {name}/gpu{int(lv['gpu'][i])} and the host"})


def host_side_rank(w: Words, topo: Topology, lv: dict[str, Any], i: int, *, g: int,
                   ranks: int) -> Candidate:
    """A lone slow rank whose GPU looked healthy all along: the host is the cause."""
    name = topo.nodes[int(lv["node"][i])].name
    return w.of_rank(
        lv, i, "host_straggler", name, "investigate",
        summary=f"{w.what(lv, i)} and holds the barrier in {float(lv['holds'][i]):.0%} of "
        f"steps, while {topo.gpu_name(g)} has looked healthy all along ({HOST_SIDE}): "
        "the cause is on the host side (CPU, data loader, PCIe)",
        evidence={**w.evidence(lv, i), "lone_rank": topo.gpu_name(g), "ranks_on_node": ranks})


def slow_host(w: Words, topo: Topology, n: int, found: tuple[float, float, int], *,
              ranks: int, gpus: list[int]) -> Candidate:
    """Most of a node's ranks slow together: ``found`` is (since, excess, slow ranks)."""
    since, rel, slow = found
    name, bar = topo.nodes[n].name, w.abs_excess
    return Candidate(
        "host_straggler", name, since, w.confidence(rel + bar, bar, 2.0 * slow),
        severity_of(rel, 0.3, 1.0), "drain_node",
        f"{slow} of {ranks} ranks on {name} compute {rel:.0%} slower than their stage "
        "peers (they hold the barrier)",
        {"from": "step records", "slow_ranks": slow, "ranks": ranks,
         "compute_excess": round(rel, 3), "slow_gpus": gpus}, source=w.source)


def one_node_host(w: Words, topo: Topology, r: Rise) -> Candidate:
    """A one-node job risen over its own past on GPUs that looked healthy all along."""
    name, job = topo.nodes[r.node].name, w.job_name(r.job)
    return Candidate(
        "host_straggler", name, r.since_s, w.confidence(r.rise, r.bar, r.steps),
        severity_of(r.rise, 0.3, 1.0), "investigate",
        f"{job} runs on {name} alone and its steps compute {r.rise:.0%} more than its "
        f"own baseline, while every GPU of the node has looked healthy all along ({HOST_SIDE}): "
        "the cause is on the host side (CPU, data loader, PCIe)",
        {"from": "step records", "job": job, "one_node_job": True,
         "over_own_baseline": round(r.rise, 3), "bar": round(r.bar, 3),
         "steps": r.steps}, source=w.source)
