"""Seeded golden scenarios: a run's summary is diffed against a checked-in one.

A change in the model shows up here as a diff to review. To accept it, rerun
with ``BROWNOUT_REGEN_GOLDEN=1`` and commit the rewritten files in
``tests/sim/golden/``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from brownout.sim import load_scenario, run_scenario

GOLDEN = Path(__file__).parent / "golden"
CASES = [("gpu_failed", 11), ("host_straggler", 5), ("healthy-noisy", 20), ("llama3-54d", 405)]


def _close(actual: Any, expected: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), where
        for k in expected:
            _close(actual[k], expected[k], f"{where}.{k}")
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, rel=1e-6, abs=1e-6), where
    else:
        assert actual == expected, where


@pytest.mark.parametrize(("name", "seed"), CASES)
def test_summary_matches_golden(name: str, seed: int) -> None:
    result = run_scenario(load_scenario(name), seed=seed)
    summary = json.loads(json.dumps(result.summary))
    summary["truth_lines"] = [[t.kind, t.component, t.onset, t.end] for t in result.truth[:20]]
    path = GOLDEN / f"{name}-{seed}.json"
    if os.environ.get("BROWNOUT_REGEN_GOLDEN"):
        path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    expected = json.loads(path.read_text())
    _close(summary, expected, name)
