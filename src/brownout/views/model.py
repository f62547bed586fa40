"""The read model: one frozen snapshot of what brownout knows, as plain values.

The HTTP API, the dashboard, ``/metrics`` and the HTML report never touch the
engine, the policy or the simulator directly. They read a
:class:`ControllerState` (immutable values, rebuilt after every tick by
:class:`brownout.views.snapshot.SnapshotBuilder`) through the
:class:`ControllerView` protocol. What drives the controller (tick, approve,
reject) is the service's :class:`brownout.service.facade.ControllerFacade`.

This module imports no web framework: it is plain data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from brownout.findings import Finding
from brownout.views.jobs import JobView

#: node health codes used by the fleet map (per GPU)
HEALTH_OK, HEALTH_SUSPECT, HEALTH_FAULT, HEALTH_BLIND = 0, 1, 2, 3


def _num(x: float | None) -> float | None:
    """JSON-safe number: NaN and infinities become None."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)


@dataclass(frozen=True)
class SeriesView:
    """A small time series drawn beside a finding.

    Attributes:
        label: what is plotted (``GPU temperature``).
        unit: unit of ``value`` (``degC``).
        t_s: sample times, unix seconds.
        value: values (NaN where there was no sample).
    """

    label: str
    unit: str
    t_s: tuple[float, ...]
    value: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "unit": self.unit, "t_s": list(self.t_s),
                "value": [_num(v) for v in self.value]}


@dataclass(frozen=True)
class FindingView:
    """A finding with its lifecycle and evidence plot.

    Attributes:
        finding: the finding (spec/findings.md).
        notice: True for notices (no faulty component).
        resolved_at_s: when its evidence went away, or None while open.
        last_seen_s: the last tick that still supported it.
        updates: how many ticks confirmed it after it opened.
        series: evidence time series, when the controller has one.
    """

    finding: Finding
    notice: bool = False
    resolved_at_s: float | None = None
    last_seen_s: float | None = None
    updates: int = 0
    series: SeriesView | None = None

    @property
    def open(self) -> bool:
        return self.resolved_at_s is None

    def to_json(self) -> dict[str, Any]:
        out = self.finding.to_json()
        out.update(status="open" if self.open else "resolved", notice=self.notice,
                   resolved_at=self.resolved_at_s, last_seen=self.last_seen_s,
                   updates=self.updates,
                   series=None if self.series is None else self.series.to_json())
        return out


@dataclass(frozen=True)
class TransitionView:
    """One recorded change of a node's state."""

    node: str
    from_state: str
    to_state: str
    at_s: float
    reason: str
    cause: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NodeView:
    """One node: where it is and what state brownout holds it in."""

    name: str
    rack: str
    cooling: str
    leaf: str
    gpus: int
    state: str = "healthy"
    since_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ActionView:
    """One journalled action and where it stands."""

    key: str
    kind: str
    component: str
    node: str
    finding_id: str
    reason: str
    status: str
    decided_at_s: float
    updated_at_s: float | None = None
    expires_at_s: float | None = None
    attempts: int = 0
    last_error: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RefusalView:
    """An action a guardrail refused."""

    kind: str
    component: str
    rule: str
    limit: float
    observed: float

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "component": self.component, "rule": self.rule,
                "limit": _num(self.limit), "observed": _num(self.observed)}


@dataclass(frozen=True)
class BreakerView:
    """The circuit breaker: open stops every automatic isolation."""

    open: bool = False
    rule: str = ""
    limit: float = 0.0
    observed: float = 0.0
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"state": "open" if self.open else "closed", "open": self.open,
                "rule": self.rule, "limit": _num(self.limit), "observed": _num(self.observed),
                "reason": self.reason}


@dataclass(frozen=True)
class JobGoodput:
    """One job's goodput ledger (spec/cli.md, ``brownout goodput``).

    ``steps`` and ``restarts`` are the ledger's; ``late_records`` counts step
    records that arrived after their step was settled (left out of the ledger).
    """

    job: str
    wall_s: float
    productive_s: float
    ettr: float
    availability: float
    lost_s: Mapping[str, float]
    steps: int = 0
    restarts: int = 0
    late_records: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"job": self.job, "wall_s": self.wall_s, "productive_s": self.productive_s,
                "ettr": self.ettr, "availability": self.availability,
                "lost_s": dict(self.lost_s), "steps": self.steps, "restarts": self.restarts,
                "late_records": self.late_records}


