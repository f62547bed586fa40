"""The policy acting on the digital twin through the simulator executor."""

from __future__ import annotations

import pytest

from brownout.clock import ManualClock
from brownout.findings import Finding
from brownout.policy.actions import DRAIN_NODE, RETURN_NODE, Action
from brownout.policy.config import PolicyConfig
from brownout.policy.controller import Controller
from brownout.policy.journal import Journal
from brownout.policy.ports import Observation

sim_engine = pytest.importorskip("brownout.sim.engine", reason="simulator not available")
sim_scenario = pytest.importorskip("brownout.sim.scenario", reason="simulator not available")

from brownout.executors.simulator import SimulatorExecutor  # noqa: E402


@pytest.fixture
def sim() -> object:
    s = sim_engine.Simulation(sim_scenario.load_scenario("healthy-noisy"), seed=3)
    for _ in range(3):
        s.tick()
    return s


def test_drain_restart_and_return_act_on_the_twin(sim: object) -> None:
    job = next(j for j in sim.jobs if j.status == "running")  # type: ignore[attr-defined]
    node = sim.topology.nodes[int(job.nodes[0])].name  # type: ignore[attr-defined]
    f = Finding("f-1", "host_straggler", node, "node", sim.now() - 60, sim.now(),  # type: ignore[attr-defined]
                0.95, "critical", "ranks on this node slow, GPUs healthy")
    ex = SimulatorExecutor(sim)  # type: ignore[arg-type]
    ctl = Controller(sim.topology, ex, Journal(":memory:", "simulator"),  # type: ignore[attr-defined]
                     PolicyConfig(), ManualClock(sim.now()))  # type: ignore[attr-defined]
    report = ctl.step((f,))
    assert {o.state for o in report.actions} == {"done"}
    i = sim.topology.node_index[node]  # type: ignore[attr-defined]
    assert sim.drained[i]  # type: ignore[attr-defined]
    assert job.status != "running" or i not in set(job.nodes.tolist())  # restarted without it
    back = Action(RETURN_NODE, node, node, "repair@0", "repaired")
    assert ex.observe(back) is Observation.NOT_APPLIED
    ex.execute(back)
    assert not sim.drained[i] and ex.observe(back) is Observation.APPLIED  # type: ignore[attr-defined]
    assert ex.observe(Action(DRAIN_NODE, node, node, "f-1", "x")) is Observation.NOT_APPLIED
