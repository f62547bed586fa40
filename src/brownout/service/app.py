"""The HTTP service: API under ``/api/``, ``/metrics``, and the dashboard at ``/``.

FastAPI (the OpenAPI schema comes free at ``/openapi.json``). This is the only
module of brownout that imports a web framework. Security:

- approve/reject need ``Authorization: Bearer <token>``: 401 without a token,
  403 with a wrong one (compared in constant time). A header, never a cookie,
  so a page on another site cannot approve anything (no CSRF); no CORS
  headers are sent, so other origins cannot read the API either.
- read-only endpoints are open to loopback clients; others need the token.
- every response carries a strict Content-Security-Policy (no inline script,
  nothing from other origins) and ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from brownout import __version__
from brownout.findings import KINDS
from brownout.service import payloads
from brownout.service.auth import token_matches
from brownout.service.intake import StepIntake
from brownout.service.metrics import CONTENT_TYPE, render_metrics
from brownout.views.model import ControllerState

STATIC = Path(__file__).with_name("static")
KEY_PATTERN = r"^[A-Za-z0-9_.:/\-]{1,200}$"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,62}$"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'none'")
ANSWER_TIMEOUT_S = 10.0


class Backend(Protocol):
    """What the app needs from the controller runner."""

    def state(self) -> ControllerState: ...

    def approve(self, key: str) -> Future[str]: ...

    def reject(self, key: str) -> Future[str]: ...


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "testclient"  # Starlette's in-process test client


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, allow_nan=False, separators=(",", ":")),
                    status_code=status, media_type="application/json")


class _Cache:
    """Serialised bodies per snapshot version: fifty pollers cost one serialisation."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[int, Response]] = {}

    def get(self, name: str, st: ControllerState,
            build: Callable[[ControllerState], Any]) -> Response:
        hit = self._items.get(name)
        if hit is not None and hit[0] == st.version:
            return Response(hit[1].body, media_type="application/json")
        resp = _json(build(st))
        self._items[name] = (st.version, resp)
        return resp


def create_app(backend: Backend, token: str, *, allowed_hosts: list[str] | None = None,
               open_reads: bool = True, intake: StepIntake | None = None,
               ingest_token: str | None = None) -> FastAPI:
    """Build the service.

    Args:
        backend: the controller runner (snapshots, approve, reject).
        token: the bearer token that mutating requests must present.
        allowed_hosts: ``Host`` header values accepted (DNS-rebinding guard);
            None accepts any.
        open_reads: read-only endpoints need no token from loopback clients.
        intake: the step intake behind ``POST /api/steps`` (None: no such route).
        ingest_token: the token that may push steps and do nothing else.
    """
    app = FastAPI(title="brownout", version=__version__,
                  description="The live controller: findings, node states, actions, approvals,"
                              " goodput and the controller's own health.")
    if allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    _security_headers(app)
    auth = _auth_dependencies(token, open_reads)
    _read_routes(app, backend, auth["read"])
    _write_routes(app, backend, auth["write"])
    _page_routes(app, backend, auth["read"], intake)
    if intake is not None:
        from brownout.service.steps_api import add_step_routes

        add_step_routes(app, intake, tuple(t for t in (ingest_token, token) if t))
    return app


