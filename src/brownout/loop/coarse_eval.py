"""Coarse-mode closed-loop evaluation: weeks of one cluster-wide job under a policy.

Physics (identical for every policy, drawn from the seed alone):

- fail-stop interruptions from the simulator's coarse failure table
  (:func:`brownout.sim.coarse.draw_arrivals`), each on a random node;
- fail-slow episodes at ``rate_vs_fail_stop`` times that rate, each on a
  random node (a leaf switch for ``switch_congestion``), lasting a
  log-uniform 10 min..10 h, slowing the synchronous job by a factor drawn
  from ``slowdown`` (the job runs at the pace of its slowest episode);
- repair times of failed or isolated nodes from the simulator's
  StepFun-fitted lognormal; costs pinned by the :class:`~brownout.loop.costs.EvalScenario`.

Policies (issue 6):

- ``baseline``: restart only after a crash, always cold; synchronous
  checkpoints every ``baseline_checkpoint_interval_s``; fail-slows untreated.
- ``brownout``: fail-slows isolated when detection finds them, after a
  delay drawn from the fine-mode measurements with the measured recall
  (:mod:`brownout.loop.detection_quality`); an isolation saves a
  checkpoint first when that is cheaper than the rework, then restarts
  without the node onto a warm spare (cold when the spare pool is empty);
  crashes restart warm the same way; asynchronous snapshots every
  Young/Daly interval from :class:`~brownout.recovery.rates.FailureRateModel`
  learned online (StepFun prior, the job's own failures).
- ``oracle``: the truth, at once: every fail-slow isolated at onset when its
  remaining cost exceeds the restart's; restarts always warm; asynchronous
  snapshots at the Young/Daly interval of the true interruption rate.

``switch_congestion`` episodes are never isolated (the policy never
quarantines for congestion, and moving a cluster-wide job does not avoid a
leaf), by any policy. Time is accounted with the causes of spec/cli.md:
``checkpoint`` (stalls), ``rework``, ``restart``, ``straggler`` (GPU and host
slowdowns), ``congestion``; ``other`` is zero in this model.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from brownout.clock import ManualClock
from brownout.loop.costs import EvalScenario
from brownout.loop.detection_quality import Detection, load_detection
from brownout.recovery.priors import PRIORS
from brownout.recovery.rates import FailureRateModel
from brownout.recovery.tuner import daly_interval_s, young_daly_interval_s
from brownout.sim.coarse import draw_arrivals
from brownout.sim.failure_tables import REPAIR_LOG_SIGMA, REPAIR_MEDIAN_H, TABLES

POLICIES = ("baseline", "brownout", "oracle")
CAUSES = ("checkpoint", "rework", "restart", "straggler", "congestion", "other")
DAY_S = 86400.0
TAU_UPDATE_S = DAY_S / 4  # the tuner's advice is re-read every six hours


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
                   eps, repair, 1.0 / rate_s)


def with_detection(ph: Physics, policy: str, det: Detection, seed: int) -> tuple[Episode, ...]:
    """Episodes with the time each policy isolates them (None: never)."""
    rng = np.random.default_rng([seed, 7])
    out = []
    for ep in ph.episodes:
        at: float | None = None
        if policy == "oracle" and ep.kind != "switch_congestion":
            at = ep.start_s
        elif policy == "brownout" and (q := det.quality(ep.kind, ep.slowdown)) is not None:
            hit = rng.random() < q.recall
            delay = float(rng.choice(q.delays_s)) if q.delays_s else 0.0
            at = ep.start_s + delay if hit and q.delays_s else None
        out.append(Episode(ep.start_s, ep.end_s, ep.slowdown, ep.kind, ep.node,
                           at if at is not None and at < ep.end_s else None))
    return tuple(out)


@dataclass
class RunResult:
    """The ledger of one coarse run."""

    policy: str
    wall_s: float
    productive_s: float
    gpus: int
    lost_s: dict[str, float]
    interruptions: int
    fail_stops: int
    isolations: int
    cold_restarts: int
    checkpoints: int
    mean_interval_s: float
    ettr_series: list[tuple[float, float]] = field(default_factory=list)
    detection_delay_s: float = 0.0

    @property
    def ettr(self) -> float:
        return self.productive_s / self.wall_s

    @property
    def availability(self) -> float:
        return 1.0 - self.lost_s["restart"] / self.wall_s

    @property
    def goodput_gpu_h(self) -> float:
        return self.productive_s * self.gpus / 3600.0

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.policy, "ettr": self.ettr, "availability": self.availability,
                "goodput_gpu_h": self.goodput_gpu_h, "wall_s": self.wall_s,
                "productive_s": self.productive_s, "interruptions": self.interruptions,
                "fail_stops": self.fail_stops, "isolations": self.isolations,
                "cold_restarts": self.cold_restarts, "checkpoints": self.checkpoints,
                "mean_checkpoint_interval_s": self.mean_interval_s,
                "lost_s": {c: self.lost_s[c] for c in CAUSES},
                "detail": {"detection_delay_s": self.detection_delay_s}}


@dataclass(frozen=True)
class Plan:
    """How a policy checkpoints and restarts."""

    stall_s: float
    persist_s: float
    warm: str  # "never" | "pool" | "always"
    interval_s: float | None  # fixed interval; None: the online tuner
    smart_isolation: bool  # isolate only when it pays (needs the episode's end: oracle)


def plan_for(policy: str, es: EvalScenario, ph: Physics) -> Plan:
    """The checkpoint and restart plan of ``policy``."""
    c = es.costs
    if policy == "baseline":
        return Plan(c.sync_checkpoint_s, 0.0, "never", c.baseline_checkpoint_interval_s, False)
    if policy == "brownout":
        return Plan(c.async_snapshot_s, c.async_persist_s, "pool", None, False)
    if policy == "oracle":
        tau = daly_interval_s(c.async_snapshot_s, ph.true_mtbi_s)
        return Plan(c.async_snapshot_s, c.async_persist_s, "always", tau, True)
    raise ValueError(f"policy must be one of {POLICIES}")


class _Run:
    """The event-driven walk of one job through one policy's run."""

    def __init__(self, es: EvalScenario, ph: Physics, plan: Plan,
                 episodes: tuple[Episode, ...], *, start_s: float) -> None:
        self.es, self.ph, self.plan = es, ph, plan
        self.eps = episodes
        self.t = 0.0
        self.progress = self.durable = 0.0
        self.pending: tuple[float, float] | None = None  # (progress, durable at)
        self.mode, self.mode_end, self.after = "run", math.inf, ""
        self.stall_progress = 0.0
        self.active: set[int] = set()
        self.isolated: set[int] = set()
        self.lost = dict.fromkeys(CAUSES, 0.0)
        self.counts = {"fail": 0, "iso": 0, "cold": 0, "ckpt": 0}
        self.spares = es.costs.warm_spares
        self.detect_delay = 0.0
        self.start_s = start_s
        self.clock = ManualClock(start_s)
        self.rates = FailureRateModel(PRIORS["stepfun"], self.clock)
        self.rates.track([str(i) for i in range(ph.nodes)])
        self.failed_nodes: set[str] = set()
        self.tau = plan.interval_s or self._tuned()
        self.taus: list[float] = []
        self.mark = self.tau
        self.series: list[tuple[float, float]] = []
        self.events: list[tuple[float, int, str, int]] = []

    # ------------------------------------------------------------- setup
    def schedule(self) -> None:
        ev = self.events
        for i, t in enumerate(self.ph.fail_s.tolist()):
            ev.append((t, 0, "fail", i))
        for i, e in enumerate(self.eps):
            ev.append((e.start_s, 1, "ep_start", i))
            ev.append((e.end_s, 2, "ep_end", i))
            if e.detect_s is not None:
                ev.append((e.detect_s, 3, "ep_detect", i))
        k = 1
        while k * TAU_UPDATE_S < self.ph.duration_s:
            ev.append((k * TAU_UPDATE_S, 4, "tau", k))
            k += 1
        k = 1
        while k * DAY_S / 4 < self.ph.duration_s:
            ev.append((k * DAY_S / 4, 5, "sample", k))
            k += 1
        heapq.heapify(ev)

    # ------------------------------------------------------------- the tuner
    def _tuned(self) -> float:
        """Young/Daly interval from the online rate model (``M`` of the job's nodes)."""
        r = self.rates
        failed = list(self.failed_nodes)
        total = sum(r.node_rate_per_s(n) for n in failed)
        healthy = next((str(i) for i in range(self.ph.nodes) if str(i) not in self.failed_nodes),
                       None)
        if healthy is not None:  # every never-failed node has the same posterior
            total += (self.ph.nodes - len(failed)) * r.node_rate_per_s(healthy)
        return young_daly_interval_s(self.plan.stall_s, 1.0 / total)

    # ------------------------------------------------------------- dynamics
    def speed(self) -> tuple[float, str]:
        live = [self.eps[i] for i in self.active if i not in self.isolated]
        if not live:
            return 1.0, ""
        worst = max(live, key=lambda e: e.slowdown)
        cause = "congestion" if worst.kind == "switch_congestion" else "straggler"
        return 1.0 / worst.slowdown, cause

    def advance(self, t1: float) -> None:
        dt = t1 - self.t
        if dt <= 0:
            return
        if self.mode == "run":
            v, cause = self.speed()
            self.progress += dt * v
            if cause:
                self.lost[cause] += dt * (1 - v)
                self.detect_delay += dt * (1 - v) * self._undetected_share()
        elif self.mode == "stall":
            self.lost["checkpoint"] += dt
        else:
            self.lost["restart"] += dt
        self.t = t1
        self.clock.set(self.start_s + t1)

    def _undetected_share(self) -> float:
        """1 when the slowest live episode will be isolated later (the loss is
        detection delay), else 0."""
        live = [self.eps[i] for i in self.active if i not in self.isolated]
        worst = max(live, key=lambda e: e.slowdown)
        return 1.0 if worst.detect_s is not None and worst.detect_s > self.t else 0.0

    def next_internal(self) -> float:
        if self.mode in ("stall", "restart"):
            return self.mode_end
        v, _ = self.speed()
        t_mark = self.t + max(self.mark - self.progress, 0.0) / v
        t_pend = self.pending[1] if self.pending else math.inf
        return min(t_mark, t_pend)

    def internal(self) -> None:
        if self.mode == "stall" and self.t >= self.mode_end - 1e-9:
            self._end_stall()
        elif self.mode == "restart" and self.t >= self.mode_end - 1e-9:
            self.mode, self.mode_end = "run", math.inf
            self.mark = self.progress + self.tau
        elif self.mode == "run":
            if self.pending and self.t >= self.pending[1] - 1e-9:
                self.durable, self.pending = self.pending[0], None
            if self.progress >= self.mark - 1e-6:
                self._start_checkpoint()

    def _start_checkpoint(self, then_restart: bool = False) -> None:
        sync = then_restart or self.plan.persist_s == 0
        stall = self.es.costs.sync_checkpoint_s if sync else self.plan.stall_s
        self.mode, self.mode_end = "stall", self.t + stall
        self.after = "restart" if then_restart else ("sync" if sync else "async")
        self.stall_progress = self.progress
        self.counts["ckpt"] += 1
        self.taus.append(self.tau)
        self.mark = self.progress + self.tau

    def _end_stall(self) -> None:
        if self.after == "async":
            self.pending = (self.stall_progress, self.t + self.plan.persist_s)
        else:
            self.durable, self.pending = self.stall_progress, None
        self.mode, self.mode_end = "run", math.inf
        if self.after == "restart":
            self._restart(None)

    def _restart_s(self, repair_s: float) -> float:
        c = self.es.costs
        if self.plan.warm == "always":
            return c.warm_restart_s
        if self.plan.warm == "pool" and self.spares > 0:
            self.spares -= 1
            heapq.heappush(self.events, (self.t + repair_s, 6, "spare", 0))
            return c.warm_restart_s
        self.counts["cold"] += 1
        return c.cold_restart_s

    def _restart(self, repair_s: float | None) -> None:
        r = self._restart_s(repair_s if repair_s is not None else self._repair(len(self.eps)))
        if self.mode == "restart":
            self.mode_end = self.t + r  # already down: the restart starts over
            return
        self.lost["rework"] += self.progress - self.durable
        self.progress, self.pending = self.durable, None
        self.mode, self.mode_end = "restart", self.t + r

    def _repair(self, i: int) -> float:
        return float(self.ph.repair_s[i % len(self.ph.repair_s)])

    # ------------------------------------------------------------- external events
    def external(self, what: str, i: int) -> None:
        if what == "fail":
            self._fail(i)
        elif what == "ep_start":
            self.active.add(i)
        elif what == "ep_end":
            self.active.discard(i)
        elif what == "ep_detect":
            self._isolate(i)
        elif what == "tau" and self.plan.interval_s is None:
            self.tau = self._tuned()
        elif what == "spare":
            self.spares += 1
        elif what == "sample":
            self.series.append((self.t, self.progress / self.t))

    def _fail(self, i: int) -> None:
        self.counts["fail"] += 1
        node = int(self.ph.fail_node[i])
        self.failed_nodes.add(str(node))
        self.rates.observe_node_failure(str(node))
        for j in list(self.active):  # the failed node is replaced: its episodes leave
            if self.eps[j].node == node and self.eps[j].kind != "switch_congestion":
                self.isolated.add(j)
        if self.mode == "stall":
            self.mode = "run"
        self._restart(self._repair(i))

    def _isolate(self, i: int) -> None:
        ep = self.eps[i]
        if i not in self.active or i in self.isolated:
            return
        if self.plan.smart_isolation and not self._worth_it(ep):
            return
        self.isolated.add(i)
        self.counts["iso"] += 1
        if self.mode == "restart":
            return  # the pending restart simply leaves the node out
        if self.mode == "stall":
            self.mode = "run"
        save = self.progress - self.durable > self.es.costs.sync_checkpoint_s
        if save:
            self._start_checkpoint(then_restart=True)
        else:
            self._restart(self._repair(len(self.ph.fail_s) + i))

    def _worth_it(self, ep: Episode) -> float:
        c = self.es.costs
        cost = c.warm_restart_s + min(self.progress - self.durable, c.sync_checkpoint_s)
        return (ep.end_s - self.t) * (1 - 1 / ep.slowdown) > cost

    # ------------------------------------------------------------- the walk
    def run(self) -> None:
        self.schedule()
        end = self.ph.duration_s
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


