"""NVLink-domain-aware placement and tray-failure recovery (GB200/GB300 NVL72).

**How a job states its NVLink-bound groups.** A job's description carries
``tensor_parallel`` and ``expert_parallel`` (in GPUs, i.e. ranks; both default
to 1). Its NVLink-bound group is their product, ``tensor_parallel x
expert_parallel`` consecutive ranks: tensor-parallel all-reduces and
expert-parallel all-to-alls run inside it at NVLink speed. Pipeline and data
parallelism may cross NVLink domains (they use the scale-out fabric anyway).
A group is ``ceil(group GPUs / GPUs per node)`` nodes (trays); the job's
``nodes`` must be a whole number of groups. ``min_groups`` (optional) says how
far the job may shrink its data parallelism (elastic training); absent, it
cannot shrink. :func:`job_shape_from_dict` reads this from YAML/JSON.

**Placement** (:func:`place_groups`) puts every group inside one NVLink domain
(nodes without ``nvlink_domain`` are each their own domain: NVLink stays in
the node), with :func:`brownout.recovery.placement.place_job`'s preferences
(never out-of-service nodes; healthy and cool first; cheap nodes) and domains
ranked as spares (:func:`rank_domains`): healthier domains first (fewer
suspect or out-of-service trays: their shared parts are less suspect), then as
few domains as possible, the last one best-fit.

**Recovery from a tray failure** (:func:`choose_recovery`) compares the
expected loss, in seconds of the whole job at full speed, of three options
over the time ``R`` until the failed tray is back (its expected repair time:
a prior per failure class for brownout, the truth for an oracle):

- ``shrink`` into the domain: restart now on the trays the job's domains still
  have. If the broken group can re-form on a free healthy tray of its own
  domain, nothing is lost but the restart: ``restart_s``. Otherwise the group
  is dropped (one data-parallel replica fewer, if ``min_groups`` allows):
  ``restart_s + R * lost / groups + regrow_s`` (runs at ``(groups - lost) /
  groups`` until the tray is back, then grows back: a save and a restart);
- ``move`` to a spare domain: the broken group restarts whole in another
  domain with enough free healthy trays: ``restart_s + move_s``;
- ``wait`` for repair: the job is down until the tray is back: ``R + restart_s``.

All three are linear in ``R``, so the expected loss is the loss at ``E[R]``.
The option with the least loss wins; ties prefer shrink, then move (keep the
spare domains for others). Goodput over the horizon is ``gpus * (R + restart_s
- loss)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from brownout.errors import InputError
from brownout.recovery.placement import ClusterView, PlacementConfig, _leaf_plan, node_tiers
from brownout.topology.model import Topology
from brownout.yamldoc import refuse_unknown

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
OPTIONS = ("shrink", "move", "wait")
#: weight of a domain's unhealthy share (suspect or out-of-service trays) in its rank
DOMAIN_RISK_WEIGHT = 5.0


@dataclass(frozen=True)
class JobShape:
    """What a job needs kept together (see the module docstring)."""

    name: str
    nodes: int
    tensor_parallel: int = 1
    expert_parallel: int = 1
    min_groups: int | None = None

    @property
    def group_gpus(self) -> int:
        """GPUs of one NVLink-bound group."""
        return self.tensor_parallel * self.expert_parallel

    def group_nodes(self, gpus_per_node: int) -> int:
        """Nodes of one NVLink-bound group."""
        return max(1, math.ceil(self.group_gpus / gpus_per_node))

    def groups(self, gpus_per_node: int) -> int:
        """The job's NVLink-bound groups (its data-parallel replicas of one group)."""
        return self.nodes // self.group_nodes(gpus_per_node)