@dataclass(frozen=True)
class GoodputPoint:
    """Cluster goodput (ETTR) and availability at one time."""

    t_s: float
    ettr: float
    availability: float

    def to_json(self) -> dict[str, Any]:
        return {"t_s": self.t_s, "ettr": _num(self.ettr),
                "availability": _num(self.availability)}


@dataclass(frozen=True)
class HealthView:
    """The controller's own health.

    Attributes:
        now_s: the controller clock (simulated time in the demo).
        started_s: when the controller started (its clock).
        ticks: ticks run so far.
        ingest_lag_s: ``now_s`` minus the newest sample or step ingested.
        detection_lag_s: wall seconds the last tick took (ingest, detect, decide).
        samples_total, steps_total: data ingested so far.
        ingest_rate_per_s: samples per wall second over the recent ticks.
        degraded: one line per source or part that is degraded now.
        mode: ``approval`` or ``dry-run`` or ``automatic``.
        executor: executor name.
        source: what feeds the controller (``simulator``, ``prometheus``...).
        finished: True when a finite source (a scenario) has run out.
        errors: recent error lines (executor failures and the like).
        ledger_s: wall seconds the last goodput ledger refresh took.
    """

    now_s: float
    started_s: float
    ticks: int = 0
    ingest_lag_s: float = 0.0
    detection_lag_s: float = 0.0
    samples_total: int = 0
    steps_total: int = 0
    ingest_rate_per_s: float = 0.0
    degraded: tuple[str, ...] = ()
    mode: str = "dry-run"
    executor: str = "dry-run"
    source: str = ""
    finished: bool = False
    errors: tuple[str, ...] = ()
    ledger_s: float = 0.0

    @property
    def status(self) -> str:
        return "degraded" if self.degraded else "ok"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(status=self.status, degraded=list(self.degraded), errors=list(self.errors),
                   ingest_lag_s=_num(self.ingest_lag_s),
                   detection_lag_s=_num(self.detection_lag_s))
        return out


@dataclass(frozen=True)
class FleetView:
    """Live colours of the fleet map: one value per GPU, in topology order.

    Attributes:
        gpu_temp_c: latest temperature per GPU (NaN when unknown).
        gpu_health: :data:`HEALTH_OK` ... :data:`HEALTH_BLIND` per GPU.
    """

    gpu_temp_c: tuple[float, ...] = ()
    gpu_health: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"gpu_temp_c": [None if not math.isfinite(v) else round(v, 1)
                               for v in self.gpu_temp_c],
                "gpu_health": list(self.gpu_health)}


@dataclass(frozen=True)
class ControllerState:
    """Everything the service shows, as of one tick. Immutable; swapped whole.

    Attributes:
        version: increases with every new snapshot.
        cluster: cluster name.
        nodes: every node of the topology, in topology order.
        findings, notices: everything opened so far (open and resolved).
        transitions: node state history, oldest first.
        actions: the journal, in decision order.
        refusals: what the guardrails refused, oldest first.
        breaker: the circuit breaker.
        goodput: per job.
        goodput_history: cluster ETTR and availability over time.
        health: the controller's own health.
        fleet: live colours of the fleet map.
        approval_mode: True when disruptive actions wait for a person.
        jobs: the training jobs whose step records the controller follows.
    """

    version: int
    cluster: str
    nodes: tuple[NodeView, ...]
    health: HealthView
    findings: tuple[FindingView, ...] = ()
    notices: tuple[FindingView, ...] = ()
    transitions: tuple[TransitionView, ...] = ()
    actions: tuple[ActionView, ...] = ()
    refusals: tuple[RefusalView, ...] = ()
    breaker: BreakerView = field(default_factory=BreakerView)
    goodput: tuple[JobGoodput, ...] = ()
    goodput_history: tuple[GoodputPoint, ...] = ()
    fleet: FleetView = field(default_factory=FleetView)
    approval_mode: bool = False
    jobs: tuple[JobView, ...] = ()

    @property
    def n_gpus(self) -> int:
        return sum(n.gpus for n in self.nodes)

    def finding(self, finding_id: str) -> FindingView | None:
        """The finding or notice with this id, if any."""
        for f in (*self.findings, *self.notices):
            if f.finding.id == finding_id:
                return f
        return None

    def action(self, key: str) -> ActionView | None:
        """The journalled action with this key, if any."""
        for a in self.actions:
            if a.key == key:
                return a
        return None

    def node(self, name: str) -> NodeView | None:
        for n in self.nodes:
            if n.name == name:
                return n
        return None


class ControllerView(Protocol):
    """Anything that can show the controller's latest snapshot."""

    def state(self) -> ControllerState:
        """The latest snapshot; cheap and safe to call from any thread (no work is done)."""
        ...
