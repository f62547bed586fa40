"""Health-, thermal- and topology-aware placement of multi-node jobs.

:func:`place_job` is pure: given the topology, which nodes are free, every
node's health state and every cooling domain's temperature, it picks nodes
for a job of ``n`` nodes (8 GPUs each, as the topology says):

1. never a node that is quarantined, draining or in repair;
2. healthy (or returned) nodes in cool domains first; nodes in hot domains,
   then suspect nodes, only when the job cannot fit otherwise;
3. as few leaf switches as possible (collectives stay under one leaf);
4. among equally good choices, cooler and emptier cooling domains (spread
   heat), then the leaf the job fills best (less fragmentation).

:func:`first_fit` is the topology-blind baseline. :func:`node_scores` exports
the same preferences for real schedulers (Slurm weights, Kubernetes labels,
see :mod:`brownout.recovery.export`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from brownout.errors import InputError
from brownout.topology.model import Topology

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

#: state -> (eligible, tier penalty); unknown states are refused, not guessed
STATE_RULES: dict[str, tuple[bool, int]] = {
    "healthy": (True, 0), "returned": (True, 0), "suspect": (True, 2),
    "quarantined": (False, 0), "draining": (False, 0), "in_repair": (False, 0),
}


@dataclass(frozen=True)
class ClusterView:
    """What placement sees: one frozen snapshot.

    Attributes:
        topology: the cluster.
        free: per node, True when no job holds it.
        state: per node, its health state (``brownout.policy.states`` names).
        cooling_temp_c: per cooling domain (topology order), a temperature
            that says how hot it runs (e.g. mean GPU temperature).
    """

    topology: Topology
    free: B
    state: tuple[str, ...]
    cooling_temp_c: F64

    def __post_init__(self) -> None:
        n = self.topology.n_nodes
        if self.free.shape != (n,) or len(self.state) != n:
            raise InputError(f"cluster view: need one free flag and one state per node ({n})")
        if self.cooling_temp_c.shape != (len(self.topology.cooling_domains),):
            raise InputError("cluster view: need one temperature per cooling domain")
        bad = sorted(set(self.state) - set(STATE_RULES))
        if bad:
            raise InputError(f"cluster view: unknown node state(s) {', '.join(bad)}")


@dataclass(frozen=True)
class PlacementConfig:
    """Preferences of the aware placement.

    Attributes:
        hot_c: a cooling domain at or above this temperature is hot.
        hot_margin_c: ... or this far above the median domain.
        heat_weight: cost per degree above the coolest domain.
        load_weight: cost per unit of a domain's busy fraction.
    """

    hot_c: float = 75.0
    hot_margin_c: float = 8.0
    heat_weight: float = 0.1
    load_weight: float = 1.0


@dataclass(frozen=True)
class Placement:
    """Where a job goes and what that costs."""

    nodes: tuple[int, ...]
    leaves: int
    cooling_domains: int
    suspect: int
    hot: int


def hot_domains(view: ClusterView, config: PlacementConfig) -> B:
    """Cooling domains that run hot (absolute limit or far above the median)."""
    t = view.cooling_temp_c
    if t.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray((t >= config.hot_c) | (t - np.median(t) >= config.hot_margin_c))


def node_tiers(view: ClusterView, config: PlacementConfig) -> tuple[B, I64, F64]:
    """Per node: eligible (free and not out of service), preference tier, soft cost.

    Tiers: 0 healthy and cool, 1 healthy in a hot domain, 2 suspect and cool,
    3 suspect in a hot domain.
    """
    topo = view.topology
    rules = [STATE_RULES[s] for s in view.state]
    allowed = np.fromiter((r[0] for r in rules), bool, len(rules))
    penalty = np.fromiter((r[1] for r in rules), np.int64, len(rules))
    hot = hot_domains(view, config)[topo.node_cooling].astype(np.int64)
    busy = 1.0 - np.bincount(topo.node_cooling, weights=view.free.astype(float),
                             minlength=len(topo.cooling_domains)) / np.maximum(
        np.bincount(topo.node_cooling, minlength=len(topo.cooling_domains)), 1)
    temp = view.cooling_temp_c - (view.cooling_temp_c.min() if len(view.cooling_temp_c) else 0)
    cost = config.heat_weight * temp[topo.node_cooling] + config.load_weight * busy[
        topo.node_cooling]
    return view.free & allowed, penalty + hot, np.asarray(cost, dtype=np.float64)


def place_job(n_nodes: int, view: ClusterView, config: PlacementConfig | None = None
              ) -> Placement | None:
    """Nodes for a job of ``n_nodes`` nodes, or None when it cannot fit."""
    cfg = config or PlacementConfig()
    eligible, tier, cost = node_tiers(view, cfg)
    for t in range(4):
        cand = eligible & (tier <= t)
        if int(cand.sum()) >= n_nodes:
            chosen = _pick(n_nodes, np.flatnonzero(cand), view.topology, cost + 10.0 * tier)
            return _placement(chosen, view, cfg)
    return None


def _pick(n: int, cand: I64, topo: Topology, cost: F64) -> I64:
    """Fewest leaves; cheapest nodes; best-filled last leaf."""
    order = cand[np.lexsort((cand, cost[cand]))]  # cheapest first, ties by index
    leaf = topo.node_leaf[order]
    leaves, pos, counts = np.unique(leaf, return_inverse=True, return_counts=True)
    by_leaf = np.argsort(pos, kind="stable")  # keeps cost order inside each leaf
    rank = np.empty(order.shape[0], dtype=np.int64)
    rank[by_leaf] = np.arange(order.shape[0]) - np.repeat(np.cumsum(counts) - counts, counts)
    leaf_cost = np.bincount(pos, weights=cost[order]) / counts
    quota = np.zeros(leaves.shape[0], dtype=np.int64)
    for li, k in _leaf_plan(n, counts, leaf_cost):
        quota[li] = k
    return np.sort(order[rank < quota[pos]])


def _leaf_plan(n: int, counts: I64, leaf_cost: F64) -> list[tuple[int, int]]:
    """(leaf position, nodes to take) covering ``n`` with the fewest leaves."""
    fits = np.flatnonzero(counts >= n)
    if fits.shape[0]:
        best = fits[np.lexsort((counts[fits] - n, np.round(leaf_cost[fits], 6)))[0]]
        return [(int(best), n)]
    by_size = np.lexsort((leaf_cost, -counts))
    plan: list[tuple[int, int]] = []
    left = n
    for li in by_size:
        if left <= 0:
            break
        k = int(min(counts[li], left))
        plan.append((int(li), k))
        left -= k
    last_k = plan[-1][1]
    used = {li for li, _ in plan[:-1]}
    alt = [li for li in np.flatnonzero(counts >= last_k) if int(li) not in used]
    if alt:  # best-fit the remainder: cheapest, then tightest leaf that holds it
        pick = min(alt, key=lambda li: (round(float(leaf_cost[li]), 6), counts[li] - last_k))
        plan[-1] = (int(pick), last_k)
    return plan


def _placement(chosen: I64, view: ClusterView, cfg: PlacementConfig) -> Placement:
    topo = view.topology
    hot = hot_domains(view, cfg)[topo.node_cooling[chosen]]
    suspect = sum(view.state[i] == "suspect" for i in chosen)
    return Placement(nodes=tuple(int(i) for i in chosen),
                     leaves=int(np.unique(topo.node_leaf[chosen]).shape[0]),
                     cooling_domains=int(np.unique(topo.node_cooling[chosen]).shape[0]),
                     suspect=int(suspect), hot=int(hot.sum()))


def first_fit(n_nodes: int, view: ClusterView, config: PlacementConfig | None = None
              ) -> Placement | None:
    """Topology-blind baseline: the first free nodes in index order that are in service."""
    eligible, _, _ = node_tiers(view, config or PlacementConfig())
    cand = np.flatnonzero(eligible)
    if cand.shape[0] < n_nodes:
        return None
    return _placement(cand[:n_nodes], view, config or PlacementConfig())


def node_scores(view: ClusterView, config: PlacementConfig | None = None) -> F64:
    """Per node, 0 (never place here) to 100 (best): the aware placement's preferences.

    Free or not, a node is scored on its health and its domain's heat, so a
    scheduler can use the scores when the node frees up.
    """
    cfg = config or PlacementConfig()
    allowed = np.array([STATE_RULES[s][0] for s in view.state], dtype=bool)
    full = ClusterView(view.topology, np.ones_like(view.free), view.state, view.cooling_temp_c)
    _, tier, cost = node_tiers(full, cfg)
    soft = cost / (cost.max() if cost.size and cost.max() > 0 else 1.0)
    score = 100.0 - 20.0 * tier - 15.0 * soft
    return np.where(allowed, np.clip(score, 1.0, 100.0), 0.0)


def leaves_of(nodes: Sequence[int], topo: Topology) -> int:
    """Leaf switches a set of nodes spans."""
    return int(np.unique(topo.node_leaf[np.asarray(nodes, dtype=np.int64)]).shape[0])
