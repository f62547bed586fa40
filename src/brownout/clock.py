"""Injected time. Core code reads a :class:`Clock`, never the wall clock."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current time in unix seconds."""

    def now(self) -> float:
        """Current time, unix seconds."""
        ...


class WallClock:
    """Production clock: the host's real time."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to (simulation and tests).

    Args:
        start_s: initial time, unix seconds.
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = float(start_s)

    def now(self) -> float:
        return self._now_s

    def advance(self, dt_s: float) -> None:
        """Move time forward by ``dt_s`` seconds (never backward)."""
        if dt_s < 0:
            raise ValueError(f"clock cannot move backward (dt_s={dt_s})")
        self._now_s += dt_s

    def set(self, t_s: float) -> None:
        """Jump to ``t_s``; it must not be earlier than now."""
        self.advance(t_s - self._now_s)
