"""Guardrails: each rule refuses with rule, limit and observed; limits hold for any findings."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_factories import make_finding

from brownout.clock import ManualClock
from brownout.executors.fake import FakeExecutor
from brownout.policy.actions import DRAIN_NODE, NOTIFY, RESTART_JOB, Action, PastAction
from brownout.policy.config import PolicyConfig
from brownout.policy.controller import Controller, topology_groups
from brownout.policy.guardrails import (
    Ledger,
    and_,
    apply_guardrails,
    cooldown,
    flap_suppression,
    max_fleet_fraction,
    max_group_fraction,
    rate_limit,
)
from brownout.policy.journal import Journal
from brownout.policy.states import OUT_OF_SERVICE
from brownout.topology.generate import generate_topology
from brownout.topology.model import Topology


def drain(node: str, fid: str = "f1") -> Action:
    return Action(DRAIN_NODE, node, node, fid, "test")


def test_fleet_fraction_counts_out_of_service_window_and_batch() -> None:
    ledger = Ledger(1000.0, 20, out_of_service=frozenset({"a"}),
                    recent=(PastAction(DRAIN_NODE, "b", "f0", 900.0, "done"),
                            PastAction(DRAIN_NODE, "old", "f0", 0.0, "done")))
    allowed, refused = apply_guardrails([drain("c"), drain("d"), drain("a")],
                                        max_fleet_fraction(0.15, 600.0), ledger)
    assert [a.node for a in allowed] == ["c", "a"]  # a is already out: costs nothing
    (r,) = refused
    assert (r.rule, r.limit, r.observed) == ("max_fleet_fraction", 0.15, 4 / 20)


def test_group_fraction_names_the_group() -> None:
    groups = {"rack": dict.fromkeys("abcd", ("r1",)) | {"e": ("r2",)}}
    ledger = Ledger(0.0, 5, groups=groups, out_of_service=frozenset({"a"}))
    _, refused = apply_guardrails([drain("b"), drain("e")],
                                  max_group_fraction("rack", 0.25, 600.0), ledger)
    (r,) = refused
    assert (r.rule, r.limit, r.observed, r.action.node) == ("max_rack_fraction", 0.25, 0.5, "b")
    assert "rack r1" in r.detail


def test_cooldown_allows_follow_ups_of_the_same_finding_only() -> None:
    ledger = Ledger(1000.0, 10, recent=(PastAction(DRAIN_NODE, "a", "f1", 900.0, "done"),))
    same = Action(RESTART_JOB, "a", "a", "f1", "x")
    other = Action(RESTART_JOB, "a", "a", "f2", "x")
    assert cooldown(600.0)(same, ledger) is None
    r = cooldown(600.0)(other, ledger)
    assert r is not None and (r.rule, r.limit, r.observed) == ("cooldown", 600.0, 100.0)
    assert cooldown(50.0)(other, ledger) is None


def test_flap_and_rate_limit_and_notifications_pass() -> None:
    ledger = Ledger(100.0, 10, quarantines={"a": 3},
                    recent=tuple(PastAction(DRAIN_NODE, f"x{i}", "f", 90.0, "done")
                                 for i in range(4)))
    r = flap_suppression(3)(drain("a"), ledger)
    assert r is not None and (r.rule, r.limit, r.observed) == ("flap_suppression", 3, 3)
    r = rate_limit(4, 60.0)(drain("b"), ledger)
    assert r is not None and (r.rule, r.limit, r.observed) == ("rate_limit", 4, 5)
    note = Action(NOTIFY, "a", "a", "f", "x")
    both = and_(flap_suppression(3), rate_limit(4, 60.0))
    assert both(note, ledger) is None
    refusal = both(drain("a"), ledger)
    assert refusal is not None and refusal.rule == "flap_suppression"  # first rule wins


def test_follow_ups_of_a_refused_drain_are_refused_but_the_ticket_goes_out() -> None:
    acts = [drain("a"), Action(RESTART_JOB, "a", "a", "f1", "x"), Action(NOTIFY, "a", "a",
                                                                         "f1", "x")]
    allowed, refused = apply_guardrails(acts, max_fleet_fraction(0.0, 60.0, 0), Ledger(0.0, 10))
    assert [a.kind for a in allowed] == [NOTIFY]
    assert [(r.action.kind, r.rule) for r in refused] == [
        (DRAIN_NODE, "max_fleet_fraction"), (RESTART_JOB, "max_fleet_fraction")]


# --- property: the limits hold for any sequence of findings ------------------------------

TIGHT = PolicyConfig(max_fleet_fraction=0.1, max_group_fraction=0.25, rate_max_actions=6,
                     rate_window_s=600.0, cooldown_s=1800.0, window_s=3600.0,
                     return_after_s=1200.0, breaker_anomaly_fraction=1.0,
                     breaker_blind_fraction=1.0)
KINDS = ("gpu_failed", "gpu_degraded", "nic_degraded", "host_straggler", "gpu_overheating")
finding_st = st.tuples(st.sampled_from(KINDS), st.integers(1, 64),
                       st.sampled_from(["major", "critical"]), st.sampled_from([None, 79, 119]))
batches_st = st.lists(st.tuples(st.integers(0, 1500), st.lists(finding_st, max_size=12)),
                      min_size=1, max_size=10)


def _component(kind: str, n: int) -> str:
    node = f"n{n:04d}"
    return {"nic_degraded": f"{node}/mlx5_1", "host_straggler": node}.get(kind, f"{node}/gpu2")


def _check_limits(topo: Topology, journal: Journal, cfg: PolicyConfig) -> None:
    states = journal.node_states().snapshot()
    out = {n for n, s in states.items() if s in OUT_OF_SERVICE}
    out |= {e.action.node for e in journal.entries(("pending", "executing"))
            if e.action.isolating}
    assert len(out) <= max(1, int(cfg.max_fleet_fraction * topo.n_nodes))
    racks = topology_groups(topo)["rack"]
    for rack in set(topo.racks):
        size = sum(1 for n in racks.values() if rack in n)
        assert sum(1 for n in out if racks[n] == (rack,)) <= max(
            1, int(cfg.max_group_fraction * size))
    times = sorted(e.decided_at_s for e in journal.entries() if e.action.disruptive)
    for i, t in enumerate(times):
        assert sum(1 for u in times[: i + 1] if u > t - cfg.rate_window_s) <= cfg.rate_max_actions
    last: dict[str, tuple[float, str]] = {}
    for e in journal.entries():
        if e.action.isolating:
            prev = last.get(e.action.node)
            if prev and prev[1] != e.action.finding_id:
                assert e.decided_at_s - prev[0] >= cfg.cooldown_s
            last[e.action.node] = (e.decided_at_s, e.action.finding_id)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches_st)
def test_limits_hold_for_any_sequence_of_findings(batches: list) -> None:  # type: ignore[type-arg]
    topo = generate_topology(64)
    clock = ManualClock(1_000_000.0)
    journal = Journal(":memory:", "fake")
    ctl = Controller(topo, FakeExecutor(), journal, TIGHT, clock)
    for i, (dt_s, items) in enumerate(batches):
        clock.advance(float(dt_s))
        fs = tuple(make_finding(k, _component(k, n), sev, 0.9, clock.now(),
                                {"xid": x} if x else {}, fid=f"b{i}-{j}")
                   for j, (k, n, sev, x) in enumerate(items))
        ctl.step(fs)
        _check_limits(topo, journal, TIGHT)
    journal.close()
