"""Findings as node-problem-detector-style conditions and Events; conditions read back.

Against a local server answering with core/v1 shapes (npd_api.py), through the
official client: not a live cluster.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from brownout.errors import ParseError
from brownout.findings import Finding, Lifecycle
from brownout.interop.conditions import ConditionBook, k8s_time
from brownout.interop.npd_source import parse_nodes_text

FIX = Path(__file__).resolve().parent.parent / "fixtures"
T0 = 1_764_003_600.0


def finding(kind: str, component: str, fid: str, resolved: float | None = None) -> Finding:
    ctype = {"nic_degraded": "nic", "host_straggler": "node", "switch_congestion": "switch"}\
        .get(kind, "gpu")
    return Finding(fid, kind, component, ctype, T0 - 60, T0, 0.91, "major", f"{kind} here",
                   {}, "drain_node", lifecycle=Lifecycle(resolved_at_s=resolved))


# ------------------------------------------------------------------ the book (pure)
def test_conditions_follow_findings_with_npd_times_and_events() -> None:
    book = ConditionBook(heartbeat_s=300.0)
    writes, events = book.update([finding("gpu_degraded", "n0001/gpu3", "f-1"),
                                  finding("switch_congestion", "leaf01", "f-2")], T0)
    (cond,) = writes["n0001"]
    assert list(writes) == ["n0001"]  # a leaf's congestion is not the nodes' fault
    assert cond.to_json() == {
        "type": "BrownoutGpuDegraded", "status": "True", "reason": "GpuDegraded",
        "message": "gpu_degraded major n0001/gpu3 (confidence 0.91, finding f-1): "
                   "gpu_degraded here",
        "lastHeartbeatTime": "2025-11-24T17:00:00Z", "lastTransitionTime": "2025-11-24T17:00:00Z"}
    (ev,) = events
    assert (ev.type, ev.reason, ev.node) == ("Warning", "GpuDegraded", "n0001")
    # unchanged: nothing until the heartbeat, then the heartbeat only
    assert book.update([finding("gpu_degraded", "n0001/gpu3", "f-1")], T0 + 60) == ({}, [])
    writes, events = book.update([finding("gpu_degraded", "n0001/gpu3", "f-1")], T0 + 300)
    hb = writes["n0001"][0]
    assert (hb.last_heartbeat_s, hb.last_transition_s, events) == (T0 + 300, T0, [])
    # a second GPU changes the message: written at once, no transition, no event
    writes, events = book.update([finding("gpu_degraded", "n0001/gpu3", "f-1"),
                                  finding("gpu_degraded", "n0001/gpu5", "f-3")], T0 + 320)
    assert "n0001/gpu5" in writes["n0001"][0].message and events == []
    assert writes["n0001"][0].last_transition_s == T0
    # resolved: False with NPD's "No..." reason, a Normal event
    writes, events = book.update([finding("gpu_degraded", "n0001/gpu3", "f-1", T0 + 400)],
                                 T0 + 420)
    cond = writes["n0001"][0]
    assert (cond.status, cond.reason, cond.last_transition_s) == ("False", "NoGpuDegraded",
                                                                    T0 + 420)
    assert [(e.type, e.reason) for e in events] == [("Normal", "NoGpuDegraded")]


def test_event_shape_is_the_one_client_go_records_for_npd() -> None:
    _, (ev,) = ConditionBook().update([finding("host_straggler", "n0002", "f-9")], T0 + 0.25)
    body = ev.to_json("kube-system")
    assert body["metadata"] == {"name": f"n0002.{int((T0 + 0.25) * 1e9):x}",
                                "namespace": "kube-system"}
    assert body["involvedObject"] == {"kind": "Node", "name": "n0002", "uid": "n0002"}
    assert body["source"] == {"component": "brownout", "host": "n0002"}
    assert (body["type"], body["count"], body["firstTimestamp"]) == (
        "Warning", 1, k8s_time(T0))


# ------------------------------------------------------------------ reading conditions
def test_gcm_npd_and_nvsentinel_conditions_become_verdicts_ours_do_not() -> None:
    vs = parse_nodes_text((FIX / "npd" / "nodes_gcm.json").read_text(), "nodes.json")
    got = {(v.node, v.check): v for v in vs}
    assert set(got) == {
        ("n0001", "GcmXidErrorsProblem"), ("n0001", "GcmSmiEccProblem"),
        ("n0001", "GcmDcgmiNvlinkStatusProblem"), ("n0001", "KernelDeadlock"),
        ("n0002", "GcmXidErrorsProblem"), ("n0002", "GcmSmiEccProblem"),
        ("n0002", "NPDDcgmiNvlinkStatusProblem"), ("n0002", "SysLogsXIDError")}
    xid = got[("n0002", "GcmXidErrorsProblem")]
    assert (xid.healthy, xid.category, xid.codes, xid.observed_s) == (
        False, "xid", ("XidErrorsFound",), 1764003900.0)
    assert got[("n0001", "GcmXidErrorsProblem")].healthy
    assert got[("n0002", "NPDDcgmiNvlinkStatusProblem")].category == "nvlink"


@pytest.mark.parametrize(("mutate", "needle"), [
    (lambda d: d["items"][1]["status"]["conditions"][0].update(status="Yes"),
     "items[1].status.conditions[0].status: 'Yes' is not True, False or Unknown"),
    (lambda d: d["items"][0]["status"]["conditions"][1].pop("type"),
     "items[0].status.conditions[1].type: missing"),
    (lambda d: d["items"][0]["metadata"].pop("name"), "items[0].metadata.name: missing"),
    (lambda d: d["items"][1]["status"]["conditions"][0].update(lastTransitionTime="today"),
     "items[1].status.conditions[0].lastTransitionTime: 'today' is not an RFC 3339 time"),
    (lambda d: d.update(items={}), "items: must be a list of Node objects"),
])
def test_malformed_nodes_get_one_line(mutate: object, needle: str) -> None:
    doc = json.loads((FIX / "npd" / "nodes_gcm.json").read_text())
    mutate(doc)  # type: ignore[operator]
    with pytest.raises(ParseError) as info:
        parse_nodes_text(json.dumps(doc), "nodes.json")
    assert str(info.value) == f"nodes.json: {needle}"


# ------------------------------------------------------------------ through the client
kubernetes = pytest.importorskip("kubernetes", reason="the kubernetes client is not installed")

from npd_api import STRATEGIC, NodeApi, NodeApiServer  # noqa: E402

from brownout.interop.k8s import KubernetesPublisher, core_api  # noqa: E402


@pytest.fixture
def api() -> NodeApi:
    doc = json.loads((FIX / "npd" / "nodes_gcm.json").read_text())
    return NodeApi(nodes={n["metadata"]["name"]: n for n in doc["items"]})


@pytest.fixture
def pub(api: NodeApi) -> Iterator[KubernetesPublisher]:
    with NodeApiServer(api) as server:
        yield KubernetesPublisher(core_api(host=server.url), timeout_s=5.0)


def _conds(api: NodeApi, node: str) -> dict[str, dict[str, str]]:
    return {c["type"]: c for c in api.nodes[node]["status"]["conditions"]}


def test_publish_merges_conditions_by_type_and_posts_events(pub: KubernetesPublisher,
                                                           api: NodeApi) -> None:
    book = ConditionBook()
    before = _conds(api, "n0001")
    writes, events = book.update([finding("gpu_failed", "n0001/gpu3", "f-1"),
                                  finding("nic_degraded", "n0001/mlx5_1", "f-2")], T0)
    assert pub.publish(writes, events) == []
    after = _conds(api, "n0001")
    assert after["BrownoutGpuFailed"]["status"] == "True"
    assert after["BrownoutNicDegraded"]["reason"] == "NicDegraded"
    assert {k: v for k, v in after.items() if k in before} == before  # others' untouched
    patch = next(r for r in api.requests if r[0] == "PATCH")
    assert (patch[1], patch[2]) == ("/api/v1/nodes/n0001/status", STRATEGIC)
    assert [e["reason"] for e in api.events] == ["GpuFailed", "NicDegraded"]
    assert api.events[0]["metadata"]["namespace"] == "default"
    assert api.events[0]["involvedObject"]["uid"] == "n0001"
    # resolve one: False in place, transition time moves, a Normal event
    writes, events = book.update([finding("gpu_failed", "n0001/gpu3", "f-1", T0 + 500),
                                  finding("nic_degraded", "n0001/mlx5_1", "f-2")], T0 + 600)
    assert pub.publish(writes, events) == []
    after = _conds(api, "n0001")
    assert after["BrownoutGpuFailed"]["status"] == "False"
    assert after["BrownoutGpuFailed"]["lastTransitionTime"] == k8s_time(T0 + 600)
    assert after["BrownoutNicDegraded"]["lastTransitionTime"] == k8s_time(T0)
    assert api.events[-1]["type"] == "Normal"
    assert len(api.nodes["n0001"]["status"]["conditions"]) == len(before) + 2


def test_failures_are_lines_and_the_rest_still_goes(pub: KubernetesPublisher,
                                                   api: NodeApi) -> None:
    api.queue("PATCH", "/nodes/n0001/status", 403, {
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden",
        "code": 403, "message": 'nodes "n0001" is forbidden: User "system:serviceaccount:'
        'brownout:brownout" cannot patch resource "nodes/status" in API group ""'})
    writes, events = ConditionBook().update([finding("gpu_failed", "n0001/gpu3", "f-1"),
                                             finding("gpu_failed", "n0404/gpu0", "f-2"),
                                             finding("gpu_failed", "n0002/gpu0", "f-3")], T0)
    failed = pub.publish(writes, events)
    assert len(failed) == 2
    assert failed[0].startswith("kubernetes: patch node n0001 status: HTTP 403: nodes \"n0001\"")
    assert "HTTP 404" in failed[1] and "n0404" in failed[1]
    assert _conds(api, "n0002")["BrownoutGpuFailed"]["status"] == "True"
    assert len(api.events) == 3


def test_read_back_skips_our_own_conditions(pub: KubernetesPublisher, api: NodeApi) -> None:
    writes, events = ConditionBook().update([finding("gpu_failed", "n0001/gpu3", "f-1")], T0)
    pub.publish(writes, events)
    checks = {v.check for v in pub.node_verdicts()}
    assert "GcmXidErrorsProblem" in checks
    assert not any(c.startswith("Brownout") for c in checks)


def test_a_restart_keeps_transition_times_and_clears_what_resolved(pub: KubernetesPublisher,
                                                                   api: NodeApi) -> None:
    # n0002 carries BrownoutGpuFailed=True since 17:07:00 from an earlier run
    still = ConditionBook()
    still.seed(pub.published())
    assert pub.publish(*still.update([finding("gpu_failed", "n0002/gpu0", "f-1")], T0 + 900)) \
        == []
    cond = _conds(api, "n0002")["BrownoutGpuFailed"]
    assert (cond["status"], cond["lastTransitionTime"]) == ("True", "2025-11-24T17:07:00Z")
    assert cond["lastHeartbeatTime"] == k8s_time(T0 + 900) and api.events == []
    gone = ConditionBook()
    gone.seed(pub.published())
    assert pub.publish(*gone.update([], T0 + 1800)) == []
    cond = _conds(api, "n0002")["BrownoutGpuFailed"]
    assert (cond["status"], cond["reason"]) == ("False", "NoGpuFailed")
    assert [(e["type"], e["reason"]) for e in api.events] == [("Normal", "NoGpuFailed")]
