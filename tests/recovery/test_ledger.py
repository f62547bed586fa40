"""Goodput ledger: known decompositions are recovered; causes always add up."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brownout.findings import Finding
from brownout.recovery.ledger import CAUSES, Interruption, build_ledger
from brownout.telemetry.steps import build_steps

from .synth import JobSpec, generate, records

SEEDS = [0, 1, 2, 3, 4]


def _spec(rng: np.random.Generator) -> JobSpec:
    """A job with every cause present, its sizes drawn at random."""
    return JobSpec(
        n_nodes=int(rng.integers(2, 6)), stages=int(rng.integers(1, 3)),
        compute_s=float(rng.uniform(4, 12)), coll_s=float(rng.uniform(0.8, 2.0)),
        spread=float(rng.uniform(0.05, 0.08)), ckpt_every=int(rng.integers(30, 60)),
        ckpt_stall_s=float(rng.uniform(10, 40)),
        straggler=(100, 100 + int(rng.integers(40, 80)), float(rng.uniform(1.3, 2.0))),
        congestion=(200, 200 + int(rng.integers(40, 80)), float(rng.uniform(2.0, 4.0))),
        crash_after=int(rng.integers(290, 340)), restart_gap_s=float(rng.uniform(300, 900)),
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_known_decomposition_is_recovered_cause_by_cause(seed: int) -> None:
    rng = np.random.default_rng(seed)
    s = generate(_spec(rng), rng)
    job = build_ledger(records(s)).jobs["llm"]
    assert job.wall_s == pytest.approx(s.wall_s, rel=1e-6)
    assert job.healthy_step_s == pytest.approx(s.healthy_s, rel=0.01)
    for cause in ("checkpoint", "rework", "restart", "straggler", "congestion"):
        assert job.lost_s[cause] == pytest.approx(s.truth[cause], rel=0.15), cause
    assert job.lost_s["other"] < 0.01 * job.wall_s
    assert job.restarts == 1


@pytest.mark.parametrize("seed", SEEDS)
def test_healthy_job_with_static_spread_and_stages_loses_nothing_to_slowdowns(seed: int) -> None:
    rng = np.random.default_rng(seed)
    spec = JobSpec(stages=int(rng.integers(1, 4)), spread=float(rng.uniform(0.05, 0.08)),
                   ckpt_every=0, straggler=None, congestion=None, crash_after=None,
                   noise=0.01)
    job = build_ledger(records(generate(spec, rng))).jobs["llm"]
    for cause in ("straggler", "congestion", "checkpoint"):
        assert job.lost_s[cause] < 0.005 * job.wall_s, cause
    assert job.ettr > 0.98
    assert job.lost_s["restart"] == 0.0
    assert job.restarts == 0


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_line_order_does_not_matter(seed: int) -> None:
    rng = np.random.default_rng(seed)
    s = generate(JobSpec(steps=120, crash_after=90, straggler=(20, 40, 1.5),
                         congestion=(50, 70, 3.0)), rng)
    a = build_ledger(build_steps(s.rows)).jobs["llm"]
    ordered = sorted(s.rows, key=lambda r: (r["rank"], r["ts"]))
    b = build_ledger(build_steps(ordered)).jobs["llm"]
    assert a.lost_s == pytest.approx(b.lost_s)
    assert a.productive_s == pytest.approx(b.productive_s)


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_lasting_uniform_slowdown_is_other_unless_a_finding_names_it(seed: int) -> None:
    rng = np.random.default_rng(seed)
    spec = JobSpec(straggler=None, congestion=None, crash_after=None,
                   uniform=(150, 250, 1.3))
    s = generate(spec, rng)
    plain = build_ledger(records(s)).jobs["llm"]
    assert plain.lost_s["other"] == pytest.approx(s.truth["uniform"], rel=0.15)
    onset = s.rows[0]["ts"] - 1e6  # any finding active before the slowdown began
    cooling = Finding("f-1", "gpu_degraded", "n0001/gpu0", "gpu", onset, onset + 60, 0.9,
                      "major", "slow")
    named = build_ledger(records(s), [cooling]).jobs["llm"]
    assert named.lost_s["straggler"] == pytest.approx(s.truth["uniform"], rel=0.15)
    assert named.lost_s["other"] < 0.01 * named.wall_s


def test_interruptions_add_detection_delay_and_quarantine_wait() -> None:
    rng = np.random.default_rng(7)
    s = generate(JobSpec(steps=150, crash_after=120, straggler=None, congestion=None), rng)
    t = s.rows[0]["ts"]
    ints = [Interruption("llm", t + 100.0, detected_s=t + 190.0, capacity_wait_s=240.0),
            Interruption("other-job", t, detected_s=t + 5000.0)]
    job = build_ledger(records(s), interruptions=ints).jobs["llm"]
    assert job.detail["detection_delay_s"] == pytest.approx(90.0)
    assert job.detail["quarantine_wait_s"] == pytest.approx(240.0)
    assert job.restarts == 1


def test_cluster_ettr_is_rank_weighted_and_below_availability() -> None:
    rng = np.random.default_rng(3)
    big = generate(JobSpec(name="big", n_nodes=4), rng)
    small = generate(JobSpec(name="small", n_nodes=1, crash_after=None), rng)
    led = build_ledger(build_steps(big.rows + small.rows))
    jb, js = led.jobs["big"], led.jobs["small"]
    want = (jb.productive_s * 32 + js.productive_s * 8) / (jb.wall_s * 32 + js.wall_s * 8)
    assert led.ettr == pytest.approx(want)
    assert led.ettr < led.availability <= 1.0
    out = json.loads(json.dumps(led.to_json()))
    assert set(out["jobs"]["big"]["lost_s"]) == set(CAUSES)
    assert {"wall_s", "productive_s", "ettr", "lost_s"} <= set(out["jobs"]["small"])


def _check_invariants(rows: list[dict[str, object]]) -> None:
    led = build_ledger(build_steps(rows))
    for job in led.jobs.values():
        lost = job.lost_s
        assert list(lost) == list(CAUSES)
        assert min(lost.values()) >= 0.0
        assert sum(lost.values()) == pytest.approx(job.wall_s - job.productive_s,
                                                   rel=1e-9, abs=1e-6)
        assert 0.0 <= job.ettr <= 1.0 + 1e-12


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), stages=st.integers(1, 3),
       crash=st.one_of(st.none(), st.integers(5, 60)), ckpt=st.integers(0, 20),
       noise=st.floats(0.0, 0.2))
def test_causes_add_up_and_none_is_negative(seed: int, stages: int, crash: int | None,
                                            ckpt: int, noise: float) -> None:
    rng = np.random.default_rng(seed)
    spec = JobSpec(n_nodes=1, gpus=4, stages=stages, steps=60, ckpt_every=ckpt, noise=noise,
                   straggler=(5, 25, 1.8), congestion=(20, 40, 3.0), crash_after=crash,
                   restart_gap_s=float(rng.uniform(0, 500)))
    _check_invariants(generate(spec, rng).rows)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e4), st.integers(0, 30), st.integers(0, 5),
                          st.floats(0, 20), st.floats(0, 20), st.integers(-1, 2)),
                min_size=1, max_size=80))
def test_arbitrary_logs_never_break_the_invariants(
        raw: list[tuple[float, int, int, float, float, int]]) -> None:
    rows = [{"ts": ts, "job": "j", "step": step, "rank": rank, "compute_s": c, "comm_s": m,
             "stage": stage} for ts, step, rank, c, m, stage in raw]
    _check_invariants(rows)


def test_duplicate_lines_are_not_restarts() -> None:
    rng = np.random.default_rng(11)
    s = generate(JobSpec(steps=80, crash_after=None, straggler=None, congestion=None), rng)
    rows = s.rows + s.rows[:50]
    job = build_ledger(build_steps(rows)).jobs["llm"]
    assert job.restarts == 0
    assert job.lost_s["rework"] == 0.0


def test_spec_with_no_straggler_or_crash_matches_wall() -> None:
    rng = np.random.default_rng(5)
    spec = replace(JobSpec(), straggler=None, crash_after=None, congestion=None)
    s = generate(spec, rng)
    job = build_ledger(records(s)).jobs["llm"]
    assert job.productive_s + sum(job.lost_s.values()) == pytest.approx(s.wall_s)


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_a_straggler_lasting_most_of_the_job_is_still_a_straggler(seed: int) -> None:
    rng = np.random.default_rng(seed)
    spec = JobSpec(straggler=(20, 380, float(rng.uniform(1.2, 1.5))), congestion=None,
                   crash_after=None, stages=int(rng.integers(1, 3)))
    s = generate(spec, rng)
    job = build_ledger(records(s)).jobs["llm"]
    assert job.lost_s["straggler"] == pytest.approx(s.truth["straggler"], rel=0.15)
    assert job.healthy_step_s == pytest.approx(s.healthy_s, rel=0.02)


def test_ettr_over_time_ends_at_the_ledger_ettr() -> None:
    from brownout.recovery.timeline import ettr_over_time

    rng = np.random.default_rng(2)
    s = generate(JobSpec(steps=150, crash_after=120), rng)
    steps = records(s)
    led = build_ledger(steps)
    series = ettr_over_time(steps, led, max_points=50)["llm"]
    assert series.t_s.shape == series.ettr.shape
    assert len(series.t_s) <= 50
    assert np.all(np.diff(series.t_s) > 0)
    assert series.ettr[-1] == pytest.approx(led.jobs["llm"].ettr, rel=1e-3)
    assert np.diff(series.ettr).min() < -0.01  # the crash and its restart gap show as a dip


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_findings_measure_the_loss_before_detection(seed: int) -> None:
    rng = np.random.default_rng(seed)
    spec = JobSpec(straggler=(100, 160, 1.5), congestion=None, crash_after=None,
                   ckpt_every=0)
    s = generate(spec, rng)

    def end_of(step: int) -> float:
        return max(float(r["ts"]) for r in s.rows if r["step"] == step)

    onset, detected = end_of(100) + 1.0, end_of(121) + 1.0  # steps 101..121: 20 slow steps
    finding = Finding("f-1", "gpu_degraded", "n0002/gpu3", "gpu", onset, detected, 0.9,
                      "major", "slow GPU")
    job = build_ledger(records(s), [finding]).jobs["llm"]
    assert job.detail["detection_delay_s"] == pytest.approx(s.truth["straggler"] / 3, rel=0.15)
    other_node = Finding("f-2", "gpu_degraded", "n0999/gpu0", "gpu", onset, detected, 0.9,
                         "major", "elsewhere")
    assert build_ledger(records(s), [other_node]).jobs["llm"].detail["detection_delay_s"] == 0


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_congestion_lasting_most_of_the_job_is_still_congestion(seed: int) -> None:
    rng = np.random.default_rng(seed)
    spec = JobSpec(congestion=(60, 340, float(rng.uniform(1.5, 3.0))), straggler=None,
                   crash_after=None)
    s = generate(spec, rng)
    job = build_ledger(records(s)).jobs["llm"]
    assert job.lost_s["congestion"] == pytest.approx(s.truth["congestion"], rel=0.15)
