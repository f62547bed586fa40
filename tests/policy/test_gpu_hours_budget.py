"""Guardrail budgets in GPU-hours at risk per rack, leaf, NVLink domain, job (issue 15 item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brownout.clock import ManualClock
from brownout.errors import ParseError
from brownout.executors.fake import FakeExecutor
from brownout.findings import Finding
from brownout.policy.actions import DRAIN_NODE, Action
from brownout.policy.config import PolicyConfig, load_policy_config
from brownout.policy.controller import Controller, topology_groups
from brownout.policy.guardrails import Ledger, apply_guardrails, max_gpu_hours
from brownout.policy.journal import Journal
from brownout.topology.rack_scale import rack_scale_topology

NVL = rack_scale_topology(3)
GROUPS = topology_groups(NVL, {"job-a": tuple(n.name for n in NVL.nodes[10:40])})
GPUS = {n.name: n.gpus for n in NVL.nodes}


def drain(node: str) -> Action:
    return Action(DRAIN_NODE, node, node, f"f-{node}", "test")


def test_refusal_names_rule_limit_and_gpu_hours() -> None:
    ledger = Ledger(0.0, NVL.n_nodes, groups=GROUPS, gpus=GPUS)
    allowed, refused = apply_guardrails([drain("n0001"), drain("n0002"), drain("n0019")],
                                        max_gpu_hours("nvlink_domain", 100.0, 24.0, 3600.0),
                                        ledger)
    assert [a.node for a in allowed] == ["n0001", "n0019"]  # n0019 is in the next domain
    (r,) = refused
    assert (r.rule, r.limit, r.observed) == ("max_nvlink_domain_gpu_hours", 100.0, 192.0)
    assert "nvlink_domain nvl01" in r.detail and r.action.node == "n0002"


def _finding(node: str, onset_s: float) -> Finding:
    return Finding(f"f-{node}", "gpu_failed", f"{node}/gpu0", "gpu", onset_s, onset_s + 30,
                   0.95, "critical", "fell off the bus")


def test_controller_applies_the_budget_from_the_config() -> None:
    cfg = PolicyConfig(gpu_hours_budget={"nvlink_domain": 200.0}, max_fleet_fraction=0.5)
    ex = FakeExecutor()
    clock = ManualClock(1e6)
    ctl = Controller(NVL, ex, Journal(":memory:", "fake"), cfg, clock)
    refused = []
    trays = ("n0002", "n0007", "n0012")  # one domain, failing hours apart: no escalation
    for i in range(len(trays)):
        clock.set(1e6 + 7200.0 * i)
        refused += ctl.step(tuple(_finding(n, 1e6 + 7200.0 * k)
                                  for k, n in enumerate(trays[: i + 1]))).refused
    assert {a.node for a in ex.executed if a.kind == DRAIN_NODE} == {"n0002", "n0007"}
    assert {(r.rule, r.limit, r.observed) for r in refused if r.action.kind == DRAIN_NODE} \
        == {("max_nvlink_domain_gpu_hours", 200.0, 288.0)}


def test_budgets_load_from_yaml_and_unknown_groups_are_refused(tmp_path: Path) -> None:
    good = tmp_path / "p.yaml"
    good.write_text("gpu_hours_budget: {rack: 500, job: 2000}\nisolation_expected_h: 12\n")
    cfg = load_policy_config(good)
    assert cfg.gpu_hours_budget == {"rack": 500.0, "job": 2000.0}
    assert cfg.isolation_expected_h == 12.0
    bad = tmp_path / "bad.yaml"
    bad.write_text("gpu_hours_budget: {row: 5}\n")
    with pytest.raises(ParseError, match=r"bad.yaml: .*unknown group 'row'"):
        load_policy_config(bad)


@settings(max_examples=80, deadline=None)
@given(nodes=st.lists(st.integers(0, NVL.n_nodes - 1), max_size=25),
       out=st.lists(st.integers(0, NVL.n_nodes - 1), max_size=4),
       budget=st.floats(0.0, 1000.0), kind=st.sampled_from(["rack", "nvlink_domain", "job"]))
def test_accepted_isolations_never_exceed_a_budget(nodes: list[int], out: list[int],
                                                   budget: float, kind: str) -> None:
    names = [NVL.nodes[i].name for i in nodes]
    already = frozenset(NVL.nodes[i].name for i in out)
    ledger = Ledger(0.0, NVL.n_nodes, groups=GROUPS, out_of_service=already, gpus=GPUS)
    allowed, refused = apply_guardrails([drain(n) for n in names],
                                        max_gpu_hours(kind, budget, 24.0, 3600.0), ledger)
    member = GROUPS[kind]
    for group in {g for n in names for g in member.get(n, ())}:
        before = sum(GPUS[n] for n in already if group in member.get(n, ())) * 24.0
        new = {a.node for a in allowed} - already
        after = before + sum(GPUS[n] for n in new if group in member.get(n, ())) * 24.0
        assert after <= max(budget, before) + 1e-6  # only what was out already may exceed it
    for r in refused:
        assert r.rule == f"max_{kind}_gpu_hours" and r.limit == budget and r.observed > budget
