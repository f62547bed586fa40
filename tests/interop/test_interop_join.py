"""Verdicts join findings as evidence; alone they never make a finding or an action."""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brownout.clock import ManualClock
from brownout.executors.fake import FakeExecutor
from brownout.findings import Finding, FindingsFile, Lifecycle
from brownout.interop.join import corroborate
from brownout.interop.verdicts import Verdict, classify
from brownout.policy.config import PolicyConfig
from brownout.policy.controller import Controller
from brownout.policy.journal import Journal
from brownout.policy.rules import PolicyInput, decide
from brownout.policy.states import OUT_OF_SERVICE
from brownout.topology.generate import generate_topology

T0 = 1_764_003_600.0


def finding(kind: str, component: str, conf: float = 0.5, onset: float = T0,
            resolved: float | None = None, fid: str = "f-1") -> Finding:
    ctype = {"nic_degraded": "nic", "host_straggler": "node", "cooling_fault": "cooling",
             "switch_congestion": "switch"}.get(kind, "gpu")
    return Finding(fid, kind, component, ctype, onset, onset + 90.0, conf, "critical",
                   f"{kind} on {component}", {},
                   "drain_node", lifecycle=Lifecycle(resolved_at_s=resolved))


def verdict(check: str, node: str, gpu: int | None, t: float = T0, healthy: bool = False,
            codes: tuple[str, ...] = ("79",), source: str = "nvsentinel") -> Verdict:
    return Verdict(source, check, node, gpu, classify(check, codes), codes, healthy,
                   not healthy, t, f"{check} says so")


def joined(fs: list[Finding], vs: list[Verdict]) -> FindingsFile:
    return corroborate(FindingsFile("c", tuple(fs)), vs, undated_s=T0)


def test_an_xid_at_the_gpu_corroborates_and_is_listed() -> None:
    out = joined([finding("gpu_failed", "n0001/gpu3"), finding("gpu_failed", "n0001/gpu4",
                                                                 fid="f-2")],
                 [verdict("SysLogsXIDError", "n0001", 3, T0 + 30)])
    hit, other = out.findings
    assert hit.confidence == 0.75 and other.confidence == 0.5
    assert hit.evidence["node_verdicts"][0]["check"] == "SysLogsXIDError"
    assert hit.evidence["confidence_before_verdicts"] == 0.5
    assert (hit.kind, hit.component, hit.severity, hit.recommended_action, hit.detected_at) \
        == ("gpu_failed", "n0001/gpu3", "critical", "drain_node", T0 + 90.0)
    assert "node_verdicts" not in other.evidence and not out.notices


def test_node_level_verdicts_weigh_less_and_distinct_checks_add_up() -> None:
    out = joined([finding("gpu_degraded", "n0002/gpu1")],
                 [verdict("GcmXidErrorsProblem", "n0002", None, source="npd"),
                  verdict("GcmSmiEccProblem", "n0002", None, source="npd", codes=()),
                  verdict("GcmSmiEccProblem", "n0002", None, T0 + 60, source="npd", codes=())])
    assert out.findings[0].confidence == round(1 - 0.5 * 0.75 * 0.75, 3)
    assert len(out.findings[0].evidence["node_verdicts"]) == 2


def test_kind_place_and_time_must_fit() -> None:
    f = finding("nic_degraded", "n0003/mlx5_1", onset=T0)
    vs = [verdict("GpuXidError", "n0003", 0),                               # wrong kind
          verdict("InfiniBandStateCheck", "n0004", None, codes=()),         # wrong node
          verdict("InfiniBandStateCheck", "n0003", None, T0 - 4000, codes=()),  # recovered
          verdict("InfiniBandStateCheck", "n0003", None, T0 - 3000, healthy=True, codes=()),
          verdict("EthernetStateCheck", "n0003", None, T0 + 9e4, codes=())]  # after it ended
    out = joined([replace(f, lifecycle=Lifecycle(resolved_at_s=T0 + 600))], vs)
    assert out.findings[0].confidence == 0.5
    assert {n.component for n in out.notices} == {"n0003/gpu0", "n0004", "n0003"}
    assert all(n.kind == "node_verdict" and n.severity == "minor" for n in out.notices)
    nearby = joined([f], [verdict("InfiniBandStateCheck", "n0003", None, T0 - 500, codes=())])
    assert nearby.findings[0].confidence > 0.5  # within window_s before the onset


def test_nvlink_xid_and_shared_components() -> None:
    out = joined([finding("nvlink_degraded", "n0005/gpu2"),
                  finding("switch_congestion", "leaf01", fid="f-2"),
                  finding("cooling_fault", "cdu01", fid="f-3")],
                 [verdict("SysLogsXIDError", "n0005", 2, codes=("145",)),
                  verdict("GcmDcgmiNvlinkStatusProblem", "n0005", None, codes=())])
    assert out.findings[0].confidence > 0.75
    assert [f.confidence for f in out.findings[1:]] == [0.5, 0.5]


