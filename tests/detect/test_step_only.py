"""Step-only detection (no telemetry) on job shapes unlike the twin's, over fresh seeds.

Seeds are drawn fresh on every run and printed on failure. The full
measurement, against NVIDIA NVRx's rule, is ``python benchmarks/eval_steps.py``.
"""

from __future__ import annotations

import secrets

import numpy as np
import pytest

from brownout.detect.engine import replay
from brownout.detect.robust import kth_largest
from brownout.findings import FindingsFile
from brownout.scoring import score
from brownout.sim.step_shapes import (
    MIN_RECORDS,
    JobShape,
    SlowRank,
    StepRun,
    StepScenario,
    draw_scenario,
    simulate_steps,
)

FRESH = [secrets.randbelow(2**31) for _ in range(3)]


def detect(run: StepRun) -> FindingsFile:
    return replay(run.topology, None, run.steps)


def found(ff: FindingsFile) -> set[tuple[str, str]]:
    return {(f.kind, f.component) for f in ff.findings}


def pipeline_job(seed: int) -> StepRun:
    """The issue's real pipeline job: 16 ranks, 4 stages of 4, ~45-s steps, 44 steps,
    one rank 2.4x its stage peers from the first record to the last."""
    job = JobShape(nodes=4, ranks_per_node=4, stages=4, step_s=18.0, static_spread=0.05,
                   noise_sigma=0.03, stage_extra=0.1, bubble=0.15, comm_frac=0.05)
    sc = StepScenario("pp16", (job,), 2040.0, (SlowRank(0, (5,), 2.4, 0.0, None),))
    return simulate_steps(sc, seed)


def dp_job(seed: int) -> StepRun:
    """The issue's real data-parallel job: 10 workers, one per machine, every 10th
    iteration logged, ~4.3-s steps; one worker 1.4x for ~14 logged iterations
    (about 10 minutes); three workers 9% slower than the rest from start to end."""
    static = tuple(1.09 if r in (2, 3, 4) else 1.0 + 0.01 * (r % 3) for r in range(10))
    job = JobShape(nodes=10, ranks_per_node=1, step_s=4.0, log_every=10, static=static,
                   noise_sigma=0.03, tail_prob=0.01, comm_frac=0.05)
    sc = StepScenario("dp10", (job,), 9000.0, (SlowRank(0, (7,), 1.4, 4000.0, 4620.0),))
    return simulate_steps(sc, seed)


@pytest.mark.parametrize("seed", FRESH)
def test_pipeline_rank_slow_from_its_first_record_is_found(seed: int) -> None:
    run = pipeline_job(seed)
    ff = detect(run)
    assert found(ff) == {("gpu_degraded", "j0n001/gpu1")}, f"seed {seed}: {ff.findings}"
    assert ff.findings[0].detected_at - run.steps.ts[0] <= 600, f"seed {seed}"


@pytest.mark.parametrize("seed", FRESH)
def test_transient_worker_found_static_heterogeneity_not(seed: int) -> None:
    run = dp_job(seed)
    ff = detect(run)
    assert found(ff) == {("host_straggler", "j0n007")}, f"seed {seed}: {ff.findings}"
    f = ff.findings[0]
    assert "cannot be told apart" in f.evidence["gpu_or_host"], f"seed {seed}"
    t = run.truth[0]  # found while it lasts, within 8 of its records (~45 s each, but a
    # heavy-tailed hiccup of another worker can hold the whole job for minutes)
    mine = run.steps.rank == 7
    seen = int(((run.steps.ts > t.onset) & (run.steps.ts <= f.detected_at) & mine).sum())
    assert t.onset <= f.detected_at <= (t.end or np.inf), f"seed {seed}"
    assert seen <= 8, f"seed {seed}: {seen} records"


def test_persistence_needs_records_and_seconds() -> None:
    """1.5x for 20 s of 50-ms steps (400 records), or for 3 records of 45-s steps: neither
    is a persistent fault."""
    fast = JobShape(nodes=2, ranks_per_node=4, step_s=0.05, noise_sigma=0.02)
    slow = JobShape(nodes=2, ranks_per_node=4, step_s=45.0, noise_sigma=0.02)
    for job, end in ((fast, 420.0), (slow, 400.0 + 1.2 * slow.record_s)):  # <= 3 records
        sc = StepScenario("blip", (job,), 900.0, (SlowRank(0, (1,), 1.5, 400.0, end),))
        assert detect(simulate_steps(sc, 3)).findings == (), job.step_s


@pytest.mark.parametrize("seed", FRESH)
def test_fresh_scenarios_quality_floor(seed: int) -> None:
    """Random realistic job shapes, each with slow ranks or nodes of 1.25x-2.5x."""
    rng = np.random.default_rng(seed)
    sc = draw_scenario(rng, f"fresh{seed}", max_records=20000)
    run = simulate_steps(sc, seed)
    ff = detect(run)
    r = score(list(ff.findings), run.truth)
    assert r.overall.matched >= r.overall.truth - 1, f"seed {seed}: missed {r.missed_truth}"
    assert r.overall.false <= 1, f"seed {seed}: false {r.false_findings}"


