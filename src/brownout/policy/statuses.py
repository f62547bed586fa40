"""Action statuses: an explicit transition table with a reason on every edge.

An action's life in the journal::

    awaiting_approval -> approved -> executing -> done
         \\-> rejected | expired        \\-> pending (retry) | failed | uncertain

Statuses are :class:`ActionStatus` values (a ``StrEnum``: the journal, the
API and the dashboard keep their plain strings). :meth:`ActionStatus.check`
refuses a move that is not in :data:`TRANSITIONS`, naming the allowed targets,
in the same way :mod:`brownout.policy.states` refuses illegal node moves.
"""

from __future__ import annotations

import enum

from brownout.errors import GuardrailError


class ActionStatus(enum.StrEnum):
    """Where one journalled action stands."""

    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    PENDING = "pending"
    EXECUTING = "executing"
    DONE = "done"
    DRY_RUN = "dry_run"
    FAILED = "failed"
    UNCERTAIN = "uncertain"

    @classmethod
    def check(cls, from_status: str, to_status: str) -> ActionStatus:
        """``to_status`` as a status, if the move from ``from_status`` is legal.

        Raises:
            GuardrailError: the move is not in :data:`TRANSITIONS`.
        """
        src, dst = cls(from_status), cls(to_status)
        if (src, dst) not in TRANSITIONS:
            allowed = sorted(t for f, t in TRANSITIONS if f == src)
            raise GuardrailError(f"action status {src} -> {dst} is not allowed"
                                 f" (from {src}: {', '.join(allowed) or 'none, it is final'})")
        return dst


S = ActionStatus
#: (from, to) -> why this edge exists
TRANSITIONS: dict[tuple[ActionStatus, ActionStatus], str] = {
    (S.AWAITING_APPROVAL, S.APPROVED): "a person approved it before it expired",
    (S.AWAITING_APPROVAL, S.REJECTED): "a person rejected it",
    (S.AWAITING_APPROVAL, S.EXPIRED): "nobody answered before the approval deadline",
    (S.PENDING, S.EXECUTING): "the controller started carrying it out",
    (S.APPROVED, S.EXECUTING): "the controller started carrying out an approved action",
    (S.EXECUTING, S.DONE): "the executor carried it out (or read back that it took effect)",
    (S.EXECUTING, S.DRY_RUN): "the dry-run executor printed it; nothing changed",
    (S.EXECUTING, S.FAILED): "the backend refused it for good (unknown node, unsupported)",
    (S.EXECUTING, S.PENDING): "retries ran out, or a crash interrupted it and read-back "
                              "says it did not take effect: it runs again",
    (S.EXECUTING, S.EXECUTING): "interrupted and the read-back failed: still in flight",
    (S.EXECUTING, S.UNCERTAIN): "interrupted and the backend cannot tell if it ran: "
                                "a person decides",
}
del S

#: statuses an action is decided into
INITIAL = frozenset({ActionStatus.PENDING, ActionStatus.AWAITING_APPROVAL})
#: statuses the controller executes
EXECUTABLE = (ActionStatus.PENDING, ActionStatus.APPROVED)
#: statuses an action never leaves
TERMINAL = frozenset(s for s in ActionStatus if not any(f == s for f, _ in TRANSITIONS))
#: statuses of actions that are, or may yet be, in effect (count against limits)
LIVE = frozenset({ActionStatus.PENDING, ActionStatus.EXECUTING, ActionStatus.DONE,
                  ActionStatus.AWAITING_APPROVAL, ActionStatus.APPROVED})
#: statuses of actions not yet finished (their node is busy)
IN_FLIGHT = (ActionStatus.PENDING, ActionStatus.EXECUTING, ActionStatus.APPROVED,
             ActionStatus.AWAITING_APPROVAL)
