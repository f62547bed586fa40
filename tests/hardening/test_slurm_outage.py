"""The Slurm controller goes down in the middle of an executor batch (real slurmctld).

Three drains are decided in one step; right after the first ``scontrol``
call the test stops slurmctld (SIGTERM to the pid in its pid file). The
others fail as retryable errors and stay ``pending`` in the journal with the
error; a step while Slurm is still down retries them and they stay pending;
when slurmctld is back (restarted with .ci/slurm/setup.sh, which the test
always runs at the end) the next step drains each exactly once: none lost,
none repeated, every Slurm reason carries its idempotency key.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from brownout.clock import ManualClock
from brownout.errors import ExecutorError
from brownout.executors.slurm import SlurmExecutor
from brownout.findings import Finding
from brownout.policy.actions import Action
from brownout.policy.config import PolicyConfig
from brownout.policy.controller import Controller
from brownout.policy.journal import Journal
from brownout.topology.generate import generate_topology

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(shutil.which("scontrol") is None or os.geteuid() != 0,
                       reason="needs root and a real slurmctld (.ci/slurm/setup.sh)"),
]
ROOT = Path(__file__).resolve().parents[2]
PIDFILE = Path("/run/slurm/slurmctld.pid")
TOPO = generate_topology(104)
NODES = ("n0010", "n0030", "n0050")  # different racks; untouched by other tests
CALL_TIMEOUT_S = 2.0  # scontrol waits ~10 s for a dead controller; the executor cuts it short


def _sinfo_ok() -> bool:
    r = subprocess.run(["sinfo", "-h", "-o", "%n"], capture_output=True, timeout=15, check=False)
    return r.returncode == 0


def _ctld_pid() -> int | None:
    try:
        pid = int(PIDFILE.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return pid


def _stop_ctld() -> None:
    pid = _ctld_pid()
    assert pid is not None, "slurmctld is not running"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while _ctld_pid() is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _ctld_pid() is None, "slurmctld did not stop"


def _restore_ctld() -> None:
    if _ctld_pid() is None or not _sinfo_ok():
        subprocess.run(["bash", str(ROOT / ".ci/slurm/setup.sh")], capture_output=True,
                       timeout=120, check=False)


def _resume(nodes: tuple[str, ...]) -> None:
    for n in nodes:
        subprocess.run(["scontrol", "update", f"NodeName={n}", "State=RESUME"],
                       capture_output=True, timeout=15, check=False)


@pytest.fixture
def slurm() -> Iterator[None]:
    if _ctld_pid() is None or not _sinfo_ok():
        pytest.skip("slurmctld is not answering: run .ci/slurm/setup.sh (as root) first")
    _resume(NODES)
    try:
        yield
    finally:
        _restore_ctld()  # whatever happened, slurmctld is running again
        _resume(NODES)


class StopsSlurmAfterFirst(SlurmExecutor):
    """Counts calls; stops slurmctld right after the first drain reached it."""

    def __init__(self) -> None:
        super().__init__([n.name for n in TOPO.nodes], timeout_s=CALL_TIMEOUT_S,
                         notify=lambda _l: None)
        self.calls: Counter[str] = Counter()
        self.ok: Counter[str] = Counter()
        self.stop_after_first = True

    def execute(self, action: Action) -> None:
        self.calls[action.key] += 1
        super().execute(action)
        self.ok[action.key] += 1
        if self.stop_after_first:
            self.stop_after_first = False
            _stop_ctld()


def _finding(i: int, node: str) -> Finding:
    return Finding(f"f-outage-{i}", "gpu_failed", f"{node}/gpu{i}", "gpu", 1e6 - 60, 1e6,
                   0.97, "critical", "fell off the bus")


@pytest.mark.slow
def test_slurm_down_mid_batch_nothing_lost_nothing_repeated(slurm: None) -> None:
    ex = StopsSlurmAfterFirst()
    journal = Journal(":memory:", "slurm")
    cfg = PolicyConfig(kind_actions={"gpu_failed": {"critical": ("drain_node",)}},
                       retry_attempts=2, retry_backoff_s=0.0)
    clock = ManualClock(1e6)
    ctl = Controller(TOPO, ex, journal, cfg, clock, sleep=lambda s: None)
    findings = tuple(_finding(i, n) for i, n in enumerate(NODES))
    report = ctl.step(findings)
    entries = {e.action.node: e for e in journal.entries()}
    assert set(entries) == set(NODES)  # every decision journalled
    done = [n for n, e in entries.items() if e.status == "done"]
    pending = [n for n, e in entries.items() if e.status == "pending"]
    assert len(done) == 1 and len(pending) == 2, {n: e.status for n, e in entries.items()}
    assert all(entries[n].last_error and "slurm" in entries[n].last_error for n in pending)
    assert len(report.errors) == 2 and all("still pending" in e for e in report.errors)
    with pytest.raises(ExecutorError):  # still down: a read-back is a retryable error too
        ex.node(done[0])
    clock.set(1e6 + 60)
    ctl.step(findings)  # retried while down: still pending, attempts counted
    assert {e.status for e in journal.entries() if e.action.node in pending} == {"pending"}
    assert all(journal.entry(entries[n].action.key).attempts >= 2  # type: ignore[union-attr]
               for n in pending)
    _restore_ctld()
    assert _sinfo_ok()
    clock.set(1e6 + 120)
    ctl.step(findings)
    final = {e.action.node: e for e in journal.entries()}
    assert {e.status for e in final.values()} == {"done"}
    assert len(journal.entries()) == len(NODES)  # no duplicate decisions
    assert all(ex.ok[e.action.key] == 1 for e in final.values())  # each drain once
    for n, e in final.items():
        node = ex.node(n)
        assert node.drained and node.reason.startswith(f"brownout[{e.action.key}]")
