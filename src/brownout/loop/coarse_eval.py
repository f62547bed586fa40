"""Coarse-mode closed-loop evaluation: weeks of one cluster-wide job under a policy.

Physics (identical for every policy, drawn from the seed alone):

- fail-stop interruptions from the simulator's coarse failure table
  (:func:`brownout.sim.coarse.draw_arrivals`), each on a random node;
- fail-slow episodes at ``rate_vs_fail_stop`` times that rate, each on a
  random node (for ``switch_congestion``: the leaf above it, which carries
  ``leaf_nodes`` of the job's nodes), lasting a
  log-uniform 10 min..10 h, slowing the synchronous job by a factor drawn
  from ``slowdown`` (the job runs at the pace of its slowest episode);
- repair times of failed or isolated nodes from the simulator's
  StepFun-fitted lognormal; costs pinned by the :class:`~brownout.loop.costs.EvalScenario`.

Policies (issue 6):

- ``baseline``: restart only after a crash, always cold; synchronous
  checkpoints every ``baseline_checkpoint_interval_s``; fail-slows untreated.
- ``brownout``: fail-slows found after a delay drawn from the fine-mode
  measurements with the measured recall (:mod:`brownout.loop.detection_quality`);
  the node is drained at once and the job restarts without it when that
  pays (:func:`~brownout.policy.rules.act_now_pays`: expected slowdown loss
  until the episode ends or the next crash, from the published duration
  prior and the episode's age, against the restart's cost), else at the
  next restart; a chosen restart saves first (an asynchronous snapshot,
  persisted while the job restarts) when that is cheaper than the rework;
  warm onto spares while the pool lasts, else cold. ``switch_congestion``
  found and lasting ``reroute_after_s`` is *rerouted* by the same cost rule:
  the job's ranks under the leaf move onto ``leaf_nodes`` warm spares under
  other leaves at a restart (a warm restart), and the job stays off the leaf
  until its finding resolves; nothing is quarantined, and without enough
  spares the job stays. Asynchronous snapshots every Young/Daly interval
  from :class:`~brownout.recovery.rates.FailureRateModel` learned online.
- ``oracle``: the truth, at once: every episode acted on at onset when its
  true remaining cost (until it ends or the next crash) exceeds the
  restart's, else at the next restart; crash restarts always warm (reroutes
  draw on the same spare pool as brownout's); asynchronous snapshots at the
  Young/Daly interval of the true interruption rate.

Time is accounted with the causes of spec/cli.md: ``checkpoint`` (stalls),
``rework``, ``restart``, ``straggler`` (GPU and host slowdowns),
``congestion``; ``other`` is zero in this model.
"""

from __future__ import annotations

import enum
import heapq
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from brownout.clock import ManualClock
from brownout.loop.coarse_physics import (
    DAY_S,
    Episode,
    Physics,
    draw_physics,
    with_detection,
)
from brownout.loop.costs import EvalScenario
from brownout.loop.detection_quality import Detection, load_detection
from brownout.loop.figures import RunFigures
from brownout.loop.restart_costs import (
    Knowledge,
    Moment,
    Plan,
    Warm,
    restart_cost_s,
    restart_pays,
    save_s,
)
from brownout.policy.config import PolicyConfig
from brownout.recovery.ledger import CAUSES
from brownout.recovery.priors import PRIORS
from brownout.recovery.rates import FailureRateModel
from brownout.recovery.tuner import daly_interval_s, young_daly_interval_s

POLICIES = ("baseline", "brownout", "oracle")
TAU_UPDATE_S = DAY_S / 4  # the tuner's advice is re-read every six hours
REVIEW_S = 300.0  # an open finding the policy waited on is reconsidered this often
#: a congestion finding must have lasted this long before a reroute (the policy's default)
REROUTE_AFTER_S = PolicyConfig().reroute_after_s


class Mode(enum.StrEnum):
    """What the job is doing between events."""

    RUN = "run"          # training
    STALL = "stall"      # stalled in a checkpoint save
    RESTART = "restart"  # down: restarting


