"""Assemble one :class:`~brownout.views.model.ControllerState` from what the core knows.

The live controller hands over its findings, journal, breaker reading, goodput
and health each tick; :class:`SnapshotBuilder` turns them into one immutable
snapshot. Finding views are cached by (updates, resolution, severity), so a
tick costs in proportion to what changed, not to every finding ever opened.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from brownout.findings import Finding, Lifecycle
from brownout.policy.journal import Journal
from brownout.topology.model import Topology
from brownout.views.build import (
    action_views,
    finding_view,
    gpu_health,
    node_views,
    transition_views,
)
from brownout.views.history import SignalHistory
from brownout.views.jobs import JobView
from brownout.views.model import (
    BreakerView,
    ControllerState,
    FindingView,
    FleetView,
    GoodputPoint,
    HealthView,
    JobGoodput,
    RefusalView,
)

Mark = tuple[int, float | None, str]


@dataclass(frozen=True)
class SnapshotInput:
    """Everything one snapshot shows, as the controller holds it after a tick."""

    findings: tuple[Finding, ...]
    notices: tuple[Finding, ...]
    journal: Journal
    breaker: BreakerView
    goodput: tuple[JobGoodput, ...]
    goodput_history: tuple[GoodputPoint, ...]
    health: HealthView
    approval_mode: bool
    jobs: tuple[JobView, ...] = ()


class SnapshotBuilder:
    """Builds snapshots, reusing the views of findings that did not change.

    Args:
        topology: the cluster.
        history: the evidence series behind each finding's plot.
    """

    def __init__(self, topology: Topology, history: SignalHistory) -> None:
        self.topology = topology
        self.history = history
        self.version = 0
        self._views: dict[tuple[bool, str], tuple[Mark, FindingView]] = {}
        #: finding views built (new or changed) by the latest :meth:`build`
        self.fresh: list[FindingView] = []

    def build(self, s: SnapshotInput) -> ControllerState:
        self.version += 1
        self.fresh = []
        states = s.journal.node_states()
        findings = self._views_of(s.findings, notice=False)
        nodes = node_views(self.topology, states)
        return ControllerState(
            version=self.version, cluster=self.topology.name, nodes=nodes, health=s.health,
            findings=findings, notices=self._views_of(s.notices, notice=True),
            transitions=transition_views(states.history()),
            actions=action_views(s.journal.entries()),
            refusals=tuple(RefusalView(*r) for r in s.journal.refusals()[-500:]),
            breaker=s.breaker, goodput=s.goodput, goodput_history=s.goodput_history,
            fleet=FleetView(tuple(self.history.latest_temp_c.tolist()),
                            gpu_health(self.topology, findings, nodes)),
            approval_mode=s.approval_mode, jobs=s.jobs)

    def forget(self, finding_id: str) -> None:
        """Build this finding's view again next time (it could not be stored)."""
        self._views.pop((False, finding_id), None)

    def _views_of(self, fs: Iterable[Finding], notice: bool) -> tuple[FindingView, ...]:
        return tuple(self._view(f, notice) for f in fs)

    def _view(self, f: Finding, notice: bool) -> FindingView:
        life = f.lifecycle or Lifecycle()
        mark = (life.updates, life.resolved_at_s, f.severity)
        hit = self._views.get((notice, f.id))
        if hit is not None and (hit[0] == mark or (life.resolved and hit[0][1] is not None)):
            return hit[1]
        series = None if notice else self.history.series(f.kind, f.component)
        view = finding_view(f, notice, series)
        self._views[(notice, f.id)] = (mark, view)
        if not notice:
            self.fresh.append(view)
        return view
