"""The policy's port: the one protocol every executor (Slurm, Kubernetes, dry-run,
simulator, fakes) implements. The policy owns it and never imports an executor;
one factory at the edge (:mod:`brownout.executors.factory`) builds them.

An executor carries out an :class:`~brownout.policy.actions.Action` and can
read back whether it took effect. Backend errors are translated at the
boundary into :class:`~brownout.errors.ExecutorError` (retryable by default)
or :class:`PermanentExecutorError` (retrying cannot help); the controller
retries, and an action that still fails stays in the journal, never lost.
"""

from __future__ import annotations

import enum
from typing import Protocol

from brownout.errors import ExecutorError
from brownout.policy.actions import Action


class Observation(enum.Enum):
    """What reading back the real state says about one action."""

    APPLIED = "applied"          # the effect is in place
    NOT_APPLIED = "not_applied"  # the effect is not in place
    UNKNOWN = "unknown"          # the backend cannot tell (e.g. a GPU reset)


class PermanentExecutorError(ExecutorError):
    """A backend error that retrying cannot fix (unknown node, unsupported action)."""


class Executor(Protocol):
    """Carries out actions on one backend."""

    name: str

    def execute(self, action: Action) -> None:
        """Carry out ``action``; raise :class:`ExecutorError` on failure."""
        ...

    def observe(self, action: Action) -> Observation:
        """Read back the real state: is ``action``'s effect in place?"""
        ...

    def idempotent(self, action: Action) -> bool:
        """True when executing ``action`` twice has the effect of once."""
        ...