class Ev(enum.IntEnum):
    """Events of the walk; the value orders events that fall at the same time."""

    FAIL = 0       # a fail-stop interruption
    EP_START = 1   # a fail-slow episode begins
    EP_END = 2     # ... and ends
    EP_DETECT = 3  # the policy learns of (or reviews) an episode
    TAU = 4        # the tuner's interval is re-read
    SAMPLE = 5     # the ETTR series is sampled
    SPARE = 6      # spares lent out come back


@dataclass
class Counts:
    """What happened in one run."""

    fail: int = 0         # fail-stop interruptions
    isolations: int = 0   # fail-slow episodes isolated (node left out at a restart)
    cold: int = 0         # cold restarts
    checkpoints: int = 0  # saves started
    chosen: int = 0       # restarts the policy chose (not crashes)
    reroutes: int = 0     # jobs moved off a congested leaf


@dataclass
class RunResult(RunFigures):
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
    reroutes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.policy, "ettr": self.ettr, "availability": self.availability,
                "goodput_gpu_h": self.goodput_gpu_h, "wall_s": self.wall_s,
                "productive_s": self.productive_s, "interruptions": self.interruptions,
                "fail_stops": self.fail_stops, "isolations": self.isolations,
                "cold_restarts": self.cold_restarts, "checkpoints": self.checkpoints,
                "reroutes": self.reroutes,
                "mean_checkpoint_interval_s": self.mean_interval_s,
                "lost_s": {c: self.lost_s[c] for c in CAUSES},
                "detail": {"detection_delay_s": self.detection_delay_s}}


#: remedies a brownout/oracle run uses (``run_policy(remedies=...)`` drops some, for ablation)
REMEDIES = frozenset({"reroute", "snapshot_save", "cost_aware"})


