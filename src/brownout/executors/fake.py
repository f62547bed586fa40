"""An in-memory executor for tests, optionally backed by an append-only effects file.

The effects file stands in for the real world in crash tests: each executed
action is one line ``<key>\\t<kind>\\t<node>`` written with a single
``write()`` on an ``O_APPEND`` descriptor and fsynced, so a ``kill -9`` leaves
an action either wholly done or not done at all, as a real ``scontrol`` call
would. Reading the file back tells the controller what really happened.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from brownout.errors import ExecutorError
from brownout.policy.actions import Action
from brownout.policy.ports import Observation


class FakeExecutor:
    """Records executed actions; can fail on demand.

    Args:
        effects_path: optional file that makes the effects durable across processes.
        fail: optional ``action -> exception or None`` hook to inject failures.
        delay_s: seconds each execution takes (to widen crash windows in tests).
    """

    name = "fake"

    def __init__(self, effects_path: str | Path | None = None,
                 fail: Callable[[Action], Exception | None] | None = None,
                 delay_s: float = 0.0) -> None:
        self.effects_path = None if effects_path is None else Path(effects_path)
        self.fail = fail
        self.delay_s = delay_s
        self.executed: list[Action] = []
        self.calls = 0

    def execute(self, action: Action) -> None:
        self.calls += 1
        err = self.fail(action) if self.fail else None
        if err is not None:
            raise err if isinstance(err, ExecutorError) else ExecutorError(str(err))
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.effects_path is not None:
            line = f"{action.key}\t{action.kind}\t{action.node}\n".encode()
            fd = os.open(self.effects_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        self.executed.append(action)

    def effects(self) -> list[str]:
        """Keys of every executed action, in order, duplicates kept."""
        if self.effects_path is None:
            return [a.key for a in self.executed]
        if not self.effects_path.exists():
            return []
        return [ln.split("\t", 1)[0] for ln in self.effects_path.read_text().splitlines() if ln]

    def observe(self, action: Action) -> Observation:
        return Observation.APPLIED if action.key in self.effects() else Observation.NOT_APPLIED

    def idempotent(self, action: Action) -> bool:
        return False  # a fake counts every call: repeating is the bug tests look for
