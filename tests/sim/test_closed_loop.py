"""Hooks a controller uses during a run, and the dependency boundary."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from brownout.errors import InputError
from brownout.sim import Simulation
from brownout.telemetry.series import SeriesRegistry

from .conftest import small


def test_drain_moves_the_job_and_undrain_returns_the_node() -> None:
    sim = Simulation(small(duration_min=30), seed=2)
    victim = sim.topology.nodes[int(sim.jobs[0].nodes[0])].name
    acted = []

    def controller(s: Simulation) -> None:
        if not acted and s.now() >= s.scenario.start_s + 300:
            s.drain(victim)
            acted.append(s.now())

    sim.run(on_tick=controller)
    steps = sim.steps()
    after = steps.ts > acted[0] + 1
    vi = sim.topology.node_index[victim]
    assert vi not in set(steps.node[after].tolist())
    assert sim.jobs[0].crashes == 1 and sim.jobs[0].status == "running"
    sim.undrain(victim)
    assert not sim.drained[vi]


def test_controller_sees_telemetry_as_it_arrives() -> None:
    sim = Simulation(small(duration_min=5), seed=3)
    reg = SeriesRegistry(sim.topology)
    sizes = []
    while not sim.done():
        sim.tick()
        sizes.append(len(sim.frame(reg)))
    assert sizes[-1] > 0 and np.all(np.diff(sizes) >= 0)


def test_bad_commands_are_input_errors() -> None:
    sim = Simulation(small(duration_min=1), seed=1)
    with pytest.raises(InputError):
        sim.drain("n9999")
    with pytest.raises(InputError):
        sim.restart_job("nope")


def test_simulator_never_imports_the_controller() -> None:
    code = ("import sys, brownout.sim, brownout.sim.live, brownout.sim.coarse;"
            "bad=[m for m in sys.modules if m.split('.')[:2] in "
            "(['brownout','detect'],['brownout','policy'],['brownout','recovery'])];"
            "print(bad); sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