def plan_for(policy: str, es: EvalScenario, ph: Physics,
             remedies: frozenset[str] = REMEDIES) -> Plan:
    """The checkpoint, restart and isolation plan of ``policy``."""
    c = es.costs
    on = {k: k in remedies for k in ("reroute", "snapshot_save", "cost_aware")}
    if policy == "baseline":
        return Plan(c.sync_checkpoint_s, 0.0, Warm.NEVER, c.baseline_checkpoint_interval_s)
    if policy == "brownout":
        return Plan(c.async_snapshot_s, c.async_persist_s, Warm.POOL, None, Knowledge.CAUSAL, **on)
    if policy == "oracle":
        tau = daly_interval_s(c.async_snapshot_s, ph.true_mtbi_s)
        return Plan(c.async_snapshot_s, c.async_persist_s, Warm.ALWAYS, tau, Knowledge.TRUTH,
                    on["reroute"], on["snapshot_save"], True)
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
        self.mode, self.mode_end, self.after = Mode.RUN, math.inf, ""
        self.stall_progress = 0.0
        self.restart_when_durable = False
        self.active: set[int] = set()
        self.isolated: set[int] = set()  # no longer slows the job
        self.known: set[int] = set()  # found by the policy, still open
        self.drained: set[int] = set()  # to be left out at the next restart
        self.avoided: dict[int, float] = {}  # leaf -> until when the job avoids it
        self.lost = dict.fromkeys(CAUSES, 0.0)
        self.counts = Counts()
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
        self.events: list[tuple[float, Ev, int]] = []
        self.decisions: list[tuple[float, str, int]] = []  # (t, isolate|reroute, episode)

    # ------------------------------------------------------------- setup
    def schedule(self) -> None:
        ev = self.events
        for i, t in enumerate(self.ph.fail_s.tolist()):
            ev.append((t, Ev.FAIL, i))
        for i, e in enumerate(self.eps):
            ev.append((e.start_s, Ev.EP_START, i))
            ev.append((e.end_s, Ev.EP_END, i))
            if e.detect_s is not None:
                ev.append((e.detect_s, Ev.EP_DETECT, i))
        k = 1
        while k * TAU_UPDATE_S < self.ph.duration_s:
            ev.append((k * TAU_UPDATE_S, Ev.TAU, k))
            k += 1
        k = 1
        while k * DAY_S / 4 < self.ph.duration_s:
            ev.append((k * DAY_S / 4, Ev.SAMPLE, k))
            k += 1
        heapq.heapify(ev)

    # ------------------------------------------------------------- the tuner
    def _rate_per_s(self) -> float:
        """The online model's interruption rate of the job's nodes."""
        r = self.rates
        failed = list(self.failed_nodes)
        total = sum(r.node_rate_per_s(n) for n in failed)
        healthy = next((str(i) for i in range(self.ph.nodes) if str(i) not in self.failed_nodes),
                       None)
        if healthy is not None:  # every never-failed node has the same posterior
            total += (self.ph.nodes - len(failed)) * r.node_rate_per_s(healthy)
        return total

    def _tuned(self) -> float:
        """Young/Daly interval from the online rate model (``M`` of the job's nodes)."""
        return young_daly_interval_s(self.plan.stall_s, 1.0 / self._rate_per_s())

    # ------------------------------------------------------------- dynamics
    def _live(self) -> list[Episode]:
        return [self.eps[i] for i in self.active if i not in self.isolated
                and not (self.eps[i].kind == "switch_congestion"
                         and self.avoided.get(self._leaf(self.eps[i]), -1.0) > self.t)]

    def _leaf(self, ep: Episode) -> int:
        return ep.node // self.ph.leaf_nodes

    def speed(self) -> tuple[float, str]:
        live = self._live()
        if not live:
            return 1.0, ""
        worst = max(live, key=lambda e: e.slowdown)
        cause = "congestion" if worst.kind == "switch_congestion" else "straggler"
        return 1.0 / worst.slowdown, cause

    def advance(self, t1: float) -> None:
        dt = t1 - self.t
        if dt <= 0:
            return
        if self.mode == Mode.RUN:
            v, cause = self.speed()
            self.progress += dt * v
            if cause:
                self.lost[cause] += dt * (1 - v)
                self.detect_delay += dt * (1 - v) * self._undetected_share()
        elif self.mode == Mode.STALL:
            self.lost["checkpoint"] += dt
        else:
            self.lost["restart"] += dt
        self.t = t1
        self.clock.set(self.start_s + t1)

    def _undetected_share(self) -> float:
        """1 when the slowest live episode will be found later (the loss is
        detection delay), else 0."""
        worst = max(self._live(), key=lambda e: e.slowdown)
        return 1.0 if worst.detect_s is not None and worst.detect_s > self.t else 0.0

    def next_internal(self) -> float:
        if self.mode in (Mode.STALL, Mode.RESTART):
            return self.mode_end
        v, _ = self.speed()
        t_mark = self.t + max(self.mark - self.progress, 0.0) / v
        t_pend = self.pending[1] if self.pending else math.inf
        return min(t_mark, t_pend)

    def internal(self) -> None:
        if self.mode == Mode.STALL and self.t >= self.mode_end - 1e-9:
            self._end_stall()
        elif self.mode == Mode.RESTART and self.t >= self.mode_end - 1e-9:
            self.mode, self.mode_end = Mode.RUN, math.inf
            self.mark = self.progress + self.tau
        elif self.mode == Mode.RUN:
            if self.pending and self.t >= self.pending[1] - 1e-9:
                self.durable, self.pending = self.pending[0], None
            if self.progress >= self.mark - 1e-6:
                self._start_checkpoint()

    def _start_checkpoint(self, then_restart: bool = False) -> None:
        sync = (then_restart and not self.plan.snapshot_save) or self.plan.persist_s == 0
        stall = self.es.costs.sync_checkpoint_s if sync else self.plan.stall_s
        self.mode, self.mode_end = Mode.STALL, self.t + stall
        self.after = "sync" if sync else "async"
        self.restart_when_durable = self.restart_when_durable or then_restart
        self.stall_progress = self.progress
        self.counts.checkpoints += 1
        self.taus.append(self.tau)
        self.mark = self.progress + self.tau

    def _end_stall(self) -> None:
        self.mode, self.mode_end = Mode.RUN, math.inf
        if self.after == "async" and not self.restart_when_durable:
            self.pending = (self.stall_progress, self.t + self.plan.persist_s)
            return
        # sync save, or a snapshot before a planned restart: no node has failed,
        # so it persists while the job restarts (the load waits for it, below)
        self.durable, self.pending = self.stall_progress, None
        if self.restart_when_durable:
            self._restart(None)

    # ------------------------------------------------------------- restarts
    def _take_spares(self, n: int, back_at_s: float, reroute: bool = False) -> bool:
        """Take ``n`` warm spares until ``back_at_s`` (False: the pool is short).

        The oracle restarts warm without drawing on the pool, but a reroute
        needs real nodes under other leaves: it draws on the pool like brownout's.
        """
        if self.plan.warm == Warm.ALWAYS and not reroute:
            return True
        if self.plan.warm == Warm.NEVER or self.spares < n:
            return False
        self.spares -= n
        heapq.heappush(self.events, (back_at_s, Ev.SPARE, n))
        return True

    def _restart(self, repair_s: float | None) -> None:
        """Restart the job (after a crash: ``repair_s`` of the failed node), leaving
        out every drained node and, when the spares allow, every congested leaf
        the policy knows of."""
        self.counts.chosen += int(repair_s is None)
        warm = self._take_spares(1, self.t + repair_s) if repair_s is not None else True
        for i in sorted(self.drained | self.known):
            warm = self._leave_out(i) and warm
        self.drained.clear()
        self.restart_when_durable = False
        c = self.es.costs
        r = c.warm_restart_s if warm else c.cold_restart_s
        if repair_s is None:
            r = max(r, self.plan.persist_s)  # the checkpoint load waits for the save
        self.counts.cold += int(not warm)
        if self.mode == Mode.RESTART:
            self.mode_end = self.t + r  # already down: the restart starts over
            return
        self.lost["rework"] += self.progress - self.durable
        self.progress, self.pending = self.durable, None
        self.mode, self.mode_end = Mode.RESTART, self.t + r

    def _leave_out(self, i: int) -> bool:
        """Leave episode ``i``'s node (or the job's ranks under its leaf) out of
        the restart; False when that needed a cold replacement."""
        ep = self.eps[i]
        if i in self.isolated or i not in self.active:
            return True
        if ep.kind != "switch_congestion":
            self.isolated.add(i)
            self.counts.isolations += 1
            self.decisions.append((self.t, "isolate", i))
            return self._take_spares(1, self.t + self._repair(len(self.ph.fail_s) + i))
        if not self.plan.reroute:
            return True
        leaf, k = self._leaf(ep), self.ph.leaf_nodes
        if self.avoided.get(leaf, -1.0) > self.t:
            return True
        until = self._cleared_s(ep)
        if not self._take_spares(k, until, reroute=True):  # not enough spares: stay on the leaf
            return True
        self.avoided[leaf] = until
        self.counts.reroutes += 1
        self.decisions.append((self.t, "reroute", i))
        return True

    def _cleared_s(self, ep: Episode) -> float:
        """When the policy sees the congestion gone (the finding resolves)."""
        if self.plan.knowledge == Knowledge.TRUTH or ep.detect_s is None:
            return ep.end_s
        return ep.end_s + (ep.detect_s - ep.start_s)

    def _repair(self, i: int) -> float:
        return float(self.ph.repair_s[i % len(self.ph.repair_s)])

    # ------------------------------------------------------------- decisions
    def _found(self, i: int) -> None:
        """The policy learns of episode ``i`` (or reviews it): act now, or wait."""
        ep = self.eps[i]
        cong = ep.kind == "switch_congestion"
        if i not in self.active or i in self.isolated or (cong and not self.plan.reroute):
            return
        if cong and (until := self.avoided.get(self._leaf(ep), -1.0)) > self.t:
            heapq.heappush(self.events, (until, Ev.EP_DETECT, i))  # off that leaf already
            return
        wait_s = ep.start_s + REROUTE_AFTER_S - self.t
        if cong and self.plan.knowledge == Knowledge.CAUSAL and wait_s > 0:
            heapq.heappush(self.events, (self.t + wait_s, Ev.EP_DETECT, i))  # persistent yet?
            return
        self.known.add(i)
        if not cong:
            self.drained.add(i)  # a drain costs nothing: the next restart leaves it out
        if self.mode == Mode.RESTART or self.restart_when_durable:
            self._leave_out(i)  # a restart is under way: it takes this one along
            self.drained.discard(i)
            return
        cost = self._cost_now(ep)
        if cost is not None and self._pays(ep, cost):
            if cong:
                self.drained.add(i)
            self._restart_soon()
        elif self.plan.knowledge == Knowledge.CAUSAL or cost is None:
            heapq.heappush(self.events, (self.t + REVIEW_S, Ev.EP_DETECT, i))

    def _moment(self) -> Moment:
        return Moment(self.t, self.progress - self.durable, self.spares, self._rate_per_s())

    def _cost_now(self, ep: Episode) -> float | None:
        return restart_cost_s(ep, self.plan, self.es, self.ph, self._moment())

    def _save_s(self) -> float:
        return save_s(self.plan, self.es)

    def _pays(self, ep: Episode, cost_s: float) -> bool:
        return restart_pays(ep, cost_s, self.plan, self.es, ph=self.ph, m=self._moment())

    def _restart_soon(self) -> None:
        """Restart now, first saving when that is cheaper than the rework."""
        if self.mode == Mode.STALL:
            self.mode = Mode.RUN  # the periodic save under way is abandoned
        if self.progress - self.durable > self._save_s():
            self._start_checkpoint(then_restart=True)
        else:
            self._restart(None)

    # ------------------------------------------------------------- external events
    def external(self, what: Ev, i: int) -> None:
        if what == Ev.FAIL:
            self._fail(i)
        elif what == Ev.EP_START:
            self.active.add(i)
        elif what == Ev.EP_END:
            self.active.discard(i)
            self.known.discard(i)
            self.drained.discard(i)
        elif what == Ev.EP_DETECT:
            self._found(i)
        elif what == Ev.TAU and self.plan.interval_s is None:
            self.tau = self._tuned()
        elif what == Ev.SPARE:
            self.spares += i
        elif what == Ev.SAMPLE:
            self.series.append((self.t, self.progress / self.t))

    def _fail(self, i: int) -> None:
        self.counts.fail += 1
        node = int(self.ph.fail_node[i])
        self.failed_nodes.add(str(node))
        self.rates.observe_node_failure(str(node))
        for j in list(self.active):  # the failed node is replaced: its episodes leave
            if self.eps[j].node == node and self.eps[j].kind != "switch_congestion":
                self.isolated.add(j)
        if self.mode == Mode.STALL:
            self.mode = Mode.RUN
        self._restart(self._repair(i))

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
                _, what, i = heapq.heappop(self.events)
                self.external(what, i)


