"""The dry-run executor: says what it would do, touches nothing."""

from __future__ import annotations

import sys
from typing import TextIO

from brownout.policy.actions import Action
from brownout.policy.ports import Observation


class DryRunExecutor:
    """Prints one line per action to ``out`` (stderr by default).

    Nothing changes in the cluster, so executing again is harmless
    (:meth:`idempotent` is True) and nothing can be read back.
    """

    name = "dry-run"

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out if out is not None else sys.stderr

    def execute(self, action: Action) -> None:
        where = action.node or action.component
        print(f"dry-run: would {action.kind} {where} [{action.key}]: {action.reason}",
              file=self.out)

    def observe(self, action: Action) -> Observation:
        return Observation.NOT_APPLIED

    def idempotent(self, action: Action) -> bool:
        return True
