"""Coarse-mode evaluation: accounting, policy ordering, the closed form, the sweep."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from brownout.errors import InputError
from brownout.loop.coarse_eval import CAUSES, POLICIES, draw_physics, run_policy
from brownout.loop.costs import EvalScenario, find_eval_scenario, parse_eval_scenario
from brownout.loop.tuner_sweep import sweep
from brownout.recovery.tuner import expected_overhead


def _scenario(name: str, days: float) -> EvalScenario:
    es = find_eval_scenario(name)
    assert es is not None
    return replace(es, sim=replace(es.sim, duration_s=days * 86400.0))


@pytest.mark.parametrize("seed", [41, 42, 43])
def test_time_adds_up_and_physics_is_shared(seed: int) -> None:
    es = _scenario("llama3-54d", 10)
    runs = {p: run_policy(es, p, seed) for p in POLICIES}
    for r in runs.values():
        assert set(r.lost_s) == set(CAUSES) and min(r.lost_s.values()) >= 0
        assert r.productive_s + sum(r.lost_s.values()) == pytest.approx(r.wall_s, rel=1e-9)
        assert 0 < r.ettr <= r.availability <= 1
    assert len({r.fail_stops for r in runs.values()}) == 1  # same failures for everyone
    assert runs["baseline"].isolations == 0 and runs["baseline"].lost_s["checkpoint"] > 0
    assert runs["baseline"].cold_restarts == runs["baseline"].fail_stops


def test_policies_rank_on_fail_slow_heavy() -> None:
    es = _scenario("fail-slow-heavy", 7)
    ettr = {p: np.mean([run_policy(es, p, s).ettr for s in (51, 52, 53)]) for p in POLICIES}
    assert ettr["brownout"] >= ettr["baseline"] + 0.05
    assert ettr["oracle"] >= ettr["brownout"] - 0.005


def test_baseline_matches_daly_closed_form() -> None:
    """Fail-stops only, fixed interval: ETTR ~ 1 / (1 + Daly's expected overhead)."""
    es = find_eval_scenario("llama3-54d")
    assert es is not None
    c = es.costs
    ph = draw_physics(es, 61)
    got = np.mean([run_policy(es, "baseline", s, fail_slow=False).ettr for s in (61, 62, 63)])
    want = 1.0 / (1.0 + expected_overhead(c.baseline_checkpoint_interval_s, c.sync_checkpoint_s,
                                          ph.true_mtbi_s, c.cold_restart_s))
    assert got == pytest.approx(want, abs=0.02)


def test_tuned_interval_within_two_percent_of_sweep() -> None:
    es = _scenario("llama3-54d", 30)
    res = sweep(es, seeds=(71, 72, 73, 74), grid_s=np.geomspace(400, 3200, 13).tolist())
    assert res.relative_gap <= 0.02, res.to_json()
    assert res.best_interval_s not in (res.grid_s[0], res.grid_s[-1])  # a real interior optimum


def test_scenario_validation() -> None:
    with pytest.raises(InputError, match="unknown field"):
        parse_eval_scenario("name: x\nsim_scenario: llama3-54d\nbogus: 1\n", "x.yaml")
    with pytest.raises(InputError, match="costs"):
        parse_eval_scenario("name: x\nsim_scenario: llama3-54d\ncosts: {}\nfail_slow: {}\n",
                            "x.yaml")
    with pytest.raises(InputError, match="not coarse"):
        parse_eval_scenario("name: x\nsim_scenario: gpu_degraded\n", "x.yaml")


def test_detection_measurements_cover_the_pinned_slowdowns() -> None:
    from brownout.loop.detection_quality import load_detection

    det = load_detection()
    for kind in ("gpu_degraded", "host_straggler"):
        for x in (1.1, 1.2, 1.5, 2.0):
            q = det.quality(kind, x)
            assert q is not None and q.slowdown[0] <= x <= q.slowdown[1]
            assert 0 < q.recall <= 1 and all(d > 0 for d in q.delays_s)
    for x in (1.1, 1.5, 2.0):  # found (never drained: the delay is to the finding)
        q = det.quality("switch_congestion", x)
        assert q is not None and q.recall == 1.0 and q.false_drains == 0
        assert all(30 < d < 300 for d in q.delays_s)
    assert det.quality("host_straggler", 1.15).recall < det.quality("host_straggler", 1.6).recall  # type: ignore[union-attr]


# ------------------------------------------------------------- reroute off congested leaves
def _walk(es: EvalScenario, eps: tuple, seed: int) -> list[tuple[float, str, int]]:  # type: ignore[type-arg]
    from brownout.loop.coarse_eval import _Run, plan_for

    ph = draw_physics(es, seed)
    run = _Run(es, ph, plan_for("brownout", es, ph), eps, start_s=es.sim.start_s)
    run.run()
    return run.decisions


@pytest.mark.parametrize("seed", [81, 82])
def test_brownout_reroutes_without_knowing_when_congestion_ends(seed: int) -> None:
    """Causality: moving an episode's end (after the decision) changes no earlier decision."""
    from brownout.loop.coarse_eval import with_detection
    from brownout.loop.detection_quality import load_detection

    es = _scenario("llama3-54d", 10)
    eps = with_detection(draw_physics(es, seed), "brownout", load_detection(), seed)
    base = _walk(es, eps, seed)
    rerouted = [(t, i) for t, what, i in base if what == "reroute"]
    assert rerouted
    t0, j = rerouted[0]
    for end_s in (eps[j].end_s + 7200.0, (t0 + eps[j].end_s) / 2):
        moved = (*eps[:j], replace(eps[j], end_s=end_s), *eps[j + 1:])
        again = _walk(es, moved, seed)
        cut = min(end_s, eps[j].end_s)
        assert [d for d in again if d[0] < cut] == [d for d in base if d[0] < cut]


@pytest.mark.parametrize("seed", [91, 92])
def test_reroute_removes_congestion_within_the_spare_pool(seed: int) -> None:
    es = _scenario("llama3-54d", 12)
    on = {p: run_policy(es, p, seed) for p in ("brownout", "oracle")}
    off = {p: run_policy(es, p, seed, remedies=frozenset()) for p in ("brownout", "oracle")}
    for p, r in on.items():
        assert r.reroutes > 0 and off[p].reroutes == 0
        assert r.lost_s["congestion"] < 0.3 * off[p].lost_s["congestion"]
        assert r.ettr > off[p].ettr
    assert on["oracle"].ettr >= on["brownout"].ettr - 0.005
    # fewer spares than nodes under one leaf: nobody can move the job off a leaf
    small = replace(es, costs=replace(es.costs, warm_spares=8))
    for p in ("brownout", "oracle"):
        r = run_policy(small, p, seed)
        assert r.reroutes == 0 and r.lost_s["congestion"] > 0
