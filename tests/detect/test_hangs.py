"""Hung jobs without dumps, and Flight Recorder reports through the engine.

A 32-rank job steps, then every rank stops while telemetry keeps arriving:
a ``job_stalled`` notice after the job's own timeout; a ``rank_hang`` only
when the evidence names one rank.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from brownout.detect.collectives import HangReport, StuckRank
from brownout.detect.engine import Engine, concat_steps
from brownout.detect.hangs import HangDetector
from brownout.findings import FindingsFile
from brownout.telemetry.series import SeriesRegistry
from brownout.telemetry.steps import StepRecords

from .synth import T0, Mutator, Synth, steps

STOP_STEP = 100
CULPRIT = 13  # rank 13 = GPU 13 (ranks are laid out GPU by GPU)


def _cut(st: StepRecords, culprit_behind: bool, resume_after_s: float = 0.0) -> StepRecords:
    """The job up to STOP_STEP (the culprit one step short); optionally a restart later."""
    keep = st.step < STOP_STEP
    if culprit_behind:
        keep &= ~((st.rank == CULPRIT) & (st.step == STOP_STEP - 1))
    head = st.take(np.flatnonzero(keep))
    if not resume_after_s:
        return head
    again = st.take(np.flatnonzero(st.step >= STOP_STEP))  # from an earlier checkpoint
    restarted = StepRecords(again.ts + resume_after_s, again.job, again.step - 20, again.rank,
                            again.node, again.gpu, again.compute_s, again.comm_s,
                            again.stage, again.jobs, again.node_names)
    return concat_steps(head, restarted)


def run(mutate: Mutator | None = None, *, behind: bool = False, scrapes: int = 60,
        resume_after_s: float = 0.0, seed: int = 4, throughout: Mutator | None = None,
        detector: HangDetector | None = None, step_s: float = 8.0
        ) -> tuple[FindingsFile, float]:
    """The job stops at STOP_STEP; ``mutate`` changes the telemetry after that,
    ``throughout`` all of it."""
    syn = Synth(n_nodes=4, seed=seed)
    full = steps(syn.topo, 200, seed=seed, step_s=step_s)
    st = _cut(full, behind, resume_after_s)
    stop_ts = float(full.ts[full.step == STOP_STEP - 1].max())

    def after_stop(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        if throughout is not None:
            throughout(i, t, d)
        if mutate is not None and t > stop_ts:
            mutate(i, t, d)

    engine = Engine(syn.topo, [detector or HangDetector()])
    engine.push(syn.frame(SeriesRegistry(syn.topo), scrapes, after_stop), st)
    return engine.finish(), stop_ts


def kinds(ff: FindingsFile) -> list[tuple[str, str]]:
    return sorted((f.kind, f.component) for f in (*ff.findings, *ff.notices))


def test_a_stalled_job_is_a_notice_after_its_own_timeout() -> None:
    ff, stop_ts = run()
    assert kinds(ff) == [("job_stalled", "job0")]
    (n,) = ff.notices
    step_s = n.evidence["step_s"]
    assert 8.0 < step_s < 10.0 and n.evidence["timeout_s"] == pytest.approx(10 * step_s, 0.01)
    assert stop_ts + n.evidence["timeout_s"] < n.detected_at <= stop_ts + 10 * step_s + 45


def test_the_rank_a_step_behind_its_peers_is_named() -> None:
    ff, _ = run(behind=True)
    hang = [f for f in ff.findings if f.kind == "rank_hang"]
    assert [f.component for f in hang] == ["n0002/gpu5"]
    assert hang[0].evidence["rank"] == CULPRIT and hang[0].recommended_action == "restart_job"


def test_an_xid_on_one_gpu_names_its_rank() -> None:
    def xid(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        d["DCGM_FI_DEV_XID_ERRORS"][CULPRIT] = 43

    ff, _ = run(xid)
    assert [f.component for f in ff.findings if f.kind == "rank_hang"] == ["n0002/gpu5"]


def test_an_idle_gpu_among_spinning_peers_names_its_rank() -> None:
    def idle(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        d["DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"][:] = 0.02  # everyone waits: no useful work
        d["DCGM_FI_DEV_GPU_UTIL"][CULPRIT] = 0.0  # ... and the culprit's GPU runs nothing

    ff, _ = run(idle)
    assert [f.component for f in ff.findings if f.kind == "rank_hang"] == ["n0002/gpu5"]


def test_a_computing_gpu_among_waiting_peers_names_its_rank() -> None:
    def stuck_kernel(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        d["DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"][:] = 0.02
        d["DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"][CULPRIT] = 0.7

    ff, _ = run(stuck_kernel)
    assert [f.component for f in ff.findings if f.kind == "rank_hang"] == ["n0002/gpu5"]


def test_without_profiling_a_computing_gpu_among_spinning_peers_is_named_by_power() -> None:
    def stuck_kernel(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        d["DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"][:] = np.nan  # not collected on this fleet
        d["DCGM_FI_DEV_POWER_USAGE"][:] = 230.0  # peers spin: busy, at a quarter load
        d["DCGM_FI_DEV_POWER_USAGE"][CULPRIT] = 690.0

    ff, _ = run(stuck_kernel)
    (hang,) = [f for f in ff.findings if f.kind == "rank_hang"]
    assert hang.component == "n0002/gpu5" and "power" in hang.summary


def _braked(i: int, t: float, d: dict[str, np.ndarray]) -> None:
    d["DCGM_FI_DEV_POWER_USAGE"][2] *= 0.45  # a power brake on another GPU, all run long


def test_a_gpu_already_apart_while_the_job_stepped_is_no_evidence() -> None:
    def stuck_kernel(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        d["DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"][:] = 0.02
        d["DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"][CULPRIT] = 0.7

    ff, _ = run(stuck_kernel, throughout=_braked)
    assert [f.component for f in ff.findings if f.kind == "rank_hang"] == ["n0002/gpu5"]
    ff, _ = run(None, throughout=_braked)  # a hang that telemetry does not show
    assert kinds(ff) == [("job_stalled", "job0")]


def test_no_rank_is_named_before_every_gpu_of_the_job_was_heard_since_the_silence() -> None:
    stop: list[float] = []

    def late_exporter(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        if not stop:
            stop.append(t)
        d["DCGM_FI_DEV_XID_ERRORS"][2] = 13  # an application Xid as the job stops
        d["DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"][:] = 0.02
        d["DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"][CULPRIT] = 0.7
        if t < stop[0] + 60:  # the culprit's node reports late
            for v in d.values():
                v[8:16] = np.nan

    quick = HangDetector(stall_k=4.0, stall_floor_s=45.0)  # the stall before its scrape
    ff, _ = run(late_exporter, detector=quick)
    assert [f.component for f in ff.findings if f.kind == "rank_hang"] == ["n0002/gpu5"]


def test_an_informational_xid_names_nobody() -> None:
    def remap(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        d["DCGM_FI_DEV_XID_ERRORS"][CULPRIT] = 63  # a memory remapping event: work goes on

    ff, _ = run(remap)
    assert kinds(ff) == [("job_stalled", "job0")]


def _stuck_kernel(d: dict[str, np.ndarray]) -> None:
    d["DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"][:] = 0.02
    d["DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"][CULPRIT] = 0.7


def test_a_gpu_that_fails_after_the_job_stopped_is_no_evidence() -> None:
    stop: list[float] = []

    def stuck_then_failed(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        stop.append(stop[0] if stop else t)
        _stuck_kernel(d)
        if t > stop[0] + 60:  # a GPU of the hung job falls off the bus, a minute in
            d["DCGM_FI_DEV_GPU_UTIL"][2] = 0.0
            d["DCGM_FI_DEV_XID_ERRORS"][2] = 79

    late = HangDetector(hang_k=20.0, hang_floor_s=150.0)  # before anyone is named
    ff, _ = run(stuck_then_failed, detector=late)
    assert [f.component for f in ff.findings if f.kind == "rank_hang"] == ["n0002/gpu5"]


def test_a_gpu_near_the_margin_all_along_is_no_evidence_when_noise_tips_it_over() -> None:
    """A braked GPU at 62 % of its peers' power while the job stepped (just inside the
    40 % margin) and 58 % in the hang (just outside): the same GPU, not the hang's."""
    def braked(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        d["DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"][:] = np.nan  # not collected on this fleet
        d["DCGM_FI_DEV_POWER_USAGE"][:] = 640.0
        d["DCGM_FI_DEV_POWER_USAGE"][2] = 397.0 if t < stop[0] else 371.0

    stop = [math.inf]
    _, stop[0] = run(None)
    ff, _ = run(None, throughout=braked)
    assert kinds(ff) == [("job_stalled", "job0")]


def test_a_gpu_braked_minutes_before_the_hang_is_no_evidence_on_a_30_s_scrape() -> None:
    """13 s steps on a 30 s scrape: the latest sample is rarely two steps older than the
    newest record, so the readings kept from while the job stepped must not be the
    ones from before the brake."""
    def braked(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        d["DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"][:] = np.nan  # not collected on this fleet
        if t > stop[0] - 120.0:  # braked nine steps before the job stops
            d["DCGM_FI_DEV_POWER_USAGE"][2] *= 0.5

    stop = [math.inf]
    _, stop[0] = run(None, step_s=13.0)
    ff, _ = run(None, throughout=braked, step_s=13.0)
    assert kinds(ff) == [("job_stalled", "job0")]


def test_a_slow_gpu_whose_kernel_never_ends_is_named_above_its_spinning_peers() -> None:
    """Below its peers while the job stepped (a clock cap), above them in the hang: apart
    on the other side, so the hang's."""
    def capped(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        d["DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"][:] = np.nan
        d["DCGM_FI_DEV_POWER_USAGE"][:] = 640.0
        d["DCGM_FI_DEV_POWER_USAGE"][CULPRIT] = 330.0

    def stuck_kernel(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        d["DCGM_FI_DEV_POWER_USAGE"][:] = 120.0  # the peers spin
        d["DCGM_FI_DEV_POWER_USAGE"][CULPRIT] = 330.0

    ff, _ = run(stuck_kernel, throughout=capped)
    assert [f.component for f in ff.findings if f.kind == "rank_hang"] == ["n0002/gpu5"]


def test_with_tensor_activity_collected_power_is_no_evidence() -> None:
    def stuck_and_capped(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        _stuck_kernel(d)
        d["DCGM_FI_DEV_POWER_USAGE"][2] *= 0.45  # another GPU's clocks capped as it hangs

    ff, _ = run(stuck_and_capped)
    assert [f.component for f in ff.findings if f.kind == "rank_hang"] == ["n0002/gpu5"]


def test_a_crash_is_no_hang_even_with_an_xid() -> None:
    def crashed(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        d["DCGM_FI_DEV_GPU_UTIL"][:] = 0.0  # every process gone
        d["DCGM_FI_DEV_XID_ERRORS"][CULPRIT] = 13

    ff, _ = run(crashed)
    assert kinds(ff) == []


def test_an_xid_elsewhere_does_not_hide_the_rank_with_more_evidence() -> None:
    def both(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        d["DCGM_FI_DEV_XID_ERRORS"][2] = 13  # an application Xid on another rank's GPU
        d["DCGM_FI_DEV_XID_ERRORS"][CULPRIT] = 43
        d["DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"][:] = 0.02
        d["DCGM_FI_DEV_GPU_UTIL"][CULPRIT] = 0.0

    ff, _ = run(both)
    assert [f.component for f in ff.findings if f.kind == "rank_hang"] == ["n0002/gpu5"]


def test_a_job_that_crashed_and_came_back_silent_is_only_a_notice() -> None:
    stop: list[float] = []

    def crash_then_back(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        if not stop:
            stop.append(t)
        d["DCGM_FI_DEV_XID_ERRORS"][CULPRIT] = 79  # what crashed the first incarnation
        if t < stop[0] + 300:
            d["DCGM_FI_DEV_GPU_UTIL"][:] = 0.0  # processes gone: restarting
        else:  # restarted elsewhere for all it knows, hung before its first record
            d["DCGM_FI_DEV_GPU_UTIL"][CULPRIT] = 0.0

    ff, _ = run(crash_then_back, scrapes=90)
    assert kinds(ff) == [("job_stalled", "job0")]
    (n,) = ff.notices
    assert n.evidence["restarted"] and n.onset >= stop[0] + 300 - 30


def test_a_job_that_came_back_and_hung_on_a_gpu_error_names_that_gpu() -> None:
    stop: list[float] = []

    def crash_then_back(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        if not stop:
            stop.append(t)
        if t < stop[0] + 300:
            d["DCGM_FI_DEV_GPU_UTIL"][:] = 0.0  # processes gone: restarting
        else:  # back where it ran, and one GPU stopped finishing work before the first step
            d["DCGM_FI_DEV_GPU_UTIL"][CULPRIT] = 0.0
            d["DCGM_FI_DEV_POWER_USAGE"][CULPRIT] = 90.0
            d["DCGM_FI_DEV_XID_ERRORS"][CULPRIT] = 43

    ff, _ = run(crash_then_back, scrapes=90)
    (hang,) = [f for f in ff.findings if f.kind == "rank_hang"]
    assert hang.component == "n0002/gpu5" and "since the job came back" in hang.summary
    assert stop[0] + 270 <= hang.onset <= stop[0] + 300 < hang.detected_at <= stop[0] + 420


def test_after_a_restart_an_xid_on_a_gpu_busy_like_its_peers_names_nobody() -> None:
    stop: list[float] = []

    def crash_then_back(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        if not stop:
            stop.append(t)
        if t < stop[0] + 300:
            d["DCGM_FI_DEV_GPU_UTIL"][:] = 0.0
        else:
            d["DCGM_FI_DEV_XID_ERRORS"][CULPRIT] = 13  # an application's Xid, GPU busy

    ff, _ = run(crash_then_back, scrapes=90)
    assert kinds(ff) == [("job_stalled", "job0")]


def test_the_named_rank_stays_named_when_another_gpu_of_the_hung_job_fails() -> None:
    def stuck_then_failed(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        d["DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"][:] = 0.02
        d["DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"][CULPRIT] = 0.7
        if i >= 45:  # a GPU of the hung job falls off the bus: idle, cold, an Xid
            d["DCGM_FI_DEV_GPU_UTIL"][2] = 0.0
            d["DCGM_FI_DEV_POWER_USAGE"][2] = 60.0
            d["DCGM_FI_DEV_XID_ERRORS"][2] = 79

    ff, _ = run(stuck_then_failed)
    hangs = [f for f in ff.findings if f.kind == "rank_hang"]
    assert [f.component for f in hangs] == ["n0002/gpu5"]
    assert hangs[0].lifecycle is not None and hangs[0].lifecycle.updates > 10


def test_evidence_naming_two_ranks_equally_names_nobody() -> None:
    def xid_elsewhere(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        d["DCGM_FI_DEV_XID_ERRORS"][2] = 79

    ff, _ = run(xid_elsewhere, behind=True)
    assert kinds(ff) == [("job_stalled", "job0")]


def test_without_telemetry_after_the_silence_nothing_is_said() -> None:
    ff, _ = run(scrapes=29)  # telemetry ends with the steps: the feed may be what stopped
    assert kinds(ff) == []


def test_a_restart_ends_the_stall() -> None:
    ff, _ = run(resume_after_s=300.0)
    (n,) = ff.notices
    assert n.lifecycle is not None and n.lifecycle.resolved


def _report(t_s: float) -> HangReport:
    stuck = StuckRank(rank=CULPRIT, how="never_joined", process_group="7", pg_desc="DP",
                      collective_seq_id=42, op="nccl:all_reduce", waiting_ranks=(1, 2),
                      onset_s=t_s - 600, enqueued=41, completed=41, peers_completed=41,
                      hows=("never_joined",), groups=("7",))
    return HangReport("dumps/_dump_", t_s, tuple(range(32)), (stuck,))


def test_a_flight_recorder_report_through_the_engine() -> None:
    syn = Synth(n_nodes=4, seed=1)
    st = steps(syn.topo, STOP_STEP, seed=1)
    t_dump = float(st.ts.max()) + 700
    engine = Engine(syn.topo, [HangDetector()])
    engine.push(syn.frame(SeriesRegistry(syn.topo), 60), st, hangs=[_report(t_dump)])
    ff = engine.finish()
    (f,) = [f for f in ff.findings if f.kind == "rank_hang"]
    assert f.component == "n0002/gpu5" and f.detected_at == pytest.approx(t_dump)
    assert f.evidence["waiting_ranks"] == [1, 2] and f.evidence["job"] == "job0"


def test_a_report_for_ranks_no_job_has_names_the_rank() -> None:
    syn = Synth(n_nodes=1, seed=1)
    engine = Engine(syn.topo, [HangDetector()])
    engine.push(syn.frame(SeriesRegistry(syn.topo), 10), None, hangs=[_report(T0 + 100)])
    (f,) = engine.finish().findings
    assert (f.component, f.component_type) == (f"rank{CULPRIT}", "rank")


def _live(pending_s: float | None = None) -> tuple[float, float, Engine]:
    """The job stopped; telemetry lags the clock (a live controller's delay and scrape):
    the engine has ticked to ``tel_s``, the pushed step records are complete up to
    ``now_s``, which is past the job's timeout while ``tel_s`` is not. With
    ``pending_s``, one more record of the job, stamped then, waits for a later tick."""
    syn = Synth(n_nodes=4, seed=4)
    st = _cut(steps(syn.topo, 200, seed=4), culprit_behind=False)
    stop_ts = float(st.ts.max())
    ends = [float(st.ts[st.step == k].max()) for k in range(STOP_STEP)]
    timeout_s = max(10 * float(np.median(np.diff(ends))), 60.0)
    engine = Engine(syn.topo, [HangDetector(hang_k=100.0, hang_floor_s=1e9)])
    engine.push(syn.frame(SeriesRegistry(syn.topo), 60), st)
    if pending_s is not None:
        late = st.take(np.flatnonzero(st.ts == stop_ts))
        engine.push(None, StepRecords(late.ts * 0 + stop_ts + pending_s, late.job,
                                      late.step + 1, late.rank, late.node, late.gpu,
                                      late.compute_s, late.comm_s, late.stage, late.jobs,
                                      late.node_names))
    return stop_ts + timeout_s - 20.0, stop_ts + timeout_s + 10.0, engine


def _stalled(engine: Engine) -> list[str]:
    return [n.kind for n in engine.result().notices]


def test_live_silence_is_judged_at_the_time_steps_are_known_to_not_the_data_time() -> None:
    tel_s, now_s, engine = _live()
    engine.advance(tel_s, steps_until_s=now_s)
    assert _stalled(engine) == ["job_stalled"]
    tel_s, _, replay = _live()
    replay.advance(tel_s)  # no step horizon (a replay): the data time, not yet timed out
    assert _stalled(replay) == []


def test_a_record_waiting_for_a_later_tick_means_the_job_still_steps() -> None:
    tel_s, now_s, engine = _live(pending_s=40.0)
    engine.advance(tel_s, steps_until_s=now_s)
    assert _stalled(engine) == []


def test_the_timeouts_are_settings_and_bad_ones_are_refused() -> None:
    from brownout.detect import default_detectors
    from brownout.detect.hang_settings import HangTimeouts
    from brownout.errors import InputError

    t = HangTimeouts.parse({"stall_k": "6", "stall_floor_s": 120})
    (det,) = [d for d in default_detectors(t) if isinstance(d, HangDetector)]
    assert (det.stall_k, det.stall_floor_s, det.give_up_s) == (6.0, 120.0, 3600.0)
    for bad, words in (({"stall_k": 0}, "hangs.stall_k must be a positive"),
                       ({"hang_floor_s": "nan"}, "hangs.hang_floor_s must be a positive"),
                       ({"give_up_s": 30}, "give_up_s (30) must be longer"),
                       ({"stal_k": 3}, "unknown setting 'stal_k'"),
                       ({"hold_s": True}, "hangs.hold_s: True is not a number")):
        with pytest.raises(InputError, match=re.escape(words)):
            HangTimeouts.parse(bad)


def test_a_longer_floor_delays_the_stall() -> None:
    ff, _ = run()
    (n,) = ff.notices
    syn = Synth(n_nodes=4, seed=4)
    engine = Engine(syn.topo, [HangDetector(stall_floor_s=400.0)])
    engine.push(syn.frame(SeriesRegistry(syn.topo), 60), _cut(steps(syn.topo, 200, seed=4),
                                                             False))
    (late,) = engine.finish().notices
    assert late.evidence["timeout_s"] == 400.0 and late.detected_at > n.detected_at + 200
