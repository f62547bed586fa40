"""Crash safety: kill -9 the controller at random points; nothing is repeated or lost.

Each episode writes a random findings file, then starts the controller (a
child process) and kills it with SIGKILL at a random moment of its run, again
and again, until a run completes. Afterwards the set of executed actions (the
fake executor's durable effects file) must equal the set the journal decided,
with no action executed twice, and equal what an uninterrupted run decides.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from policy_factories import make_finding

from brownout.clock import ManualClock
from brownout.executors.fake import FakeExecutor
from brownout.findings import FindingsFile, write_findings
from brownout.policy.controller import Controller
from brownout.policy.journal import Journal
from brownout.topology.generate import generate_topology

CHILD = Path(__file__).with_name("kill_child.py")
N_NODES = 64
DELAY_S = 0.004
MIN_KILLS = 50
KINDS = ("gpu_failed", "gpu_degraded", "nic_degraded", "host_straggler", "gpu_overheating",
         "switch_congestion", "telemetry_loss")


def _findings(rng: random.Random, n: int) -> FindingsFile:
    out = []
    for i in range(n):
        kind = rng.choice(KINDS)
        node = f"n{rng.randint(1, N_NODES):04d}"
        comp = {"gpu_failed": f"{node}/gpu{rng.randint(0, 7)}",
                "gpu_degraded": f"{node}/gpu{rng.randint(0, 7)}",
                "gpu_overheating": f"{node}/gpu{rng.randint(0, 7)}",
                "nic_degraded": f"{node}/mlx5_{rng.randint(0, 7)}",
                "switch_congestion": f"leaf{rng.randint(1, 16):02d}"}.get(kind, node)
        ev = {"xid": rng.choice([79, 119, 48, 13, 63])} if kind == "gpu_failed" else {}
        out.append(make_finding(kind, comp, rng.choice(["major", "critical"]), 0.9,
                                1000.0 + i, ev, fid=f"f-{i:04d}"))
    return FindingsFile("kill", tuple(out))


def _expected(path: Path) -> set[str]:
    """What an uninterrupted run decides (in-process, memory journal)."""
    from kill_child import CONFIG

    from brownout.findings import read_findings
    ff = read_findings(path)
    journal = Journal(":memory:", "fake")
    Controller(generate_topology(N_NODES), FakeExecutor(), journal, CONFIG,
               ManualClock(1_000_000.0)).step(ff.findings)
    keys = journal.keys()
    journal.close()
    return keys


def _where(journal_path: str, effects_path: str) -> str:
    """Where a kill landed: before the decision, mid-batch, in flight, or after the work."""
    if not Path(journal_path).exists():
        return "before"
    journal = Journal(journal_path)
    statuses = [e.status for e in journal.entries()]
    journal.close()
    if not statuses:
        return "before"
    if "executing" in statuses:
        return "in_flight"
    n_effects = len(FakeExecutor(effects_path).effects())
    return "mid_batch" if n_effects < len(statuses) else "after"


def _run_until_done(args: list[str], rng: random.Random, budget_s: float,
                    landed: dict[str, int]) -> int:
    """Start the child, kill it at a random moment; repeat until it finishes. Returns kills."""
    kills = 0
    env = {**os.environ, "PYTHONPATH": str(CHILD.parent) + os.pathsep
           + os.environ.get("PYTHONPATH", "")}
    while True:
        with subprocess.Popen([sys.executable, str(CHILD), *args], stdout=subprocess.PIPE,
                              text=True, env=env) as proc:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
            # kill somewhere inside the step, or let it finish after enough kills
            if kills < 8 and rng.random() < 0.9:
                time.sleep(rng.uniform(0.0, budget_s))
                proc.send_signal(signal.SIGKILL)
            code = proc.wait(timeout=60)
        if code == -signal.SIGKILL:
            kills += 1
            where = _where(args[0], args[1])
            landed[where] = landed.get(where, 0) + 1
            continue
        assert code == 0
        return kills


@pytest.mark.slow
def test_kill9_never_repeats_or_drops(tmp_path: Path) -> None:
    rng = random.Random(20261125)
    total_kills = total_decided = total_executed = episodes = 0
    landed: dict[str, int] = {}
    while total_kills < MIN_KILLS:
        episodes += 1
        ep = tmp_path / f"ep{episodes}"
        ep.mkdir()
        findings = ep / "findings.json"
        write_findings(_findings(rng, rng.randint(8, 16)), findings)
        expected = _expected(findings)
        budget_s = 0.05 + DELAY_S * len(expected) * 1.5
        args = [str(ep / "journal.db"), str(ep / "effects.log"), str(findings), str(N_NODES),
                str(DELAY_S)]
        kills = _run_until_done(args, rng, budget_s, landed)
        total_kills += kills
        journal = Journal(ep / "journal.db")
        decided = journal.keys()
        done = {e.action.key for e in journal.entries(("done",))}
        journal.close()
        effects = FakeExecutor(ep / "effects.log").effects()
        assert decided == expected, "a restart decided something else"
        assert done == decided, f"not executed: {decided - done}"
        assert sorted(effects) == sorted(set(effects)), "an action ran twice"
        assert set(effects) == decided
        total_decided += len(decided)
        total_executed += len(effects)
    print(f"kill-9 test: {episodes} episodes, {total_kills} kills (landed: {landed}), "
          f"{total_decided} actions decided, {total_executed} executed, duplicates 0")
    # the kills must really interrupt batches, not only hit start-up or the end
    assert landed.get("mid_batch", 0) + landed.get("in_flight", 0) >= total_kills // 4
