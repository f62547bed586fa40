"""Slurm executor without a cluster: recorded outputs, argv, timeouts, error translation."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from brownout.errors import ExecutorError
from brownout.executors.slurm import (
    REASON_MAX,
    SlurmExecutor,
    parse_scontrol_show_node,
    parse_sinfo_json,
    parse_sinfo_reasons,
    reason_for,
)
from brownout.policy.actions import DRAIN_NODE, NOTIFY, RESET_GPU, RESTART_JOB, RETURN_NODE, Action
from brownout.policy.ports import Observation, PermanentExecutorError

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "slurm"
NODES = [f"n{i:04d}" for i in range(1, 105)]


class Runner:
    """Records argv lists and answers like the real commands did."""

    def __init__(self, answers: dict[str, tuple[int, str, str]] | None = None,
                 raise_: BaseException | None = None) -> None:
        self.calls: list[tuple[list[str], float]] = []
        self.answers = answers or {}
        self.raise_ = raise_

    def __call__(self, argv: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
        self.calls.append((argv, timeout_s))
        if self.raise_ is not None:
            raise self.raise_
        code, out, err = self.answers.get(argv[0], (0, "", ""))
        return subprocess.CompletedProcess(argv, code, out, err)


def act(kind: str, node: str = "n0002", comp: str | None = None) -> Action:
    return Action(kind, comp or node, node, "f-1", "gpu_failed critical n0002/gpu3: xid 79",
                  "gpu_failed")


def test_parsers_read_the_recorded_22_05_outputs() -> None:
    js = parse_sinfo_json((FIX / "sinfo_22.05.json").read_text())
    txt = parse_scontrol_show_node((FIX / "scontrol_show_node_22.05.txt").read_text())
    assert set(js) == set(txt) == {"n0001", "n0002", "n0050", "n0060"}
    for name in js:
        assert js[name].drained == txt[name].drained
        assert js[name].reason == txt[name].reason
    assert js["n0002"].drained and js["n0050"].drained and not js["n0001"].drained
    assert js["n0002"].reason.startswith("brownout[drain_node:n0002:")
    reasons = parse_sinfo_reasons("n0002|brownout[x] a b\nn0050|test\n")
    assert reasons == {"n0002": "brownout[x] a b", "n0050": "test"}


def test_sinfo_23_shape_is_understood() -> None:
    text = ('{"sinfo": [{"node": {"state": ["IDLE", "DRAIN"]}, "nodes": {"nodes": ["n0003"]},'
            ' "reason": {"description": "brownout[k] x"}}]}')
    node = parse_sinfo_json(text)["n0003"]
    assert node.drained and node.state == "idle" and node.reason == "brownout[k] x"


def test_drain_is_one_argv_with_a_timeout_and_the_key_in_the_reason() -> None:
    run = Runner()
    SlurmExecutor(NODES, run, timeout_s=7.0).execute(act(DRAIN_NODE))
    ((argv, timeout_s),) = run.calls
    assert argv == ["scontrol", "update", "NodeName=n0002", "State=DRAIN",
                    f"Reason={reason_for(act(DRAIN_NODE))}"]
    assert timeout_s == 7.0 and act(DRAIN_NODE).key in argv[-1]


def test_reason_is_printable_and_bounded() -> None:
    a = Action(DRAIN_NODE, "n1", "n1", "f", "bad\nline\t$(rm -rf /) " + "x" * 500)
    r = reason_for(a)
    assert "\n" not in r and "\t" not in r and len(r) <= REASON_MAX


@pytest.mark.parametrize("node", ["n9999", "n0001;reboot", "-n0001", "n0001 n0002", ""])
def test_names_outside_the_topology_never_reach_a_command(node: str) -> None:
    run = Runner()
    with pytest.raises(PermanentExecutorError, match="not a node"):
        SlurmExecutor(NODES, run).execute(act(DRAIN_NODE, node))
    assert run.calls == []


@pytest.mark.parametrize(("raise_", "answer", "permanent"), [
    (subprocess.TimeoutExpired(["scontrol"], 7.0), None, False),
    (FileNotFoundError("scontrol"), None, True),
    (None, (1, "", "slurm_update error: Invalid node name specified"), True),
    (None, (1, "", "slurm_update error: Unable to contact slurm controller (connect failure)"),
     False),
])
def test_errors_are_translated_at_the_boundary(raise_: BaseException | None,
                                               answer: tuple[int, str, str] | None,
                                               permanent: bool) -> None:
    run = Runner({"scontrol": answer} if answer else None, raise_)
    with pytest.raises(ExecutorError) as info:
        SlurmExecutor(NODES, run).execute(act(DRAIN_NODE))
    assert isinstance(info.value, PermanentExecutorError) == permanent
    assert info.value.__cause__ is not None or answer is not None


def test_observe_reads_back_with_sinfo_json() -> None:
    run = Runner({"sinfo": (0, (FIX / "sinfo_22.05.json").read_text(), "")})
    ex = SlurmExecutor(NODES, run)
    assert ex.observe(act(DRAIN_NODE, "n0002")) is Observation.APPLIED
    assert ex.observe(act(DRAIN_NODE, "n0001")) is Observation.NOT_APPLIED
    assert ex.observe(act(RETURN_NODE, "n0001")) is Observation.APPLIED
    assert ex.observe(act(RESET_GPU, "n0002", "n0002/gpu3")) is Observation.UNKNOWN
    assert all(argv[:2] == ["sinfo", "--json"] for argv, _ in run.calls)


def test_restart_job_requeues_the_jobs_on_the_node() -> None:
    squeue = (FIX / "squeue_22.05_running.json").read_text()
    run = Runner({"squeue": (0, squeue, "")})
    ex = SlurmExecutor(NODES, run)
    assert ex.jobs_on("n0003") == ["1"] and ex.jobs_on("n0004") == []
    ex.execute(act(RESTART_JOB, "n0003"))
    assert run.calls[-1][0] == ["scontrol", "requeue", "1"]
    assert ex.observe(act(RESTART_JOB, "n0003")) is Observation.NOT_APPLIED


def test_notify_and_gpu_reset_go_to_the_sink_without_a_command() -> None:
    lines: list[str] = []
    run = Runner()
    ex = SlurmExecutor(NODES, run, notify=lines.append)
    ex.execute(act(NOTIFY))
    ex.execute(act(RESET_GPU, "n0002", "n0002/gpu3"))
    assert run.calls == [] and len(lines) == 2 and "n0002/gpu3" in lines[1]
