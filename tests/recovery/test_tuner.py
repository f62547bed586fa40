"""Checkpoint tuner: closed form, direction of change, near-optimal overhead, plan file."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from brownout.clock import ManualClock
from brownout.errors import ParseError
from brownout.recovery.priors import DAY_S, LLAMA3, STEPFUN, RatePrior, derive_trace_prior
from brownout.recovery.rates import FailureRateModel
from brownout.recovery.tuner import (
    CheckpointTuner,
    TunerConfig,
    daly_interval_s,
    expected_overhead,
    first_order_overhead,
    read_plan,
    young_daly_interval_s,
)

T0 = 1_764_000_000.0
SEEDS = [0, 1, 2, 3, 4]


def _nodes(n: int, prefix: str = "n") -> list[str]:
    return [f"{prefix}{i:05d}" for i in range(n)]


def _tuner(n_nodes: int, prior: RatePrior = STEPFUN, **cfg: object
           ) -> tuple[CheckpointTuner, ManualClock]:
    clock = ManualClock(T0)
    rates = FailureRateModel(prior, clock)
    return CheckpointTuner(rates, clock, _nodes(n_nodes), TunerConfig(**cfg)), clock  # type: ignore[arg-type]


@pytest.mark.parametrize("n_nodes", [16, 256, 2048])
def test_matches_the_closed_form_on_the_prior_rate(n_nodes: int) -> None:
    tuner, _ = _tuner(n_nodes)
    tuner.observe_save(60.0)
    m = DAY_S / (STEPFUN.per_node_day * n_nodes)
    assert tuner.mtbi_s() == pytest.approx(m)
    assert tuner.interval_s() == pytest.approx(math.sqrt(2 * 60.0 * m) - 60.0)


def test_llama3_prior_reproduces_the_published_rate() -> None:
    m = DAY_S / (LLAMA3.per_node_day * 2048)
    assert m == pytest.approx(54 * DAY_S / 419, rel=1e-3)


@pytest.mark.parametrize("seed", SEEDS)
def test_constant_observed_rate_is_learned_and_gives_the_closed_form(seed: int) -> None:
    rng = np.random.default_rng(seed)
    true_per_node_day = STEPFUN.per_node_day * rng.uniform(2.0, 4.0)
    tuner, clock = _tuner(512)
    tuner.observe_save(45.0)
    for _ in range(120):  # 120 days of Poisson failures on the job's own nodes
        clock.advance(DAY_S)
        k = rng.poisson(true_per_node_day * 512)
        tuner.rates.observe_fleet(int(k), 512 * DAY_S)
        for node in rng.choice(tuner.nodes, size=k):
            tuner.rates.observe_node_failure(str(node))
    m_true = DAY_S / (true_per_node_day * 512)
    assert tuner.mtbi_s() == pytest.approx(m_true, rel=0.2)
    want = math.sqrt(2 * 45.0 * tuner.mtbi_s()) - 45.0
    assert tuner.interval_s() == pytest.approx(want)


def test_interval_shrinks_when_failures_speed_up_or_the_job_grows() -> None:
    tuner, clock = _tuner(128)
    tuner.observe_save(60.0)
    base = tuner.interval_s()
    clock.advance(DAY_S)
    for node in tuner.nodes[:8]:
        tuner.rates.observe_node_failure(node)
    after_failures = tuner.interval_s()
    assert after_failures < base
    tuner.set_nodes(_nodes(512))
    assert tuner.interval_s() < after_failures
    tuner.rates.observe_fleet(400, 2000 * DAY_S)  # the fleet degrades: 10x its prior rate
    assert tuner.interval_s() < after_failures * 0.9


def test_interval_grows_back_as_failures_age_and_saves_get_cheaper() -> None:
    tuner, clock = _tuner(128)
    tuner.observe_save(60.0)
    for node in tuner.nodes[:8]:
        tuner.rates.observe_node_failure(node)
    hot = tuner.interval_s()
    clock.advance(120 * DAY_S)
    assert tuner.interval_s() > hot
    cooled = tuner.interval_s()
    for _ in range(5):
        tuner.observe_save(10.0)
    assert tuner.interval_s() < cooled  # cheaper saves: checkpoint more often


def test_own_flaky_nodes_shorten_the_interval_more_than_fleet_news() -> None:
    tuner_a, clock_a = _tuner(64)
    tuner_b, clock_b = _tuner(64)
    clock_a.advance(DAY_S)
    clock_b.advance(DAY_S)
    for _ in range(4):
        tuner_a.rates.observe_node_failure(tuner_a.nodes[0])
        tuner_b.rates.observe_node_failure("elsewhere")
    assert tuner_a.interval_s() < tuner_b.interval_s()


@pytest.mark.parametrize("seed", SEEDS)
def test_tuned_interval_is_within_2_percent_of_the_best_swept_interval(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(20):
        m = float(rng.uniform(0.5, 48)) * 3600
        c = m * float(10 ** rng.uniform(-4, -1))  # C/M from 1e-4 to 0.1
        sweep = np.geomspace(c / 20, 5 * m, 4000)
        best = min(expected_overhead(t, c, m) for t in sweep)
        assert expected_overhead(young_daly_interval_s(c, m), c, m) <= best * 1.02
        c_big = m * float(rng.uniform(0.1, 0.3))
        sweep = np.geomspace(c_big / 20, 5 * m, 4000)
        best = min(expected_overhead(t, c_big, m) for t in sweep)
        assert expected_overhead(daly_interval_s(c_big, m), c_big, m) <= best * 1.02


def test_first_order_overhead_is_minimised_by_sqrt_2cm() -> None:
    c, m = 60.0, 4 * 3600.0
    tau = math.sqrt(2 * c * m)
    assert first_order_overhead(tau, c, m) < first_order_overhead(tau * 1.1, c, m)
    assert first_order_overhead(tau, c, m) < first_order_overhead(tau * 0.9, c, m)


def test_plan_file_is_written_atomically_and_read_back(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "plan.json"
    tuner, clock = _tuner(256)
    tuner.observe_save(30.0)
    plan = tuner.write_plan(path, last_checkpoint_s=T0 - 100.0)
    assert plan.issued_at_s == T0
    assert plan.next_checkpoint_s == pytest.approx(T0 - 100.0 + plan.interval_s)
    assert read_plan(path) == plan
    assert sorted(p.name for p in path.parent.iterdir()) == ["plan.json"]
    clock.advance(10 * plan.interval_s)
    late = tuner.plan(last_checkpoint_s=T0)
    assert late.next_checkpoint_s == clock.now()  # overdue: checkpoint now
    path.write_text(json.dumps({"format": "something"}))
    with pytest.raises(ParseError):
        read_plan(path)


def test_bad_save_cost_is_refused() -> None:
    tuner, _ = _tuner(8)
    with pytest.raises(ValueError, match="save cost"):
        tuner.observe_save(float("nan"))


def test_prior_derived_from_a_stepfun_format_trace(tmp_path: object) -> None:
    from pathlib import Path

    rng = np.random.default_rng(0)
    events, counts = [], rng.poisson(rng.gamma(0.8, 1 / 0.8, 300) * 1.5)
    for node, k in enumerate(counts):
        for t in rng.uniform(0, 200, k):
            events.append({"node_id": f"u{node}", "event_time": float(t),
                           "event_type": "fault_start",
                           "fault_type": {"Level": "Hardware Failure", "Class": "GPU",
                                          "Desc": "GPU Lost"}})
    events.append({"node_id": "u0", "event_time": 200.0, "event_type": "fault_start",
                   "fault_type": {"Level": "Other Failure", "Class": "Stress Test Failure",
                                  "Desc": "x"}})
    path = Path(str(tmp_path)) / "fault_trace.json"
    path.write_text(json.dumps(events))
    prior = derive_trace_prior(path, 300)
    assert prior.per_node_day == pytest.approx(counts.sum() / 300 / 200.0)
    assert 0.4 < prior.shape < 2.0  # over-dispersed like the generator's gamma(0.8)
    path.write_text("{}")
    with pytest.raises(ParseError):
        derive_trace_prior(path, 300)
