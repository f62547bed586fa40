"""A local Kubernetes API stand-in for node status and Events, on 127.0.0.1.

Answers the calls node-problem-detector makes, with core/v1 shapes:
``GET /api/v1/nodes[/{name}]``, ``PATCH /api/v1/nodes/{name}/status`` as a
strategic merge patch (``status.conditions`` merged by ``type``, their
patchMergeKey in the API; refuses other patch types with 415 like the API
server), and ``POST /api/v1/namespaces/{ns}/events`` (201 with the stored
Event, ``metadata.uid``/``resourceVersion``/``creationTimestamp`` filled in).
Every request is recorded; a test may queue an error answer for the next one.
"""

from __future__ import annotations

import copy
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from support.json_api import JsonApiServer, Request

STRATEGIC = "application/strategic-merge-patch+json"
_uids = itertools.count(1)


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def merge_conditions(old: list[dict[str, Any]], new: list[dict[str, Any]]
                     ) -> list[dict[str, Any]]:
    """Strategic merge of a list whose patchMergeKey is ``type``."""
    out = [dict(c) for c in old]
    index = {c["type"]: i for i, c in enumerate(out)}
    for c in new:
        if c["type"] in index:
            out[index[c["type"]]].update(c)
        else:
            index[c["type"]] = len(out)
            out.append(dict(c))
    return out


@dataclass
class NodeApi:
    nodes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, str, Any]] = field(default_factory=list)
    queued: list[tuple[str, str, int, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def queue(self, method: str, path_part: str, status: int, body: dict[str, Any]) -> None:
        self.queued.append((method, path_part, status, body))

    def answer(self, req: Request) -> tuple[int, Any]:
        method, path, ctype, body = req.method, req.path, req.content_type, req.body
        with self.lock:
            self.requests.append((method, path, ctype, body))
            for i, (m, part, status, answer) in enumerate(self.queued):
                if m == method and part in path:
                    del self.queued[i]
                    return status, answer
            return self._route(method, path.strip("/").split("/"), ctype, body)

    def _route(self, method: str, parts: list[str], ctype: str, body: Any) -> tuple[int, Any]:
        if parts == ["api", "v1", "nodes"] and method == "GET":
            return 200, {"kind": "NodeList", "apiVersion": "v1",
                         "metadata": {"resourceVersion": "48212001"},
                         "items": list(self.nodes.values())}
        if parts[:3] == ["api", "v1", "nodes"] and len(parts) in (4, 5):
            return self._node(method, parts[3], parts[4:], ctype, body)
        if parts[:3] == ["api", "v1", "namespaces"] and parts[4:] == ["events"] \
                and method == "POST":
            return self._event(parts[3], body)
        return 404, _status(404, "NotFound", "the server could not find the requested resource")

    def _node(self, method: str, name: str, sub: list[str], ctype: str,
              body: Any) -> tuple[int, Any]:
        node = self.nodes.get(name)
        if node is None:
            return 404, _status(404, "NotFound", f'nodes "{name}" not found')
        if method == "GET" and not sub:
            return 200, node
        if method == "PATCH" and sub == ["status"]:
            if ctype != STRATEGIC:
                return 415, _status(415, "UnsupportedMediaType",
                                    f"the body of the request was in an unknown format - "
                                    f"accepted media types include: {STRATEGIC}")
            new = copy.deepcopy(node)
            conds = (body.get("status") or {}).get("conditions") or []
            new["status"]["conditions"] = merge_conditions(new["status"]["conditions"], conds)
            new["metadata"]["resourceVersion"] = str(int(node["metadata"]["resourceVersion"]) + 1)
            self.nodes[name] = new
            return 200, new
        return 405, _status(405, "MethodNotAllowed", "method not allowed")

    def _event(self, namespace: str, body: Any) -> tuple[int, Any]:
        meta = body.get("metadata") or {}
        if meta.get("namespace", namespace) != namespace:
            return 400, _status(400, "BadRequest", "the namespace of the provided object "
                                "does not match the namespace sent on the request")
        if not body.get("involvedObject") or not body.get("reason"):
            return 422, _status(422, "Invalid", "Event is invalid: involvedObject: Required")
        stored = copy.deepcopy(body)
        stored["metadata"] = {**meta, "namespace": namespace,
                              "uid": f"0b6c-{next(_uids):04d}", "resourceVersion": "48212100",
                              "creationTimestamp": body.get("firstTimestamp")}
        self.events.append(stored)
        return 201, stored


NodeApiServer = JsonApiServer  # a NodeApi served on 127.0.0.1
