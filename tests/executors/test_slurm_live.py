"""Against a real slurmctld (started by .ci/slurm/setup.sh): drain, resume, read back."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

from brownout.clock import ManualClock
from brownout.executors.slurm import SlurmExecutor, parse_scontrol_show_node, parse_sinfo_reasons
from brownout.findings import Finding
from brownout.policy.actions import DRAIN_NODE, RETURN_NODE, Action
from brownout.policy.config import PolicyConfig
from brownout.policy.controller import Controller
from brownout.policy.journal import Journal
from brownout.policy.ports import Observation
from brownout.topology.generate import generate_topology

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(shutil.which("scontrol") is None,
                       reason="scontrol not installed: run .ci/slurm/setup.sh (as root) first"),
]
TOPO = generate_topology(104)
NODES = [n.name for n in TOPO.nodes]


def _cluster_up() -> bool:
    try:
        subprocess.run(["sinfo", "-h", "-o", "%n"], capture_output=True, timeout=10, check=True)
    except (subprocess.SubprocessError, OSError):
        return False
    return True


def _sh(*argv: str) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=15,
                          check=True).stdout


@pytest.fixture
def ex() -> Iterator[SlurmExecutor]:
    if not _cluster_up():
        pytest.skip("slurmctld is not answering: run .ci/slurm/setup.sh (as root) first")
    touched = ["n0001", "n0002", "n0060"]
    yield SlurmExecutor(NODES, timeout_s=15.0, notify=lambda _l: None)
    for n in touched:  # leave the cluster as we found it
        subprocess.run(["scontrol", "update", f"NodeName={n}", "State=RESUME"],
                       capture_output=True, timeout=15, check=False)


def act(kind: str, node: str, fid: str = "f-live") -> Action:
    return Action(kind, node, node, fid, f"live test {kind} {node}", "gpu_failed")


@pytest.mark.parametrize("node", ["n0001", "n0060"])  # with and without a running slurmd
def test_drain_and_resume_a_real_node(ex: SlurmExecutor, node: str) -> None:
    a = act(DRAIN_NODE, node)
    ex.execute(a)
    assert ex.observe(a) is Observation.APPLIED
    assert ex.node(node).reason.startswith(f"brownout[{a.key}]")
    reasons = parse_sinfo_reasons(_sh("sinfo", "-R", "-h", "-o", "%n|%E"))
    assert reasons[node].startswith(f"brownout[{a.key}]")
    shown = parse_scontrol_show_node(_sh("scontrol", "show", "node", node))[node]
    assert shown.drained
    back = act(RETURN_NODE, node)
    ex.execute(back)
    assert ex.observe(back) is Observation.APPLIED
    assert node not in parse_sinfo_reasons(_sh("sinfo", "-R", "-h", "-o", "%n|%E"))


def test_unknown_to_slurm_is_a_permanent_error(ex: SlurmExecutor) -> None:
    from brownout.policy.ports import PermanentExecutorError
    small = SlurmExecutor(["n0001", "zz9999"], notify=lambda _l: None)
    with pytest.raises(PermanentExecutorError):
        small.execute(act(DRAIN_NODE, "zz9999"))


def test_controller_drains_through_slurm_and_recovers_after_a_crash(ex: SlurmExecutor) -> None:
    f = Finding("f-live-1", "gpu_failed", "n0002/gpu3", "gpu", 1e6 - 60, 1e6, 0.97, "critical",
                "fell off the bus")
    journal = Journal(":memory:", "slurm")
    cfg = PolicyConfig(kind_actions={"gpu_failed": {"critical": ("drain_node",)}})
    # a crash right after the drain call: the journal says executing, Slurm says drained
    a = act(DRAIN_NODE, "n0002", f.id)
    journal.decide([(a, "pending", None)], [], [], 1e6)
    journal.mark(a.key, "executing", 1e6)
    ex.execute(a)
    calls: list[Action] = []

    class Counting(SlurmExecutor):
        def execute(self, action: Action) -> None:
            calls.append(action)
            super().execute(action)

    ctl = Controller(TOPO, Counting(NODES, notify=lambda _l: None), journal, cfg,
                     ManualClock(1e6))
    ctl.step((f,))
    assert journal.entry(a.key).status == "done"  # type: ignore[union-attr]
    assert a.key not in [c.key for c in calls]  # read back, not repeated
    assert ex.node("n0002").drained
