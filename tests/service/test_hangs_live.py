"""Hangs in the live controller: the twin's hung rank found, restarted on approval;
Flight Recorder dumps followed in a directory, read once they settle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from tests.service.fixed_feed import FixedLogFeed

from brownout.clock import ManualClock
from brownout.detect.collectives import analyse
from brownout.executors.fake import FakeExecutor
from brownout.policy.config import PolicyConfig
from brownout.policy.journal import Journal
from brownout.service.config import WatchConfig
from brownout.service.feeds import SimulatorFeed
from brownout.service.flight import FlightRecorderWatch
from brownout.service.live import LiveController
from brownout.service.wiring import plan_controller
from brownout.telemetry.flight_recorder import read_dump_dir
from brownout.telemetry.frame import Frame
from brownout.telemetry.steps import StepRecords, build_steps
from brownout.topology.generate import generate_topology

FR = Path(__file__).resolve().parents[1] / "fixtures" / "flight_recorder" / "fr_traces"


def test_the_twins_hung_rank_is_found_and_its_job_restarted_on_approval(tmp_path: Path
                                                                         ) -> None:
    cfg = WatchConfig(source="simulator", scenario="rank_hang", seed=5, mode="approval",
                      executor="simulator", engine_tick_s=15.0, state_dir=str(tmp_path))
    ctl = plan_controller(cfg, persistent=False, wall=ManualClock(0.0)).factory()
    assert isinstance(ctl.feed, SimulatorFeed)
    sim = ctl.feed.sim
    truth = sim.truth()[0]
    now = ctl.state().health.now_s
    while now < truth.onset + 600.0:
        now += 30.0
        ctl.tick(now)
        if any(f.finding.kind == "rank_hang" for f in ctl.state().findings):
            break
    st = ctl.state()
    (found,) = [f.finding for f in st.findings if f.finding.kind == "rank_hang"]
    assert found.component == truth.component
    assert found.detected_at - truth.onset < 300.0
    waiting = [a for a in st.actions if a.status == "awaiting_approval"]
    assert [a.kind for a in waiting] == ["restart_job"]
    job = next(j for j in sim.jobs if truth.component.split("/")[0] in
               {sim.topology.nodes[n].name for n in j.nodes})
    crashes = job.crashes
    assert ctl.approve(waiting[0].key, now) == "approved"
    ctl.tick(now + 30.0)
    assert job.crashes == crashes + 1  # restarted from its checkpoint, no longer hung


class _Steps(FixedLogFeed):
    """A feed with a fixed step log (no telemetry)."""

    def __init__(self, steps: StepRecords) -> None:
        self.steps: StepRecords | None = steps

    def pull(self, until_s: float) -> tuple[Frame | None, StepRecords | None]:
        out, self.steps = self.steps, None
        return None, out

    def watermark_s(self) -> float:
        return float("inf")


def test_dumps_are_read_once_settled_then_acted_on(tmp_path: Path) -> None:
    dumps = tmp_path / "fr"
    dumps.mkdir()
    topo = generate_topology(2, gpus_per_node=8)
    t0 = 1758609600.0  # the case's job ran before 1758609938 (its hang)
    steps = build_steps(({"ts": t0 + 10 * s, "job": "moe", "step": s, "rank": r,
                          "node": topo.nodes[r // 8].name, "gpu": r % 8, "compute_s": 9.0,
                          "comm_s": 1.0} for s in range(30) for r in range(16)), topo)
    watch = FlightRecorderWatch(dumps)
    ex = FakeExecutor()
    ctl = LiveController(topo, _Steps(steps), ex, Journal(":memory:", "fake"),
                         PolicyConfig(approval_mode="off"), start_s=t0, hangs=watch)
    src = sorted((FR / "lock_gil_2nd").glob("_dump_*"))
    for p in src[:8]:  # half the ranks have written their dump
        shutil.copy(p, dumps / p.name)
    ctl.tick(t0 + 600.0)
    for p in src[8:]:
        shutil.copy(p, dumps / p.name)
    ctl.tick(t0 + 615.0)  # all there, not settled yet
    assert watch.reports == 0
    for k in range(1, 4):
        ctl.tick(t0 + 615.0 + 15 * k)
    assert watch.reports == 1  # analysed once
    hangs = {f.finding.component for f in ctl.state().findings
             if f.finding.kind == "rank_hang"}
    assert hangs == {"n0002/gpu2", "n0002/gpu7"}  # ranks 10 and 15
    assert sorted(a.kind for a in ex.executed) == ["notify", "notify", "restart_job"]


def test_a_bad_dump_is_a_degraded_line_not_a_crash(tmp_path: Path) -> None:
    for p in (FR / "lock_gil_1st").glob("_dump_*"):
        shutil.copy(p, tmp_path / p.name)
    (tmp_path / "_dump_4").write_bytes(b"\x80\x04\x8c\x02os\x8c\x06system\x93.")
    watch = FlightRecorderWatch(tmp_path)
    assert watch.poll() == [] and watch.poll() == []
    (line,) = watch.degraded()
    assert "_dump_4" in line and "STACK_GLOBAL" in line
    (tmp_path / "_dump_4").write_bytes((FR / "lock_gil_1st" / "_dump_4").read_bytes())
    watch.poll()
    (report,) = watch.poll()
    assert {s.rank for s in report.stuck} == {9, 14} and watch.degraded() == ()
    assert json.dumps([s.rank for s in report.stuck])


def test_the_config_file_names_the_dump_directory_relative_to_itself(tmp_path: Path) -> None:
    from brownout.service.config import load_watch_config
    from brownout.service.wiring import _flight

    (tmp_path / "watch.yaml").write_text(
        "topology: t.yaml\nsource: {kind: prometheus, url: 'http://127.0.0.1:9090', "
        "flight_recorder: fr}\n")
    cfg = load_watch_config(tmp_path / "watch.yaml")
    assert cfg.flight_recorder == str(tmp_path / "fr")
    watch = _flight(cfg)
    assert watch is not None and watch.directory == tmp_path / "fr"


class _Nothing(_Steps):
    """A feed with no data at all: the dumps are the only input."""

    def __init__(self) -> None:
        super().__init__(StepRecords.empty())


def test_dumps_alone_are_enough(tmp_path: Path) -> None:
    fixture = FR.parent / "gloo_torch_2.13"
    for p in fixture.glob("_dump_*"):
        shutil.copy(p, tmp_path / p.name)
    ex = FakeExecutor()
    ctl = LiveController(generate_topology(2), _Nothing(), ex, Journal(":memory:", "fake"),
                         PolicyConfig(), start_s=1.79e9, hangs=FlightRecorderWatch(tmp_path))
    (ds,) = read_dump_dir(tmp_path)
    t_dump = analyse(ds).t_s  # when the watchdog (60 s timeout) can first have written them
    for k in range(4):
        ctl.tick(t_dump + 15 * k)
    (f,) = [v.finding for v in ctl.state().findings]
    assert (f.kind, f.component, f.component_type) == ("rank_hang", "rank2", "rank")
    assert ex.executed == []  # no node to act on: shown, never acted on


class _LaggingTelemetry:
    """Telemetry whose newest scrape trails the clock by ``lag_s`` (a live Prometheus)."""

    name = "lagging"

    def __init__(self, frame: Frame, lag_s: float) -> None:
        self.frame, self.lag_s, self.sent_s, self.until_s = frame, lag_s, -1e18, -1e18

    def pull(self, until_s: float) -> tuple[Frame | None, StepRecords | None]:
        f, upto = self.frame, until_s - self.lag_s
        keep = (f.t_s > self.sent_s) & (f.t_s <= upto)
        self.sent_s, self.until_s = max(self.sent_s, upto), until_s
        return Frame(f.t_s[keep], f.series[keep], f.value[keep], f.table), None

    def watermark_s(self) -> float:
        return self.until_s

    def steps_until_s(self, now_s: float) -> float:
        return float("nan")

    def degraded(self) -> tuple[str, ...]:
        return ()

    def finished(self) -> bool:
        return False

    def close(self) -> None:
        """Nothing to release."""


def test_a_pushed_jobs_silence_is_judged_at_the_clock_not_the_lagging_telemetry() -> None:
    from tests.detect.synth import Synth
    from tests.detect.synth import steps as synth_steps

    from brownout.detect.engine import EngineConfig
    from brownout.service.intake import StepIntake
    from brownout.service.stepfeed import StepFeed
    from brownout.telemetry.series import SeriesRegistry

    syn = Synth(n_nodes=4, seed=4)
    st = synth_steps(syn.topo, 30, seed=4)  # the job stops after its 30th step
    names = [n.name for n in syn.topo.nodes]
    stop_s = float(st.ts.max())
    intake = StepIntake(syn.topo.node_index)
    intake.submit(b"\n".join(json.dumps({
        "ts": float(st.ts[i]), "job": st.jobs[st.job[i]], "step": int(st.step[i]),
        "rank": int(st.rank[i]), "node": names[st.node[i]], "gpu": int(st.gpu[i]),
        "compute_s": float(st.compute_s[i]), "comm_s": float(st.comm_s[i])}).encode()
        for i in range(len(st))))
    feed = StepFeed(intake, _LaggingTelemetry(syn.frame(SeriesRegistry(syn.topo), 60), 25.0))
    ctl = LiveController(syn.topo, feed, FakeExecutor(), Journal(":memory:", "fake"),
                         PolicyConfig(approval_mode="all"), engine=EngineConfig(tick_s=1.0),
                         start_s=float(st.ts.min()))
    for now in np.arange(float(st.ts.min()) + 1.0, stop_s + 200.0, 1.0):
        ctl.tick(float(now))
        stalled = [n for n in ctl.state().notices if n.finding.kind == "job_stalled"]
        if stalled:
            break
    assert stalled, "no job_stalled notice"
    timeout_s = stalled[0].finding.evidence["timeout_s"]
    # seen within one controller tick of the timeout, although telemetry trails by 25 s
    assert now - stop_s <= timeout_s + 1.0 + 1e-6


def test_the_watch_config_sets_the_hang_timeouts_and_refuses_bad_ones(tmp_path: Path) -> None:
    import pytest

    from brownout.detect.hangs import HangDetector
    from brownout.errors import ParseError
    from brownout.service.config import load_watch_config

    (tmp_path / "watch.yaml").write_text(
        "source: {kind: simulator, scenario: rank_hang}\n"
        "hangs: {stall_floor_s: 90, hang_k: 3}\n")
    cfg = load_watch_config(tmp_path / "watch.yaml")
    assert (cfg.hangs.stall_floor_s, cfg.hangs.hang_k, cfg.hangs.stall_k) == (90.0, 3.0, 10.0)
    ctl = plan_controller(cfg, persistent=False, wall=ManualClock(0.0)).factory()
    (det,) = [d for d in ctl.engine.detectors if isinstance(d, HangDetector)]
    assert (det.stall_floor_s, det.hang_k) == (90.0, 3.0)
    for bad in ("hangs: {stall_floor_s: -1}", "hangs: {stall_flor_s: 60}", "hangs: 60"):
        (tmp_path / "bad.yaml").write_text(bad + "\n")
        with pytest.raises(ParseError) as err:
            load_watch_config(tmp_path / "bad.yaml")
        assert "bad.yaml" in str(err.value) and "\n" not in str(err.value)
