"""The closed loop in fine mode: simulator -> telemetry -> engine -> policy -> simulator.

Every simulator tick (injected time: the simulation's own
:class:`~brownout.clock.ManualClock`) the loop hands the engine the telemetry
scraped since the last tick and the step records completed since then,
advances the engine to the simulated now, keeps the set of open findings and
notices from the engine's lifecycle events, and runs one
:meth:`~brownout.policy.controller.Controller.step` whose executor is the
:class:`~brownout.executors.simulator.SimulatorExecutor`: drains and job
restarts land in the running simulation, and the jobs restart on the
remaining nodes. Before a restart the policy chooses, the job saves a
checkpoint (:class:`SaveBeforeRestart`: the pinned stall, no rework).

Three ways of acting (``mode``):

- ``none``: nobody acts (the simulator still restarts a job a fail-stop kills).
- ``detect``: the real detection engine and policy (brownout).
- ``oracle``: the same policy fed the ground truth, at onset, with full
  confidence (instant perfect detection).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import numpy as np

from brownout.detect.engine import Engine
from brownout.detect.tracker import Event
from brownout.executors.simulator import SimControl, SimulatorExecutor
from brownout.findings import KINDS, Finding, TruthFault
from brownout.loop.feed import StepFeed, TelemetryFeed
from brownout.policy.actions import DRAIN_NODE, NOTIFY, RESTART_JOB
from brownout.policy.config import PolicyConfig
from brownout.policy.controller import Controller, StepReport
from brownout.policy.journal import Journal
from brownout.recovery.placement import ClusterView, place_job
from brownout.sim.engine import Simulation
from brownout.sim.scenario import Scenario
from brownout.telemetry.series import SeriesRegistry
from brownout.telemetry.steps import StepRecords

MODES = ("none", "detect", "oracle")
#: fail-slow kinds the closed loop restarts away from (node drained, job restarted)
FAIL_SLOW = ("gpu_degraded", "gpu_overheating", "nic_degraded", "host_straggler")
#: ... of which even minor findings are acted on: the straggler kinds the step
#: records confirm (a slow rank seen in the job itself)
STRAGGLING = ("gpu_degraded", "host_straggler")
_ISOLATE = (DRAIN_NODE, RESTART_JOB, NOTIFY)


def loop_policy_config(base: PolicyConfig | None = None) -> PolicyConfig:
    """The policy the closed loop runs: the defaults, plus restart-elsewhere on
    major fail-slow findings and on minor straggler findings.

    A drain alone would leave the job on the slow node. In a synchronous job
    one slow rank slows all of them, so even a "minor" 20% straggler (a GPU
    or host the step records show slow) costs the whole job a fifth of its
    speed, far more than a restart from checkpoint. Findings below
    ``min_confidence`` still only notify; telemetry-only minor findings
    (overheating, NIC errors) still only notify.
    """
    cfg = base or PolicyConfig()
    kinds = {k: dict(v) for k, v in cfg.kind_actions.items()}
    for kind in FAIL_SLOW:
        kinds[kind]["major"] = _ISOLATE
    for kind in STRAGGLING:
        kinds[kind]["minor"] = _ISOLATE
    return cfg.replace(kind_actions=kinds)


@dataclass(frozen=True)
class ActionRecord:
    """One action the controller carried out in the simulation."""

    t_s: float
    kind: str
    node: str
    component: str
    finding_kind: str


@dataclass
class LoopResult:
    """What one closed-loop run produced."""

    sim: Simulation
    steps: StepRecords
    truth: list[TruthFault]
    findings: tuple[Finding, ...]
    notices: tuple[Finding, ...]
    actions: list[ActionRecord] = field(default_factory=list)
    refusals: int = 0

    def drained(self) -> list[str]:
        """Nodes the controller drained, in order."""
        return [a.node for a in self.actions if a.kind == DRAIN_NODE]

    def restarts(self) -> list[ActionRecord]:
        """Job restarts the controller asked for."""
        return [a for a in self.actions if a.kind == RESTART_JOB]


class ClosedLoop:
    """Wires one simulation to the engine and the controller.

    Args:
        scenario: a fine-mode scenario.
        seed: the run's seed.
        mode: ``none``, ``detect`` or ``oracle`` (see module docstring).
        journal_dir: where the journal lives (a temporary directory if None).
        policy: policy settings (default :func:`loop_policy_config`).
    """

    def __init__(self, scenario: Scenario, seed: int, mode: str = "detect",
                 journal_dir: str | Path | None = None,
                 policy: PolicyConfig | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.sim = Simulation(scenario, seed=seed)
        self.mode = mode
        self.registry = SeriesRegistry(self.sim.topology)
        self.engine = Engine(self.sim.topology)
        self._telemetry = TelemetryFeed(self.sim, self.registry)
        self._step_feed = StepFeed(self.sim)
        self._open: dict[str, Finding] = {}
        self._notices: dict[str, Finding] = {}
        self._tmp = tempfile.TemporaryDirectory() if journal_dir is None else None
        where = Path(journal_dir if journal_dir is not None else self._tmp.name)  # type: ignore[union-attr]
        self.executor = SimulatorExecutor(cast(SimControl, SaveBeforeRestart(self.sim)))
        self.journal = Journal(where / f"journal-{scenario.name}-{seed}-{mode}.db",
                               executor="simulator")
        jobs = {j.spec.name: tuple(self.sim.topology.nodes[n].name for n in j.nodes)
                for j in self.sim.jobs}
        self.controller = Controller(self.sim.topology, self.executor, self.journal,
                                     config=policy or loop_policy_config(), clock=self.sim.clock,
                                     jobs=jobs, sleep=lambda _s: None)
        self.actions: list[ActionRecord] = []
        self.refusals = 0
        self._truth = self.sim.truth()

    # ------------------------------------------------------------- one tick
    def on_tick(self, sim: Simulation) -> None:
        """The simulator's ``on_tick`` callback."""
        if self.mode == "none":
            return
        findings, notices = (self._detect() if self.mode == "detect" else self._oracle())
        if not findings and not notices:
            return
        report = self.controller.step(findings, notices)
        self._record(report, findings)

    def _detect(self) -> tuple[tuple[Finding, ...], tuple[Finding, ...]]:
        self.engine.push(self._telemetry.new_frame(), self._step_feed.new_steps())
        self._track(self.engine.advance(self.sim.now()))
        return tuple(self._open.values()), tuple(self._notices.values())

    def _track(self, events: list[Event]) -> None:
        for ev in events:
            book = self._notices if ev.finding.id.startswith("n-") else self._open
            if ev.what == "resolved":
                book.pop(ev.finding.id, None)
            else:
                book[ev.finding.id] = ev.finding

    def _oracle(self) -> tuple[tuple[Finding, ...], tuple[Finding, ...]]:
        now = self.sim.now()
        live = [t for t in self._truth if t.onset <= now and (t.end is None or t.end > now)]
        return tuple(_truth_finding(i, t) for i, t in enumerate(live)), ()

    def _record(self, report: StepReport, findings: tuple[Finding, ...]) -> None:
        by_id = {f.id: f.kind for f in findings}
        now = self.sim.now()
        for o in report.actions:
            a = o.action
            if o.state == "done" and a.kind != NOTIFY:
                self.actions.append(ActionRecord(now, a.kind, a.node, a.component,
                                                 by_id.get(a.finding_id, "")))
        self.refusals += len(report.refused)

    # ------------------------------------------------------------- running
    def run(self) -> LoopResult:
        """Run the scenario to its end with the controller in the loop."""
        try:
            self.sim.run(on_tick=self.on_tick)
        finally:
            self.journal.close()
            if self._tmp is not None:
                self._tmp.cleanup()
        result = self.engine.result()
        return LoopResult(self.sim, self.sim.steps(), self._truth, result.findings,
                          result.notices, self.actions, self.refusals)


