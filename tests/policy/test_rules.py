"""The policy function: pure, default mapping, blind spots never isolate, cooling rule."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from policy_factories import make_finding

from brownout.findings import SEVERITIES
from brownout.policy.actions import (
    DRAIN_NODE,
    ISOLATING,
    NOTIFY,
    REBOOT_NODE,
    RESET_GPU,
    RESTART_JOB,
    RETURN_NODE,
)
from brownout.policy.config import PolicyConfig
from brownout.policy.rules import PolicyInput, decide, hot_nodes
from brownout.policy.states import DRAINING, IN_REPAIR

CFG = PolicyConfig()


def kinds_of(actions: list) -> list[str]:  # type: ignore[type-arg]
    return [a.kind for a in actions]


def test_decide_is_pure_and_deterministic() -> None:
    fs = (make_finding("gpu_failed", "n0003/gpu1", evidence={"xid": 79}),
          make_finding("gpu_degraded", "n0007/gpu2", "major"))
    inp = PolicyInput(fs, now_s=5000.0)
    assert decide(inp, CFG) == decide(inp, CFG)
    assert decide(PolicyInput(fs[::-1], now_s=5000.0), CFG) == decide(inp, CFG)


def test_xid_79_drains_restarts_reboots_and_tickets() -> None:
    acts = decide(PolicyInput((make_finding("gpu_failed", "n0003/gpu1",
                                            evidence={"xid": 79}),)), CFG)
    assert kinds_of(acts) == [DRAIN_NODE, RESTART_JOB, REBOOT_NODE, NOTIFY]
    assert {a.node for a in acts} == {"n0003"}


def test_xid_119_resets_the_gpu_named() -> None:
    acts = decide(PolicyInput((make_finding("gpu_failed", "n0003/gpu5",
                                            evidence={"xids": ["119"]}),)), CFG)
    reset = [a for a in acts if a.kind == RESET_GPU]
    assert len(reset) == 1 and reset[0].component == "n0003/gpu5"


def test_xid_13_only_restarts_the_job() -> None:
    acts = decide(PolicyInput((make_finding("gpu_failed", "n0003/gpu5",
                                            evidence={"xid": 13}),)), CFG)
    assert kinds_of(acts) == [RESTART_JOB]


def test_minor_and_low_confidence_only_notify() -> None:
    fs = (make_finding("gpu_degraded", "n0001/gpu0", "minor"),
          make_finding("host_straggler", "n0002", "critical", confidence=0.3))
    assert set(kinds_of(decide(PolicyInput(fs), CFG))) == {NOTIFY}


@given(kind=st.sampled_from(["telemetry_loss", "switch_congestion"]),
       severity=st.sampled_from(SEVERITIES), confidence=st.floats(0, 1),
       xid=st.sampled_from([None, 79, 119]))
def test_blind_spots_and_congestion_never_isolate(kind: str, severity: str, confidence: float,
                                                  xid: int | None) -> None:
    comp = "leaf03" if kind == "switch_congestion" else "n0009"
    f = make_finding(kind, comp, severity, confidence, evidence={"xid": xid} if xid else {})
    acts = decide(PolicyInput((f,)), CFG)
    assert acts and all(a.kind == NOTIFY for a in acts)


def test_cooling_drains_hottest_first_only_past_throttle() -> None:
    ev = {"node_temp_c": {"n0017": 91.0, "n0018": 86.9, "n0019": 94.5, "n0020": 88.0}}
    acts = decide(PolicyInput((make_finding("cooling_fault", "cdu02", "major", evidence=ev),)),
                  CFG)
    drains = [a.node for a in acts if a.kind == DRAIN_NODE]
    assert drains == ["n0019", "n0017"]  # cooling_max_drains=2, hottest first, 86.9 never
    assert any(a.kind == NOTIFY and a.component == "cdu02" for a in acts)
    lower = CFG.replace(cooling_max_drains=10)
    drains = [a.node for a in decide(PolicyInput((make_finding(
        "cooling_fault", "cdu02", "major", evidence=ev),)), lower) if a.kind == DRAIN_NODE]
    assert drains == ["n0019", "n0017", "n0020"]


def test_cooling_without_temperatures_or_minor_only_notifies() -> None:
    for f in (make_finding("cooling_fault", "cdu02", "critical"),
              make_finding("cooling_fault", "cdu02", "minor",
                           evidence={"hottest": [{"component": "n0001/gpu3", "temp_c": 99}]})):
        assert kinds_of(decide(PolicyInput((f,)), CFG)) == [NOTIFY]


def test_hot_nodes_reads_every_evidence_shape() -> None:
    ev = {"gpu_temp_c": {"n0001/gpu0": 90, "n0001/gpu1": 92.5},
          "hottest": [{"component": "n0002/gpu7", "temp_c": 95}, {"component": "x"}],
          "node_temp_c": {"n0003": "hot"}}
    assert hot_nodes(ev) == {"n0001": 92.5, "n0002": 95.0}


def test_out_of_service_node_gets_no_second_drain_but_still_a_reset() -> None:
    f = make_finding("gpu_failed", "n0003/gpu1", evidence={"xid": 119})
    acts = decide(PolicyInput((f,), {"n0003": DRAINING}), CFG)
    assert DRAIN_NODE not in kinds_of(acts) and RESET_GPU in kinds_of(acts)


def test_return_to_service_after_repair_when_nothing_names_the_node() -> None:
    states, since = {"n0004": IN_REPAIR, "n0005": IN_REPAIR}, {"n0004": 0.0, "n0005": 0.0}
    f = make_finding("gpu_degraded", "n0005/gpu0", "minor")
    early = decide(PolicyInput((f,), states, since, now_s=CFG.return_after_s - 1), CFG)
    assert RETURN_NODE not in kinds_of(early)
    late = decide(PolicyInput((f,), states, since, now_s=CFG.return_after_s), CFG)
    assert [a.node for a in late if a.kind == RETURN_NODE] == ["n0004"]


@given(st.lists(st.tuples(st.sampled_from(["gpu_failed", "gpu_degraded", "nic_degraded",
                                           "host_straggler", "gpu_overheating"]),
                          st.integers(1, 64), st.sampled_from(SEVERITIES)), max_size=20))
def test_every_isolating_action_targets_the_findings_node(items: list) -> None:  # type: ignore[type-arg]
    fs = tuple(make_finding(k, f"n{n:04d}/gpu0" if k.startswith("gpu") else
                            (f"n{n:04d}/mlx5_0" if k == "nic_degraded" else f"n{n:04d}"), s)
               for k, n, s in items)
    by_id = {f.id: f for f in fs}
    acts = decide(PolicyInput(fs), CFG)
    assert len({a.key for a in acts}) == len(acts)
    for a in acts:
        if a.kind in ISOLATING:
            assert by_id[a.finding_id].component.split("/")[0] == a.node
