"""Kubernetes executor against a local server replaying realistic API answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("kubernetes", reason="the kubernetes client (extra 'k8s') is not installed")

from k8s_replay import FakeApi, ReplayServer, fixture

from brownout.clock import ManualClock
from brownout.errors import ExecutorError
from brownout.executors.kubernetes import TAINT_KEY, KubernetesExecutor
from brownout.policy.actions import (
    DRAIN_NODE,
    RESET_GPU,
    RESTART_JOB,
    RETURN_NODE,
    Action,
)
from brownout.policy.config import PolicyConfig
from brownout.policy.controller import Controller
from brownout.policy.journal import Journal
from brownout.policy.ports import Observation, PermanentExecutorError
from brownout.topology.generate import generate_topology

NODES = [f"n{i:04d}" for i in range(1, 9)]


@pytest.fixture
def api() -> FakeApi:
    return FakeApi(nodes={"n0001": fixture("node_n0001.json")},
                   pods={"n0001": fixture("pods_on_n0001.json")})


@pytest.fixture
def ex(api: FakeApi) -> Iterator[KubernetesExecutor]:
    with ReplayServer(api) as server:
        yield KubernetesExecutor.for_host(NODES, server.url, timeout_s=5.0,
                                          notify=lambda _line: None)


def act(kind: str, comp: str = "n0001") -> Action:
    return Action(kind, comp, "n0001", "f-7", "gpu_failed critical n0001/gpu3: xid 79",
                  "gpu_failed")


def test_drain_cordons_taints_annotates_and_keeps_other_taints(ex: KubernetesExecutor,
                                                               api: FakeApi) -> None:
    assert ex.observe(act(DRAIN_NODE)) is Observation.NOT_APPLIED
    ex.execute(act(DRAIN_NODE))
    node = api.nodes["n0001"]
    assert node["spec"]["unschedulable"] is True
    taints = {t["key"]: t for t in node["spec"]["taints"]}
    assert taints[TAINT_KEY] == {"key": TAINT_KEY, "value": "gpu_failed", "effect": "NoSchedule"}
    assert "nvidia.com/gpu" in taints
    ann = node["metadata"]["annotations"]
    assert ann["brownout.io/action-key"] == act(DRAIN_NODE).key
    assert "xid 79" in ann["brownout.io/reason"]
    assert ann["node.alpha.kubernetes.io/ttl"] == "0"  # others' annotations untouched
    patch = next(r for r in api.requests if r.method == "PATCH")
    assert patch.content_type == "application/merge-patch+json"
    assert patch.body["metadata"]["resourceVersion"] == "48211937"
    assert ex.observe(act(DRAIN_NODE)) is Observation.APPLIED


def test_conflict_rereads_and_retries(ex: KubernetesExecutor, api: FakeApi) -> None:
    api.queue("PATCH", "/nodes/n0001", 409, "status_409_conflict.json")
    ex.execute(act(DRAIN_NODE))
    assert [r.method for r in api.requests] == ["GET", "PATCH", "GET", "PATCH"]
    assert api.nodes["n0001"]["spec"]["unschedulable"] is True


def test_persistent_conflict_is_a_retryable_error(ex: KubernetesExecutor, api: FakeApi) -> None:
    for _ in range(ex.conflict_retries + 1):
        api.queue("PATCH", "/nodes/n0001", 409, "status_409_conflict.json")
    with pytest.raises(ExecutorError, match=r"409.*object has been modified") as info:
        ex.execute(act(DRAIN_NODE))
    assert not isinstance(info.value, PermanentExecutorError)


def test_return_uncordons_and_removes_only_our_taint(ex: KubernetesExecutor,
                                                     api: FakeApi) -> None:
    ex.execute(act(DRAIN_NODE))
    assert ex.observe(act(RETURN_NODE)) is Observation.NOT_APPLIED
    ex.execute(act(RETURN_NODE))
    spec = api.nodes["n0001"]["spec"]
    assert "unschedulable" not in spec
    assert [t["key"] for t in spec["taints"]] == ["nvidia.com/gpu"]
    assert ex.observe(act(RETURN_NODE)) is Observation.APPLIED


def test_restart_job_evicts_workload_pods_only(ex: KubernetesExecutor, api: FakeApi) -> None:
    assert ex.observe(act(RESTART_JOB)) is Observation.NOT_APPLIED
    ex.execute(act(RESTART_JOB))
    posts = [r for r in api.requests if r.method == "POST"]
    assert [r.path for r in posts] == [
        "/api/v1/namespaces/training/pods/llm-pretrain-worker-3/eviction"]
    assert posts[0].body["kind"] == "Eviction" and posts[0].body["apiVersion"] == "policy/v1"
    assert ex.observe(act(RESTART_JOB)) is Observation.APPLIED


def test_pdb_refusal_is_retryable_and_a_gone_pod_is_fine(ex: KubernetesExecutor,
                                                         api: FakeApi) -> None:
    api.queue("POST", "/eviction", 429, "status_429_pdb.json")
    with pytest.raises(ExecutorError, match=r"disruption budget.*retry after 10") as info:
        ex.execute(act(RESTART_JOB))
    assert not isinstance(info.value, PermanentExecutorError)
    api.queue("POST", "/eviction", 404, "status_404_pod.json")
    ex.execute(act(RESTART_JOB))


def test_forbidden_and_unknown_nodes_are_permanent(ex: KubernetesExecutor, api: FakeApi) -> None:
    api.queue("PATCH", "/nodes/n0001", 403, "status_403_forbidden.json")
    with pytest.raises(PermanentExecutorError, match=r"403.*forbidden"):
        ex.execute(act(DRAIN_NODE))
    n = len(api.requests)
    with pytest.raises(PermanentExecutorError, match="not a node of the topology"):
        ex.execute(Action(DRAIN_NODE, "x;rm", "x;rm", "f", "r"))
    with pytest.raises(PermanentExecutorError, match="404"):
        ex.execute(Action(DRAIN_NODE, "n0002", "n0002", "f", "r"))  # in topology, not in API
    assert len(api.requests) == n + 1


def test_gpu_reset_is_a_request_annotation_for_the_node_agent(ex: KubernetesExecutor,
                                                              api: FakeApi) -> None:
    a = act(RESET_GPU, "n0001/gpu3")
    assert ex.observe(a) is Observation.NOT_APPLIED
    ex.execute(a)
    assert api.nodes["n0001"]["metadata"]["annotations"]["brownout.io/request-reset-gpu"] \
        == a.key
    assert ex.observe(a) is Observation.APPLIED


def test_unreachable_api_server_is_retryable() -> None:
    ex = KubernetesExecutor.for_host(NODES, "http://127.0.0.1:9", timeout_s=2.0)
    ex.api.api_client.rest_client.pool_manager.connection_pool_kw["retries"] = False
    with pytest.raises(ExecutorError, match="unreachable") as info:
        ex.execute(act(DRAIN_NODE))
    assert not isinstance(info.value, PermanentExecutorError)


def test_controller_keeps_pdb_blocked_restart_pending_then_finishes(ex: KubernetesExecutor,
                                                                   api: FakeApi) -> None:
    from k8s_findings import gpu_failed_finding
    cfg = PolicyConfig(retry_attempts=2, retry_backoff_s=0.0)
    journal = Journal(":memory:", "kubernetes")
    ctl = Controller(generate_topology(8), ex, journal, cfg, ManualClock(1e6),
                     sleep=lambda _s: None)
    for _ in range(cfg.retry_attempts):
        api.queue("POST", "/eviction", 429, "status_429_pdb.json")
    report = ctl.step((gpu_failed_finding(),))
    states = {o.action.kind: o.state for o in report.actions}
    assert states[DRAIN_NODE] == "done" and states[RESTART_JOB] == "pending"
    report = ctl.step(())
    assert {o.action.kind: o.state for o in report.actions}[RESTART_JOB] == "done"
    assert api.evicted == ["llm-pretrain-worker-3"]
