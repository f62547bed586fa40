"""API tests: every endpoint, auth (401/403), bad input (4xx), no CORS, security headers."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote

import httpx
import pytest

pytest.importorskip("fastapi", reason="fastapi/uvicorn are not installed")
pytest.importorskip("uvicorn", reason="fastapi/uvicorn are not installed")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.service.conftest import TOKEN

from brownout.findings import KINDS
from brownout.service.app import create_app
from brownout.service.fake import FakeController
from brownout.service.runner import ControllerRunner

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def wait_version(runner: ControllerRunner, above: int) -> None:
    deadline = time.monotonic() + 5
    while runner.state().version <= above and time.monotonic() < deadline:
        time.sleep(0.01)


def test_health_reports_controller_and_breaker(client: httpx.Client, fake: FakeController) -> None:
    fake.set_degraded("prometheus: HTTP 503")
    fake.set_breaker(True, "12 of 40 nodes anomalous")
    body = client.get("/api/health").json()
    assert body["status"] == "degraded" and body["degraded"] == ["prometheus: HTTP 503"]
    assert body["breaker"]["state"] == "open" and "anomalous" in body["breaker"]["reason"]
    assert body["cluster"] == fake.topology.name


@pytest.mark.parametrize("kind", sorted(KINDS)[:4])
def test_findings_filter_by_kind_component_time(client: httpx.Client, fake: FakeController,
                                                kind: str) -> None:
    other = next(k for k in KINDS if k != kind and KINDS[k] == "node")
    a = fake.inject_fault(kind, "n0002/gpu1" if KINDS[kind] == "gpu" else "n0002")
    fake.tick(a.finding.detected_at + 100)
    b = fake.inject_fault(other, "n0005")
    assert [f["id"] for f in client.get("/api/findings", params={"kind": kind}).json()[
        "findings"]] == [a.finding.id] if kind != other else True
    by_comp = client.get("/api/findings", params={"component": "n0005"}).json()["findings"]
    assert [f["id"] for f in by_comp] == [b.finding.id]
    early = client.get("/api/findings", params={"until": a.finding.detected_at}).json()
    assert [f["id"] for f in early["findings"]] == [a.finding.id]
    late = client.get("/api/findings", params={"since": a.finding.detected_at + 1}).json()
    assert [f["id"] for f in late["findings"]] == [b.finding.id]


def test_finding_by_id_lifecycle_and_series(client: httpx.Client, fake: FakeController) -> None:
    f = fake.inject_fault("gpu_overheating", "n0003/gpu2")
    body = client.get(f"/api/findings/{f.finding.id}").json()
    assert body["status"] == "open" and body["series"]["unit"] == "degC"
    assert len(body["series"]["t_s"]) == len(body["series"]["value"]) > 1
    fake.resolve(f.finding.id)
    assert client.get(f"/api/findings/{f.finding.id}").json()["status"] == "resolved"
    assert client.get("/api/findings", params={"status": "open"}).json()["findings"] == []
    assert client.get("/api/findings/f-999999").status_code == 404


def test_nodes_fleet_and_history(client: httpx.Client, fake: FakeController) -> None:
    fake.inject_fault("host_straggler", "n0004")
    nodes = client.get("/api/nodes").json()["nodes"]
    assert len(nodes) == fake.topology.n_nodes
    assert [n["name"] for n in client.get("/api/nodes", params={"state": "suspect"}).json()[
        "nodes"]] == ["n0004"]
    detail = client.get("/api/nodes/n0004").json()
    assert detail["history"][0]["to_state"] == "suspect" and detail["findings"]
    assert client.get("/api/nodes/n9999").status_code == 404
    layout = client.get("/api/fleet").json()
    assert layout["n_gpus"] == fake.topology.n_gpus
    assert sum(n["gpus"] for r in layout["racks"] for n in r["nodes"]) == fake.topology.n_gpus
    live = client.get("/api/fleet/live").json()
    assert len(live["gpu_temp_c"]) == len(live["gpu_health"]) == fake.topology.n_gpus
    assert live["node_state"] == {"n0004": "suspect"}


def test_actions_journal_approvals(client: httpx.Client, fake: FakeController,
                                   runner: ControllerRunner) -> None:
    fake.inject_fault("gpu_degraded", "n0006/gpu0")
    pending = client.get("/api/approvals").json()
    assert pending["approval_mode"] is True and len(pending["pending"]) == 1
    key = pending["pending"][0]["key"]
    r = client.post(f"/api/approvals/{key}/approve", headers=AUTH)
    assert r.status_code == 200 and r.json()["status"] == "approved"
    again = client.post(f"/api/approvals/{key}/reject", headers=AUTH)
    # no longer awaiting approval: approved, or already carried out if the runner ticked between
    assert again.status_code == 409 and ("approved" in again.json()["error"]
                                         or "dry_run" in again.json()["error"])
    wait_version(runner, runner.state().version)
    deadline = time.monotonic() + 5
    while client.get("/api/actions").json()["actions"][0]["status"] != "dry_run":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    journal = client.get("/api/journal").json()
    assert journal["transitions"][-1]["to_state"] == "quarantined"
    assert client.get("/api/actions", params={"status": "dry_run"}).json()["actions"]


def test_reject(client: httpx.Client, fake: FakeController) -> None:
    fake.inject_fault("nic_degraded", "n0001/mlx5_0")
    key = client.get("/api/approvals").json()["pending"][0]["key"]
    r = client.post(f"/api/approvals/{key}/reject", headers=AUTH)
    assert r.json() == {"key": key, "status": "rejected"}
    assert client.get("/api/approvals").json()["pending"] == []


@pytest.mark.parametrize(("headers", "code"), [
    ({}, 401), ({"Authorization": "Basic abc"}, 401), ({"Authorization": "Bearer"}, 401),
    ({"Authorization": "Bearer wrong-token"}, 403),
    ({"Authorization": f"Bearer {TOKEN}x"}, 403),
])
def test_mutations_need_the_token(client: httpx.Client, fake: FakeController,
                                  headers: dict[str, str], code: int) -> None:
    fake.inject_fault("gpu_failed", "n0007/gpu7")
    key = client.get("/api/approvals").json()["pending"][0]["key"]
    for verb in ("approve", "reject"):
        r = client.post(f"/api/approvals/{key}/{verb}", headers=headers)
        assert r.status_code == code
        assert TOKEN not in r.text
    if code == 401:
        assert r.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/approvals").json()["pending"][0]["status"] == "awaiting_approval"


@pytest.mark.parametrize(("path", "code"), [
    ("/api/findings?kind=not_a_kind", 400), ("/api/findings?since=abc", 422),
    ("/api/findings?since=10&until=5", 400), ("/api/findings?status=maybe", 422),
    ("/api/findings?limit=0", 422), ("/api/findings?since=1e300", 400),
    ("/api/findings?component=" + "x" * 300, 422), ("/api/nodes/%3Cscript%3E", 422),
    ("/api/findings/bad%20id", 422), ("/api/dashboard?since_version=-1", 422),
])
def test_bad_input_is_a_clear_4xx(client: httpx.Client, path: str, code: int) -> None:
    r = client.get(path)
    assert r.status_code == code
    assert r.json()


def test_approve_unknown_and_malformed_keys(client: httpx.Client) -> None:
    assert client.post("/api/approvals/drain_node:n0001:000/approve",
                       headers=AUTH).status_code == 404
    assert client.post("/api/approvals/bad%20key/approve", headers=AUTH).status_code == 422
    assert client.get("/api/approvals/x/approve").status_code == 405


def test_reads_need_token_from_other_hosts(runner: ControllerRunner,
                                           serve: Callable[..., httpx.Client]) -> None:
    c = serve(create_app(runner, TOKEN, open_reads=False))
    assert c.get("/api/health").status_code == 401
    assert c.get("/api/health", headers={"Authorization": "Bearer nope"}).status_code == 403
    assert c.get("/api/health", headers=AUTH).status_code == 200
    assert c.get("/metrics").status_code == 401


def test_host_header_guard(runner: ControllerRunner,
                           serve: Callable[..., httpx.Client]) -> None:
    c = serve(create_app(runner, TOKEN, allowed_hosts=["127.0.0.1", "localhost"]))
    assert c.get("/api/health", headers={"Host": "evil.example"}).status_code == 400
    assert c.get("/api/health", headers={"Host": "localhost:8765"}).status_code == 200


def test_goodput_dashboard_and_versions(client: httpx.Client, runner: ControllerRunner) -> None:
    wait_version(runner, 1)
    g = client.get("/api/goodput").json()
    assert "llm" in g["jobs"] and g["history"]
    assert set(g["jobs"]["llm"]["lost_s"]) >= {"restart", "straggler", "congestion"}
    d = client.get("/api/dashboard").json()
    assert {"health", "fleet", "findings", "actions", "goodput"} <= set(d)
    same = client.get("/api/dashboard", params={"since_version": d["version"]}).json()
    assert same in ({"version": d["version"], "unchanged": True},) or same["version"] > d[
        "version"]


def test_notices_endpoint(client: httpx.Client) -> None:
    assert client.get("/api/notices").json() == {"notices": []}


def test_page_metrics_openapi_and_headers(client: httpx.Client, fake: FakeController) -> None:
    fake.inject_fault("cooling_fault", "cdu01")
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "access-control-allow-origin" not in page.headers
    assert client.get("/static/app.js").status_code == 200
    assert "innerHTML" not in client.get("/static/app.js").text.replace(
        "never innerHTML", "")
    m = client.get("/metrics")
    assert m.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'brownout_findings_open{kind="cooling_fault"} 1' in m.text
    schema = client.get("/openapi.json").json()
    for path in ("/api/findings", "/api/nodes", "/api/actions", "/api/journal",
                 "/api/approvals/{key}/approve", "/api/goodput", "/api/health"):
        assert path in schema["paths"]


def test_cross_origin_preflight_is_not_allowed(client: httpx.Client, fake: FakeController) -> None:
    r = client.options("/api/approvals/x/approve", headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization"})
    assert "access-control-allow-origin" not in r.headers


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.dictionaries(
    st.sampled_from(["kind", "component", "since", "until", "status", "limit"]),
    st.one_of(st.text(max_size=40), st.integers(-10**15, 10**15).map(str),
              st.floats(allow_nan=True, allow_infinity=True).map(str)), max_size=6),
       key=st.text(min_size=1, max_size=60))
def test_fuzzed_queries_and_keys_never_crash(client: httpx.Client, params: dict[str, str],
                                             key: str) -> None:
    r = client.get("/api/findings", params=params)
    assert r.status_code in (200, 400, 422), r.text
    body = r.json()
    assert isinstance(body, dict)
    r = client.post(f"/api/approvals/{quote(key, safe='')}/approve", headers=AUTH)
    assert r.status_code in (307, 400, 404, 405, 422), r.text  # no action exists: never 2xx/5xx
    r = client.get(f"/api/nodes/{quote(key, safe='')}")
    assert r.status_code in (307, 400, 404, 422) or (
        r.status_code == 200 and (r.json().get("name") == key
                                  or key in (".", ".."))), r.text  # dot segments: the URL's own
