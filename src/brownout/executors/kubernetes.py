"""Kubernetes executor, through the official ``kubernetes`` client (optional extra ``k8s``).

- ``drain_node``: cordon (``spec.unschedulable``), a ``NoSchedule`` taint with
  key ``brownout.io/quarantine`` (value: the finding kind) and annotations with
  the evidence and the idempotency key. Written as one JSON merge patch that
  carries the ``resourceVersion`` it was computed from, so a concurrent writer
  makes the API server answer 409 and the executor re-reads and tries again.
- ``restart_job``: evicts the node's pods through the Eviction API, which
  honours PodDisruptionBudgets: a 429 (the budget forbids it now) leaves the
  action pending, to be retried; DaemonSet and mirror pods are left alone.
- ``return_node``: uncordon, remove the taint, note the return.
- ``reset_gpu`` / ``reboot_node``: a request annotation for the node agent
  (``brownout.io/request-reset-gpu`` ...): the API server cannot reset a GPU.

The client is imported only when this module builds one, and its types stay
inside this module: the core never imports ``kubernetes``. Not yet run against
a live cluster; tested against a local server replaying realistic API answers.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from typing import Any

from brownout.errors import ExecutorError
from brownout.policy.actions import (
    DRAIN_NODE,
    NOTIFY,
    REBOOT_NODE,
    RESET_GPU,
    RESTART_JOB,
    RETURN_NODE,
    Action,
)
from brownout.policy.ownership import is_drain_key, refuse_line
from brownout.policy.ports import Observation, PermanentExecutorError
from brownout.topology.model import NODE_NAME_RE

TAINT_KEY = "brownout.io/quarantine"
ANN = "brownout.io/"
MERGE_PATCH = "application/merge-patch+json"
#: the node controller's own taint for a cordoned node: not another tool's mark
SYSTEM_TAINTS = frozenset({"node.kubernetes.io/unschedulable"})
_REQUEST = {RESET_GPU: "request-reset-gpu", REBOOT_NODE: "request-reboot"}


class KubernetesExecutor:
    """Cordon, taint, annotate and evict through a ``CoreV1Api``.

    Args:
        nodes: node names brownout may touch (the topology's).
        api: a ``kubernetes.client.CoreV1Api``.
        timeout_s: limit for every API call.
        conflict_retries: re-reads after a 409 before giving up (retryable).
        notify: where notifications go.
    """

    name = "kubernetes"

    def __init__(self, nodes: Iterable[str], api: Any, timeout_s: float = 15.0,
                 conflict_retries: int = 3, notify: Callable[[str], None] | None = None) -> None:
        self.nodes = frozenset(nodes)
        self.api = api
        self.timeout_s = timeout_s
        self.conflict_retries = conflict_retries
        self.notify = notify or (lambda line: sys.stderr.write(line + "\n"))

    @classmethod
    def from_kubeconfig(cls, nodes: Iterable[str], path: str | None = None
                        ) -> KubernetesExecutor:
        """Build from a kubeconfig file, or the in-cluster service account."""
        try:
            from kubernetes import client
            from kubernetes import config as config_module
        except ImportError as exc:
            raise PermanentExecutorError(
                "kubernetes: the client is not installed (pip install 'brownout[k8s]')") from exc
        config: Any = config_module  # the loaders are untyped
        try:
            if path is None:
                try:
                    config.load_incluster_config()
                except config.ConfigException:
                    config.load_kube_config()
            else:
                config.load_kube_config(config_file=path)
        except (config.ConfigException, OSError) as exc:
            raise PermanentExecutorError(f"kubernetes: cannot load config ({exc})") from exc
        return cls(nodes, client.CoreV1Api())

    @classmethod
    def for_host(cls, nodes: Iterable[str], host: str, **kwargs: Any) -> KubernetesExecutor:
        """Build for an API server URL without credentials (tests, local proxies)."""
        from kubernetes import client
        conf = client.Configuration(host=host)
        return cls(nodes, client.CoreV1Api(client.ApiClient(conf)), **kwargs)

    # boundary --------------------------------------------------------------
    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call the API and return decoded JSON; translate every error here."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError
        try:
            resp = fn(*args, _preload_content=False, _request_timeout=self.timeout_s, **kwargs)
        except ApiException as exc:
            raise _translate(what, exc.status or 0, exc.body, exc.headers) from exc
        except HTTPError as exc:
            raise ExecutorError(f"kubernetes: {what}: API server unreachable ({exc})") from exc
        status = int(getattr(resp, "status", 200))
        body = resp.data.decode("utf-8") if resp.data else ""
        if status >= 300:
            raise _translate(what, status, body, getattr(resp, "headers", None))
        return json.loads(body) if body else {}

    def _check(self, node: str) -> str:
        if not NODE_NAME_RE.match(node) or node not in self.nodes:
            raise PermanentExecutorError(f"kubernetes: {node!r} is not a node of the topology")
        return node

    def read_node(self, node: str) -> dict[str, Any]:
        """The Node object as JSON."""
        out: dict[str, Any] = self._call(f"read node {node}", self.api.read_node,
                                         self._check(node))
        return out

    def _patch_node(self, node: str,
                    build: Callable[[dict[str, Any]], dict[str, Any] | None]) -> None:
        """Read-modify-write with the resourceVersion as precondition; re-read on 409.

        ``build`` returns None when the node is to be left as it is.
        """
        for attempt in range(self.conflict_retries + 1):
            current = self.read_node(node)
            patch = build(current)
            if patch is None:
                return
            patch.setdefault("metadata", {})["resourceVersion"] = \
                current["metadata"]["resourceVersion"]
            try:
                self._call(f"patch node {node}", self.api.patch_node, node, patch,
                           _content_type=MERGE_PATCH)
                return
            except _ConflictError:
                if attempt == self.conflict_retries:
                    raise
        # pragma: no cover - loop returns or raises

    # actions ---------------------------------------------------------------
    def execute(self, action: Action) -> None:
        kind = action.kind
        if kind == NOTIFY:
            self.notify(f"brownout notify [{action.key}]: {action.reason}")
        elif kind == DRAIN_NODE:
            self._patch_node(action.node, lambda n: self._drain_unless_held(n, action))
        elif kind == RETURN_NODE:
            self._patch_node(action.node, lambda n: _return_patch(n, action))
        elif kind == RESTART_JOB:
            self._evict_all(action.node)
        elif kind in _REQUEST:
            ann = {ANN + _REQUEST[kind]: action.key, ANN + "request-reason": action.reason}
            self._patch_node(action.node, lambda _n: {"metadata": {"annotations": ann}})
        else:  # pragma: no cover - Action validates kinds
            raise PermanentExecutorError(f"kubernetes: unsupported action {kind}")

    def _drain_unless_held(self, node: dict[str, Any], action: Action
                           ) -> dict[str, Any] | None:
        """The drain patch, or None when someone else has cordoned the node: brownout
        never overrides another's cordon (its goal, no new pods, holds already)."""
        if _held_by_others(node):
            self.notify(f"brownout drain [{action.key}]: node {action.node} is cordoned by"
                        " someone else; left as it is")
            return None
        return _drain_patch(node, action)

    def drained_by_others(self) -> dict[str, str]:
        """Node -> a one-line reason for every topology node cordoned by someone else."""
        found = self._call("list nodes", self.api.list_node)
        out = {}
        for item in found.get("items", []):
            name = str(item.get("metadata", {}).get("name", ""))
            if name in self.nodes and _held_by_others(item):
                out[name] = _foreign_reason(item)
        return out

    def pods_on(self, node: str) -> list[dict[str, Any]]:
        """Pods on ``node`` that an eviction should move (not DaemonSet, not mirror pods)."""
        found = self._call(f"list pods on {node}", self.api.list_pod_for_all_namespaces,
                           field_selector=f"spec.nodeName={self._check(node)}")
        return [p for p in found.get("items", []) if _evictable(p)]

    def _evict_all(self, node: str) -> None:
        blocked = []
        for pod in self.pods_on(node):
            meta = pod["metadata"]
            body = {"apiVersion": "policy/v1", "kind": "Eviction",
                    "metadata": {"name": meta["name"], "namespace": meta["namespace"]}}
            try:
                self._call(f"evict {meta['namespace']}/{meta['name']}",
                           self.api.create_namespaced_pod_eviction, meta["name"],
                           meta["namespace"], body)
            except _GoneError:
                continue
            except _ThrottledError as exc:
                blocked.append(str(exc))
        if blocked:
            raise ExecutorError(f"kubernetes: {len(blocked)} eviction(s) refused for now:"
                                f" {blocked[0]}")

    # read back -------------------------------------------------------------
    def observe(self, action: Action) -> Observation:
        if action.kind == NOTIFY:
            return Observation.UNKNOWN
        node = self.read_node(action.node)
        if action.kind == DRAIN_NODE:
            return _yes(_is_quarantined(node))
        if action.kind == RETURN_NODE:
            return _yes(not _is_quarantined(node))
        if action.kind == RESTART_JOB:
            return _yes(not self.pods_on(action.node))
        ann = node["metadata"].get("annotations") or {}
        return _yes(ann.get(ANN + _REQUEST[action.kind]) == action.key)

    def idempotent(self, action: Action) -> bool:
        return True  # every call sets a state (cordon, taint, annotation) or evicts what is left


class _ConflictError(ExecutorError):
    """409: the object changed under us."""


class _ThrottledError(ExecutorError):
    """429: too many requests, or an eviction a PodDisruptionBudget forbids now."""


class _GoneError(ExecutorError):
    """404 on a pod: already gone."""


def _translate(what: str, status: int, body: Any, headers: Any) -> ExecutorError:
    message = _status_message(body)
    text = f"kubernetes: {what}: HTTP {status}: {message}"
    if status == 409:
        return _ConflictError(text)
    if status == 429:
        retry = (headers or {}).get("Retry-After") if hasattr(headers, "get") else None
        return _ThrottledError(text + (f" (retry after {retry} s)" if retry else ""))
    if status == 404 and "evict" in what:
        return _GoneError(text)
    if status in (400, 401, 403, 404, 422):
        return PermanentExecutorError(text)
    return ExecutorError(text)


def _status_message(body: Any) -> str:
    try:
        raw = json.loads(body) if isinstance(body, str | bytes) else {}
    except ValueError:
        return str(body)[:200]
    return str(raw.get("message", ""))[:300] if isinstance(raw, dict) else ""


def _yes(flag: bool) -> Observation:
    return Observation.APPLIED if flag else Observation.NOT_APPLIED


def _taints(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in (node.get("spec", {}).get("taints") or []) if t.get("key") != TAINT_KEY]


def _is_quarantined(node: dict[str, Any]) -> bool:
    spec = node.get("spec", {})
    ours = [t for t in spec.get("taints") or [] if t.get("key") == TAINT_KEY]
    return bool(spec.get("unschedulable")) and bool(ours)


def _foreign_taints(node: dict[str, Any]) -> str:
    """Sorted keys of other tools' scheduling taints, comma-joined (ownership check)."""
    keys = {t.get("key", "") for t in _taints(node)
            if t.get("effect") in ("NoSchedule", "NoExecute")} - SYSTEM_TAINTS
    return ",".join(sorted(keys))


def _ours(node: dict[str, Any]) -> bool:
    """Quarantined by brownout, and nobody changed it since (:mod:`brownout.policy.ownership`):
    our taint, our drain key in the annotation, and no other tool's taint added."""
    ann = node.get("metadata", {}).get("annotations") or {}
    name = str(node.get("metadata", {}).get("name", ""))
    return (_is_quarantined(node) and is_drain_key(name, str(ann.get(ANN + "action-key", "")))
            and ann.get(ANN + "taints-before", "") == _foreign_taints(node))


def _held_by_others(node: dict[str, Any]) -> bool:
    """Cordoned (or tainted by us) but not as brownout left it."""
    spec = node.get("spec", {})
    ours = any(t.get("key") == TAINT_KEY for t in spec.get("taints") or [])
    return (bool(spec.get("unschedulable")) or ours) and not _ours(node)


def _foreign_reason(node: dict[str, Any]) -> str:
    taints = _foreign_taints(node)
    return f"cordoned; taints: {taints}" if taints else "cordoned"


def _drain_patch(node: dict[str, Any], action: Action) -> dict[str, Any]:
    taint = {"key": TAINT_KEY, "value": action.finding_kind or "brownout",
             "effect": "NoSchedule"}
    return {"spec": {"unschedulable": True, "taints": [*_taints(node), taint]},
            "metadata": {"annotations": {ANN + "action-key": action.key,
                                         ANN + "reason": action.reason,
                                         ANN + "finding": action.finding_id,
                                         ANN + "taints-before": _foreign_taints(node)}}}


def _return_patch(node: dict[str, Any], action: Action) -> dict[str, Any] | None:
    """Uncordon only a node brownout quarantined and nobody changed since; an
    uncordoned node without our taint needs nothing."""
    spec = node.get("spec", {})
    if _held_by_others(node):
        raise PermanentExecutorError(refuse_line("kubernetes", action.node, "uncordon",
                                                 _foreign_reason(node)))
    if not spec.get("unschedulable"):
        return None  # in service already
    return {"spec": {"unschedulable": None, "taints": _taints(node) or None},
            "metadata": {"annotations": {ANN + "action-key": action.key,
                                         ANN + "reason": action.reason,
                                         ANN + "finding": None,
                                         ANN + "taints-before": None}}}


def _evictable(pod: dict[str, Any]) -> bool:
    meta = pod.get("metadata", {})
    if "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
        return False
    if any(o.get("kind") == "DaemonSet" for o in meta.get("ownerReferences") or []):
        return False
    return pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")
