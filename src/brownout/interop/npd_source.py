"""Node conditions as node-problem-detector sets them, read as verdicts.

Input is a Node or a NodeList as the Kubernetes API returns it (``kubectl get
nodes -o json``, or the adapter's ``list_node``). Conditions whose type is a
known health check become verdicts: status ``True`` a problem since its
``lastTransitionTime``, ``False`` a recovery. Meta GCM's checks
(``GcmXidErrorsProblem``, ``GcmSmiEccProblem``, ``GcmDcgmiNvlinkStatusProblem``...),
NPD's own (``KernelDeadlock``...) and the conditions NVSentinel's platform
connector names after a check (``SysLogsXIDError``...) are known; kubelet's
(``Ready``, ``MemoryPressure``...) and brownout's own (``Brownout*``) are skipped,
so brownout never reads back what it published.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from brownout.errors import ParseError
from brownout.interop.jsonfields import Fields
from brownout.interop.verdicts import Verdict, classify

OWN_PREFIX = "Brownout"


def _condition(c: Fields, node: str, extra: Mapping[str, str]) -> Verdict | None:
    kind = c.text("type", required=True)
    category = extra.get(kind) or classify(kind)
    if kind.startswith(OWN_PREFIX) or category == "other":
        return None
    status = c.text("status", required=True)
    if status not in ("True", "False", "Unknown"):
        raise c.error("status", f"{status!r} is not True, False or Unknown")
    if status == "Unknown":
        return None
    reason = c.text("reason")
    return Verdict(source="npd", check=kind, node=node, gpu=None, category=category,
                   codes=(reason,) if reason else (), healthy=status == "False",
                   fatal=status == "True", observed_s=c.timestamp("lastTransitionTime"),
                   message=" ".join(c.text("message").split()), where=f"{c.where}:{c.label}")


def node_verdicts(raw: Any, where: str, label: str,
                  extra: Mapping[str, str] | None = None) -> list[Verdict]:
    """The verdicts of one Node object's conditions.

    Args:
        raw: the Node (decoded JSON).
        where: its source, for errors.
        label: the entry (``items[3]``).
        extra: more condition types to read, with their category.
    """
    node = Fields(raw, where, 0, label)
    meta = Fields(node.raw.get("metadata"), where, 0, f"{label}.metadata")
    name = meta.text("name", required=True)
    status = Fields(node.raw.get("status") or {}, where, 0, f"{label}.status")
    out = (_condition(c, name, extra or {}) for c in status.objects("conditions"))
    return [v for v in out if v is not None]


def parse_nodes(doc: Any, where: str, extra: Mapping[str, str] | None = None) -> list[Verdict]:
    """Verdicts from a decoded Node or NodeList.

    Raises:
        ParseError: naming ``where``, the entry and the field.
    """
    if not isinstance(doc, Mapping):
        raise ParseError(where, 0, "not a Kubernetes Node or NodeList object")
    if doc.get("kind") == "Node":
        return node_verdicts(doc, where, "node", extra)
    items = doc.get("items")
    if not isinstance(items, list):
        raise ParseError(where, 0, "items: must be a list of Node objects")
    return [v for i, n in enumerate(items) for v in node_verdicts(n, where, f"items[{i}]", extra)]


def parse_nodes_text(text: str, where: str, extra: Mapping[str, str] | None = None
                     ) -> list[Verdict]:
    """:func:`parse_nodes` of a JSON text."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ParseError(where, 0, f"not valid JSON ({exc})") from None
    return parse_nodes(doc, where, extra)


def is_node_document(doc: Any) -> bool:
    """Whether a decoded JSON document is a Node or a NodeList."""
    return isinstance(doc, Mapping) and doc.get("kind") in ("Node", "NodeList")


def conditions_of(verdicts: Iterable[Verdict]) -> set[str]:
    """The condition types seen, for a summary line."""
    return {v.check for v in verdicts}
