"""The real wiring: simulator -> engine -> policy -> executor behind the facade.

Runs a one-fault scenario in process, ticking the controller directly (no
threads, no sockets), and checks what the service would show: the truth
fault found, the drain waiting for approval, the approval carried out on the
twin, the journal, node states, goodput and the controller's own health.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from brownout.clock import ManualClock
from brownout.findings import read_findings
from brownout.service.config import WatchConfig
from brownout.service.feeds import SimulatorFeed
from brownout.service.live import LiveController
from brownout.service.metrics import render_metrics
from brownout.service.payloads import dashboard
from brownout.service.wiring import plan_controller
from brownout.store import Store


def run_until(ctl: LiveController, stop_s: float, step_s: float = 60.0) -> None:
    now = ctl.state().health.now_s
    while now < stop_s and not ctl.state().health.finished:
        now += step_s
        ctl.tick(now)


@pytest.mark.parametrize("seed", [3, 11])
def test_fault_found_drain_approved_and_carried_out(seed: int, tmp_path: Path) -> None:
    cfg = WatchConfig(source="simulator", scenario="gpu_degraded", seed=seed, mode="approval",
                      executor="simulator", engine_tick_s=30.0, state_dir=str(tmp_path))
    plan = plan_controller(cfg, persistent=True, wall=ManualClock(0.0))
    ctl = plan.factory()
    try:
        assert isinstance(ctl.feed, SimulatorFeed)
        sim = ctl.feed.sim
        truth = sim.truth()[0]
        run_until(ctl, truth.onset + 1800.0)
        st = ctl.state()
        found = [f for f in st.findings if f.finding.kind == "gpu_degraded"]
        assert found and found[0].finding.component == truth.component
        assert found[0].series is not None and len(found[0].series.t_s) > 5
        waiting = [a for a in st.actions if a.status == "awaiting_approval"]
        assert [a.kind for a in waiting] == ["drain_node"]
        node = waiting[0].node
        assert truth.component.startswith(node + "/")
        assert ctl.approve(waiting[0].key, st.health.now_s) == "approved"
        with pytest.raises(KeyError):
            ctl.approve("drain_node:nope:000000000000", st.health.now_s)
        ctl.tick(st.health.now_s + 30.0)
        st = ctl.state()
        assert st.action(waiting[0].key).status == "done"
        assert sim.drained[sim.topology.node_index[node]]
        assert st.node(node).state in ("draining", "in_repair")
        assert [t.to_state for t in st.transitions if t.node == node][-1] in (
            "draining", "in_repair")
        h = st.health
        assert h.samples_total > 0 and h.steps_total > 0 and h.source == "simulator"
        assert 0 <= h.ingest_lag_s < 120 and h.detection_lag_s > 0 and h.mode == "approval"
        assert st.goodput and all(0 < j.ettr <= 1 and 0 < j.availability <= 1
                                  for j in st.goodput)
        assert st.goodput_history and st.fleet.gpu_health.count(2) >= 1
        assert sum(math.isfinite(t) for t in st.fleet.gpu_temp_c) == sim.topology.n_gpus
        assert 'brownout_actions{kind="drain_node",outcome="done"} 1' in render_metrics(st)
        body = dashboard(st)
        assert body["findings"][-1]["id"] == found[0].finding.id or body["findings"]
        assert read_findings(tmp_path / "findings.json").findings[0].kind == "gpu_degraded"
        ctl.close()
        stored = Store(tmp_path / "brownout.duckdb").findings("gpu_degraded")
        assert [f.component for f in stored] == [truth.component]
        assert set(json.loads((tmp_path / "goodput.json").read_text())["jobs"]) == {
            j.job for j in st.goodput}
    finally:
        ctl.close()


def test_dry_run_mode_journals_without_touching_the_twin(tmp_path: Path) -> None:
    cfg = WatchConfig(source="simulator", scenario="gpu_degraded", seed=5, mode="dry-run",
                      engine_tick_s=30.0, state_dir=str(tmp_path))
    ctl = plan_controller(cfg, persistent=False, wall=ManualClock(0.0)).factory()
    try:
        assert isinstance(ctl.feed, SimulatorFeed)
        sim = ctl.feed.sim
        run_until(ctl, sim.truth()[0].onset + 1800.0)
        st = ctl.state()
        assert st.approval_mode is False and st.health.executor == "dry-run"
        assert any(a.kind == "drain_node" and a.status == "dry_run" for a in st.actions)
        assert not sim.drained.any()
        assert not (tmp_path / "findings.json").exists()
    finally:
        ctl.close()
