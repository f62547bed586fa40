"""Ownership on the Kubernetes executor (local API replay server): brownout never
uncordons a node it did not quarantine or whose marks someone changed, and never
cordons over another's cordon (issue 15 item 5)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("kubernetes", reason="the kubernetes client (extra 'k8s') is not installed")

from k8s_replay import FakeApi, ReplayServer, fixture

from brownout.clock import ManualClock
from brownout.executors.kubernetes import TAINT_KEY, KubernetesExecutor
from brownout.findings import Finding
from brownout.policy.actions import DRAIN_NODE, RETURN_NODE, Action
from brownout.policy.config import PolicyConfig
from brownout.policy.controller import Controller
from brownout.policy.journal import Journal
from brownout.policy.ports import PermanentExecutorError
from brownout.topology.generate import generate_topology

NODES = [f"n{i:04d}" for i in range(1, 9)]
OTHER_TAINT = {"key": "nvsentinel.dgxc.nvidia.com/quarantine", "value": "true",
               "effect": "NoSchedule"}


def _node(name: str, cordoned: bool = False) -> dict[str, Any]:
    n = copy.deepcopy(fixture("node_n0001.json"))
    n["metadata"]["name"] = name
    if cordoned:  # kubectl cordon: unschedulable, and the node controller's taint
        n["spec"]["unschedulable"] = True
        n["spec"]["taints"].append({"key": "node.kubernetes.io/unschedulable",
                                    "effect": "NoSchedule"})
    return n


@pytest.fixture
def api() -> FakeApi:
    return FakeApi(nodes={"n0001": _node("n0001"), "n0002": _node("n0002", cordoned=True)})


@pytest.fixture
def ex(api: FakeApi) -> Iterator[KubernetesExecutor]:
    with ReplayServer(api) as server:
        yield KubernetesExecutor.for_host(NODES, server.url, timeout_s=5.0,
                                          notify=lambda _line: None)


def act(kind: str, node: str = "n0001") -> Action:
    return Action(kind, node, node, "f-9", f"gpu_failed critical {node}/gpu3: xid 79",
                  "gpu_failed")


def _patches(api: FakeApi) -> int:
    return sum(r.method == "PATCH" for r in api.requests)


def test_another_cordon_is_left_alone_and_never_uncordoned(ex: KubernetesExecutor,
                                                           api: FakeApi) -> None:
    before = copy.deepcopy(api.nodes["n0002"])
    ex.execute(act(DRAIN_NODE, "n0002"))  # brownout's drain: nothing to add, nothing overridden
    assert _patches(api) == 0 and api.nodes["n0002"] == before
    assert set(ex.drained_by_others()) == {"n0002"}
    with pytest.raises(PermanentExecutorError, match="does not uncordon"):
        ex.execute(act(RETURN_NODE, "n0002"))
    assert api.nodes["n0002"]["spec"]["unschedulable"] is True and _patches(api) == 0


def test_another_tools_taint_added_since_our_drain_blocks_the_uncordon(
        ex: KubernetesExecutor, api: FakeApi) -> None:
    ex.execute(act(DRAIN_NODE))
    assert "n0001" not in ex.drained_by_others()
    api.nodes["n0001"]["spec"]["taints"].append(OTHER_TAINT)  # e.g. NVSentinel quarantines it
    assert "n0001" in ex.drained_by_others()
    with pytest.raises(PermanentExecutorError, match=r"n0001.*does not uncordon"):
        ex.execute(act(RETURN_NODE))
    spec = api.nodes["n0001"]["spec"]
    assert spec["unschedulable"] is True
    assert {t["key"] for t in spec["taints"]} >= {TAINT_KEY, OTHER_TAINT["key"]}


def test_a_changed_action_key_makes_the_node_someone_elses(ex: KubernetesExecutor,
                                                           api: FakeApi) -> None:
    ex.execute(act(DRAIN_NODE))
    api.nodes["n0001"]["metadata"]["annotations"]["brownout.io/action-key"] = "ops-ticket-77"
    with pytest.raises(PermanentExecutorError, match="does not uncordon"):
        ex.execute(act(RETURN_NODE))
    assert api.nodes["n0001"]["spec"]["unschedulable"] is True


def test_our_untouched_drain_is_uncordoned(ex: KubernetesExecutor, api: FakeApi) -> None:
    ex.execute(act(DRAIN_NODE))
    assert "n0001" not in ex.drained_by_others()
    ex.execute(act(RETURN_NODE))
    spec = api.nodes["n0001"]["spec"]
    assert "unschedulable" not in spec and [t["key"] for t in spec["taints"]] == ["nvidia.com/gpu"]
    assert "brownout.io/taints-before" not in api.nodes["n0001"]["metadata"]["annotations"]


def test_controller_only_tells_about_a_node_someone_else_cordoned(ex: KubernetesExecutor,
                                                                  api: FakeApi) -> None:
    cfg = PolicyConfig(retry_attempts=1)
    ctl = Controller(generate_topology(8), ex, Journal(":memory:", "kubernetes"), cfg,
                     ManualClock(1e6), sleep=lambda _s: None)
    f = Finding("f-k8s-own", "gpu_failed", "n0002/gpu3", "gpu", 1e6 - 60, 1e6, 0.97,
                "critical", "fell off the bus")
    report = ctl.step((f,))
    assert [o.action.kind for o in report.actions] == ["notify"]
    assert _patches(api) == 0 and not api.evicted
