"""Placement under heat: thermal-throttle minutes of jobs placed two ways.

A 1,024-GPU cluster (128 nodes, 8 cooling domains of 16 nodes) in the fine
simulator, one cooling domain hot (a ``cooling_fault`` from the start, chosen
by the seed), jobs arriving on an otherwise idle cluster. Each job is placed
either by :func:`brownout.recovery.placement.place_job` (health-, heat- and
topology-aware: it sees each domain's mean GPU temperature) or by
:func:`~brownout.recovery.placement.first_fit` (topology-blind), then the
simulator runs and counts, per tick, the job GPUs whose clock-event reasons
say thermal slowdown (``SW_THERMAL`` or ``HW_THERMAL``). The result is
GPU-minutes of thermal throttling for each placement.

The simulator's own scheduler is lowest-index-first; here the loop places the
jobs itself through the simulator's public job model (:mod:`brownout.sim.jobs`)
after a warm-up with no job running, so the simulator needs no hook.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from brownout.recovery.placement import (
    ClusterView,
    Placement,
    PlacementConfig,
    first_fit,
    place_job,
)
from brownout.sim import jobs as simjobs
from brownout.sim.engine import Simulation
from brownout.sim.scenario import Scenario, scenario_from_dict
from brownout.telemetry.metrics import HW_THERMAL, SW_THERMAL

Placer = Callable[[int, ClusterView, PlacementConfig | None], Placement | None]
PLACERS: dict[str, Placer] = {"brownout": place_job, "first_fit": first_fit}
JOB_NODES = (16, 16, 8, 8, 8, 8, 4, 4, 4, 4)  # 80 of 128 nodes busy


def hot_cluster(seed: int, minutes: float = 40.0) -> Scenario:
    """The 1,024-GPU scenario with one hot cooling domain picked by ``seed``."""
    domain = int(np.random.default_rng([seed, 11]).integers(8))
    return scenario_from_dict({
        "name": "placement-hot-domain", "seed": seed, "duration_min": minutes,
        "cluster": {"nodes": 128, "layout": "tor", "nodes_per_rack": 4, "racks_per_cooling": 4},
        "jobs": [],
        "faults": [{"kind": "cooling_fault", "component": f"cdu{domain + 1:02d}", "onset_s": 0,
                    "magnitude": {"inlet_rise_c": [14, 18], "tau_min": [2, 3]}}],
    }, "<placement>")


@dataclass(frozen=True)
class ThrottleResult:
    """Thermal throttling of the placed jobs."""

    placer: str
    throttle_gpu_min: float
    gpus: int
    hot_nodes: int  # job nodes placed in the hot domain

    def to_json(self) -> dict[str, float | int | str]:
        return {"placer": self.placer, "throttle_gpu_min": round(self.throttle_gpu_min, 1),
                "gpus": self.gpus, "nodes_in_hot_domain": self.hot_nodes}


def _domain_temps(sim: Simulation) -> npt.NDArray[np.float64]:
    topo = sim.topology
    d = sim.gpu_domain
    sums = np.bincount(d, weights=sim.gpu.temp_c, minlength=len(topo.cooling_domains))
    return sums / np.maximum(np.bincount(d, minlength=len(topo.cooling_domains)), 1)


def _place_all(sim: Simulation, placer: Placer) -> int:
    """Place every job of :data:`JOB_NODES` with ``placer``; return nodes in hot domains."""
    topo = sim.topology
    hot_domain = int(sim.faults[0].index)
    hot = 0
    for i, n in enumerate(JOB_NODES):
        spec = simjobs.JobSpec(f"job{i}", n, compute_s=8.0, allreduce_gb=50.0)
        view = ClusterView(topo, ~sim.allocated, ("healthy",) * topo.n_nodes,
                           _domain_temps(sim))
        placed = placer(n, view, None)
        if placed is None:
            raise RuntimeError("placement experiment: cluster too small")
        chosen = np.array(placed.nodes, dtype=np.int64)
        job = simjobs.Job(spec, len(sim.jobs), 0.05)
        usable = ~sim.allocated & ~sim.drained
        if not simjobs.place(job, topo, usable, chosen):
            raise RuntimeError("placement experiment: cluster too small")
        sim.allocated[job.nodes] = True
        simjobs.set_static(job, sim.gpu_speed)
        job.status, job.next_start_s = "running", sim.now()
        sim.jobs.append(job)
        hot += int((topo.node_cooling[job.nodes] == hot_domain).sum())
    return hot


def throttle_minutes(seed: int, placer: str, minutes: float = 40.0,
                     warmup_s: float = 300.0) -> ThrottleResult:
    """Place the jobs with ``placer`` on the hot cluster of ``seed``, run, count throttling."""
    sim = Simulation(hot_cluster(seed, minutes), seed=seed)
    sim.record = False
    while sim.now() < sim.scenario.start_s + warmup_s:
        sim.tick()
    hot = _place_all(sim, PLACERS[placer])
    gpus = np.concatenate([j.gpus for j in sim.jobs])
    total = 0.0
    while not sim.done():
        sim.tick()
        thermal = (sim.gpu.reasons[gpus] & (SW_THERMAL | HW_THERMAL)) != 0
        total += float(thermal.sum()) * sim.dt_s / 60.0
    return ThrottleResult(placer, total, len(gpus), hot)
