"""What feeds the live controller: the simulator in process, or a telemetry source.

A :class:`Feed` hands over, on each pull, the telemetry and step records that
arrived up to a time. :class:`SimulatorFeed` advances the digital twin in
lockstep with the controller clock (accelerated time in the demo);
:class:`SourceFeed` wraps any :class:`~brownout.telemetry.sources.base.Source`
(a Prometheus server, exporters scraped directly). Approved actions act on
the twin through :class:`brownout.executors.simulator.SimulatorExecutor`, the
same executor ``brownout evaluate`` uses.
"""

from __future__ import annotations

import math
from typing import Protocol

from brownout.errors import BrownoutError
from brownout.sim.engine import Simulation
from brownout.telemetry.frame import Frame
from brownout.telemetry.series import SeriesRegistry
from brownout.telemetry.sources.base import Source
from brownout.telemetry.steps import StepRecords


class Feed(Protocol):
    """Data for the controller, pulled tick by tick."""

    name: str

    def pull(self, until_s: float) -> tuple[Frame | None, StepRecords | None]:
        """New telemetry and step records with timestamps up to ``until_s``."""
        ...

    def watermark_s(self) -> float:
        """Every datum stamped up to this time has been pulled (detection may run to here)."""
        ...

    def steps_until_s(self, now_s: float) -> float:
        """Every step record stamped up to this time has been pulled (NaN: no more is
        known than :meth:`watermark_s`); ``now_s`` is the controller's clock."""
        ...

    def degraded(self) -> tuple[str, ...]:
        """One line per problem the feed has now (empty when healthy)."""
        ...

    def finished(self) -> bool:
        """True when no more data will come (a scenario ran out)."""
        ...

    def close(self) -> None: ...


class SimulatorFeed:
    """The digital twin, ticked until the controller clock.

    Args:
        sim: the simulation (fine mode).
        registry: series registry of the controller.
    """

    name = "simulator"

    def __init__(self, sim: Simulation, registry: SeriesRegistry) -> None:
        self.sim = sim
        self.registry = registry
        self._scrapes = 0
        self._steps = 0

    def pull(self, until_s: float) -> tuple[Frame | None, StepRecords | None]:
        sim = self.sim
        while not sim.done() and sim.now() + sim.dt_s <= until_s + 1e-9:
            sim.tick()
        frame = None
        if len(sim.recording) > self._scrapes:
            frame = sim.frame(self.registry, start_scrape=self._scrapes)
            self._scrapes = len(sim.recording)
        steps = sim.steps()
        new = steps.take(slice(self._steps, None)) if len(steps) > self._steps else None
        self._steps = len(steps)
        return frame, new

    def watermark_s(self) -> float:
        # the twin ticks whole steps: records of its next tick may still fall before
        # ``until_s``, so only data up to its own clock is complete
        return self.sim.now()

    def steps_until_s(self, now_s: float) -> float:
        return self.sim.now()  # the twin's records are complete up to its own clock

    def degraded(self) -> tuple[str, ...]:
        return ()

    def finished(self) -> bool:
        return self.sim.done()

    def close(self) -> None:
        """Nothing to release."""


class SourceFeed:
    """A telemetry source (Prometheus, scraped exporters); no step records.

    Args:
        source: the source.
        name: what it is called on the dashboard.
    """

    def __init__(self, source: Source, name: str) -> None:
        self.source = source
        self.name = name
        self._error = ""
        self._until_s = float("-inf")

    def pull(self, until_s: float) -> tuple[Frame | None, StepRecords | None]:
        self._until_s = max(self._until_s, until_s)
        try:
            frame = self.source.fetch(until_s)
        except BrownoutError as exc:  # down or answering badly: say so, keep running
            self._error = f"{self.name}: {exc}"
            return None, None
        self._error = ""
        return frame, None

    def watermark_s(self) -> float:
        return self._until_s

    def steps_until_s(self, now_s: float) -> float:
        return math.nan  # telemetry only: no step records

    def degraded(self) -> tuple[str, ...]:
        lines = [self._error] if self._error else []
        lines.extend(f"{self.name}: {line}" for line in self.source.problems.summary_lines()[:3])
        return tuple(lines)

    def finished(self) -> bool:
        return False

    def close(self) -> None:
        close = getattr(self.source, "close", None)
        if close is not None:
            close()
