"""The goodput ledger against Google's ``ml-goodput-measurement`` on the same timelines.

Each random timeline (steps, periodic checkpoint saves, a crash part-way
through a step, a restart with its start-up, re-done steps) is fed to both:
brownout gets the step records its training hook writes; the library gets
its recorder's entries and Orbax-style save entries through an in-memory
logger (the library's own ``cloud_logger`` seam; nothing leaves the
process). On the causes both define the figures must agree:

| brownout | library |
| --- | --- |
| ``rework`` | ``WASTED_PROGRESS_FROM_DISRUPTION`` |
| ``restart`` | ``INFRASTRUCTURE_RECOVERY_FROM_DISRUPTION`` + the restart's ``TRAINING_PREP`` |
| ``checkpoint`` | ``UNPRODUCTIVE_CHECKPOINT_SAVE_TIME`` |

Where they differ by definition (docs/goodput.md): the library counts a
slow step as productive, so with a straggler its goodput exceeds brownout's
ETTR by the straggler's loss.
"""

from __future__ import annotations

import datetime
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from brownout.recovery.ledger import JobLedger, build_ledger
from brownout.telemetry.steps import build_steps

from .peer_timeline import Timeline, draw_spec, generate

SEEDS = range(40)
REL_TOL = 0.02  # per cause, relative to the library's figure (measured worst: see docs)
ABS_TOL_S = 0.5


@pytest.fixture(scope="module")
def lib() -> Any:
    with warnings.catch_warnings():  # its cloud dependencies warn on import (not our code)
        warnings.simplefilter("ignore")
        return pytest.importorskip("ml_goodput_measurement.src.goodput")


class MemoryLogger:
    """The library's logger seam (``write_cloud_logging_entry`` / ``read_cloud_logging_entries``)
    kept in memory, in write order."""

    def __init__(self, lib: Any) -> None:
        self.lib = lib
        self.entries: list[tuple[datetime.datetime, dict[str, Any]]] = []
        self.last: tuple[datetime.datetime, str] | None = None  # (timestamp, entry id)

    def write_cloud_logging_entry(self, entry: dict[str, Any]) -> None:
        ts = self.lib.get_timestamp_from_log_entry(entry)
        if ts is not None:
            self.entries.append((ts, entry))
            self.last = (ts, str(len(self.entries)))

    def read_cloud_logging_entries(self, start_time: Any = None, end_time: Any = None,
                                   last_entry_info: Any = None) -> tuple[list[Any], Any]:
        del last_entry_info
        got = [e for ts, e in self.entries
               if (start_time is None or ts > start_time) and (end_time is None or ts <= end_time)]
        return got, self.last


def _utc(t: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(t, datetime.UTC)


def library_figures(lib: Any, tl: Timeline, tmp: Path) -> dict[str, Any]:
    """Badput seconds by type, total and productive time, from the library's calculator."""
    log = MemoryLogger(lib)
    rec = lib.GoodputRecorder("llm", "mem", logging_enabled=True, cloud_logger=log)
    for kind, e in tl.entries:
        if kind == "job_start":
            rec.record_job_start_time(_utc(e["t"]))
        elif kind == "step":
            rec.record_step_start_time(e["step"], _utc(e["t"]))
        elif kind == "prep":
            rec.record_training_preparation_start_time(_utc(e["t"]))
            rec.record_training_preparation_end_time(_utc(e["end"]))
        elif kind == "save":  # what Orbax's checkpoint manager logs for a blocking save
            log.write_cloud_logging_entry({
                "checkpoint_manager_blocking_start_time": e["t"], "step": e["step"],
                "event_type": "save", "directory": "gs://bucket/ckpt", "synchronous": True,
                "checkpoint_manager_blocking_duration_secs": e["dur"],
                "checkpointer_blocking_duration_secs": e["dur"],
                "wait_for_prev_duration_secs": 0.0, "get_old_steps_duration_secs": 0.0})
        elif kind == "job_end":
            rec.record_job_end_time(_utc(e["t"]))
    calc = lib.GoodputCalculator("llm", "mem", cloud_logger=log, cache_dir=str(tmp))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        goodput_pct, _, _ = calc.get_job_goodput(include_badput_breakdown=True)
    d = calc.get_job_goodput_details()
    kind = lib.BadputType
    bad = d["badput_time"]
    return {"goodput": goodput_pct / 100.0, "total_s": d["total_elapsed_time"],
            "productive_s": d["goodput_time"][lib.GoodputType.TOTAL],
            "rework": bad[kind.WASTED_PROGRESS_FROM_DISRUPTION],
            "restart": bad[kind.INFRASTRUCTURE_RECOVERY_FROM_DISRUPTION] + bad[kind.TRAINING_PREP],
            "checkpoint": bad[kind.UNPRODUCTIVE_CHECKPOINT_SAVE_TIME]}


def ours(tl: Timeline) -> JobLedger:
    return build_ledger(build_steps(tl.rows)).jobs["llm"]


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-9)


def test_shared_causes_agree_over_random_timelines(lib: Any, tmp_path: Path) -> None:
    worst = dict.fromkeys(("rework", "restart", "checkpoint", "wall"), 0.0)
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        tl = generate(draw_spec(rng), rng)
        g = library_figures(lib, tl, tmp_path / str(seed))
        b = ours(tl)
        for cause in ("rework", "restart", "checkpoint"):
            err = _rel(b.lost_s[cause], g[cause])
            worst[cause] = max(worst[cause], err)
            assert abs(b.lost_s[cause] - g[cause]) <= max(REL_TOL * g[cause], ABS_TOL_S), (
                seed, cause, b.lost_s[cause], g[cause])
        worst["wall"] = max(worst["wall"], _rel(b.wall_s, g["total_s"]))
        assert b.wall_s == pytest.approx(g["total_s"], abs=0.01)
        assert b.restarts == 1
    print("worst relative error per cause:", {k: f"{v:.4%}" for k, v in worst.items()})


def test_a_straggler_is_productive_for_the_library_and_a_loss_for_the_ledger(
        lib: Any, tmp_path: Path) -> None:
    for seed in range(100, 110):
        rng = np.random.default_rng(seed)
        tl = generate(draw_spec(rng, straggler=True), rng)
        g = library_figures(lib, tl, tmp_path / str(seed))
        b = ours(tl)
        assert b.lost_s["straggler"] == pytest.approx(tl.truth["straggler"], rel=0.1)
        # the library books the slow steps as goodput: its productive time exceeds
        # ours by the straggler's loss (and the slowdowns' noise around the median step)
        gap = g["productive_s"] - b.productive_s
        assert gap == pytest.approx(b.lost_s["straggler"], rel=0.1, abs=0.01 * b.wall_s)
        for cause in ("rework", "restart", "checkpoint"):
            assert abs(b.lost_s[cause] - g[cause]) <= max(REL_TOL * g[cause], ABS_TOL_S), (
                seed, cause)
