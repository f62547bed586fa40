"""What the seed decides in a coarse evaluation, identical for every policy.

Fail-stop arrivals from the simulator's failure table, fail-slow episodes
(kind, node, slowdown, duration), repair times, and when each policy would
find each episode (:func:`with_detection`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from brownout.loop.costs import EvalScenario
from brownout.loop.detection_quality import Detection
from brownout.sim.coarse import draw_arrivals
from brownout.sim.failure_tables import REPAIR_LOG_SIGMA, REPAIR_MEDIAN_H, TABLES
from brownout.sim.scenario import Scenario

DAY_S = 86400.0


@dataclass(frozen=True)
class Episode:
    """One fail-slow episode."""

    start_s: float
    end_s: float
    slowdown: float
    kind: str
    node: int
    detect_s: float | None  # when the policy isolates it (None: never)


@dataclass(frozen=True)
class Physics:
    """Everything the seed decides, shared by all policies."""

    duration_s: float
    nodes: int
    gpus: int
    fail_s: np.ndarray[Any, Any]
    fail_node: np.ndarray[Any, Any]
    episodes: tuple[Episode, ...]
    repair_s: np.ndarray[Any, Any]  # per fail-stop, then per episode
    true_mtbi_s: float
    leaf_nodes: int = 16  # job nodes whose traffic crosses one leaf switch


def draw_physics(es: EvalScenario, seed: int) -> Physics:
    """Fail-stops, fail-slow episodes and repair times of one seeded run."""
    rng = np.random.default_rng(seed)
    sim = es.sim
    causes, ref_gpus, ref_days = TABLES[sim.failure_table or "llama3"]
    nodes = sim.jobs[0].nodes if sim.jobs else sim.n_nodes
    gpus = nodes * sim.gpus_per_node
    times, _ = draw_arrivals(causes, ref_gpus, ref_days, n_gpus=gpus,
                             duration_s=sim.duration_s, rng=rng)
    rate_s = sum(c.count for c in causes) * gpus / ref_gpus / (ref_days * DAY_S)
    fs = es.fail_slow
    n_ep = int(rng.poisson(fs.rate_vs_fail_stop * rate_s * sim.duration_s))
    kinds = list(fs.mix)
    w = np.array([fs.mix[k] for k in kinds])
    starts = np.sort(rng.uniform(0.0, sim.duration_s, n_ep))
    dur = np.exp(rng.uniform(math.log(fs.duration_s[0]), math.log(fs.duration_s[1]), n_ep))
    slow = rng.uniform(fs.slowdown[0], fs.slowdown[1], n_ep)
    kind_i = rng.choice(len(kinds), n_ep, p=w / w.sum())
    ep_node = rng.integers(nodes, size=n_ep)
    repair = rng.lognormal(math.log(REPAIR_MEDIAN_H * 3600.0), REPAIR_LOG_SIGMA,
                           len(times) + n_ep)
    eps = tuple(Episode(float(s), float(s + d), float(x), kinds[int(k)], int(n), None)
                for s, d, x, k, n in zip(starts, dur, slow, kind_i, ep_node, strict=True))
    return Physics(sim.duration_s, nodes, gpus, times, rng.integers(nodes, size=len(times)),
                   eps, repair, 1.0 / rate_s, leaf_nodes(sim))


def leaf_nodes(sim: Scenario) -> int:
    """Nodes with a NIC under one leaf: a rail group on a rail-optimised fabric
    (every node of the group has one NIC on each rail leaf), a rack on ``tor``."""
    return sim.nodes_per_rail_group if sim.layout == "rail" else sim.nodes_per_rack


def with_detection(ph: Physics, policy: str, det: Detection, seed: int) -> tuple[Episode, ...]:
    """Episodes with the time each policy isolates them (None: never)."""
    rng = np.random.default_rng([seed, 7])
    out = []
    for ep in ph.episodes:
        at: float | None = None
        if policy == "oracle":
            at = ep.start_s
        elif policy == "brownout" and (q := det.quality(ep.kind, ep.slowdown)) is not None:
            hit = rng.random() < q.recall
            delay = float(rng.choice(q.delays_s)) if q.delays_s else 0.0
            at = ep.start_s + delay if hit and q.delays_s else None
        out.append(Episode(ep.start_s, ep.end_s, ep.slowdown, ep.kind, ep.node,
                           at if at is not None and at < ep.end_s else None))
    return tuple(out)