def test_healthy_heterogeneous_imbalanced_jobs_raise_nothing() -> None:
    """Static heterogeneity, sequence-length imbalance, unequal stages, bubbles, restarts.

    Three fresh draws together raise at most one finding: measured over 40 fresh
    healthy draws, one had one (a rank of a heavy-tailed job hit by hiccups in 4 of
    7 consecutive records, 1.4-2.5x each), so "none in each of three" fails about
    one CI run in 13 with the detector unchanged; two findings in three draws is a
    regression (about 1 in 500 by chance)."""
    said = {}
    for seed in FRESH:
        sc = draw_scenario(np.random.default_rng(seed), f"healthy{seed}", healthy=True,
                           max_records=20000)
        said[seed] = [(f.kind, f.component) for f in detect(simulate_steps(sc, seed)).findings]
    assert sum(len(v) for v in said.values()) <= 1, said


def test_confidence_grows_with_evidence() -> None:
    """The same 1.6x rank, seen over 1-second steps and over 30-second steps."""
    conf = []
    for step_s in (1.0, 30.0):
        job = JobShape(nodes=2, ranks_per_node=4, step_s=step_s, noise_sigma=0.02)
        sc = StepScenario("c", (job,), 3600.0, (SlowRank(0, (2,), 1.6, 1200.0, None),))
        conf.append(detect(simulate_steps(sc, 5)).findings[0].confidence)
    assert conf[0] > conf[1]


@pytest.mark.parametrize("rpn", [2, 4])
def test_lone_slow_rank_of_small_node_is_one_gpu_finding(rpn: int) -> None:
    """One rank 2x for ~40 records of 30-s records, next to a rank statically 12% slower
    on its node: one gpu_degraded, closed when the fault ends. Neither the host
    (one slow rank of two or four is not most of the node) nor a second finding
    after the end (a longer level window still remembers the fault)."""
    static = (1.0, 1.12, *(1.0 + 0.02 * (r % 3) for r in range(2 * rpn - 2)))
    job = JobShape(nodes=2, ranks_per_node=rpn, step_s=0.6, log_every=50, static=static,
                   noise_sigma=0.03, seqlen_sigma=0.06, comm_frac=0.05)
    sc = StepScenario("small", (job,), 6000.0, (SlowRank(0, (0,), 2.0, 2400.0, 3600.0),))
    run = simulate_steps(sc, 7)
    ff = detect(run)
    assert [(f.kind, f.component) for f in ff.findings] == [("gpu_degraded", "j0n000/gpu0")]
    r = score(list(ff.findings), run.truth)
    assert r.overall.matched == 1 and r.overall.false == 0


def test_slowdown_shows_in_at_least_five_records() -> None:
    """A slowdown drawn shorter than a record still slows five logged records: the
    evaluator's truth never counts a fault the log barely shows."""
    job = JobShape(nodes=2, ranks_per_node=4, step_s=30.0, noise_sigma=0.02)
    slow = SlowRank(0, (3,), 1.5, 1200.0, 1205.0, MIN_RECORDS)  # as drawn
    sc = StepScenario("short", (job,), 3600.0, (slow,))
    run = simulate_steps(sc, 1)
    t = run.truth[0]
    mine = (run.steps.rank == 3) & (run.steps.ts >= t.onset) & (run.steps.ts <= (t.end or 0))
    assert int(mine.sum()) >= MIN_RECORDS


@pytest.mark.parametrize("seed", FRESH)
def test_drawn_slowdowns_leave_every_stage_a_yardstick(seed: int) -> None:
    """No whole stage slow from its first record (no peers, no past of its own), and no
    slowdowns beginning together that make most of a stage, or most stages, slow."""
    rng = np.random.default_rng(seed)
    for i in range(200):
        sc = draw_scenario(rng, f"d{i}")
        for s in sc.slow:
            job = sc.jobs[s.job]
            assert not (s.onset_s == 0 and job.holds_a_stage(s.ranks)), f"seed {seed}: {s}"
            stage = np.arange(job.ranks) * job.stages // job.ranks
            for o in sc.slow:
                near = max(5 * job.record_s, 120.0)
                if o is s or o.job != s.job or not _overlap(o, s) or abs(
                        o.onset_s - s.onset_s) >= near:
                    continue
                both = set(s.ranks) | set(o.ranks)
                share = [np.isin(np.flatnonzero(stage == k), list(both)).mean()
                         for k in range(job.stages)]
                assert not any(0.5 < x < 1.0 for x in share), f"seed {seed}: {s} {o}"
                assert 2 * sum(x == 1.0 for x in share) <= job.stages, f"seed {seed}"


def _overlap(a: SlowRank, b: SlowRank) -> bool:
    inf = float("inf")
    return a.onset_s < (b.end_s or inf) and b.onset_s < (a.end_s or inf)


def test_kth_largest_per_group() -> None:
    """A node's level is what more than half of its ranks pass: the 2nd largest of two."""
    got = kth_largest(np.array([0.9, 0.1, 0.3, 0.2, 0.25, 0.5]), np.array([0, 0, 1, 1, 1, 2]),
                      np.array([2, 2, 2, 1]))
    assert got.tolist() == [0.1, 0.25, -np.inf, -np.inf]
