"""Coarse mode: job and failure dynamics over weeks, without per-sample telemetry.

Interruptions arrive as independent Poisson processes, one per root cause of
the scenario's failure table, at the published rate scaled to the cluster's
GPU count, or are replayed from a failure trace (``failure_trace``: node,
start, end, kind, cause per fault; ``stepfun-replay`` ships the real StepFun
trace). One synchronous job spans the cluster: every interruption while it
runs loses the work since its last checkpoint and the restart time; a failure
during a restart prolongs it. Failed nodes leave for a repair time drawn from
the StepFun-fitted lognormal and are replaced from a spare pool, so the run
also says how many nodes are in repair at once.

Outputs: ``truth.jsonl`` (causes that map to a fault kind), ``interruptions.jsonl``
(every interruption with its cause and cost), ``summary.json``, ``topology.yaml``,
an empty ``metrics/`` and an empty ``steps.jsonl`` (no per-step records at this scale).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brownout.atomic import atomic_write_text
from brownout.errors import InputError
from brownout.findings import TruthFault
from brownout.sim import output
from brownout.sim.engine import build_topology
from brownout.sim.failure_tables import (
    REPAIR_LOG_SIGMA,
    REPAIR_MEDIAN_H,
    TABLES,
    Cause,
    draw_arrivals,
)
from brownout.sim.result import SimResult
from brownout.sim.scenario import JobSpec, Scenario
from brownout.telemetry.steps import StepRecords
from brownout.topology.model import Topology

__all__ = ["Interruption", "draw_arrivals", "run_coarse", "simulate_interruptions",
           "table_arrivals", "trace_arrivals"]


@dataclass(frozen=True)
class Interruption:
    """One unexpected interruption of the job."""

    t_s: float
    cause: Cause
    component: str
    rework_s: float
    restart_s: float

    def to_json(self) -> dict[str, Any]:
        return {"t": round(self.t_s, 3), "cause": self.cause.name,
                "category": self.cause.category, "kind": self.cause.kind,
                "component": self.component, "rework_s": round(self.rework_s, 1),
                "restart_s": round(self.restart_s, 1)}


def _component(topo: Topology, cause: Cause, rng: np.random.Generator) -> tuple[str, int]:
    """A random component the cause strikes, and its node (-1 for the job)."""
    if cause.component == "gpu":
        g = int(rng.integers(topo.n_gpus))
        return topo.gpu_name(g), int(topo.gpu_node[g])
    if cause.component == "nic":
        k = int(rng.integers(topo.n_nics))
        return topo.nic_name(k), int(topo.nic_node[k])
    if cause.component == "node":
        n = int(rng.integers(topo.n_nodes))
        return topo.nodes[n].name, n
    return "job", -1


def simulate_interruptions(job: JobSpec, times: np.ndarray[Any, Any], causes: list[Cause],
                           names: list[str], rng: np.random.Generator) -> list[Interruption]:
    """Walk the job through its interruptions: rework since checkpoint plus restart."""
    ckpt_s = job.checkpoint_every_steps * job.compute_s
    run_start, resume = 0.0, 0.0
    out = []
    for t, cause, name in zip(times.tolist(), causes, names, strict=True):
        restart = float(rng.uniform(*job.restart_s))
        if t < resume:  # already down: the restart starts over
            out.append(Interruption(t, cause, name, 0.0, t + restart - resume))
            resume = t + restart
            continue
        since = t - run_start
        rework = since - math.floor(since / ckpt_s) * ckpt_s
        out.append(Interruption(t, cause, name, rework, restart))
        resume = t + restart
        run_start = resume
    return out


Arrivals = tuple[np.ndarray[Any, Any], list[Cause], list[tuple[str, int]], np.ndarray[Any, Any]]


def table_arrivals(scenario: Scenario, topo: Topology, rng: np.random.Generator) -> Arrivals:
    """Poisson arrivals at a published table's rates: times, causes, components, repairs."""
    table = TABLES.get(scenario.failure_table or "")
    if table is None:
        raise InputError(f"{scenario.source}: coarse mode needs failure_table (one of "
                         f"{', '.join(TABLES)}) or failure_trace")
    causes, ref_gpus, ref_days = table
    times, which = draw_arrivals(causes, ref_gpus, ref_days, n_gpus=topo.n_gpus,
                                 duration_s=scenario.duration_s, rng=rng)
    hit = [causes[i] for i in which.tolist()]
    comps = [_component(topo, c, rng) for c in hit]
    repair_s = rng.lognormal(math.log(REPAIR_MEDIAN_H * 3600.0), REPAIR_LOG_SIGMA, len(hit))
    return times, hit, comps, repair_s


COMPONENT_OF_KIND = {"gpu_failed": "gpu", "gpu_degraded": "gpu", "gpu_overheating": "gpu",
                     "nic_degraded": "nic"}


