"""Escalation to the shared part (issue 15 item 4): several trays of one rack failing
together give ONE rack-level recommendation; a single tray keeps its node action."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from brownout.clock import ManualClock
from brownout.executors.fake import FakeExecutor
from brownout.findings import Finding
from brownout.policy.actions import DRAIN_NODE, ISOLATING, NOTIFY, Action
from brownout.policy.config import PolicyConfig
from brownout.policy.controller import Controller
from brownout.policy.escalation import (
    ESCALATION,
    SHARED_KINDS,
    Shared,
    escalate,
    shared_groups,
)
from brownout.policy.journal import Journal
from brownout.policy.rules import PolicyInput, decide
from brownout.topology.generate import generate_topology
from brownout.topology.rack_scale import rack_scale_topology

NVL = rack_scale_topology(4)  # 4 NVL72 racks: 72 trays n0001..n0072, racks r01..r04
SHARED = shared_groups(NVL)
CFG = PolicyConfig()
T0 = 1_000_000.0
_ids = itertools.count()


def tray_failed(node: str, onset_s: float, severity: str = "critical") -> Finding:
    return Finding(f"f-{next(_ids):05d}", "gpu_failed", f"{node}/gpu1", "gpu", onset_s,
                   onset_s + 30.0, 0.95, severity, "fell off the bus")


def _decide(findings: list[Finding], shared: Shared = SHARED) -> list[Action]:
    return decide(PolicyInput(tuple(findings), now_s=T0 + 3600.0, shared=shared), CFG)


def _isolating(actions: list[Action]) -> list[Action]:
    return [a for a in actions if a.kind in ISOLATING]


def test_three_failing_trays_in_one_rack_give_one_rack_level_recommendation() -> None:
    fs = [tray_failed(n, T0 + dt) for n, dt in (("n0020", 0), ("n0025", 600), ("n0031", 1500))]
    actions = _decide(fs)
    assert _isolating(actions) == []  # not separate drains
    (rec,) = actions  # one action in all: the recommendation
    assert (rec.kind, rec.component, rec.node, rec.finding_kind) == (NOTIFY, "r02", "",
                                                                   ESCALATION)
    assert "rack-level" in rec.reason and "3 of 18" in rec.reason


def test_a_single_failing_tray_keeps_its_own_node_action() -> None:
    actions = _decide([tray_failed("n0020", T0)])
    assert [a.kind for a in _isolating(actions)] == ["drain_node", "restart_job"]
    assert all(a.finding_kind != ESCALATION for a in actions)


def test_trays_spread_over_more_than_the_window_are_separate() -> None:
    fs = [tray_failed(n, T0 + dt) for n, dt in (("n0020", 0), ("n0025", 1200), ("n0031", 2700))]
    actions = _decide(fs)
    assert {a.node for a in actions if a.kind == DRAIN_NODE} == {"n0020", "n0025", "n0031"}
    assert all(a.finding_kind != ESCALATION for a in actions)


def test_minor_or_unconfident_findings_do_not_escalate() -> None:
    fs = [tray_failed(n, T0, "minor") for n in ("n0020", "n0025", "n0031")]
    assert all(a.finding_kind != ESCALATION for a in _decide(fs))


def test_a_later_member_joins_the_same_recommendation() -> None:
    fs = [tray_failed(n, T0 + dt) for n, dt in (("n0020", 0), ("n0025", 60), ("n0031", 120))]
    (first,) = _decide(fs)
    later = _decide([*fs, tray_failed("n0033", T0 + 5000)])
    assert [a.key for a in later] == [first.key]  # same ticket, no drain for the fourth


def test_cooling_loop_gets_one_facilities_ticket() -> None:
    topo = generate_topology(64)  # racks of 4 nodes, 4 racks per cooling loop
    fs = [tray_failed(n, T0 + 60 * i) for i, n in enumerate(("n0001", "n0005", "n0009"))]
    (rec,) = _decide(fs, shared_groups(topo))
    assert rec.component == "cdu01" and "facilities ticket" in rec.reason


def test_controller_sends_one_recommendation_and_drains_nothing() -> None:
    ex = FakeExecutor()
    ctl = Controller(NVL, ex, Journal(":memory:", "fake"), CFG, ManualClock(T0 + 1800.0))
    fs = tuple(tray_failed(n, T0 + 300 * i) for i, n in enumerate(("n0040", "n0041", "n0050")))
    report = ctl.step(fs)
    assert [(a.kind, a.component) for a in ex.executed] == [(NOTIFY, "r03")]
    assert [o.state for o in report.actions] == ["done"] and report.refused == ()
    ctl.step(fs)  # the next round: nothing new
    assert len(ex.executed) == 1


def _bad_nodes_in_window(onsets: list[float], k: int, window_s: float) -> bool:
    s = sorted(onsets)
    return any(s[i + k - 1] - s[i] <= window_s for i in range(len(s) - k + 1))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 71), st.integers(0, 4 * 3600),
                          st.sampled_from(["major", "critical"])), max_size=14))
def test_escalations_hold_their_invariants_for_any_findings(
        draws: list[tuple[int, int, str]]) -> None:
    fs = [tray_failed(NVL.nodes[i].name, T0 + t, sev) for i, t, sev in draws]
    escs = escalate(fs, SHARED, CFG.escalate_min_nodes, CFG.escalate_window_s)
    actions = _decide(fs)
    members = [n for e in escs for n in e.nodes]
    assert len(members) == len(set(members))  # a node is in at most one escalation
    assert not {a.node for a in _isolating(actions)} & set(members)  # never drained apart
    onset = {}
    for f in fs:
        node = f.component.split("/")[0]
        onset[node] = min(onset.get(node, f.onset), f.onset)
    for e in escs:  # each escalation is earned: enough members within the window
        assert _bad_nodes_in_window([onset[n] for n in e.nodes], CFG.escalate_min_nodes,
                                    CFG.escalate_window_s)
    recommended = [a for a in actions if a.finding_kind == ESCALATION]
    assert len(recommended) == len(escs)
    for node in set(onset) - set(members):  # everything else keeps its own node action
        assert any(a.kind == DRAIN_NODE and a.node == node for a in actions)
    if not escs:  # and no shared component had enough bad nodes together
        for kind in SHARED_KINDS:
            by: dict[str, list[float]] = {}
            for node, t in onset.items():
                if (name := SHARED[kind].get(node)) is not None:
                    by.setdefault(name, []).append(t)
            assert not any(_bad_nodes_in_window(v, CFG.escalate_min_nodes,
                                                CFG.escalate_window_s) for v in by.values())


def test_a_leaf_gets_one_network_ticket() -> None:
    topo = generate_topology(32, layout="rail", racks_per_cooling=8)  # 16-node rail groups
    fs = [tray_failed(n, T0 + 60 * i) for i, n in enumerate(("n0001", "n0005", "n0009"))]
    (rec,) = _decide(fs, shared_groups(topo))
    assert rec.component == "g01-rail0" and "network ticket" in rec.reason
