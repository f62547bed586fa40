"""Logs that keep every Nth step: the ledger books the unlogged steps as work, not loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from brownout.recovery.ledger import CAUSES, build_ledger
from brownout.recovery.running import RunningLedger, RunningSettings
from brownout.recovery.stride import log_stride, step_weights
from brownout.telemetry.steps import build_steps, read_steps
from brownout.topology.loader import load_topology

from .synth import JobSpec, Synth, generate
from .test_running import _feed, _same

PAI = Path(__file__).parent.parent / "fixtures" / "steps_pai"

CHECKED = ("checkpoint", "rework", "restart", "straggler", "congestion")


def _spec(rng: np.random.Generator, n: int) -> JobSpec:
    """Every cause present; checkpoints on the logging grid, as real jobs take them;
    slowdowns start and end anywhere."""
    scale = max(1, n // 10)
    a = int(rng.integers(90 * scale, 110 * scale))
    b = a + int(rng.integers(40 * scale, 80 * scale))
    c = int(rng.integers(190 * scale, 210 * scale))
    d = c + int(rng.integers(40 * scale, 80 * scale))
    ckpt = int(rng.integers(30, 60)) if n == 1 else n * int(rng.integers(6, 12))
    return JobSpec(
        n_nodes=2, compute_s=float(rng.uniform(4, 12)), coll_s=float(rng.uniform(0.8, 2.0)),
        steps=400 * scale, ckpt_every=ckpt, ckpt_stall_s=float(rng.uniform(10, 40)),
        straggler=(a, b, float(rng.uniform(1.3, 2.0))),
        congestion=(c, d, float(rng.uniform(2.0, 4.0))),
        crash_after=int(rng.integers(290, 340)) * scale,
        restart_gap_s=float(rng.uniform(300, 900)))


def every_nth(s: Synth, n: int) -> list[dict[str, Any]]:
    """The log a job writes when it keeps step 1 and every Nth step."""
    return [r for r in s.rows if r["step"] == 1 or r["step"] % n == 0]


@pytest.mark.parametrize("n", [1, 5, 10, 50])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_known_decomposition_is_recovered_when_logging_every_nth_step(n: int, seed: int
                                                                    ) -> None:
    rng = np.random.default_rng(seed)
    s = generate(_spec(rng, n), rng)
    job = build_ledger(build_steps(every_nth(s, n))).jobs["llm"]
    assert job.wall_s == pytest.approx(s.wall_s, rel=1e-6)
    assert job.healthy_step_s == pytest.approx(s.healthy_s, rel=0.02)
    for cause in CHECKED:  # a restart throws away (N-1)/2 unlogged steps on average
        assert job.lost_s[cause] == pytest.approx(s.truth[cause], rel=0.15, abs=0.02 * s.wall_s), \
            cause
    assert job.lost_s["other"] < 0.02 * job.wall_s
    assert job.restarts == 1
    assert list(job.lost_s) == list(CAUSES)
    assert sum(job.lost_s.values()) == pytest.approx(job.wall_s - job.productive_s, rel=1e-9)


def test_stride_is_the_median_step_delta_within_a_run() -> None:
    step = np.array([1, 10, 20, 30, 50, 60, 70, 40, 50, 60, 70])  # a dropped line, a restart
    epoch = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    assert log_stride(step, epoch) == 10
    assert step_weights(step, epoch).tolist() == [1, 9, 10, 10, 20, 10, 10, 10, 10, 10, 10]
    every = np.arange(1, 9)
    assert log_stride(every, np.zeros(8, np.int64)) == 1
    assert step_weights(np.array([1, 2, 4, 5]), np.zeros(4, np.int64)).tolist() == [1, 1, 1, 1]


def test_a_stall_between_logged_steps_is_still_lost() -> None:
    rng = np.random.default_rng(7)
    s = generate(JobSpec(steps=400, straggler=None, congestion=None, crash_after=None,
                         ckpt_every=0), rng)
    rows = every_nth(s, 10)
    late = [r for r in rows if r["step"] > 200]
    for r in late:  # the job stalls 900 s after step 200: no restart, no step goes back
        r["ts"] += 900.0
    job = build_ledger(build_steps(rows)).jobs["llm"]
    lost = job.lost_s["restart"] + job.lost_s["rework"]  # (N-1)/2 steps may be thrown away
    assert lost == pytest.approx(900.0, rel=0.02) and job.lost_s["restart"] > 800.0
    assert job.productive_s == pytest.approx(s.wall_s - s.truth["restart"], rel=0.02)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_live_ledger_agrees_with_the_batch_ledger_on_every_nth_step_logs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = every_nth(generate(_spec(rng, 10), rng), 10)
    live: RunningLedger = _feed(rows, rng, RunningSettings(settle_s=60.0))
    _same(live.ledger(np.inf).jobs["llm"], build_ledger(build_steps(rows)).jobs["llm"])


def test_pai_job_2_books_its_sampled_steps_as_work_not_restart() -> None:
    """Real job, every 10th iteration logged, no restart, no labelled fault (docs/goodput.md)."""
    topo = load_topology(PAI / "topology.yaml")
    job = build_ledger(read_steps(PAI / "job_2_steps.jsonl.gz", topo), topology=topo
                       ).jobs["pai-job2"]
    assert job.restarts == 0 and job.lost_s["restart"] == 0.0
    assert job.ettr > 0.85
    assert job.steps >= 2480  # ~2,486 iterations, not 254 logged ones
