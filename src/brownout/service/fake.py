"""An in-memory controller for tests and for trying the dashboard without a cluster.

:class:`FakeController` follows :class:`~brownout.views.model.ControllerFacade`
exactly. Tests script it: :meth:`inject_fault` opens a finding (and, in
approval mode, a drain awaiting approval), :meth:`resolve` closes one,
:meth:`set_temperature` colours the fleet map. Approved actions execute (as a
dry run) on the next tick, as with the real controller. Nodes move through the
real state machine (:class:`~brownout.policy.states.NodeStates`), actions
through the real status table, and views are built by the same
:mod:`brownout.views.build` functions the live controller uses.
"""

from __future__ import annotations

import math
import threading
from dataclasses import replace

import numpy as np

from brownout.findings import KINDS, Finding
from brownout.policy.states import HEALTHY, QUARANTINED, RETURNED, SUSPECT, NodeStates
from brownout.policy.statuses import ActionStatus
from brownout.topology.component import host_of
from brownout.topology.model import Topology
from brownout.views.build import gpu_health, node_views, transition_views
from brownout.views.model import (
    ActionView,
    BreakerView,
    ControllerState,
    FindingView,
    FleetView,
    GoodputPoint,
    HealthView,
    JobGoodput,
    SeriesView,
)


class FakeController:
    """A scripted controller over a topology.

    Args:
        topology: the cluster shown.
        start_s: the controller clock at start (unix seconds).
        approval: True when disruptive actions wait for approval.
    """

    def __init__(self, topology: Topology, start_s: float = 1_764_000_000.0,
                 approval: bool = True) -> None:
        self.topology = topology
        self.approval = approval
        self._lock = threading.Lock()
        self._now_s = start_s
        self._start_s = start_s
        self._states = NodeStates()
        self._findings: list[FindingView] = []
        self._actions: list[ActionView] = []
        self._temps = np.full(topology.n_gpus, 45.0)
        self._history: list[GoodputPoint] = []
        self._breaker = BreakerView()
        self._degraded: tuple[str, ...] = ()
        self._version = 0
        self._ticks = 0
        self._samples = 0
        self._state = self._build()

    # scripting -------------------------------------------------------------
    def inject_fault(self, kind: str, component: str, summary: str = "",
                     evidence: dict[str, object] | None = None) -> FindingView:
        """Open a finding (and a drain awaiting approval for node faults)."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        with self._lock:
            n = len(self._findings) + 1
            f = Finding(id=f"f-{n:06d}", kind=kind, component=component,
                        component_type=KINDS[kind], onset=self._now_s - 60.0,
                        detected_at=self._now_s, confidence=0.9, severity="major",
                        summary=summary or f"{kind} on {component}",
                        evidence=dict(evidence or {"detector": "fake"}))
            t = tuple(self._now_s - 30.0 * (9 - i) for i in range(10))
            series = SeriesView("GPU temperature", "degC", t,
                                tuple(60.0 + 3.0 * i for i in range(10)))
            view = FindingView(f, last_seen_s=self._now_s, series=series)
            self._findings.append(view)
            node = host_of(component)
            if node in self.topology.node_index:
                self._move(node, SUSPECT, "a finding names the node")
                self._temps[self._gpus_of(node)] = 90.0
                status = ActionStatus.AWAITING_APPROVAL if self.approval else \
                    ActionStatus.PENDING
                self._actions.append(ActionView(
                    key=f"drain_node:{node}:{n:012d}", kind="drain_node", component=component,
                    node=node, finding_id=f.id, reason=f"{kind} on {component}",
                    status=status, decided_at_s=self._now_s, updated_at_s=self._now_s,
                    expires_at_s=self._now_s + 3600.0 if self.approval else None))
            self._state = self._build()
            return view

    def resolve(self, finding_id: str) -> None:
        """Close a finding."""
        with self._lock:
            self._findings = [replace(f, resolved_at_s=self._now_s)
                              if f.finding.id == finding_id else f for f in self._findings]
            self._state = self._build()

    def set_temperature(self, gpu_id: int, temp_c: float) -> None:
        with self._lock:
            self._temps[gpu_id] = temp_c
            self._state = self._build()

    def set_breaker(self, open_: bool, reason: str = "") -> None:
        with self._lock:
            self._breaker = BreakerView(open_, "anomaly_fraction" if open_ else "", 0.2,
                                        0.5 if open_ else 0.0, reason)
            self._state = self._build()

    def set_degraded(self, *lines: str) -> None:
        with self._lock:
            self._degraded = tuple(lines)
            self._state = self._build()

    # the facade ------------------------------------------------------------
    def state(self) -> ControllerState:
        return self._state

    def tick(self, now_s: float) -> ControllerState:
        with self._lock:
            self._now_s = max(self._now_s, now_s)
            self._ticks += 1
            self._samples += self.topology.n_gpus
            for i, a in enumerate(self._actions):
                if a.status in (ActionStatus.APPROVED, ActionStatus.PENDING):
                    ActionStatus.check(a.status, ActionStatus.EXECUTING)
                    self._actions[i] = replace(a, status=ActionStatus.DRY_RUN,
                                               updated_at_s=self._now_s, attempts=a.attempts + 1)
                    if a.kind == "drain_node":
                        self._move(a.node, QUARANTINED, a.key)
            self._history.append(GoodputPoint(self._now_s, 0.9, 0.98))
            self._state = self._build()
            return self._state

    def approve(self, key: str, now_s: float) -> str:
        return self._answer(key, ActionStatus.APPROVED, now_s)

    def reject(self, key: str, now_s: float) -> str:
        return self._answer(key, ActionStatus.REJECTED, now_s)

    def close(self) -> None:
        """Nothing to release."""

    # internals ---------------------------------------------------------------
    def _answer(self, key: str, to: ActionStatus, now_s: float) -> str:
        with self._lock:
            for i, a in enumerate(self._actions):
                if a.key == key:
                    if a.status != ActionStatus.AWAITING_APPROVAL:
                        return a.status
                    self._actions[i] = replace(a, status=ActionStatus.check(a.status, to),
                                               updated_at_s=now_s)
                    self._state = self._build()
                    return to
        raise KeyError(key)

    def _gpus_of(self, node: str) -> slice:
        i = self.topology.node_index[node]
        return slice(int(self.topology.gpu_offset[i]), int(self.topology.gpu_offset[i + 1]))

    def _move(self, node: str, to: str, cause: str) -> None:
        """Move a node along the real state machine's shortest legal path, if it moves."""
        frm = self._states.state(node)
        if frm == to or (to == SUSPECT and frm not in (HEALTHY, RETURNED)):
            return
        for step in self._states.path_to(node, to):
            self._states.move(node, step, self._now_s, cause)

    def _build(self) -> ControllerState:
        self._version += 1
        health = HealthView(now_s=self._now_s, started_s=self._start_s, ticks=self._ticks,
                            samples_total=self._samples, degraded=self._degraded,
                            mode="approval" if self.approval else "dry-run",
                            source="fake", ingest_rate_per_s=float(self.topology.n_gpus))
        jobs = (JobGoodput("llm", 3600.0, 3240.0, 0.9, 0.98,
                           {"checkpoint": 120.0, "rework": 0.0, "restart": 72.0,
                            "straggler": 100.0, "congestion": 50.0, "other": 18.0}),)
        nodes = node_views(self.topology, self._states)
        return ControllerState(
            version=self._version, cluster=self.topology.name,
            nodes=nodes, health=health,
            findings=tuple(self._findings), transitions=transition_views(self._states.history()),
            actions=tuple(self._actions), breaker=self._breaker, goodput=jobs,
            goodput_history=tuple(self._history[-500:]),
            fleet=FleetView(tuple(float(t) if math.isfinite(t) else math.nan
                                  for t in self._temps),
                            gpu_health(self.topology, self._findings, nodes)),
            approval_mode=self.approval)
