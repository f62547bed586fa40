"""Coarse mode: published failure rates and trace replay."""

from __future__ import annotations

from collections import Counter

import pytest

from brownout.errors import InputError
from brownout.sim import load_scenario, run_scenario, scenario_from_dict
from brownout.sim.failure_tables import LLAMA3


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_llama3_interruptions_match_the_paper(seed: int) -> None:
    r = run_scenario(load_scenario("llama3-54d"), seed=seed)
    s = r.summary
    assert abs(s["interruptions"] - 419) <= 0.15 * 419
    assert 2.6 <= s["mtbi_h"] <= 3.6
    assert 0.85 <= s["ettr"] <= 0.95
    gpu_share = s["by_category"]["GPU"] / s["interruptions"]
    published = sum(c.count for c in LLAMA3 if c.category == "GPU") / 419
    assert gpu_share == pytest.approx(published, abs=0.08)
    kinds = Counter(t.kind for t in r.truth)
    assert kinds["gpu_failed"] > kinds["nic_degraded"] > 0
    assert len(r.truth) == sum(1 for i in r.extra["interruptions"] if i["kind"])


def _trace_doc(node: str = "n0002") -> dict[str, object]:
    return {"name": "t", "mode": "coarse", "cluster": {"nodes": 4}, "duration_days": 2,
            "jobs": [{"name": "j", "nodes": 4, "compute_s": 5.0, "checkpoint_every_steps": 120}],
            "failure_trace": [
                {"node": node, "start_h": 5, "end_h": 30, "kind": "gpu_failed",
                 "variant": "xid48", "cause": "GPU: DBE"},
                {"node": "n0003", "start_h": 10, "kind": None, "cause": "PSU: failed"},
                {"node": "n0001", "start_h": 60, "end_h": 70, "kind": "nic_degraded",
                 "cause": "cable"}]}


def test_trace_replay_keeps_times_and_repairs() -> None:
    sc = scenario_from_dict(_trace_doc(), "<t>")
    r = run_scenario(sc, seed=1)
    assert r.summary["interruptions"] == 2  # the third starts after the run
    assert len(r.truth) == 1
    t = r.truth[0]
    assert t.component.startswith("n0002/gpu") and t.onset == sc.start_s + 5 * 3600
    assert t.end == sc.start_s + 30 * 3600
    rework = r.extra["interruptions"][0]["rework_s"]
    assert 0 <= rework <= 600  # checkpoints every 600 s


def test_trace_with_unknown_node_is_refused() -> None:
    with pytest.raises(InputError, match="n0099"):
        run_scenario(scenario_from_dict(_trace_doc("n0099"), "<t>"), seed=1)


def test_stepfun_replay_builtin() -> None:
    sc = load_scenario("stepfun-replay")
    assert len(sc.failure_trace) == 584
    r = run_scenario(sc, seed=1)
    assert r.summary["interruptions"] == sum(1 for e in sc.failure_trace
                                             if e.start_s < sc.duration_s)
