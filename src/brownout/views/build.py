"""Turn what the core knows into view values: findings, actions, nodes, GPU health.

Pure functions over findings, journal entries, node states and the topology;
the snapshot builder and ``brownout report`` both use them, so the API, the
dashboard and the report show the same thing the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from brownout.findings import Finding, Lifecycle
from brownout.policy.journal import Entry
from brownout.policy.states import OUT_OF_SERVICE, NodeState, NodeStates, Transition
from brownout.topology.component import ComponentRef
from brownout.topology.model import Topology
from brownout.views.model import (
    HEALTH_BLIND,
    HEALTH_FAULT,
    HEALTH_OK,
    HEALTH_SUSPECT,
    ActionView,
    FindingView,
    NodeView,
    SeriesView,
    TransitionView,
)


def plain(x: Any) -> Any:
    """A JSON-safe copy: numpy values to Python, NaN/inf to None, containers copied."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple | np.ndarray):
        return [plain(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def finding_view(f: Finding, notice: bool, series: SeriesView | None) -> FindingView:
    """A finding (or notice) with its lifecycle and evidence plot, JSON-safe."""
    life = f.lifecycle or Lifecycle()
    g = replace(f, evidence=plain(f.evidence), lifecycle=None)
    return FindingView(g, notice, life.resolved_at_s, life.last_seen_s, life.updates, series)


def action_view(e: Entry) -> ActionView:
    """One journalled action as a view."""
    a = e.action
    return ActionView(a.key, a.kind, a.component, a.node, a.finding_id, a.reason, e.status,
                      e.decided_at_s, None, e.expires_at_s, e.attempts, e.last_error)


def action_views(entries: Iterable[Entry]) -> tuple[ActionView, ...]:
    """Journalled actions, in decision order, as views."""
    return tuple(action_view(e) for e in entries)


def transition_views(history: Iterable[Transition]) -> tuple[TransitionView, ...]:
    return tuple(TransitionView(t.node, t.from_state, t.to_state, t.at_s, t.reason, t.cause)
                 for t in history)


def node_views(topology: Topology, states: NodeStates) -> tuple[NodeView, ...]:
    """Every node with its state and when it last changed."""
    since = {t.node: t.at_s for t in states.history()}  # one pass: each node's last change
    return tuple(NodeView(n.name, n.rack, n.cooling, n.leaf, n.gpus, states.state(n.name),
                          since.get(n.name)) for n in topology.nodes)


def _node_code(state: str) -> int:
    if state in OUT_OF_SERVICE:
        return HEALTH_FAULT
    return HEALTH_SUSPECT if state in (NodeState.SUSPECT, NodeState.RETURNED) else HEALTH_OK


def gpu_health(topology: Topology, findings: Iterable[FindingView],
               nodes: tuple[NodeView, ...]) -> tuple[int, ...]:
    """Health code of every GPU for the fleet map: node state, then open findings."""
    node_code = np.array([_node_code(n.state) for n in nodes] or [HEALTH_OK], np.int64)
    code = node_code[topology.gpu_node] if len(nodes) else np.zeros(0, np.int64)
    for f in findings:
        if f.open:
            _mark(topology, code, f.finding)
    return tuple(int(c) for c in code)


def _mark(topo: Topology, code: np.ndarray, g: Finding) -> None:
    ref = ComponentRef.parse(g.component)
    if g.component_type == "gpu" and ref.gpu is not None:
        gid = topo.gpu_id(ref.host, ref.gpu)
        if gid >= 0:
            code[gid] = max(int(code[gid]), HEALTH_FAULT)
    elif g.kind == "telemetry_loss" and ref.host in topo.node_index:
        i = topo.node_index[ref.host]
        code[topo.gpu_offset[i]:topo.gpu_offset[i + 1]] = HEALTH_BLIND