class SaveBeforeRestart:
    """The simulation's control surface, saving a checkpoint before a policy restart
    and choosing where the job restarts with aware placement.

    A restart the policy chooses (unlike a crash) can first save the job's
    state, so no work is computed twice; the save costs the job's pinned
    checkpoint stall, added to the restart. The simulator has no on-demand
    checkpoint hook, so this adapter marks the last completed step as
    checkpointed on the simulator's job state before the drain. The job then
    restarts where :func:`~brownout.recovery.placement.place_job` puts it
    (fewest leaves, no drained node, cool domains first): the simulator's
    scheduler takes a job's previous nodes first, so the adapter hands it
    the chosen nodes as the job's nodes.
    """

    def __init__(self, sim: Simulation, placement: bool = True) -> None:
        self.sim = sim
        self.topology = sim.topology
        self.placement = placement

    @property
    def drained(self) -> Any:
        return self.sim.drained

    def drain(self, node: str, restart_jobs: bool = True) -> None:
        i = self.topology.node_index.get(node)
        saved = [j for j in self.sim.jobs if restart_jobs and j.status == "running"
                 and i is not None and i in set(j.nodes.tolist())]
        for job in saved:
            job.last_ckpt = max(job.last_ckpt, job.step - 1)
        self.sim.drain(node, restart_jobs)
        for job in saved:
            job.resume_at_s += job.spec.checkpoint_stall_s
            if self.placement:
                self._place(job)

    def _place(self, job: Any) -> None:
        sim, topo = self.sim, self.topology
        free = ~sim.allocated & ~sim.drained & ~sim.down
        state = tuple("quarantined" if d else "healthy" for d in sim.drained.tolist())
        k = len(topo.cooling_domains)
        temps = (np.bincount(sim.gpu_domain, weights=sim.gpu.temp_c, minlength=k)
                 / np.maximum(np.bincount(sim.gpu_domain, minlength=k), 1)).astype(np.float64)
        placed = place_job(len(job.nodes), ClusterView(topo, free, state, temps))
        if placed is not None:
            job.nodes = np.array(sorted(placed.nodes), dtype=np.int64)

    def undrain(self, node: str) -> None:
        self.sim.undrain(node)


def _truth_finding(i: int, t: TruthFault) -> Finding:
    """A ground-truth fault as a certain, critical finding (the oracle's view)."""
    return Finding(id=f"truth-{i:04d}-{t.kind}-{t.component}", kind=t.kind,
                   component=t.component, component_type=KINDS.get(t.kind, ""),
                   onset=t.onset, detected_at=t.onset, confidence=1.0, severity="critical",
                   summary=f"ground truth: {t.kind} on {t.component}")


def run_loop(scenario: Scenario, seed: int, mode: str = "detect",
             journal_dir: str | Path | None = None,
             policy: PolicyConfig | None = None) -> LoopResult:
    """Run ``scenario`` closed-loop (see :class:`ClosedLoop`)."""
    return ClosedLoop(scenario, seed, mode, journal_dir, policy).run()


def with_spares(scenario: Scenario, spare_nodes: int) -> Scenario:
    """The scenario on a cluster with ``spare_nodes`` more (idle) nodes to restart onto."""
    return replace(scenario, n_nodes=scenario.n_nodes + spare_nodes)
