"""The live ledger: batch by batch, it gives what the whole-log ledger gives, at bounded cost."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from brownout.recovery.ledger import CAUSES, build_ledger
from brownout.recovery.running import RunningLedger, RunningSettings
from brownout.telemetry.steps import build_steps

from .synth import JobSpec, generate

SEEDS = range(8)


def _spec(rng: np.random.Generator, name: str = "llm") -> JobSpec:
    return JobSpec(name=name, n_nodes=int(rng.integers(1, 4)), stages=int(rng.integers(1, 3)),
                   steps=int(rng.integers(120, 220)), ckpt_every=int(rng.integers(0, 40)),
                   straggler=(20, 50, 1.6), congestion=(60, 80, 3.0),
                   crash_after=int(rng.integers(90, 115)),
                   restart_gap_s=float(rng.uniform(60, 900)))


def _feed(rows: list[dict[str, Any]], rng: np.random.Generator, settings: RunningSettings
          ) -> RunningLedger:
    """Rows in time order, cut into random batches, shuffled inside each batch."""
    rows = sorted(rows, key=lambda r: r["ts"])
    cuts = np.sort(rng.choice(np.arange(1, len(rows)), size=30, replace=False))
    live = RunningLedger(settings=settings)
    for part in np.split(np.arange(len(rows)), cuts):
        batch = [rows[i] for i in rng.permutation(part)]
        now = max(r["ts"] for r in batch)
        live.add(build_steps(batch), now)
        live.ledger(now)  # refreshes in between must not change the end result
    live.flush()
    return live


def _same(a: Any, b: Any) -> None:
    assert a.wall_s == pytest.approx(b.wall_s, rel=1e-12)
    assert a.productive_s == pytest.approx(b.productive_s, rel=1e-9)
    assert (a.steps, a.instances, a.restarts, a.ranks) == (b.steps, b.instances, b.restarts,
                                                          b.ranks)
    for c in CAUSES:
        assert a.lost_s[c] == pytest.approx(b.lost_s[c], rel=1e-9, abs=1e-6), c


@pytest.mark.parametrize("seed", SEEDS)
def test_batches_give_the_whole_log_ledger(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = generate(_spec(rng, "a"), rng).rows + generate(_spec(rng, "b"), rng).rows
    rows += rows[:40]  # duplicate lines, resent
    live = _feed(rows, rng, RunningSettings(settle_s=float(rng.uniform(20, 120))))
    want = build_ledger(build_steps(rows))
    got = live.ledger(np.inf)
    assert set(got.jobs) == set(want.jobs) == {"a", "b"}
    for name in want.jobs:
        _same(got.jobs[name], want.jobs[name])
    assert all(c["pending"] == 0 and c["late"] == 0 for c in live.counts().values())
    assert sum(c["duplicates"] for c in live.counts().values()) == 40


def test_the_ledger_lags_by_the_settle_time_and_forgets_records() -> None:
    rng = np.random.default_rng(3)
    s = generate(JobSpec(steps=100, crash_after=None, straggler=None, congestion=None), rng)
    rows = sorted(s.rows, key=lambda r: r["ts"])
    live = RunningLedger(settings=RunningSettings(settle_s=60.0))
    live.add(build_steps(rows), rows[-1]["ts"])
    led = live.ledger(rows[-1]["ts"]).jobs["llm"]
    ends = sorted({r["ts"] for r in rows if r["rank"] == 0})
    assert led.steps == sum(1 for t in ends if t <= rows[-1]["ts"] - 60.0 + 0.01)
    assert live.counts()["llm"]["pending"] < 32 * 10  # only the last minute is held
    # a job that goes quiet settles on the controller clock
    assert live.ledger(rows[-1]["ts"] + 61.0).jobs["llm"].steps == 100
    assert live.counts()["llm"]["pending"] == 0


def test_records_of_a_settled_step_are_counted_late_not_misread() -> None:
    rng = np.random.default_rng(4)
    s = generate(JobSpec(steps=60, crash_after=None, straggler=None, congestion=None), rng)
    rows = sorted(s.rows, key=lambda r: r["ts"])
    held = [r for r in rows if r["rank"] == 5 and r["step"] == 10]
    rest = [r for r in rows if r not in held]
    live = RunningLedger(settings=RunningSettings(settle_s=20.0))
    live.add(build_steps(rest), rows[-1]["ts"])
    live.settle(rows[-1]["ts"])
    live.add(build_steps(held), rows[-1]["ts"])
    live.flush()
    job = live.ledger(np.inf).jobs["llm"]
    assert live.counts()["llm"]["late"] == 1
    assert job.restarts == 0 and job.steps == 60 and job.lost_s["rework"] == 0.0


def test_window_bounds_what_is_kept() -> None:
    rng = np.random.default_rng(5)
    s = generate(JobSpec(steps=300, crash_after=None, straggler=None, congestion=None), rng)
    rows = sorted(s.rows, key=lambda r: r["ts"])
    live = RunningLedger(settings=RunningSettings(settle_s=10.0, window_s=600.0))
    for i in range(0, len(rows), 320):
        live.add(build_steps(rows[i:i + 320]), rows[min(i + 319, len(rows) - 1)]["ts"])
        live.settle(rows[min(i + 319, len(rows) - 1)]["ts"])
    job = live.ledger(rows[-1]["ts"]).jobs["llm"]
    assert job.wall_s <= 600.0 + 2 * job.healthy_step_s
    assert job.steps < 100