def run_policy(es: EvalScenario, policy: str, seed: int, *, interval_s: float | None = None,
               detection: Detection | None = None, fail_slow: bool = True,
               sync: bool = False) -> RunResult:
    """One coarse run of ``es`` under ``policy``.

    Args:
        interval_s: a fixed checkpoint interval instead of the policy's own.
        fail_slow: False drops the fail-slow episodes (fail-stops only).
        sync: synchronous checkpoints (the pinned sync stall) instead of snapshots.
    """
    ph = draw_physics(es, seed)
    if not fail_slow:
        ph = Physics(ph.duration_s, ph.nodes, ph.gpus, ph.fail_s, ph.fail_node, (),
                     ph.repair_s, ph.true_mtbi_s)
    eps = with_detection(ph, policy, detection or load_detection(), seed)
    plan = plan_for(policy, es, ph)
    if sync:
        plan = Plan(es.costs.sync_checkpoint_s, 0.0, plan.warm, plan.interval_s,
                    plan.smart_isolation)
    if interval_s is not None:
        plan = Plan(plan.stall_s, plan.persist_s, plan.warm, interval_s, plan.smart_isolation)
    run = _Run(es, ph, plan, eps, start_s=es.sim.start_s)
    run.run()
    productive = run.progress
    c = run.counts
    return RunResult(policy, ph.duration_s, productive, ph.gpus, run.lost,
                     c["fail"] + c["iso"], c["fail"], c["iso"], c["cold"], c["ckpt"],
                     float(np.mean(run.taus)) if run.taus else 0.0,
                     [*run.series, (ph.duration_s, productive / ph.duration_s)],
                     run.detect_delay)