def job_shape_from_dict(raw: Mapping[str, Any], where: str) -> JobShape:
    """Read ``{name, nodes, tensor_parallel, expert_parallel, min_groups}``.

    Raises:
        InputError: a missing or non-positive size, or an unknown key (named with ``where``).
    """
    keys = ("name", "nodes", "tensor_parallel", "expert_parallel", "min_groups")
    refuse_unknown(raw, keys, where, "job")
    sizes = {}
    for k in keys[1:]:
        v = raw.get(k, None if k in ("nodes", "min_groups") else 1)
        if v is None and k == "min_groups":
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError(f"{where}: job {k} must be a positive integer, got {v!r}")
        sizes[k] = v
    return JobShape(str(raw.get("name", "job")), **sizes)


def check_shape(shape: JobShape, gpus_per_node: int, domain_nodes: int) -> None:
    """Refuse a shape no placement can honour (one line naming the job)."""
    g = shape.group_nodes(gpus_per_node)
    if shape.group_gpus > gpus_per_node and shape.group_gpus % gpus_per_node:
        raise InputError(f"job {shape.name}: an NVLink-bound group of {shape.group_gpus} GPUs"
                         f" is not whole nodes of {gpus_per_node} GPUs")
    if g > domain_nodes:
        raise InputError(f"job {shape.name}: a group of {g} nodes is larger than any NVLink"
                         f" domain ({domain_nodes} nodes)")
    if shape.nodes % g:
        raise InputError(f"job {shape.name}: {shape.nodes} nodes are not whole groups of {g}")
    if shape.min_groups is not None and shape.min_groups > shape.groups(gpus_per_node):
        raise InputError(f"job {shape.name}: min_groups exceeds its {shape.groups(gpus_per_node)}"
                         " groups")


def node_domains(topo: Topology) -> I64:
    """NVLink domain of every node; a node without one is its own domain (ids after them)."""
    dom = topo.node_nvlink.astype(np.int64).copy()
    alone = np.flatnonzero(dom < 0)
    dom[alone] = len(topo.nvlink_domains) + np.arange(alone.shape[0])
    return dom


@dataclass(frozen=True)
class DomainPlacement:
    """Where a job's groups go: one tuple of node indices per group, each in one domain."""

    groups: tuple[tuple[int, ...], ...]
    domains: int

    @property
    def nodes(self) -> tuple[int, ...]:
        return tuple(sorted(i for g in self.groups for i in g))


def rank_domains(view: ClusterView, config: PlacementConfig | None = None) -> list[int]:
    """Domains best first as spares: healthiest (fewest suspect or out-of-service
    nodes, as a share), then coolest and emptiest (mean soft cost of their free
    eligible nodes), then the most free eligible nodes."""
    cfg = config or PlacementConfig()
    eligible, tier, cost = node_tiers(view, cfg)
    dom = node_domains(view.topology)
    n = int(dom.max()) + 1 if dom.size else 0
    size = np.bincount(dom, minlength=n)
    bad = np.array([s not in ("healthy", "returned") for s in view.state], dtype=bool)
    risk = np.bincount(dom, weights=bad.astype(float), minlength=n) / np.maximum(size, 1)
    free = np.bincount(dom, weights=eligible.astype(float), minlength=n)
    soft = np.bincount(dom, weights=np.where(eligible, cost + 10.0 * tier, 0.0), minlength=n)
    mean = soft / np.maximum(free, 1)
    order = np.lexsort((-free, np.round(mean, 6), np.round(risk, 6)))
    return [int(d) for d in order if free[d] > 0]


def place_groups(shape: JobShape, view: ClusterView, config: PlacementConfig | None = None
                 ) -> DomainPlacement | None:
    """Nodes for every NVLink-bound group of ``shape``, each group inside one
    domain, or None when the free eligible nodes cannot hold them."""
    cfg = config or PlacementConfig()
    topo = view.topology
    gpn = topo.nodes[0].gpus if topo.nodes else 1
    g, n_groups = shape.group_nodes(gpn), shape.groups(gpn)
    eligible, tier, cost = node_tiers(view, cfg)
    dom = node_domains(topo)
    rank = {d: r for r, d in enumerate(rank_domains(view, cfg))}
    for t in range(4):
        plan = _plan(eligible & (tier <= t), dom, cost + 10.0 * tier, rank, g=g,
                     n_groups=n_groups)
        if plan is not None:
            return DomainPlacement(plan, len({int(dom[p[0]]) for p in plan}))
    return None


