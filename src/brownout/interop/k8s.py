"""Node conditions and Events through the official ``kubernetes`` client (extra ``k8s``).

Writes what :class:`~brownout.interop.conditions.ConditionBook` decides, the
way node-problem-detector does: a strategic merge patch of
``/api/v1/nodes/{node}/status`` with the conditions (the API server merges
them by ``type``, so other writers' conditions stay), and one ``POST`` of a
core/v1 Event per transition. Reads nodes' conditions back as verdicts
(:mod:`brownout.interop.npd_source`).

The client is imported only when an adapter is built; its types stay here.
Tested against a local server answering with v1 API shapes, not a live cluster.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from brownout.errors import ExecutorError, SourceError
from brownout.interop.conditions import COMPONENT, NodeCondition, NodeEvent
from brownout.interop.npd_source import OWN_PREFIX, parse_nodes
from brownout.interop.verdicts import Verdict

STRATEGIC_MERGE = "application/strategic-merge-patch+json"


def core_api(kubeconfig: str | None = None, host: str | None = None) -> Any:
    """A ``CoreV1Api``: for ``host`` without credentials, else a kubeconfig or in-cluster."""
    try:
        from kubernetes import client
        from kubernetes import config as config_module
    except ImportError as exc:
        raise SourceError("kubernetes: the client is not installed "
                          "(pip install 'brownout[k8s]')") from exc
    if host is not None:
        return client.CoreV1Api(client.ApiClient(client.Configuration(host=host)))
    config: Any = config_module  # the loaders are untyped
    try:
        if kubeconfig is None:
            try:
                config.load_incluster_config()
            except config.ConfigException:
                config.load_kube_config()
        else:
            config.load_kube_config(config_file=kubeconfig)
    except (config.ConfigException, OSError) as exc:
        raise SourceError(f"kubernetes: cannot load config ({exc})") from exc
    return client.CoreV1Api()


class KubernetesPublisher:
    """Publish conditions and Events; read conditions back.

    Args:
        api: a ``kubernetes.client.CoreV1Api``.
        namespace: where Events go (NPD's default, ``default``).
        component: ``source.component`` of the Events.
        timeout_s: limit of every API call.
    """

    def __init__(self, api: Any, namespace: str = "default", component: str = COMPONENT,
                 timeout_s: float = 15.0) -> None:
        self.api = api
        self.namespace = namespace
        self.component = component
        self.timeout_s = timeout_s

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError
        try:
            resp = fn(*args, _preload_content=False, _request_timeout=self.timeout_s, **kwargs)
        except ApiException as exc:
            raise ExecutorError(f"kubernetes: {what}: HTTP {exc.status}: "
                                f"{_message(exc.body)}") from exc
        except HTTPError as exc:
            raise ExecutorError(f"kubernetes: {what}: API server unreachable ({exc})") from exc
        body = resp.data.decode("utf-8") if resp.data else ""
        status = int(getattr(resp, "status", 200))
        if status >= 300:
            raise ExecutorError(f"kubernetes: {what}: HTTP {status}: {_message(body)}")
        return json.loads(body) if body else {}

    def set_conditions(self, node: str, conditions: Sequence[NodeCondition]) -> None:
        """Merge ``conditions`` into the node's status (by type)."""
        patch = {"status": {"conditions": [c.to_json() for c in conditions]}}
        self._call(f"patch node {node} status", self.api.patch_node_status, node, patch,
                   _content_type=STRATEGIC_MERGE)

    def post_event(self, event: NodeEvent) -> None:
        body = event.to_json(self.namespace, self.component)
        self._call(f"create event for node {event.node}", self.api.create_namespaced_event,
                   self.namespace, body)

    def publish(self, writes: Mapping[str, Sequence[NodeCondition]],
                events: Sequence[NodeEvent]) -> list[str]:
        """Write everything; returns one line per write that failed (the rest still go)."""
        failed = []
        for node, conditions in writes.items():
            try:
                self.set_conditions(node, conditions)
            except ExecutorError as exc:
                failed.append(str(exc))
        for event in events:
            try:
                self.post_event(event)
            except ExecutorError as exc:
                failed.append(str(exc))
        return failed

    def published(self) -> dict[str, list[NodeCondition]]:
        """brownout's own conditions on every node now (to seed a ConditionBook)."""
        doc = self._call("list nodes", self.api.list_node)
        out: dict[str, list[NodeCondition]] = {}
        for node in doc.get("items") or []:
            name = (node.get("metadata") or {}).get("name", "")
            conds = (node.get("status") or {}).get("conditions") or []
            own = [NodeCondition.from_json(c) for c in conds if isinstance(c, dict)
                   and str(c.get("type", "")).startswith(OWN_PREFIX)]
            if name and own:
                out[name] = own
        return out

    def node_verdicts(self) -> list[Verdict]:
        """Verdicts of every node's health conditions, as the API server has them now."""
        try:
            doc = self._call("list nodes", self.api.list_node)
        except ExecutorError as exc:
            raise SourceError(str(exc)) from exc
        doc.setdefault("kind", "NodeList")
        return parse_nodes(doc, "kubernetes: list nodes")


def _message(body: Any) -> str:
    try:
        raw = json.loads(body) if isinstance(body, str | bytes) else {}
    except ValueError:
        return " ".join(str(body).split())[:200]
    return str(raw.get("message", ""))[:300] if isinstance(raw, dict) else ""
