"""A local Kubernetes API stand-in on 127.0.0.1 that replays recorded answers.

It serves the node and pod list from tests/fixtures/k8s, applies JSON merge
patches to the node the way the API server does (RFC 7386, ``resourceVersion``
precondition -> 409), answers evictions with the recorded 201, and lets a test
queue recorded error answers (409, 429, 404, 403) for the next matching requests.
Every request is recorded (method, path, query, content type, body).
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.json_api import JsonApiServer, Request

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "k8s"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


@dataclass
class FakeApi:
    nodes: dict[str, Any] = field(default_factory=dict)
    pods: dict[str, Any] = field(default_factory=dict)
    queued: list[tuple[str, str, int, str]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    evicted: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def queue(self, method: str, path_part: str, status: int, fixture_name: str) -> None:
        """The next request with ``method`` whose path contains ``path_part`` gets this answer."""
        self.queued.append((method, path_part, status, fixture_name))

    def answer(self, req: Request) -> tuple[int, Any]:
        with self.lock:
            self.requests.append(req)
            for i, (m, part, status, name) in enumerate(self.queued):
                if m == req.method and part in req.path:
                    del self.queued[i]
                    return status, fixture(name)
            return self._route(req)

    def _route(self, req: Request) -> tuple[int, Any]:
        parts = req.path.strip("/").split("/")
        if parts[:3] == ["api", "v1", "nodes"] and len(parts) == 4:
            return self._node(req, parts[3])
        if parts == ["api", "v1", "nodes"] and req.method == "GET":
            return 200, {"kind": "NodeList", "apiVersion": "v1",
                         "metadata": {"resourceVersion": "48211990"},
                         "items": list(self.nodes.values())}
        if parts == ["api", "v1", "pods"] and req.method == "GET":
            node = req.query.get("fieldSelector", [""])[0].removeprefix("spec.nodeName=")
            items = [p for p in self.pods.get(node, {"items": []})["items"]
                     if p["metadata"]["name"] not in self.evicted]
            return 200, {**self.pods.get(node, {"kind": "PodList", "apiVersion": "v1"}),
                         "items": items}
        if req.method == "POST" and parts[-1] == "eviction":
            self.evicted.append(parts[-2])
            return 201, fixture("status_201_eviction.json")
        return 404, {"kind": "Status", "code": 404, "message": f"{req.path} not found"}

    def _node(self, req: Request, name: str) -> tuple[int, Any]:
        node = self.nodes.get(name)
        if node is None:
            return 404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                         "message": f'nodes "{name}" not found', "reason": "NotFound",
                         "code": 404}
        if req.method == "GET":
            return 200, node
        if req.method == "PATCH":
            want = (req.body.get("metadata") or {}).get("resourceVersion")
            if want is not None and want != node["metadata"]["resourceVersion"]:
                return 409, fixture("status_409_conflict.json")
            new = merge_patch(node, req.body)
            new["metadata"]["resourceVersion"] = str(int(node["metadata"]["resourceVersion"]) + 1)
            self.nodes[name] = new
            return 200, new
        return 405, {"kind": "Status", "code": 405}


ReplayServer = JsonApiServer  # a FakeApi served on 127.0.0.1