def _plan(cand: npt.NDArray[np.bool_], dom: I64, cost: F64, rank: Mapping[int, int], *,
          g: int, n_groups: int) -> tuple[tuple[int, ...], ...] | None:
    """Groups of ``g`` candidate nodes, each inside one domain (fewest domains,
    ties by domain rank), cheapest nodes first; None when they do not fit."""
    idx = np.flatnonzero(cand)
    idx = idx[np.lexsort((idx, cost[idx]))]  # cheapest first
    by_dom: dict[int, list[int]] = {}
    for i in idx.tolist():
        by_dom.setdefault(int(dom[i]), []).append(i)
    doms = sorted((d for d, v in by_dom.items() if len(v) >= g),
                  key=lambda d: (rank.get(d, len(rank)), d))
    cap = np.array([len(by_dom[d]) // g for d in doms], dtype=np.int64)
    if int(cap.sum()) < n_groups:
        return None
    plan = _leaf_plan(n_groups, cap, np.arange(len(doms), dtype=np.float64))
    groups = []
    for pos, k in plan:
        nodes = by_dom[doms[pos]]
        groups += [tuple(sorted(nodes[j * g:(j + 1) * g])) for j in range(k)]
    return tuple(groups)


def groups_spanning(groups: tuple[tuple[int, ...], ...], topo: Topology) -> int:
    """How many groups span more than one NVLink domain (the invariant is 0)."""
    dom = node_domains(topo)
    return sum(1 for grp in groups if len({int(dom[i]) for i in grp}) > 1)


# ----------------------------------------------------------------- tray failure recovery
@dataclass(frozen=True)
class RecoveryCosts:
    """What each recovery step costs the job (seconds of the whole job at full speed).

    Attributes:
        restart_s: a restart (warm onto validated nodes, or cold).
        regrow_s: growing back to full size once the tray is back (save + restart).
        move_s: extra for starting a group in another domain (its trays are loaded
            and validated; 0 when the spare domain is warm).
    """

    restart_s: float
    regrow_s: float
    move_s: float = 0.0


@dataclass(frozen=True)
class TrayFailure:
    """The situation after a tray failed under a job.

    Attributes:
        groups: the job's NVLink-bound groups running before the failure.
        reform_in_domain: the broken group can re-form on a free healthy tray
            of its own domain.
        spare_domain: another domain has enough free healthy trays for the group.
        can_shrink: dropping the group keeps at least the job's ``min_groups``.
        repair_s: expected time until the failed tray is back (s).
    """

    groups: int
    reform_in_domain: bool
    spare_domain: bool
    can_shrink: bool
    repair_s: float


@dataclass(frozen=True)
class RecoveryChoice:
    """The option chosen and the expected loss of every feasible option (s)."""

    option: str
    loss_s: Mapping[str, float]

    def goodput_gpu_h(self, gpus: int, costs: RecoveryCosts, repair_s: float) -> float:
        """Expected goodput of the chosen option over the horizon ``repair_s + restart_s``."""
        return gpus * (repair_s + costs.restart_s - self.loss_s[self.option]) / 3600.0


def recovery_losses(f: TrayFailure, c: RecoveryCosts) -> dict[str, float]:
    """Expected loss of every feasible option (see the module docstring)."""
    out = {"wait": f.repair_s + c.restart_s}
    if f.reform_in_domain:
        out["shrink"] = c.restart_s
    elif f.can_shrink and f.groups > 1:
        out["shrink"] = c.restart_s + f.repair_s / f.groups + c.regrow_s
    if f.spare_domain:
        out["move"] = c.restart_s + c.move_s
    return out


def choose_recovery(f: TrayFailure, c: RecoveryCosts) -> RecoveryChoice:
    """The option of least expected loss (ties: shrink, move, wait)."""
    losses = recovery_losses(f, c)
    best = min(losses, key=lambda o: (round(losses[o], 6), OPTIONS.index(o)))
    return RecoveryChoice(best, losses)