def run_policy(es: EvalScenario, policy: str, seed: int, *, interval_s: float | None = None,
               detection: Detection | None = None, fail_slow: bool = True,
               sync: bool = False, remedies: frozenset[str] = REMEDIES) -> RunResult:
    """One coarse run of ``es`` under ``policy``.

    Args:
        interval_s: a fixed checkpoint interval instead of the policy's own.
        fail_slow: False drops the fail-slow episodes (fail-stops only).
        sync: synchronous checkpoints (the pinned sync stall) instead of snapshots.
        remedies: the subset of :data:`REMEDIES` brownout and the oracle use
            (the others are off: for ablation).
    """
    ph = draw_physics(es, seed)
    if not fail_slow:
        ph = replace(ph, episodes=())
    eps = with_detection(ph, policy, detection or load_detection(), seed)
    plan = plan_for(policy, es, ph, remedies)
    if sync:
        plan = replace(plan, stall_s=es.costs.sync_checkpoint_s, persist_s=0.0)
    if interval_s is not None:
        plan = replace(plan, interval_s=interval_s)
    run = _Run(es, ph, plan, eps, start_s=es.sim.start_s)
    run.run()
    productive = run.progress
    c = run.counts
    return RunResult(policy, ph.duration_s, productive, ph.gpus, run.lost,
                     c.fail + c.chosen, c.fail, c.isolations, c.cold, c.checkpoints,
                     float(np.mean(run.taus)) if run.taus else 0.0,
                     [*run.series, (ph.duration_s, productive / ph.duration_s)],
                     run.detect_delay, c.reroutes)
