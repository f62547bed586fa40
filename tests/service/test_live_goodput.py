"""Live goodput from step records alone (pushed or tailed: no simulator, no telemetry).

A feed hands the controller step records as they would arrive from the
training hook, tick by tick. The per-job ledger on the controller's snapshot,
the API payload and ``/metrics`` must equal the whole-log ledger of the same
records (with the same findings), once the last steps have settled.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.recovery.synth import JobSpec, generate
from tests.service.fixed_feed import FixedLogFeed

from brownout.executors.dryrun import DryRunExecutor
from brownout.policy.config import PolicyConfig
from brownout.policy.journal import Journal
from brownout.recovery.ledger import CAUSES, build_ledger
from brownout.service.live import LiveController, LiveSettings
from brownout.service.metrics import render_metrics
from brownout.service.payloads import goodput
from brownout.telemetry.frame import Frame
from brownout.telemetry.steps import StepRecords, build_steps
from brownout.topology.generate import generate_topology
from brownout.topology.model import Topology


class StepsOnlyFeed(FixedLogFeed):
    """Step records as a push intake would deliver them: those stamped up to each pull."""

    def __init__(self, rows: list[dict[str, Any]], topology: Topology) -> None:
        self.rows = sorted(rows, key=lambda r: r["ts"])
        self.topology = topology
        self.i = 0
        self.until_s = -np.inf

    def pull(self, until_s: float) -> tuple[Frame | None, StepRecords | None]:
        self.until_s = until_s
        j = self.i
        while j < len(self.rows) and self.rows[j]["ts"] <= until_s:
            j += 1
        batch, self.i = self.rows[self.i:j], j
        return None, build_steps(batch, self.topology) if batch else None

    def watermark_s(self) -> float:
        return self.until_s


def _rows(seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    a = generate(JobSpec(name="a", n_nodes=2, steps=150, crash_after=110, ckpt_every=25,
                         straggler=(20, 40, 1.5), congestion=None), rng).rows
    b = generate(JobSpec(name="b", n_nodes=2, steps=120, crash_after=None, straggler=None,
                         congestion=(30, 50, 3.0), compute_s=5.0), rng).rows
    for r in b:  # job b runs on the other two nodes
        r["node"] = f"n{int(r['node'][1:]) + 2:04d}"
    return a + b


@pytest.mark.parametrize("seed", [1, 2])
def test_live_ledger_on_pushed_steps_matches_the_whole_log(seed: int) -> None:
    topo = generate_topology(4)
    rows = _rows(seed)
    t0 = min(r["ts"] for r in rows) - 10.0
    ctl = LiveController(topo, StepsOnlyFeed(rows, topo), DryRunExecutor(out=io.StringIO()),
                         Journal(":memory:", "dry-run"), PolicyConfig(),
                         settings=LiveSettings(ledger_every_s=30.0, steps_settle_s=30.0),
                         start_s=t0)
    try:
        end = max(r["ts"] for r in rows)
        now = t0
        while now < end + 120.0:
            now += 30.0
            st = ctl.tick(now)
        want = build_ledger(build_steps(rows, topo), ctl.engine.result().findings,
                            topology=topo)
        got = {j.job: j for j in st.goodput}
        assert set(got) == {"a", "b"}
        metrics = {(s.labels.get("job"), s.labels.get("cause")): s.value
                   for f in text_string_to_metric_families(render_metrics(st))
                   if f.name == "brownout_job_lost_seconds" for s in f.samples}
        payload = goodput(st)["jobs"]
        for name, job in want.jobs.items():
            assert got[name].ettr == pytest.approx(job.ettr, rel=1e-9)
            assert got[name].steps == job.steps and got[name].restarts == job.restarts
            assert payload[name]["ettr"] == pytest.approx(job.ettr, rel=1e-9)
            for c in CAUSES:
                assert got[name].lost_s[c] == pytest.approx(job.lost_s[c], rel=1e-9, abs=1e-6)
                assert metrics[(name, c)] == pytest.approx(job.lost_s[c], rel=1e-9, abs=1e-6)
        assert got["a"].lost_s["rework"] > 0 and got["a"].lost_s["restart"] > 0
        assert got["b"].lost_s["congestion"] > 0
        assert st.health.steps_total == len(rows) and st.health.ledger_s > 0
    finally:
        ctl.close()