def test_undated_verdicts_count_for_the_whole_recording() -> None:
    out = joined([finding("gpu_failed", "n0001/gpu0")],
                 [verdict("GpuXidError", "n0001", 0, -math.inf)])
    assert out.findings[0].confidence == 0.75
    assert out.findings[0].evidence["node_verdicts"][0]["observed_at"] is None


# ---------------------------------------------------------------------------- properties
NODE_KINDS = ("gpu_failed", "gpu_degraded", "gpu_overheating", "nic_degraded", "host_straggler",
              "nvlink_degraded")
CHECKS = ("GpuXidError", "SysLogsXIDError", "SysLogsGPUFallenOff", "GpuMemWatch",
          "GpuNvlinkWatch", "InfiniBandStateCheck", "GcmXidErrorsProblem", "GcmSmiEccProblem",
          "GcmDcgmiNvlinkStatusProblem", "KernelDeadlock", "FabricManagerServiceDown")
TOPO = generate_topology(32)
# the limits of tests/policy's guardrail property, with a fleet cap of 3 of 32 nodes
TIGHT = PolicyConfig(max_fleet_fraction=0.1, max_group_fraction=0.25, rate_max_actions=6,
                     rate_window_s=600.0, cooldown_s=1800.0, window_s=3600.0,
                     breaker_anomaly_fraction=1.0, breaker_blind_fraction=1.0)


def _component(kind: str, n: int, g: int) -> str:
    node = f"n{n:04d}"
    return {"nic_degraded": f"{node}/mlx5_{g % 4}", "host_straggler": node}.get(
        kind, f"{node}/gpu{g}")


findings_st = st.lists(st.tuples(st.sampled_from(NODE_KINDS), st.integers(1, 32),
                                 st.integers(0, 7), st.floats(0.05, 0.99),
                                 st.sampled_from(["minor", "major", "critical"])),
                       max_size=10)
verdicts_st = st.lists(st.tuples(st.sampled_from(CHECKS), st.integers(1, 32),
                                 st.none() | st.integers(0, 7), st.integers(-3600, 3600),
                                 st.booleans(), st.sampled_from([(), ("79",), ("74",)])),
                       max_size=40)


def _build(fs: list, vs: list) -> tuple[list[Finding], list[Verdict]]:  # type: ignore[type-arg]
    findings = [replace(finding(k, _component(k, n, g), c, fid=f"f-{i}"), severity=sev)
                for i, (k, n, g, c, sev) in enumerate(fs)]
    verdicts = [verdict(chk, f"n{n:04d}", g, T0 + dt, healthy, codes)
                for chk, n, g, dt, healthy, codes in vs]
    return findings, verdicts


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(findings_st, verdicts_st)
def test_verdicts_change_only_confidence_and_evidence(fs: list, vs: list  # type: ignore[type-arg]
                                                      ) -> None:
    findings, verdicts = _build(fs, vs)
    out = joined(findings, verdicts)
    assert len(out.findings) == len(findings)
    for before, after in zip(findings, out.findings, strict=True):
        assert replace(after, confidence=before.confidence, evidence=before.evidence) == before
        assert before.confidence <= after.confidence <= max(before.confidence, 0.99)
    assert all(n.kind == "node_verdict" for n in out.notices)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(verdicts_st)
def test_verdicts_alone_make_no_finding_and_no_action(vs: list) -> None:  # type: ignore[type-arg]
    _, verdicts = _build([], vs)
    out = joined([], verdicts)
    assert out.findings == ()
    ex = FakeExecutor()
    ctl = Controller(TOPO, ex, Journal(":memory:", "fake"), TIGHT, ManualClock(T0 + 3600))
    report = ctl.step(out.findings, out.notices)
    assert report.actions == () and ex.executed == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(findings_st, verdicts_st)
def test_actions_stay_within_brownouts_own_policy_and_guardrails(
        fs: list, vs: list) -> None:  # type: ignore[type-arg]
    findings, verdicts = _build(fs, vs)
    out = joined(findings, verdicts)
    with_verdicts = {a.key for a in decide(PolicyInput(out.findings, now_s=T0 + 600), TIGHT)}
    surest = tuple(replace(f, confidence=1.0) for f in findings)
    own_best = {a.key for a in decide(PolicyInput(surest, now_s=T0 + 600), TIGHT)}
    assert with_verdicts <= own_best  # never an action brownout's own findings could not earn
    journal = Journal(":memory:", "fake")
    ctl = Controller(TOPO, FakeExecutor(), journal, TIGHT, ManualClock(T0 + 600))
    report = ctl.step(out.findings, out.notices)
    ids = {f.id for f in findings}
    assert all(o.action.finding_id in ids or o.action.finding_id.startswith("repair@")
               for o in report.actions)
    out_of_service = {n for n, s in journal.node_states().snapshot().items()
                      if s in OUT_OF_SERVICE}
    out_of_service |= {e.action.node for e in journal.entries(("pending", "executing"))
                       if e.action.isolating}
    assert len(out_of_service) <= max(1, int(TIGHT.max_fleet_fraction * TOPO.n_nodes))
    journal.close()
