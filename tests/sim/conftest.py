"""Small scenarios for the simulator tests (seconds, not minutes)."""

from __future__ import annotations

from typing import Any

import pytest

from brownout.sim import Scenario, scenario_from_dict


def small(faults: list[dict[str, Any]] | None = None, confounders: list[dict[str, Any]] | None
          = None, **over: Any) -> Scenario:
    """A 6-node, 20-minute scenario with one 5-node job (one spare node)."""
    doc: dict[str, Any] = {
        "name": "test", "seed": 1, "cluster": {"nodes": 6, "layout": "tor"},
        "duration_min": 20, "jobs": [{"name": "job", "nodes": 5, "compute_s": 6.0,
                                       "allreduce_gb": 100, "checkpoint_every_steps": 40}],
        "faults": faults or [], "confounders": confounders or [],
    }
    doc.update(over)
    return scenario_from_dict(doc, "<test>")


@pytest.fixture
def small_scenario() -> Scenario:
    return small()
