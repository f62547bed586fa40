"""Helpers of the closed-loop tests: short scenario variants."""

from __future__ import annotations

from dataclasses import replace

from brownout.sim import load_scenario
from brownout.sim.scenario import Scenario


def short(name: str, *, minutes: float = 45.0, spares: int = 4, onset_min: tuple[float, float]
          = (8.0, 15.0), **cluster: object) -> Scenario:
    """A built-in scenario, shortened, with spare nodes and an early fault onset."""
    sc = load_scenario(name)
    faults = tuple(replace(f, onset_s=(onset_min[0] * 60, onset_min[1] * 60)) for f in sc.faults)
    return replace(sc, n_nodes=sc.n_nodes + spares, duration_s=minutes * 60.0, faults=faults,
                   **cluster)  # type: ignore[arg-type]