def trace_arrivals(scenario: Scenario, topo: Topology, rng: np.random.Generator) -> Arrivals:
    """A replayed trace: its faults at their times, on their nodes, with their repairs."""
    entries = sorted((e for e in scenario.failure_trace if e.start_s < scenario.duration_s),
                     key=lambda e: e.start_s)
    hit, comps = [], []
    for e in entries:
        n = topo.node_index.get(e.node)
        if n is None:
            raise InputError(f"{scenario.source}: failure_trace names node '{e.node}', "
                             "which is not in the cluster")
        ctype = COMPONENT_OF_KIND.get(e.kind or "", "node")
        cause = Cause(e.cause, e.cause.split(":")[0], 0, e.kind, e.variant, ctype)
        hit.append(cause)
        comps.append((_on_node(topo, ctype, n, rng), n))
    times = np.array([e.start_s for e in entries])
    repair = np.array([math.inf if e.end_s is None else e.end_s - e.start_s for e in entries])
    return times, hit, comps, repair


def _on_node(topo: Topology, ctype: str, n: int, rng: np.random.Generator) -> str:
    if ctype == "gpu":
        g = int(topo.gpu_offset[n]) + int(rng.integers(topo.nodes[n].gpus))
        return topo.gpu_name(g)
    if ctype == "nic":
        nics = np.flatnonzero(topo.nic_node == n)
        return topo.nic_name(int(nics[int(rng.integers(len(nics)))]))
    return topo.nodes[n].name


def run_coarse(scenario: Scenario, seed: int | None, out_dir: str | Path | None,
               progress: Callable[[str, float], None] | None = None) -> SimResult:
    """Run a coarse-mode scenario (see module docstring)."""
    seed = scenario.seed if seed is None else seed
    rng = np.random.default_rng(seed)
    topo = build_topology(scenario)
    job = scenario.jobs[0] if scenario.jobs else JobSpec("train", topo.n_nodes)
    arrivals = trace_arrivals if scenario.failure_trace else table_arrivals
    times, hit, comps, repair_s = arrivals(scenario, topo, rng)
    events = simulate_interruptions(job, times, hit, [c[0] for c in comps], rng)
    start, end = scenario.start_s, scenario.start_s + scenario.duration_s
    truth = [_truth(ev, start, end, float(r)) for ev, r in zip(events, repair_s, strict=True)
             if ev.cause.kind is not None]
    summary = summarise(scenario, seed, topo, events=events, comps=comps, repair_s=repair_s)
    if progress is not None:
        progress("simulate", 1.0)
    result = SimResult(scenario, seed, topo, [t for t in truth if t is not None],
                       StepRecords.empty(), summary, None,
                       {"interruptions": [e.to_json() for e in events],
                        "repair_s": [float(r) for r in repair_s if math.isfinite(r)]})
    if out_dir is not None:
        _write(result, Path(out_dir), start)
    return result


def _truth(ev: Interruption, start: float, end: float, repair_s: float) -> TruthFault:
    onset = start + ev.t_s
    fixed = onset + repair_s
    variant = f" ({ev.cause.variant})" if ev.cause.variant else ""
    return TruthFault(str(ev.cause.kind), ev.component, round(onset, 3),
                      round(fixed, 3) if fixed < end else None, f"{ev.cause.name}{variant}")


def summarise(sc: Scenario, seed: int, topo: Topology, *, events: list[Interruption],
              comps: list[tuple[str, int]], repair_s: np.ndarray[Any, Any]) -> dict[str, Any]:
    """Headline numbers: interruptions by cause, MTBI, effective training time ratio."""
    lost_rework = sum(e.rework_s for e in events)
    lost_restart = sum(e.restart_s for e in events)
    dur = sc.duration_s
    return {
        "scenario": sc.name, "seed": seed, "mode": "coarse", "gpus": topo.n_gpus,
        "nodes": topo.n_nodes, "duration_s": dur, "interruptions": len(events),
        "mtbi_h": round(dur / max(1, len(events)) / 3600.0, 3),
        "by_cause": dict(Counter(e.cause.name for e in events).most_common()),
        "by_category": dict(Counter(e.cause.category for e in events).most_common()),
        "lost_h": {"rework": round(lost_rework / 3600, 2),
                   "restart": round(lost_restart / 3600, 2)},
        "ettr": round(max(0.0, 1.0 - (lost_rework + lost_restart) / dur), 4),
        "max_nodes_in_repair": _max_concurrent(events, comps, repair_s),
    }


def _max_concurrent(events: list[Interruption], comps: list[tuple[str, int]],
                    repair_s: np.ndarray[Any, Any]) -> int:
    """Most nodes out for repair at the same moment (the spare pool it needs)."""
    spans = [(e.t_s, e.t_s + float(r)) for e, c, r in zip(events, comps, repair_s, strict=True)
             if c[1] >= 0 and e.cause.component in ("gpu", "nic", "node")]
    edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    level = peak = 0
    for _, d in edges:
        level += d
        peak = max(peak, level)
    return peak


def _write(result: SimResult, out: Path, start: float) -> None:
    output.write_common(result.topology, result.truth, out)
    (out / "metrics").mkdir(exist_ok=True)
    atomic_write_text(out / "steps.jsonl", "")
    rows = [{**r, "t": round(start + r["t"], 3)} for r in result.extra["interruptions"]]
    output.write_jsonl(rows, out / "interruptions.jsonl")
    output.write_json(result.summary, out / "summary.json")
