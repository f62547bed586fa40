"""The demo (``brownout watch``/``demo``) and ``brownout evaluate`` act on the twin
through one simulator executor, so the same action has the same effect in both."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from brownout.executors.factory import build_executor
from brownout.executors.simulator import SimulatorExecutor
from brownout.loop.fine import ClosedLoop
from brownout.policy.actions import DRAIN_NODE, Action
from brownout.service.config import WatchConfig
from brownout.service.wiring import _executor as demo_executor
from brownout.sim.engine import Simulation
from brownout.sim.scenario import load_scenario


def _busy_node(sim: Simulation) -> str:
    job = next(j for j in sim.jobs if j.status == "running")
    return sim.topology.nodes[int(job.nodes[-1])].name


def _jobs(sim: Simulation) -> list[tuple[str, str, tuple[int, ...], int]]:
    return [(j.spec.name, j.status, tuple(j.nodes.tolist()), j.step) for j in sim.jobs]


@pytest.mark.parametrize("seed", [5, 23])
def test_the_same_drain_has_the_same_effect_in_demo_and_evaluate(seed: int,
                                                                 tmp_path: Path) -> None:
    scenario = load_scenario("healthy-noisy")
    demo_sim = Simulation(scenario, seed=seed)
    loop = ClosedLoop(scenario, seed, mode="none", journal_dir=tmp_path)
    try:
        _drain_both(demo_sim, loop)
    finally:
        loop.journal.close()


def _drain_both(demo_sim: Simulation, loop: ClosedLoop) -> None:
    for sim in (demo_sim, loop.sim):
        for _ in range(6):
            sim.tick()
    demo = demo_executor(WatchConfig(executor="simulator", mode="automatic"),
                         demo_sim.topology, demo_sim)
    assert type(demo) is type(loop.executor) is SimulatorExecutor
    node = _busy_node(demo_sim)
    assert node == _busy_node(loop.sim)
    drain = Action(DRAIN_NODE, node, node, "f-000001", "host_straggler major")
    demo.execute(drain)
    loop.executor.execute(drain)
    for sim in (demo_sim, loop.sim):
        for _ in range(30):
            sim.tick()
    assert demo_sim.drained.tolist() == loop.sim.drained.tolist()
    assert demo_sim.drained[demo_sim.topology.node_index[node]]
    assert _jobs(demo_sim) == _jobs(loop.sim)  # a drain leaves running jobs alone in both
    assert demo.observe(drain) == loop.executor.observe(drain)
    assert demo.idempotent(drain) and loop.executor.idempotent(drain)


def test_the_factory_builds_the_simulator_executor_only_with_a_simulation() -> None:
    sim = Simulation(load_scenario("healthy-noisy"), seed=1)
    assert isinstance(build_executor("simulator", sim.topology, io.StringIO(), sim=sim),
                      SimulatorExecutor)
    with pytest.raises(Exception, match="needs a running simulation"):
        build_executor("simulator", sim.topology, io.StringIO())
