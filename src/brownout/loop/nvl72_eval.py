"""Coarse closed-loop evaluation on a rack-scale NVLink fleet (GB200 NVL72).

The fine twin has no NVLink domains yet, so the domains are modelled here, in
the style of :mod:`brownout.loop.coarse_eval`: one large job whose
NVLink-bound groups (tensor x expert parallel, from the job's description)
each start inside one domain, the same for every policy. Physics, drawn from
the seed alone and shared by all policies:

- tray failures at the published per-GPU interruption rate (failure table,
  hardware and host causes) on any tray of the fleet, spares included; a
  ``transient_share`` of them clear after a GPU reset or reboot
  (``transient_repair_s``, log-uniform), the rest after the StepFun-fitted
  repair lognormal; job-level crashes (software causes) on the job alone;
- ``nvswitch_fault`` episodes: a domain's NVLink bandwidth degraded for a
  log-uniform 10 min..10 h, slowing every group in it by ``slowdown``.

The job runs at ``(active groups / groups) / worst group slowdown``; a group
split over two domains runs ``cross_domain_slowdown`` slower (its all-to-all
crosses the scale-out fabric). Lost time: ``checkpoint`` (stalls), ``rework``,
``restart`` (down: restarting or waiting for a repair), ``congestion``
(cross-domain and NVSwitch slowdowns), ``other`` (groups dropped by a shrink).

Policies:

- ``baseline``: cold restarts, synchronous checkpoints every
  ``baseline_checkpoint_interval_s``; a failed tray is replaced by the first
  free healthy tray in index order (``blind``: the group may end up split
  over two domains) or, with ``baseline_placement: block`` (Slurm's
  topology/block with segments), in its own domain, else the group moves to a
  domain with room, else the job waits for the repair; NVSwitch faults untreated.
- ``brownout``: warm restarts, asynchronous snapshots at the Young/Daly
  interval of the table's rate; a tray failure is recovered by
  :func:`brownout.recovery.domains.choose_recovery` with the expected repair
  time of the failure's class (a reset-class Xid or a hardware one), moves
  placed by :func:`~brownout.recovery.domains.place_groups`, shrunk jobs grow
  back when a domain has room again; an NVSwitch fault found after
  ``detect_delay_s`` (with probability ``recall``) moves the domain's groups to
  a healthy domain when :func:`~brownout.policy.rules.act_now_pays`.
- ``oracle``: the same moves with the truth (true repair times, episodes at
  onset with their true end), Daly's interval of the true rate.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from brownout.loop.coarse_eval import POLICIES, REVIEW_S
from brownout.loop.coarse_physics import DAY_S
from brownout.loop.figures import RunFigures
from brownout.loop.nvl72_scenario import RackScaleScenario
from brownout.policy.rules import act_now_pays
from brownout.recovery.domains import (
    JobShape,
    RecoveryCosts,
    TrayFailure,
    choose_recovery,
    place_groups,
)
from brownout.recovery.ledger import CAUSES
from brownout.recovery.placement import ClusterView
from brownout.recovery.tuner import daly_interval_s, young_daly_interval_s
from brownout.sim.failure_tables import REPAIR_LOG_SIGMA, REPAIR_MEDIAN_H, TABLES
from brownout.topology.model import Topology
from brownout.topology.rack_scale import rack_scale_topology

SAMPLE_S = DAY_S / 4


@dataclass(frozen=True)
class TrayEvent:
    """One tray failure."""

    t_s: float
    tray: int
    transient: bool
    repair_s: float


@dataclass(frozen=True)
class DomainEpisode:
    """One nvswitch_fault episode."""

    start_s: float
    end_s: float
    domain: int
    slowdown: float


@dataclass(frozen=True)
class RackPhysics:
    """Everything the seed decides, shared by all policies."""

    tray_fail: tuple[TrayEvent, ...]
    job_fail_s: tuple[float, ...]
    episodes: tuple[DomainEpisode, ...]
    mtbi_s: float  # the job's true mean time between interruptions


def _rates(sc: RackScaleScenario) -> tuple[float, float]:
    """Per-GPU interruption rates (1/s): tray (hardware, host) and job-level (software)."""
    causes, ref_gpus, ref_days = TABLES[sc.table]
    per = 1.0 / (ref_gpus * ref_days * DAY_S)
    job = sum(c.count for c in causes if c.component == "job") * per
    return sum(c.count for c in causes if c.component != "job") * per, job


def draw_rack_physics(sc: RackScaleScenario, seed: int) -> RackPhysics:
    """Tray failures, job crashes and NVSwitch episodes of one seeded run."""
    rng = np.random.default_rng(seed)
    tray_rate, job_rate = _rates(sc)
    gpt, dur = sc.gpus_per_tray, sc.duration_s
    n = int(rng.poisson(tray_rate * sc.trays * gpt * dur))
    times = np.sort(rng.uniform(0.0, dur, n))
    trays = rng.integers(sc.trays, size=n)
    transient = rng.random(n) < sc.transient_share
    lo, hi = sc.transient_repair_s
    short = np.exp(rng.uniform(math.log(lo), math.log(hi), n))
    long_ = rng.lognormal(math.log(REPAIR_MEDIAN_H * 3600.0), REPAIR_LOG_SIGMA, n)
    fails = tuple(TrayEvent(float(t), int(k), bool(tr), float(s if tr else lg))
                  for t, k, tr, s, lg in zip(times, trays, transient, short, long_, strict=True))
    job_gpus = sc.job.nodes * gpt
    crashes = np.sort(rng.uniform(0.0, dur, int(rng.poisson(job_rate * job_gpus * dur))))
    nv = sc.nvswitch
    n_ep = int(rng.poisson(nv["rate_per_domain_day"] * sc.domains * dur / DAY_S))
    d_lo, d_hi = nv["duration_s"]
    s_lo, s_hi = nv["slowdown"]
    eps = tuple(DomainEpisode(float(s), float(s + d), int(dom), float(x)) for s, d, dom, x in zip(
        np.sort(rng.uniform(0.0, dur, n_ep)),
        np.exp(rng.uniform(math.log(d_lo), math.log(d_hi), n_ep)),
        rng.integers(sc.domains, size=n_ep), rng.uniform(s_lo, s_hi, n_ep), strict=True))
    mtbi = 1.0 / ((tray_rate + job_rate) * job_gpus)
    return RackPhysics(fails, tuple(float(t) for t in crashes), eps, mtbi)


def expected_repair_s(sc: RackScaleScenario, transient: bool) -> float:
    """What brownout expects of a repair, knowing only the failure's class."""
    if transient:
        lo, hi = sc.transient_repair_s
        return (hi - lo) / math.log(hi / lo) if hi > lo else lo
    return REPAIR_MEDIAN_H * 3600.0 * math.exp(REPAIR_LOG_SIGMA ** 2 / 2)


