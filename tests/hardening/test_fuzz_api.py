"""Every API route under Hypothesis: paths, query strings, headers and bodies.

tests/service/test_api.py already fuzzes the findings filters and action keys
(150 cases); this covers every other route, as the OpenAPI schema lists them,
against the real uvicorn server on 127.0.0.1: no 5xx, a JSON error body for
every 4xx, the security headers on every answer, no token echoed, and the
state unchanged by anything without the token.
"""

from __future__ import annotations

import json
import os
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.service.conftest import TOKEN

SCALE = int(os.environ.get("BROWNOUT_FUZZ_SCALE", "1"))  # deep runs: docs/reliability.md
FUZZ = settings(max_examples=150 * SCALE, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
AUTH = {"Authorization": f"Bearer {TOKEN}"}
_text = st.one_of(st.text(max_size=40), st.sampled_from(
    ["<script>alert(1)</script>", "../../etc/passwd", "%00", "' OR 1=1 --", "\u202e", "${jndi:x}",
     "x" * 5000, "-1", "1e999", "NaN", "null", "[]", "{}", "n0001", "open", "gpu_failed"]))
_params = st.dictionaries(st.sampled_from(["state", "status", "node", "kind", "since_version",
                                           "limit", "component", "since", "until", "x", ""]),
                          _text, max_size=5)


def _check(r: httpx.Response) -> None:
    assert r.status_code < 500, (r.request.url, r.status_code, r.text[:300])
    assert r.headers.get("x-content-type-options") == "nosniff"
    assert "content-security-policy" in r.headers
    assert "access-control-allow-origin" not in r.headers
    assert TOKEN not in r.text
    if r.status_code >= 400 and r.request.url.path.startswith("/api/"):
        assert isinstance(r.json(), dict)


@pytest.fixture
def get_paths(client: httpx.Client) -> list[str]:
    schema = client.get("/openapi.json").json()
    paths = [p for p, ops in schema["paths"].items() if "get" in ops]
    assert len(paths) >= 12
    return paths


@FUZZ
@given(data=st.data(), params=_params, segment=_text)
def test_every_get_route(client: httpx.Client, get_paths: list[str], data: st.DataObject,
                         params: dict[str, str], segment: str) -> None:
    path = data.draw(st.sampled_from(get_paths))
    url = path.replace("{finding_id}", quote(segment, safe="")).replace(
        "{name}", quote(segment, safe=""))
    r = client.get(url, params=params)
    _check(r)
    if r.status_code == 200 and r.headers["content-type"].startswith("application/json"):
        json.loads(r.text)


@FUZZ
@given(verb=st.sampled_from(["approve", "reject"]),
       body=st.one_of(st.binary(max_size=300), st.text(max_size=100).map(str.encode)),
       ctype=st.sampled_from(["application/json", "application/x-www-form-urlencoded",
                              "multipart/form-data; boundary=x", "text/plain", ""]),
       auth=st.one_of(st.just(""), st.text(max_size=60), st.sampled_from(
           [f"Bearer {TOKEN[:-1]}", f"bearer {TOKEN.upper()}", f"Bearer  {TOKEN}x",
            f"Token {TOKEN}", "Bearer " + "A" * 4000])),
       use_pending=st.booleans())
def test_mutations_with_hostile_bodies_and_headers(client: httpx.Client, fake: object,
                                                   verb: str, body: bytes, ctype: str,
                                                   auth: str, use_pending: bool) -> None:
    pending = client.get("/api/approvals").json()["pending"]
    if not pending:
        fake.inject_fault("gpu_failed", "n0007/gpu7")  # type: ignore[attr-defined]
        pending = client.get("/api/approvals").json()["pending"]
    key = pending[0]["key"] if use_pending and pending else "drain_node:n0001:nope"
    headers = {"Content-Type": ctype} if ctype else {}
    headers["Authorization"] = auth
    try:
        r = client.post(f"/api/approvals/{key}/{verb}", content=body, headers=headers)
    except (httpx.LocalProtocolError, UnicodeEncodeError):  # not sendable on the wire at all
        return
    _check(r)
    assert r.status_code in (401, 403, 404, 422)  # never acted on: no valid token here
    if use_pending and pending:
        assert client.get("/api/approvals").json()["pending"][0]["key"] == key


@FUZZ
@given(method=st.sampled_from(["PUT", "DELETE", "PATCH", "POST", "TRACE"]),
       path=st.sampled_from(["/api/health", "/api/findings", "/api/nodes", "/metrics", "/",
                             "/api/approvals", "/api/journal", "/static/app.js"]),
       body=st.binary(max_size=100))
def test_other_methods_are_refused(client: httpx.Client, method: str, path: str,
                                   body: bytes) -> None:
    r = client.request(method, path, content=body, headers=AUTH)
    _check(r)
    assert r.status_code in (405, 404)
