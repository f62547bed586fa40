"""What one simulation run produced, in either mode (fine or coarse).

Its own module so that the fine runner (:mod:`brownout.sim.run`) and the
coarse one (:mod:`brownout.sim.coarse`) both build it without importing each
other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from brownout.findings import TruthFault
from brownout.sim.engine import Simulation
from brownout.sim.scenario import Scenario
from brownout.telemetry.frame import Frame
from brownout.telemetry.series import SeriesRegistry
from brownout.telemetry.steps import StepRecords
from brownout.topology.model import Topology


@dataclass
class SimResult:
    """What a run produced.

    Attributes:
        scenario, seed: what was run.
        topology: the simulated cluster.
        truth: every injected fault (spec/findings.md §3).
        steps: per-rank step records.
        summary: headline numbers (see :func:`summarise`).
        simulation: the finished fine-mode :class:`Simulation` (None in coarse mode);
            ``result.frame()`` gives its telemetry in memory.
        extra: mode-specific results (coarse mode: the interruption list).
    """

    scenario: Scenario
    seed: int
    topology: Topology
    truth: list[TruthFault]
    steps: StepRecords
    summary: dict[str, Any]
    simulation: Simulation | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def frame(self, registry: SeriesRegistry | None = None) -> Frame:
        """All scraped telemetry as one time-ordered Frame (empty in coarse mode)."""
        if self.simulation is None:
            reg = registry or SeriesRegistry(self.topology)
            return Frame.empty(reg.table())
        return self.simulation.frame(registry)
