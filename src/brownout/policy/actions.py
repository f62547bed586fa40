"""Action values: what the policy decides and the executors carry out.

An :class:`Action` is a frozen value. Its idempotency ``key`` is derived from
what it does and why (kind, component, node, finding), never from the time it
was decided, so deciding the same thing twice (after a crash and restart, for
example) yields the same key and the journal keeps one copy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

DRAIN_NODE = "drain_node"      # quarantine: no new work lands on the node
RESTART_JOB = "restart_job"    # restart the jobs of the node elsewhere (without it)
RESET_GPU = "reset_gpu"        # reset one GPU (needs the node drained first)
REBOOT_NODE = "reboot_node"    # reboot the host (needs the node drained first)
RETURN_NODE = "return_node"    # return a repaired node to service
#: move a job's ranks under a congested leaf switch onto spares under other
#: leaves at a restart, and keep new placements off that leaf while its finding
#: is open; quarantines nothing (no node, GPU or switch is taken out of service)
REROUTE = "reroute"
NOTIFY = "notify"              # open a ticket / tell a person; touches nothing

ACTION_KINDS = (DRAIN_NODE, RESTART_JOB, RESET_GPU, REBOOT_NODE, RETURN_NODE, REROUTE, NOTIFY)
#: actions that take capacity away from the fleet (count against blast-radius limits)
ISOLATING = frozenset({DRAIN_NODE, RESTART_JOB, RESET_GPU, REBOOT_NODE})
#: actions that change the cluster at all (everything but a notification); a
#: reroute restarts a job, so it is rate-limited, breaker- and approval-gated
DISRUPTIVE = frozenset({DRAIN_NODE, RESTART_JOB, RESET_GPU, REBOOT_NODE, RETURN_NODE, REROUTE})
#: execution order within one decision: isolate before touching the hardware
ORDER = {DRAIN_NODE: 0, RESTART_JOB: 1, RESET_GPU: 2, REBOOT_NODE: 3, RETURN_NODE: 4,
         REROUTE: 5, NOTIFY: 6}


@dataclass(frozen=True)
class Action:
    """One decision of the policy.

    Attributes:
        kind: one of :data:`ACTION_KINDS`.
        component: the component acted on (``n0007``, ``n0007/gpu3``, ``cdu02``).
        node: the node the action touches, or ``""`` for a notification about
            a component that is not on one node (a switch, a cooling domain).
        finding_id: the finding that caused it (``""`` for a return to service).
        reason: one human-readable line; goes into Slurm's Reason and the
            Kubernetes annotation.
        finding_kind: kind of that finding (for grouping and the journal).
    """

    kind: str
    component: str
    node: str
    finding_id: str
    reason: str
    finding_kind: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ACTION_KINDS:
            raise ValueError(f"unknown action kind {self.kind!r}")

    @property
    def key(self) -> str:
        """Idempotency key: stable across restarts, unique per (kind, target, cause)."""
        raw = "\x1f".join((self.kind, self.component, self.node, self.finding_id))
        return f"{self.kind}:{self.node or self.component}:" + hashlib.sha256(
            raw.encode()).hexdigest()[:12]

    @property
    def isolating(self) -> bool:
        return self.kind in ISOLATING

    @property
    def disruptive(self) -> bool:
        return self.kind in DISRUPTIVE


@dataclass(frozen=True)
class Refusal:
    """An action a guardrail refused, naming the rule, its limit and what it saw."""

    action: Action
    rule: str
    limit: float
    observed: float
    detail: str = ""

    def to_json(self) -> dict[str, object]:
        return {"action": self.action.kind, "component": self.action.component,
                "rule": self.rule, "limit": self.limit, "observed": self.observed}


@dataclass(frozen=True)
class PastAction:
    """An action the journal remembers (for cooldowns, rate limits, windows)."""

    kind: str
    node: str
    finding_id: str
    decided_at_s: float
    status: str
