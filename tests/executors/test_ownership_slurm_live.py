"""Ownership against a real slurmctld (.ci/slurm/setup.sh): brownout never resumes a
node it did not drain or whose drain reason someone changed, and never drains over
an administrator's drain (issue 15 item 5)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

from brownout.clock import ManualClock
from brownout.errors import ExecutorError
from brownout.executors.slurm import SlurmExecutor
from brownout.findings import Finding
from brownout.policy.actions import RETURN_NODE, Action
from brownout.policy.config import PolicyConfig
from brownout.policy.controller import Controller
from brownout.policy.journal import Journal
from brownout.policy.ports import PermanentExecutorError
from brownout.topology.generate import generate_topology

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(shutil.which("scontrol") is None,
                       reason="scontrol not installed: run .ci/slurm/setup.sh (as root) first"),
]
TOPO = generate_topology(104)
NODES = [n.name for n in TOPO.nodes]
MINE = ("n0003", "n0090", "n0091", "n0092")  # untouched by the other Slurm tests
ADMIN = "admin: DIMM errors, RMA 4711"


def _sh(*argv: str) -> None:
    subprocess.run(list(argv), capture_output=True, text=True, timeout=15, check=False)


def _reason(ex: SlurmExecutor, node: str) -> str:
    return ex.node(node).reason


@pytest.fixture
def ex() -> Iterator[SlurmExecutor]:
    r = subprocess.run(["sinfo", "-h", "-o", "%n"], capture_output=True, timeout=15,
                       check=False)
    if r.returncode != 0:
        pytest.skip("slurmctld is not answering: run .ci/slurm/setup.sh (as root) first")
    for n in MINE:
        _sh("scontrol", "update", f"NodeName={n}", "State=RESUME")
    yield SlurmExecutor(NODES, timeout_s=15.0, notify=lambda _l: None)
    for n in MINE:  # leave the cluster as we found it
        _sh("scontrol", "update", f"NodeName={n}", "State=RESUME")


def _finding(node: str, fid: str) -> Finding:
    return Finding(fid, "gpu_failed", f"{node}/gpu1", "gpu", 1e6 - 60, 1e6, 0.97, "critical",
                   "fell off the bus")


def _controller(ex: SlurmExecutor, clock: ManualClock) -> Controller:
    cfg = PolicyConfig(kind_actions={"gpu_failed": {"critical": ("drain_node", "notify")}},
                       return_after_s=600.0, retry_attempts=1)
    return Controller(TOPO, ex, Journal(":memory:", "slurm"), cfg, clock, sleep=lambda s: None)


def _admin_drain(node: str) -> None:
    _sh("scontrol", "update", f"NodeName={node}", "State=DRAIN", f"Reason={ADMIN}")


def test_an_administrators_drain_is_never_overridden_nor_resumed(ex: SlurmExecutor) -> None:
    node = "n0090"
    _admin_drain(node)
    assert ex.drained_by_others().get(node) == ADMIN
    clock = ManualClock(1e6)
    ctl = _controller(ex, clock)
    report = ctl.step((_finding(node, "f-own-1"),))
    assert [o.action.kind for o in report.actions] == ["notify"]  # told, not drained over
    assert _reason(ex, node) == ADMIN
    with pytest.raises(PermanentExecutorError, match="drained by someone else"):
        ex.execute(Action(RETURN_NODE, node, node, "repair@0", "repaired"))
    assert ex.node(node).drained and _reason(ex, node) == ADMIN


def test_a_changed_drain_reason_makes_the_node_someone_elses(ex: SlurmExecutor) -> None:
    node = "n0091"
    clock = ManualClock(1e6)
    ctl = _controller(ex, clock)
    ctl.step((_finding(node, "f-own-2"),))
    assert ex.node(node).drained and _reason(ex, node).startswith("brownout[drain_node:n0091:")
    assert node not in ex.drained_by_others()  # brownout's own drain
    _sh("scontrol", "update", f"NodeName={node}", f"Reason={ADMIN}")  # a person takes over
    assert ex.drained_by_others().get(node) == ADMIN
    for t in (60.0, 700.0, 1400.0, 5000.0):  # finding closed, repair time passes
        clock.set(1e6 + t)
        report = ctl.step(())
        assert all(o.action.kind != RETURN_NODE for o in report.actions)
    assert ex.node(node).drained and _reason(ex, node) == ADMIN


def test_brownouts_own_untouched_drain_is_returned(ex: SlurmExecutor) -> None:
    node = "n0092"
    clock = ManualClock(1e6)
    ctl = _controller(ex, clock)
    ctl.step((_finding(node, "f-own-3"),))
    assert ex.node(node).drained
    returned = []
    for t in (60.0, 700.0, 1400.0):
        clock.set(1e6 + t)
        returned += [o for o in ctl.step(()).actions if o.action.kind == RETURN_NODE]
    assert [o.state for o in returned] == ["done"]
    assert not ex.node(node).drained


def test_resume_refused_for_a_drain_brownout_never_made(ex: SlurmExecutor) -> None:
    node = "n0003"  # has a running slurmd
    _admin_drain(node)
    # even a drain key of another node in the reason is not this node's brownout drain
    _sh("scontrol", "update", f"NodeName={node}",
        "Reason=brownout[drain_node:n0004:0123456789ab] copied")
    with pytest.raises(ExecutorError, match="does not resume"):
        ex.execute(Action(RETURN_NODE, node, node, "repair@0", "repaired"))
    assert ex.node(node).drained
    ex.execute(Action(RETURN_NODE, "n0092", "n0092", "repair@0", "in service: nothing to do"))
    assert node in ex.drained_by_others()
