"""Node states: an explicit transition table with a reason on every edge.

A node's life under brownout::

    healthy -> suspect -> quarantined -> draining -> in_repair -> returned -> healthy

plus the shortcuts listed in :data:`TRANSITIONS`. Every change is recorded in
the node's history; a change that is not in the table raises
:class:`~brownout.errors.GuardrailError`, because an automation that does not
know what state a machine is in must stop, not guess.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from brownout.errors import GuardrailError


class NodeState(enum.StrEnum):
    """Where a node stands under brownout (a ``StrEnum``: journal and API keep strings)."""

    HEALTHY = "healthy"
    SUSPECT = "suspect"
    QUARANTINED = "quarantined"
    DRAINING = "draining"
    IN_REPAIR = "in_repair"
    RETURNED = "returned"


HEALTHY = NodeState.HEALTHY
SUSPECT = NodeState.SUSPECT
QUARANTINED = NodeState.QUARANTINED
DRAINING = NodeState.DRAINING
IN_REPAIR = NodeState.IN_REPAIR
RETURNED = NodeState.RETURNED
STATES = tuple(NodeState)
#: states in which a node is out of service (counts against blast-radius limits)
OUT_OF_SERVICE = frozenset({QUARANTINED, DRAINING, IN_REPAIR})

#: (from, to) -> why this edge exists
TRANSITIONS: dict[tuple[NodeState, NodeState], str] = {
    (HEALTHY, SUSPECT): "a finding names the node or one of its parts",
    (HEALTHY, QUARANTINED): "a finding severe enough to isolate at once",
    (SUSPECT, HEALTHY): "its findings closed without any action",
    (SUSPECT, QUARANTINED): "the policy decided to isolate it",
    (QUARANTINED, DRAINING): "the scheduler accepted the drain; jobs are moving off",
    (QUARANTINED, RETURNED): "quarantine lifted before any drain (false alarm)",
    (DRAINING, IN_REPAIR): "no work left on it; handed over for repair",
    (DRAINING, RETURNED): "the drain was cancelled and the node resumed",
    (IN_REPAIR, RETURNED): "repaired and resumed in the scheduler",
    (RETURNED, HEALTHY): "probation passed without a new finding",
    (RETURNED, SUSPECT): "a new finding during probation (a flap)",
    (RETURNED, QUARANTINED): "a severe finding during probation (a flap)",
}


@dataclass(frozen=True)
class Transition:
    """One recorded change of state."""

    node: str
    from_state: str
    to_state: str
    at_s: float
    reason: str
    cause: str = ""


class NodeStates:
    """The state of every node, with the history of how it got there.

    Nodes never seen are ``healthy``. Not thread-safe; one controller owns it.
    """

    def __init__(self, current: dict[str, str] | None = None,
                 history: list[Transition] | None = None) -> None:
        self._current = dict(current or {})
        self._history = list(history or [])

    def state(self, node: str) -> NodeState:
        """Current state of ``node`` (``healthy`` if never recorded)."""
        return NodeState(self._current.get(node, HEALTHY))

    def snapshot(self) -> dict[str, str]:
        """Every node not healthy, with its state."""
        return {n: s for n, s in self._current.items() if s != HEALTHY}

    def history(self, node: str | None = None) -> list[Transition]:
        """Recorded transitions, oldest first (of one node, or all)."""
        return [t for t in self._history if node is None or t.node == node]

    def since_s(self, node: str) -> float | None:
        """When ``node`` entered its current state, or None if it never moved."""
        for t in reversed(self._history):
            if t.node == node:
                return t.at_s
        return None

    def move(self, node: str, to_state: str, at_s: float, cause: str = "") -> Transition:
        """Move ``node`` to ``to_state``.

        Raises:
            GuardrailError: the edge is not in :data:`TRANSITIONS`.
        """
        frm = self.state(node)
        reason = TRANSITIONS.get((frm, NodeState(to_state))) \
            if to_state in NodeState.__members__.values() else None
        if reason is None:
            raise GuardrailError(
                f"illegal node transition {node}: {frm} -> {to_state}"
                f" (allowed from {frm}: {', '.join(allowed_from(frm)) or 'none'})")
        t = Transition(node, frm, NodeState(to_state), at_s, reason, cause)
        self._current[node] = t.to_state
        self._history.append(t)
        return t

    def path_to(self, node: str, to_state: str) -> list[str]:
        """Shortest chain of legal states leading from the current state to ``to_state``."""
        return shortest_path(self.state(node), to_state)


def allowed_from(state: str) -> list[str]:
    """States reachable in one legal step from ``state``."""
    return [b for (a, b) in TRANSITIONS if a == state]


def shortest_path(frm: str, to: str) -> list[str]:
    """States after ``frm`` on the shortest legal path to ``to`` ([] if already there).

    Raises:
        GuardrailError: ``to`` cannot be reached from ``frm``.
    """
    if frm == to:
        return []
    frontier, seen = [[frm]], {frm}
    while frontier:
        path = frontier.pop(0)
        for nxt in allowed_from(path[-1]):
            if nxt == to:
                return [*path[1:], nxt]
            if nxt not in seen:
                seen.add(nxt)
                frontier.append([*path, nxt])
    raise GuardrailError(f"no legal path from {frm} to {to}")