@dataclass
class RackResult(RunFigures):
    """The ledger of one run."""

    policy: str
    wall_s: float
    productive_s: float
    gpus: int
    lost_s: dict[str, float]
    counts: dict[str, int]
    series: list[tuple[float, float]] = field(default_factory=list)
    max_split_groups: int = 0

    @property
    def interruptions(self) -> int:
        return self.counts["tray_failures_job"] + self.counts["job_crashes"] + \
            self.counts["planned_restarts"]


class _Fleet:
    """Trays, their health and which group holds them."""

    def __init__(self, sc: RackScaleScenario, topo: Topology) -> None:
        self.sc, self.topo = sc, topo
        self.T = sc.trays_per_domain
        self.ok_at = np.zeros(sc.trays)  # healthy from this time on
        self.owner = np.full(sc.trays, -1, dtype=np.int64)
        self.shape = sc.job
        self.g = sc.job.group_nodes(sc.gpus_per_tray)
        self.G = sc.job.groups(sc.gpus_per_tray)
        self.groups: list[list[int]] = []
        for k in range(self.G):  # group k starts in domain k, its first g trays
            trays = list(range(k * self.T, k * self.T + self.g))
            self.groups.append(trays)
            self.owner[trays] = k
        self.active = [True] * self.G

    def domain(self, tray: int) -> int:
        return tray // self.T

    def free_healthy(self, t: float) -> np.ndarray:
        return (self.owner < 0) & (self.ok_at <= t)

    def split(self) -> int:
        return sum(1 for k in range(self.G) if self.active[k]
                   and len({self.domain(x) for x in self.groups[k]}) > 1)

    def assign(self, k: int, trays: list[int]) -> None:
        self.owner[self.groups[k]] = -1
        self.groups[k] = sorted(trays)
        self.owner[trays] = k
        self.active[k] = True

    def drop(self, k: int) -> None:
        self.owner[self.groups[k]] = -1
        self.groups[k] = []
        self.active[k] = False

    def in_domain_spare(self, tray: int, t: float) -> int | None:
        d = self.domain(tray)
        cand = np.flatnonzero(self.free_healthy(t)[d * self.T:(d + 1) * self.T])
        return int(d * self.T + cand[0]) if cand.size else None

    def aware_place(self, t: float, avoid: set[int]) -> list[int] | None:
        """A group's trays in one domain, placed by brownout's domain-aware placement."""
        free = self.free_healthy(t)
        state = tuple("in_repair" if self.ok_at[i] > t else "healthy" for i in range(len(free)))
        for d in avoid:
            free[d * self.T:(d + 1) * self.T] = False
        view = ClusterView(self.topo, free, state, np.full(len(self.topo.cooling_domains), 40.0))
        placed = place_groups(JobShape("group", self.g, self.shape.tensor_parallel,
                                       self.shape.expert_parallel), view)
        return None if placed is None else list(placed.nodes)

    def block_place(self, t: float) -> list[int] | None:
        """Slurm topology/block: the first domain with room for a whole segment."""
        free = self.free_healthy(t)
        for d in range(self.sc.domains):
            cand = np.flatnonzero(free[d * self.T:(d + 1) * self.T])
            if cand.size >= self.g:
                return [int(d * self.T + c) for c in cand[: self.g]]
        return None


