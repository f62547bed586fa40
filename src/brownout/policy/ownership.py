"""Ownership of drains: brownout only undoes what it did, and only as it left it.

A drain belongs to brownout while the scheduler still shows the mark brownout
wrote with it, naming the drain's idempotency key (``drain_node:<node>:<hash>``):

- Slurm: the node's Reason starts with ``brownout[drain_node:<node>:<hash>]``
  (:func:`brownout.executors.slurm.reason_for` writes it);
- Kubernetes: the node carries the ``brownout.io/quarantine`` taint and the
  ``brownout.io/action-key`` annotation names a drain of that node, and no
  other tool's taint appeared since (the executor checks the taints).

A node drained by anyone else (an administrator, another tool), or whose
drain reason someone changed since brownout drained it, is *not* brownout's:

- it is never resumed or uncordoned: the policy does not propose a
  ``return_node`` for it and the executors refuse one (permanent error, the
  action ends ``failed`` and is reported);
- brownout never overwrites that drain: a ``drain_node`` of such a node
  leaves the node exactly as it is (its goal, no new work on the node, holds);
- it leaves the peer pool: the guardrails count it out of service, the policy
  treats it as out of service (no drain or restart of it), and placement
  does not use it as a spare (:func:`out_of_pool`).

Pure functions here; the executors read the scheduler and implement
:class:`OwnershipReader`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

from brownout.policy.states import QUARANTINED

#: the mark brownout's Slurm drain writes at the start of the Reason
SLURM_MARK = re.compile(r"brownout\[drain_node:(?P<node>[^:\]\s]+):(?P<hash>[0-9a-f]{12})\]")


class Owner(enum.Enum):
    """Who holds a node's drain."""

    NOBODY = "nobody"      # the node is not drained
    BROWNOUT = "brownout"  # drained by brownout, and its mark is intact
    OTHER = "other"        # drained by someone else, or its reason changed since


def is_drain_key(node: str, key: str) -> bool:
    """True when ``key`` is the idempotency key of a brownout drain of ``node``."""
    head, sep, digest = key.rpartition(":")
    return bool(sep) and head == f"drain_node:{node}" and bool(re.fullmatch(r"[0-9a-f]{12}",
                                                                             digest))


def slurm_owner(node: str, drained: bool, reason: str) -> Owner:
    """Who holds the drain of a Slurm node, from its state and Reason."""
    if not drained:
        return Owner.NOBODY
    m = SLURM_MARK.match(reason.strip())
    return Owner.BROWNOUT if m is not None and m.group("node") == node else Owner.OTHER


def refuse_line(backend: str, node: str, what: str, reason: str) -> str:
    """The one line a refused resume says (names node, holder and its reason)."""
    shown = " ".join(reason.split())[:120] or "none"
    return (f"{backend}: node {node} was drained by someone else or its drain reason changed"
            f" (reason {shown!r}): brownout does not {what} it")


@runtime_checkable
class OwnershipReader(Protocol):
    """What an executor tells the controller about drains it did not make."""

    def drained_by_others(self) -> Mapping[str, str]:
        """Node -> the reason of every node drained by someone other than brownout."""
        ...


def out_of_pool(states: Mapping[str, str], foreign: Iterable[str],
                as_state: str = QUARANTINED) -> dict[str, str]:
    """Node states with every foreign-drained node out of service (``as_state``).

    Used for what the policy and placement see; the recorded state machine is
    not changed (brownout did not drain those nodes).
    """
    out = dict(states)
    for node in foreign:
        out[node] = as_state
    return out