SECURITY_HEADERS = [(b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]


class SecurityHeaders:
    """Pure ASGI middleware adding the security headers (and ``no-store``) to every response.

    Written as raw ASGI rather than ``@app.middleware("http")``, which costs a
    task and a stream per request.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers.extend(SECURITY_HEADERS)
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _security_headers(app: FastAPI) -> None:
    app.add_middleware(SecurityHeaders)


def _auth_dependencies(token: str, open_reads: bool) -> dict[str, Any]:
    def check(request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise HTTPException(401, "a bearer token is required (Authorization: Bearer ...)",
                                headers={"WWW-Authenticate": "Bearer"})
        if not token_matches(value.strip(), token):
            raise HTTPException(403, "the token is not valid")

    def read(request: Request) -> None:
        client = request.client.host if request.client else None
        if not (open_reads and _is_loopback(client)):
            check(request)

    return {"read": Depends(read), "write": Depends(check)}


Kind = Annotated[str | None, Query(description="finding kind (spec/findings.md)",
                                   max_length=64)]
Component = Annotated[str | None, Query(description="component or a parent of it",
                                        max_length=200)]
Since = Annotated[float | None, Query(description="detected at or after (unix s)")]
Until = Annotated[float | None, Query(description="detected at or before (unix s)")]
Status = Annotated[Literal["open", "resolved", "all"], Query()]
Limit = Annotated[int, Query(ge=1, le=100_000)]


def _check_filters(kind: str | None, since_s: float | None, until_s: float | None) -> None:
    if kind is not None and kind not in KINDS:
        raise HTTPException(400, f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    for name, v in (("since", since_s), ("until", until_s)):
        if v is not None and not -1e12 < v < 1e12:
            raise HTTPException(400, f"{name} must be a finite unix time in seconds")
    if since_s is not None and until_s is not None and since_s > until_s:
        raise HTTPException(400, "since must not be later than until")


def _read_routes(app: FastAPI, backend: Backend, read: Any) -> None:
    cache = _Cache()

    @app.get("/api/health", dependencies=[read], tags=["controller"])
    def get_health() -> Response:
        """The controller's own health: ingest and detection lag, breaker, degraded sources."""
        return cache.get("health", backend.state(), payloads.health)

    @app.get("/api/findings", dependencies=[read], tags=["findings"])
    def get_findings(*, kind: Kind = None, component: Component = None, since: Since = None,
                     until: Until = None, status: Status = "all", limit: Limit = 1000
                     ) -> Response:
        """Findings with their lifecycle and evidence (newest last)."""
        _check_filters(kind, since, until)
        if (kind, component, since, until, status, limit) == (None, None, None, None, "all",
                                                              1000):
            return cache.get("findings", backend.state(), _all_findings)
        got = payloads.select_findings(backend.state(), kind=kind, component=component,
                                       since_s=since, until_s=until, status=status)
        return _json({"findings": [f.to_json() for f in got[-limit:]], "total": len(got)})

    @app.get("/api/findings/{finding_id}", dependencies=[read], tags=["findings"])
    def get_finding(finding_id: Annotated[str, PathParam(pattern=KEY_PATTERN)]) -> Response:
        """One finding or notice, with its evidence series."""
        f = backend.state().finding(finding_id)
        if f is None:
            raise HTTPException(404, f"no finding {finding_id!r}")
        return _json(f.to_json())

    @app.get("/api/notices", dependencies=[read], tags=["findings"])
    def get_notices(status: Status = "all") -> Response:
        """Notices: what an operator should know that is no component's fault."""
        got = payloads.select_findings(backend.state(), status=status, notices=True)
        return _json({"notices": [f.to_json() for f in got]})

    @app.get("/api/nodes", dependencies=[read], tags=["nodes"])
    def get_nodes(state: Annotated[str | None, Query(max_length=32)] = None) -> Response:
        """Every node with its brownout state."""
        st = backend.state()
        if state is None:
            return cache.get("nodes", st, lambda s: {"nodes": [n.to_json() for n in s.nodes]})
        return _json({"nodes": [n.to_json() for n in st.nodes if n.state == state]})

    @app.get("/api/nodes/{name}", dependencies=[read], tags=["nodes"])
    def get_node(name: Annotated[str, PathParam(pattern=NAME_PATTERN)]) -> Response:
        """One node with its state history, findings and actions."""
        body = payloads.node_detail(backend.state(), name)
        if body is None:
            raise HTTPException(404, f"no node {name!r} in the topology")
        return _json(body)

    @app.get("/api/fleet", dependencies=[read], tags=["nodes"])
    def get_fleet() -> Response:
        """The fleet map: racks, nodes, GPUs, cooling domains and leaves (static)."""
        return cache.get("layout", backend.state(), payloads.fleet_layout)

    @app.get("/api/fleet/live", dependencies=[read], tags=["nodes"])
    def get_fleet_live() -> Response:
        """Per-GPU temperature and health, in topology order."""
        return cache.get("live", backend.state(), payloads.fleet_live)

    _journal_routes(app, backend, read)

    @app.get("/api/goodput", dependencies=[read], tags=["goodput"])
    def get_goodput() -> Response:
        """Goodput ledger per job, and ETTR vs availability over time."""
        return cache.get("goodput", backend.state(), payloads.goodput)

    @app.get("/api/dashboard", dependencies=[read], tags=["controller"])
    def get_dashboard(since_version: Annotated[int | None, Query(ge=0)] = None) -> Response:
        """Everything the dashboard shows; ``{"version": v, "unchanged": true}`` if unchanged."""
        st = backend.state()
        if since_version is not None and since_version == st.version:
            return _json({"version": st.version, "unchanged": True})
        return cache.get("dashboard", st, payloads.dashboard)


def _all_findings(st: ControllerState) -> dict[str, Any]:
    return {"findings": [f.to_json() for f in st.findings[-1000:]], "total": len(st.findings)}


def _journal(st: ControllerState) -> dict[str, Any]:
    return {"actions": [a.to_json() for a in st.actions],
            "refusals": [r.to_json() for r in st.refusals],
            "transitions": [t.to_json() for t in st.transitions],
            "breaker": st.breaker.to_json()}


def _approvals(st: ControllerState) -> dict[str, Any]:
    return {"approval_mode": st.approval_mode,
            "pending": [a.to_json() for a in st.actions if a.status == "awaiting_approval"]}


def _journal_routes(app: FastAPI, backend: Backend, read: Any) -> None:
    cache = _Cache()

    @app.get("/api/actions", dependencies=[read], tags=["actions"])
    def get_actions(status: Annotated[str | None, Query(max_length=32)] = None,
                    node: Annotated[str | None, Query(max_length=64)] = None) -> Response:
        """Journalled actions in decision order."""
        acts = [a.to_json() for a in backend.state().actions
                if (status is None or a.status == status) and (node is None or a.node == node)]
        return _json({"actions": acts})

    @app.get("/api/journal", dependencies=[read], tags=["actions"])
    def get_journal() -> Response:
        """The journal: actions, guardrail refusals and node state changes."""
        return cache.get("journal", backend.state(), _journal)

    @app.get("/api/approvals", dependencies=[read], tags=["actions"])
    def get_approvals() -> Response:
        """Actions waiting for a person."""
        return cache.get("approvals", backend.state(), _approvals)


def _write_routes(app: FastAPI, backend: Backend, write: Any) -> None:
    async def answer(key: str, verb: str) -> Response:
        fut = backend.approve(key) if verb == "approve" else backend.reject(key)
        try:
            status = await asyncio.wait_for(asyncio.wrap_future(fut), ANSWER_TIMEOUT_S)
        except KeyError:
            raise HTTPException(404, f"no action with key {key!r}") from None
        except TimeoutError:
            raise HTTPException(503, "the controller did not answer in time") from None
        wanted = "approved" if verb == "approve" else "rejected"
        if status != wanted:
            raise HTTPException(409, f"action {key!r} is {status}, not awaiting approval")
        return _json({"key": key, "status": status})

    @app.post("/api/approvals/{key}/approve", dependencies=[write], tags=["actions"])
    async def post_approve(key: Annotated[str, PathParam(pattern=KEY_PATTERN)]) -> Response:
        """Approve an action awaiting approval (bearer token required)."""
        return await answer(key, "approve")

    @app.post("/api/approvals/{key}/reject", dependencies=[write], tags=["actions"])
    async def post_reject(key: Annotated[str, PathParam(pattern=KEY_PATTERN)]) -> Response:
        """Reject an action awaiting approval (bearer token required)."""
        return await answer(key, "reject")


def _page_routes(app: FastAPI, backend: Backend, read: Any,
                 intake: StepIntake | None = None) -> None:
    rendered: list[tuple[int, str]] = [(-1, "")]

    @app.get("/metrics", dependencies=[read], tags=["controller"])
    def get_metrics() -> Response:
        """The controller's own Prometheus metrics (text format 0.0.4)."""
        st = backend.state()
        version, text = rendered[0]
        if version != st.version:
            text = render_metrics(st)
            rendered[0] = (st.version, text)
        if intake is not None:  # moves between snapshots: rendered on every scrape
            from brownout.service.intake_metrics import render_intake_metrics

            text += render_intake_metrics(intake.stats())
        return Response(text, media_type=CONTENT_TYPE)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail, "status": exc.status_code},
                            status_code=exc.status_code, headers=exc.headers)
