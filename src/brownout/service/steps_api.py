"""``POST /api/steps``: training jobs push their step records (spec/telemetry.md §5).

One NDJSON record a line, at most 8 MiB a request,
``Authorization: Bearer <ingest token>``. The ingest token may push steps
and nothing else; the operator token is accepted here too (it may do
everything). The token is checked before the body is read, in constant time.

Answers: ``202`` ``{"accepted", "rejected", "duplicates", "errors": [{"line",
"error"}]}`` (at most 20 errors listed; a bad line is refused alone), ``413``
for a larger body, ``415`` for another content type, ``429`` with
``Retry-After`` when the intake is full (nothing of the batch was taken),
``401``/``403`` without or with a wrong token. A sender may report, in the
``Brownout-Dropped-Records`` header, how many records it dropped since its
last accepted push; the count is added to ``/metrics`` only when the batch is
taken (``202``).
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from brownout.service.auth import token_matches
from brownout.service.intake import MAX_BODY_BYTES, IntakeFullError, StepIntake

NDJSON_TYPES = frozenset({"application/x-ndjson", "application/jsonl",
                          "application/x-jsonlines", "application/json-lines"})
DROPPED_HEADER = "brownout-dropped-records"
MAX_DROPPED = 10**12


def _json(body: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status_code=status,
                    media_type="application/json", headers=headers)


def _ingest_auth(tokens: tuple[str, ...]) -> Any:
    def check(request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise HTTPException(401, "a bearer token is required (Authorization: Bearer ...)",
                                headers={"WWW-Authenticate": "Bearer"})
        presented = value.strip()
        # every token is compared, so the time taken says nothing about which one matched
        if not sum(token_matches(presented, t) for t in tokens):
            raise HTTPException(403, "the token is not valid")

    return Depends(check)


async def _body(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        raise HTTPException(413, f"a push holds at most {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, f"a push holds at most {MAX_BODY_BYTES} bytes")
    return bytes(body)


def _dropped(request: Request) -> int:
    raw = request.headers.get(DROPPED_HEADER)
    if raw is None:
        return 0
    if not raw.strip().isdigit() or int(raw) > MAX_DROPPED:
        raise HTTPException(400, f"{DROPPED_HEADER} must be a non-negative integer")
    return int(raw)


def add_step_routes(app: FastAPI, intake: StepIntake, tokens: tuple[str, ...]) -> None:
    """Add ``POST /api/steps`` to ``app``; ``tokens`` may push (ingest token first)."""
    auth = _ingest_auth(tokens)
    body_doc = {"requestBody": {"required": True, "content": {
        "application/x-ndjson": {"schema": {"type": "string"}}}}}

    @app.post("/api/steps", dependencies=[auth], tags=["steps"], status_code=202,
              openapi_extra=body_doc)
    async def post_steps(request: Request) -> Response:
        """Push step records (NDJSON, one record a line; ingest token required)."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in NDJSON_TYPES:
            raise HTTPException(415, "send Content-Type: application/x-ndjson")
        dropped = _dropped(request)
        body = await _body(request)
        try:
            answer = await run_in_threadpool(intake.submit, body, client_dropped=dropped)
        except IntakeFullError as exc:
            wait = str(max(1, math.ceil(exc.retry_after_s)))
            return _json({"error": str(exc), "status": 429}, 429, {"Retry-After": wait})
        return _json(answer.to_json(), 202)