class _Run:
    """The event-driven walk of the job through one policy's run."""

    def __init__(self, sc: RackScaleScenario, ph: RackPhysics, policy: str, seed: int) -> None:
        self.sc, self.ph, self.policy = sc, ph, policy
        self.fleet = _Fleet(sc, rack_scale_topology(sc.domains, trays_per_rack=sc.trays_per_domain,
                                                    gpus_per_tray=sc.gpus_per_tray))
        c = sc.costs
        self.restart_s = c["cold_restart_s"] if policy == "baseline" else c["warm_restart_s"]
        self.stall_s = c["sync_checkpoint_s"] if policy == "baseline" else c["async_snapshot_s"]
        if policy == "baseline":
            self.tau = c["baseline_checkpoint_interval_s"]
        elif policy == "brownout":
            self.tau = young_daly_interval_s(self.stall_s, ph.mtbi_s)
        else:
            self.tau = daly_interval_s(self.stall_s, ph.mtbi_s)
        self.t = self.progress = self.durable = 0.0
        self.mark = self.tau
        self.mode, self.mode_end = "run", math.inf
        self.then_down_s = 0.0  # a restart that follows the save under way (planned)
        self.lost = dict.fromkeys(CAUSES, 0.0)
        self.counts = dict.fromkeys(("tray_failures", "tray_failures_job", "job_crashes",
                                     "planned_restarts", "reform", "shrink", "move", "wait",
                                     "regrow", "nvswitch_moves", "split_replacements"), 0)
        self.live: set[int] = set()
        self.avoid: dict[int, float] = {}
        self.events: list[tuple[float, int, str, int]] = []
        self.series: list[tuple[float, float]] = []
        self.max_split = 0
        rng = np.random.default_rng([seed, 7])
        nv = sc.nvswitch
        self.detect_at = [e.start_s + nv["detect_delay_s"] if rng.random() < nv["recall"]
                          else None for e in ph.episodes]

    # ------------------------------------------------------------- time
    def speed(self) -> tuple[float, float]:
        """(progress per second, share of groups running)."""
        f = self.fleet
        act = [k for k in range(f.G) if f.active[k]]
        if not act:
            return 0.0, 0.0
        worst = 1.0
        for k in act:
            doms = {f.domain(x) for x in f.groups[k]}
            s = self.sc.costs["cross_domain_slowdown"] if len(doms) > 1 else 1.0
            s *= max([self.ph.episodes[e].slowdown for e in self.live
                      if self.ph.episodes[e].domain in doms], default=1.0)
            worst = max(worst, s)
        share = len(act) / f.G
        return share / worst, share

    def advance(self, t1: float) -> None:
        dt = t1 - self.t
        if dt <= 0:
            return
        if self.mode == "run":
            v, share = self.speed()
            self.progress += dt * v
            self.lost["other"] += dt * (1.0 - share)
            self.lost["congestion"] += dt * (share - v)
        elif self.mode == "stall":
            self.lost["checkpoint"] += dt
        else:
            self.lost["restart"] += dt
        self.t = t1

    def next_internal(self) -> float:
        if self.mode != "run":
            return self.mode_end
        v, _ = self.speed()
        return self.t + max(self.mark - self.progress, 0.0) / v if v > 0 else math.inf

    def internal(self) -> None:
        if self.mode == "stall":
            self.durable = self.progress
            self.mark = self.progress + self.tau
            then, self.then_down_s = self.then_down_s, 0.0
            if then > 0:  # a planned restart follows its save
                self._down(self.t + then)
            else:
                self.mode, self.mode_end = "run", math.inf
        elif self.mode == "down":
            self.mode, self.mode_end = "run", math.inf
            self.mark = self.progress + self.tau
        elif self.progress >= self.mark - 1e-6:
            self._stall(0.0)

    def _stall(self, then_down_s: float) -> None:
        self.mode, self.mode_end = "stall", self.t + self.stall_s
        self.then_down_s = then_down_s

    def _down(self, until_s: float) -> None:
        if self.mode == "down":
            self.mode_end = max(self.mode_end, until_s)
        else:
            self.mode, self.mode_end = "down", until_s

    def _crash(self) -> None:
        self.lost["rework"] += self.progress - self.durable
        self.progress = self.durable
        if self.mode == "stall":  # the save under way is lost, and any restart after it
            self.mode, self.then_down_s = "run", 0.0

    def _planned(self, extra_s: float) -> None:
        """A restart the policy chose: save first (no rework), then restart."""
        self.counts["planned_restarts"] += 1
        if self.mode == "down":
            self.mode_end = max(self.mode_end, self.t + self.restart_s + extra_s)
        else:
            self._stall(self.restart_s + extra_s)

    # ------------------------------------------------------------- events
    def schedule(self) -> None:
        ev = self.events
        for i, f in enumerate(self.ph.tray_fail):
            ev.append((f.t_s, 0, "tray", i))
        for i, t in enumerate(self.ph.job_fail_s):
            ev.append((t, 0, "crash", i))
        for i, e in enumerate(self.ph.episodes):
            ev.append((e.start_s, 1, "ep_start", i))
            ev.append((e.end_s, 2, "ep_end", i))
            at = self.detect_at[i] if self.policy == "brownout" else None
            if at is not None and at < e.end_s:
                ev.append((at, 3, "ep_found", i))
        k = 1
        while k * SAMPLE_S < self.sc.duration_s:
            ev.append((k * SAMPLE_S, 5, "sample", k))
            k += 1
        heapq.heapify(ev)

    def external(self, what: str, i: int) -> None:
        if what == "tray":
            self._tray_failed(self.ph.tray_fail[i])
        elif what == "crash":
            self.counts["job_crashes"] += 1
            self._crash()
            self._down(self.t + self.restart_s)
        elif what == "repaired" and self.policy != "baseline":
            self._regrow()
        elif what == "ep_start":
            self.live.add(i)
            if self.policy == "oracle":
                self._episode(i)
        elif what == "ep_end":
            self.live.discard(i)
        elif what == "ep_found":
            self._episode(i)
        elif what == "sample":
            self.series.append((self.t, self.progress / self.t))

    def run(self) -> None:
        self.schedule()
        end = self.sc.duration_s
        while self.t < end:
            t_ext = self.events[0][0] if self.events else math.inf
            t_int = self.next_internal()
            tn = min(t_ext, t_int, end)
            self.advance(tn)
            if tn >= end:
                break
            if t_int <= t_ext:
                self.internal()
            else:
                _, _, what, i = heapq.heappop(self.events)
                self.external(what, i)
            self.max_split = max(self.max_split, self.fleet.split())

    # ------------------------------------------------------------- decisions
    def _tray_failed(self, ev: TrayEvent) -> None:
        f = self.fleet
        self.counts["tray_failures"] += 1
        f.ok_at[ev.tray] = self.t + ev.repair_s
        heapq.heappush(self.events, (self.t + ev.repair_s, 4, "repaired", ev.tray))
        k = int(f.owner[ev.tray])
        if k < 0 or not f.active[k]:
            return  # a spare tray: the pool is smaller until it is back
        self.counts["tray_failures_job"] += 1
        self._crash()
        if self.policy == "baseline":
            self._baseline_recover(k, ev)
        else:
            self._aware_recover(k, ev)

    def _baseline_recover(self, k: int, ev: TrayEvent) -> None:
        f = self.fleet
        if self.sc.baseline_placement == "blind":
            free = np.flatnonzero(f.free_healthy(self.t))
            new = None if free.size == 0 else int(free[0])
        else:
            new = f.in_domain_spare(ev.tray, self.t)
        if new is not None:
            f.assign(k, [x for x in f.groups[k] if x != ev.tray] + [new])
            self.counts["split_replacements"] += int(f.domain(new) != f.domain(ev.tray))
            self._down(self.t + self.restart_s)
            return
        moved = f.block_place(self.t) if self.sc.baseline_placement == "block" else None
        if moved is not None:
            f.assign(k, moved)
            self.counts["move"] += 1
            self._down(self.t + self.restart_s)
            return
        self.counts["wait"] += 1
        self._down(f.ok_at[ev.tray] + self.restart_s)

    def _avoided(self) -> set[int]:
        return {d for d, until in self.avoid.items() if until > self.t}

    def _aware_recover(self, k: int, ev: TrayEvent) -> None:
        f = self.fleet
        repair = ev.repair_s if self.policy == "oracle" else expected_repair_s(self.sc,
                                                                               ev.transient)
        spare = None if f.domain(ev.tray) in self._avoided() else f.in_domain_spare(ev.tray,
                                                                                    self.t)
        moved = f.aware_place(self.t, self._avoided() | {f.domain(ev.tray)})
        n_active = sum(f.active)
        min_groups = f.shape.min_groups if f.shape.min_groups is not None else f.G
        costs = self._costs()
        choice = choose_recovery(TrayFailure(n_active, spare is not None, moved is not None,
                                             n_active - 1 >= min_groups, repair), costs)
        if choice.option == "shrink" and spare is not None:
            f.assign(k, [x for x in f.groups[k] if x != ev.tray] + [spare])
            self.counts["reform"] += 1
            self._down(self.t + self.restart_s)
        elif choice.option == "shrink":
            f.drop(k)
            self.counts["shrink"] += 1
            self._down(self.t + self.restart_s)
        elif choice.option == "move" and moved is not None:
            f.assign(k, moved)
            self.counts["move"] += 1
            self._down(self.t + self.restart_s + costs.move_s)
        else:
            self.counts["wait"] += 1
            self._down(f.ok_at[ev.tray] + self.restart_s)

    def _costs(self) -> RecoveryCosts:
        return RecoveryCosts(self.restart_s, self.stall_s + self.restart_s,
                             self.sc.costs["move_s"])

    def _regrow(self) -> None:
        """A tray is back: grow a shrunk job again where a domain has room."""
        f = self.fleet
        for k in range(f.G):
            if f.active[k]:
                continue
            trays = f.aware_place(self.t, self._avoided())
            if trays is None:
                return
            f.assign(k, trays)
            self.counts["regrow"] += 1
            self._planned(self.sc.costs["move_s"])

    def _episode(self, i: int) -> None:
        """An NVSwitch fault is known: move the domain's groups off it when that pays."""
        e = self.ph.episodes[i]
        f = self.fleet
        if i not in self.live:
            return
        nv = self.sc.nvswitch
        self.avoid[e.domain] = e.end_s + (0.0 if self.policy == "oracle" else
                                          nv["detect_delay_s"])
        hit = [k for k in range(f.G) if f.active[k]
               and e.domain in {f.domain(x) for x in f.groups[k]}]
        if not hit:
            return
        cost = self.stall_s + self.restart_s + self.sc.costs["move_s"]
        if not self._move_pays(e, cost):
            if self.policy == "brownout":
                heapq.heappush(self.events, (self.t + REVIEW_S, 3, "ep_found", i))
            return
        for k in hit:
            trays = f.aware_place(self.t, self._avoided())
            if trays is None:
                return
            f.assign(k, trays)
            self.counts["nvswitch_moves"] += 1
        self._planned(self.sc.costs["move_s"])

    def _move_pays(self, e: DomainEpisode, cost_s: float) -> bool:
        if self.policy == "oracle":  # the next crash of the job as it runs now
            owner = self.fleet.owner
            crashes = [x.t_s for x in self.ph.tray_fail if x.t_s > self.t and owner[x.tray] >= 0]
            crashes += [t for t in self.ph.job_fail_s if t > self.t]
            horizon = min(crashes, default=math.inf) - self.t
            return (1 - 1 / e.slowdown) * min(e.end_s - self.t, horizon) > cost_s
        return act_now_pays(e.slowdown, self.t - e.start_s, self.sc.nvswitch["duration_s"],
                            cost_s, self.ph.mtbi_s)


def run_rack_scale(sc: RackScaleScenario, policy: str, seed: int) -> RackResult:
    """One run of ``sc`` under ``policy`` (``baseline``, ``brownout`` or ``oracle``)."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}")
    ph = draw_rack_physics(sc, seed)
    run = _Run(sc, ph, policy, seed)
    run.run()
    gpus = sc.job.nodes * sc.gpus_per_tray
    series = [*run.series, (sc.duration_s, run.progress / sc.duration_s)]
    return RackResult(policy, sc.duration_s, run.progress, gpus, run.lost, run.counts, series,
                      run.max_split)


def result_extra(r: RackResult) -> dict[str, Any]:
    """Counts for the JSON output of ``brownout evaluate``."""
    return {"decisions": dict(r.counts), "max_split_groups": r.max_split_groups}
