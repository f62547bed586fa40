"""The ``reroute`` action: follows only switch_congestion, only when it pays, never isolates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from policy_factories import make_finding

from brownout.errors import InputError
from brownout.findings import SEVERITIES
from brownout.policy.actions import (
    ACTION_KINDS,
    DISRUPTIVE,
    ISOLATING,
    NOTIFY,
    REROUTE,
    Action,
)
from brownout.policy.breaker import Breaker, BreakerReading
from brownout.policy.config import PolicyConfig, config_from_dict, with_reroute
from brownout.policy.guardrails import Ledger, rate_limit
from brownout.policy.rules import (
    PolicyInput,
    act_now_pays,
    decide,
    expected_remaining_s,
)

CFG = with_reroute(PolicyConfig())
PRIOR = (600.0, 36000.0)


def _congestion(slowdown: float | None, *, lasted_s: float, severity: str = "major",
                confidence: float = 0.95) -> tuple[PolicyInput, str]:
    ev = {} if slowdown is None else {"job_slowdown": slowdown}
    f = make_finding("switch_congestion", "leaf05", severity, confidence, evidence=ev)
    return PolicyInput((f,), now_s=f.onset + lasted_s), f.id


def test_reroute_is_a_disruptive_action_that_isolates_nothing() -> None:
    assert REROUTE in ACTION_KINDS and REROUTE in DISRUPTIVE and REROUTE not in ISOLATING
    a = Action(REROUTE, "leaf05", "", "f-1", "switch_congestion major leaf05")
    assert a.disruptive and not a.isolating
    assert a.key.startswith("reroute:leaf05:")


def test_default_policy_never_reroutes() -> None:
    inp, _ = _congestion(1.8, lasted_s=3600.0)
    assert [a.kind for a in decide(inp, PolicyConfig())] == [NOTIFY]


def test_a_lasting_costly_congestion_is_rerouted_off_its_leaf() -> None:
    inp, fid = _congestion(1.5, lasted_s=900.0)
    acts = decide(inp, CFG)
    assert [a.kind for a in acts] == [REROUTE, NOTIFY]
    assert acts[0].component == "leaf05" and acts[0].node == "" and acts[0].finding_id == fid
    assert decide(inp, CFG) == acts  # same finding, same key: journalled once


@pytest.mark.parametrize(("slowdown", "lasted_s", "severity", "confidence"), [
    (1.5, 120.0, "major", 0.95),   # not yet persistent (reroute_after_s)
    (None, 900.0, "major", 0.95),  # no measured job slowdown: nothing to weigh
    (1.5, 900.0, "minor", 0.95),   # minor: notify only
    (1.5, 900.0, "major", 0.3),    # not confident
    (1.01, 900.0, "major", 0.95),  # too mild to repay a restart
    (1.5, 35900.0, "major", 0.95), # nearly at the prior's longest: about to end
])
def test_no_reroute_when_it_does_not_pay(slowdown: float | None, lasted_s: float,
                                         severity: str, confidence: float) -> None:
    inp, _ = _congestion(slowdown, lasted_s=lasted_s, severity=severity,
                         confidence=confidence)
    assert [a.kind for a in decide(inp, CFG)] == [NOTIFY]


@given(severity=st.sampled_from(SEVERITIES), confidence=st.floats(0, 1),
       slowdown=st.one_of(st.none(), st.floats(0.5, 5.0)), lasted_s=st.floats(0, 50000))
def test_congestion_never_quarantines_even_with_reroute(
        severity: str, confidence: float, slowdown: float | None, lasted_s: float) -> None:
    inp, _ = _congestion(slowdown, lasted_s=lasted_s, severity=severity, confidence=confidence)
    acts = decide(inp, CFG)
    assert acts and all(not a.isolating and a.node == "" for a in acts)
    assert {a.kind for a in acts} <= {REROUTE, NOTIFY}


def test_reroute_only_follows_switch_congestion() -> None:
    with pytest.raises(InputError, match="reroute follows only switch_congestion"):
        config_from_dict({"kind_actions": {"gpu_degraded": {"major": ["reroute"]}}})
    with pytest.raises(InputError, match="never isolates"):
        config_from_dict({"kind_actions": {"switch_congestion": {"major": ["reroute",
                                                                           "drain_node"]}}})
    with pytest.raises(InputError, match="reroute_min_duration_s"):
        PolicyConfig(reroute_min_duration_s=100.0, reroute_max_duration_s=50.0)
    cfg = config_from_dict({"kind_actions": {"switch_congestion": {"critical": ["reroute"]}}})
    assert cfg.kind_actions["switch_congestion"]["critical"] == (REROUTE,)


def test_reroutes_are_rate_limited_and_stopped_by_the_breaker() -> None:
    a = Action(REROUTE, "leaf05", "", "f-1", "r")
    b = Action(REROUTE, "leaf06", "", "f-2", "r")
    ledger = Ledger(now_s=1000.0, n_nodes=64, accepted=[a])
    refusal = rate_limit(1, 600.0)(b, ledger)
    assert refusal is not None and refusal.rule == "rate_limit"
    reading = BreakerReading(True, "anomaly_fraction", 0.2, 0.5, "half the fleet")
    assert Breaker().update(reading, 1000.0, 900.0).refuse(a) is not None


# --------------------------------------------------------------- the cost rule
def test_expected_remaining_matches_the_closed_form_and_monte_carlo() -> None:
    lo, hi = PRIOR
    assert expected_remaining_s(0.0, PRIOR) == pytest.approx((hi - lo) / math.log(hi / lo),
                                                             rel=1e-3)
    rng = np.random.default_rng(5)
    d = np.exp(rng.uniform(math.log(lo), math.log(hi), 400_000))
    for a, m in ((0.0, 11134.0), (1800.0, 11134.0), (7200.0, 3000.0)):
        rem = d[d > a] - a
        t = rng.exponential(m, rem.size)
        assert expected_remaining_s(a, PRIOR, m) == pytest.approx(
            float(np.minimum(rem, t).mean()), rel=0.02)
    assert expected_remaining_s(hi, PRIOR) == 0.0


@given(a=st.floats(0, 35990), horizon=st.floats(60, 1e6))
def test_expected_remaining_conditions_on_age_and_is_capped_by_the_horizon(
        a: float, horizon: float) -> None:
    lo, hi = PRIOR
    start = max(a, lo)  # E[D | D > a] of a log-uniform D, minus its age
    want = (hi - start) / math.log(hi / start) - a
    assert expected_remaining_s(a, PRIOR) == pytest.approx(want, rel=1e-3, abs=1e-3)
    assert expected_remaining_s(a, PRIOR, horizon) <= min(want, horizon) * (1 + 1e-3) + 1e-3


@given(slow=st.floats(1.01, 3.0), cost=st.floats(1, 2000), age=st.floats(0, 30000))
def test_act_now_pays_is_monotone(slow: float, cost: float, age: float) -> None:
    if act_now_pays(slow, age, PRIOR, cost):
        assert act_now_pays(slow * 1.2, age, PRIOR, cost)  # slower: pays even more
        assert act_now_pays(slow, age, PRIOR, cost * 0.5)  # cheaper: pays even more
    assert not act_now_pays(1.0, age, PRIOR, cost)
