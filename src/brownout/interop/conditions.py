"""Findings as node conditions and Events, the way node-problem-detector writes them.

Remediation tools (NVSentinel, Draino-style drainers, cluster autoscalers'
node-health checks, GCM Sentinel) already read node-problem-detector's output:

- a **node condition** per problem type: ``type``, ``status`` (``"True"``: the
  problem is present), ``reason`` (a CamelCase token), ``message``,
  ``lastHeartbeatTime`` (refreshed at every write) and ``lastTransitionTime``
  (changed only when ``status`` changes); written with a strategic merge patch
  of the node's ``status`` subresource, which merges conditions by ``type``;
- an **Event** at every transition: ``involvedObject`` the Node (``uid`` =
  the node name, as NPD sets it), ``source.component`` the reporter,
  ``source.host`` the node, ``type`` ``Warning`` (problem) or ``Normal``
  (recovered), named ``<node>.<hex nanoseconds>`` as client-go names them.

:class:`ConditionBook` is pure: it keeps the last published state and turns
each snapshot of findings into the conditions and Events to write. Only
findings at a node or a part of one are published (the same rule as for
NVSentinel, :data:`~brownout.interop.health_events.NODE_KINDS`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from brownout.findings import Finding
from brownout.interop.health_events import NODE_KINDS, check_name
from brownout.interop.join import node_of
from brownout.interop.npd_source import OWN_PREFIX

COMPONENT = "brownout"


def k8s_time(t_s: float) -> str:
    """Unix seconds as the API's metav1.Time (RFC 3339, whole seconds, ``Z``)."""
    return datetime.fromtimestamp(int(t_s), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _camel(kind: str) -> str:
    return "".join(w.capitalize() for w in kind.split("_"))


def kind_of(condition_type: str) -> str:
    """``BrownoutGpuDegraded`` -> ``gpu_degraded`` (the inverse of ``check_name``)."""
    name = condition_type.removeprefix(OWN_PREFIX)
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def _seconds(value: object) -> float:
    if not isinstance(value, str):
        return 0.0
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return 0.0


@dataclass(frozen=True)
class NodeCondition:
    """One condition of one node (times in unix s)."""

    type: str
    status: str
    reason: str
    message: str
    last_heartbeat_s: float
    last_transition_s: float

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> NodeCondition:
        """A condition as the API returns it (times it cannot read become 0)."""
        return cls(str(raw.get("type", "")), str(raw.get("status", "")),
                   str(raw.get("reason", "")), str(raw.get("message", "")),
                   _seconds(raw.get("lastHeartbeatTime")), _seconds(raw.get("lastTransitionTime")))

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "status": self.status, "reason": self.reason,
                "message": self.message, "lastHeartbeatTime": k8s_time(self.last_heartbeat_s),
                "lastTransitionTime": k8s_time(self.last_transition_s)}


@dataclass(frozen=True)
class NodeEvent:
    """One core/v1 Event about a node."""

    node: str
    type: str
    reason: str
    message: str
    t_s: float

    def to_json(self, namespace: str = "default", component: str = COMPONENT) -> dict[str, Any]:
        stamp = k8s_time(self.t_s)
        return {"apiVersion": "v1", "kind": "Event",
                "metadata": {"name": f"{self.node}.{int(self.t_s * 1e9):x}",
                             "namespace": namespace},
                "involvedObject": {"kind": "Node", "name": self.node, "uid": self.node},
                "reason": self.reason, "message": self.message, "type": self.type,
                "source": {"component": component, "host": self.node},
                "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
                "reportingComponent": component, "reportingInstance": self.node}


def _message(items: list[Finding]) -> str:
    parts = [f"{f.kind} {f.severity} {f.component} (confidence {f.confidence:.2f}, "
             f"finding {f.id}): {' '.join(f.summary.split())}" for f in items]
    return "; ".join(parts)[:1024]


def _open(f: Finding) -> bool:
    return f.resolved_at is None


@dataclass
class ConditionBook:
    """What brownout last published per node; turns findings into writes.

    Attributes:
        heartbeat_s: re-send unchanged conditions this often (NPD's heartbeat).
    """

    heartbeat_s: float = 300.0
    _state: dict[tuple[str, str], NodeCondition] = field(default_factory=dict)
    _sent_s: dict[str, float] = field(default_factory=dict)
    _kinds: dict[tuple[str, str], str] = field(default_factory=dict)

    def seed(self, published: dict[str, list[NodeCondition]]) -> None:
        """Start from what is on the nodes now (brownout's own conditions), so that a
        restart keeps transition times and clears conditions whose findings are gone."""
        for node, conditions in published.items():
            for c in conditions:
                if c.type.startswith(OWN_PREFIX) and (node, c.type) not in self._state:
                    self._state[(node, c.type)] = c
                    self._kinds[(node, c.type)] = kind_of(c.type)

    def resend(self, node: str) -> None:
        """A write to ``node`` failed: send its conditions again at the next update."""
        self._sent_s.pop(node, None)

    def desired(self, findings: Iterable[Finding]) -> dict[tuple[str, str], list[Finding]]:
        """(node, condition type) -> the open findings behind it."""
        out: dict[tuple[str, str], list[Finding]] = defaultdict(list)
        for f in findings:
            node = node_of(f)
            if node and f.kind in NODE_KINDS and _open(f):
                out[(node, check_name(f.kind))].append(f)
        return out

    def update(self, findings: Iterable[Finding], now_s: float
               ) -> tuple[dict[str, list[NodeCondition]], list[NodeEvent]]:
        """The conditions to write per node (changed or due a heartbeat) and the Events."""
        want = self.desired(findings)
        events: list[NodeEvent] = []
        changed: set[str] = set()
        for key in sorted(set(want) | set(self._state)):
            old = self._state.get(key)
            cond, event = self._next(key, want.get(key, []), now_s)
            if event is not None:
                events.append(event)
            if old is None or (old.status, old.message) != (cond.status, cond.message):
                changed.add(key[0])
            self._state[key] = cond
        writes: dict[str, list[NodeCondition]] = defaultdict(list)
        for (node, _t), cond in sorted(self._state.items()):
            if node in changed or now_s - self._sent_s.get(node, -1e18) >= self.heartbeat_s:
                writes[node].append(cond)
        for node in writes:
            self._sent_s[node] = now_s
        return dict(writes), events

    def _next(self, key: tuple[str, str], items: list[Finding], now_s: float
              ) -> tuple[NodeCondition, NodeEvent | None]:
        node, ctype = key
        kind = self._kinds.setdefault(key, items[0].kind if items else "")
        status = "True" if items else "False"
        reason = _camel(kind) if items else f"No{_camel(kind)}"
        message = _message(items) if items else f"brownout sees no {kind} on this node"
        old = self._state.get(key)
        if old is not None and old.status == status:
            return NodeCondition(ctype, status, reason, message, now_s,
                                 old.last_transition_s), None
        cond = NodeCondition(ctype, status, reason, message, now_s, now_s)
        return cond, NodeEvent(node, "Warning" if items else "Normal", reason, message, now_s)
