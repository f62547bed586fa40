"""NVSentinel HealthEvents, both ways, in their protobuf JSON form (no protobuf needed).

The message is NVSentinel's ``datamodels.HealthEvent`` (``health_event.proto``,
restated in ``brownout/interop/_proto``). This module reads it as protobuf's
JSON mapping writes it (camelCase names, enums by name or number, RFC 3339
times) and builds it from brownout findings. The gRPC adapter
(:mod:`brownout.interop.grpc_sink`) turns these dicts into the real message.

In: a file holding one event, a JSON list of events, a ``HealthEvents``
object (``{"version": 1, "events": [...]}``) or JSON Lines of events.
Out: one event per finding brownout localised to a node, a GPU or a NIC;
shared components (leaf, cooling loop, NVLink domain) are never sent as
node events, because quarantining the nodes under a congested leaf is the
wrong act, and ``telemetry_loss`` is a blind spot, never a hardware fault.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from brownout.errors import ParseError
from brownout.findings import Finding
from brownout.interop.jsonfields import Fields
from brownout.interop.verdicts import Verdict, classify
from brownout.topology.component import ComponentRef

#: RecommendedAction enum of health_event.proto (name -> number)
RECOMMENDED_ACTIONS: dict[str, int] = {
    "NONE": 0, "COMPONENT_RESET": 2, "CONTACT_SUPPORT": 5, "RUN_FIELDDIAG": 6,
    "RESTART_VM": 15, "RESTART_BM": 24, "REPLACE_VM": 25, "RUN_DCGMEUD": 26, "CUSTOM": 27,
    "REMEDIATE": 28, "RESTART_APP": 39, "UNKNOWN": 99,
}
PROCESSING_STRATEGIES: dict[str, int] = {"UNSPECIFIED": 0, "EXECUTE_REMEDIATION": 1,
                                         "STORE_ONLY": 2}
EVENT_FIELDS = frozenset({
    "version", "agent", "componentClass", "checkName", "isFatal", "isHealthy", "message",
    "recommendedAction", "errorCode", "entitiesImpacted", "metadata", "generatedTimestamp",
    "nodeName", "quarantineOverrides", "drainOverrides", "processingStrategy", "id",
    "customRecommendedAction"})
_GPU_ENTITIES = frozenset({"GPU", "GPU_ID", "GPU_INDEX"})
AGENT = "brownout"


# ------------------------------------------------------------------ reading
def _enum(fields: Fields, name: str, names: Mapping[str, int]) -> None:
    value = fields.raw.get(name)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        value = int(value)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)
                         and -2**31 <= value < 2**31):  # open enum: any int32
        return
    if not isinstance(value, str) or value not in names:
        raise fields.error(name, f"unknown value {value!r} (one of {', '.join(names)})")


def _overrides(f: Fields, name: str) -> None:
    if f.raw.get(name) is not None:
        o = Fields(f.raw[name], f.where, f.line, f"{f.label}.{name}")
        o.only(frozenset({"force", "skip"}))
        o.flag("force")
        o.flag("skip")


def _check_schema(f: Fields) -> None:
    """What protobuf's JSON parser would refuse in the fields brownout does not use."""
    f.only(EVENT_FIELDS)
    f.uint32("version")
    for name in ("agent", "componentClass", "id", "customRecommendedAction"):
        f.text(name)
    _enum(f, "recommendedAction", RECOMMENDED_ACTIONS)
    _enum(f, "processingStrategy", PROCESSING_STRATEGIES)
    _overrides(f, "quarantineOverrides")
    _overrides(f, "drainOverrides")
    metadata = f.raw.get("metadata")
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, Mapping) or not all(isinstance(v, str) for v in metadata.values()):
        raise f.error("metadata", "must map strings to strings")


def _gpu(fields: Fields, gpu_uuids: Mapping[str, int]) -> int | None:
    """The GPU index the entities name (an index, or a UUID in ``gpu_uuids``), else None."""
    entities = []
    for ent in fields.objects("entitiesImpacted"):  # every entity checked, then the first GPU
        ent.only(frozenset({"entityType", "entityValue"}))
        entities.append((ent.text("entityType").upper(), ent.text("entityValue")))
    for kind, value in entities:
        if kind in _GPU_ENTITIES and value.isdigit():
            return int(value)
        if kind in (*_GPU_ENTITIES, "GPU_UUID") and value in gpu_uuids:
            return gpu_uuids[value]
    return None


def event_verdict(raw: Any, where: str, line: int, label: str,
                  gpu_uuids: Mapping[str, int] | None = None) -> Verdict:
    """One HealthEvent (protobuf JSON) as a verdict.

    Raises:
        ParseError: naming the source, the entry and the field.
    """
    f = Fields(raw, where, line, label)
    _check_schema(f)
    codes = f.texts("errorCode")
    check = f.text("checkName", required=True)
    return Verdict(
        source="nvsentinel", check=check, node=f.text("nodeName", required=True),
        gpu=_gpu(f, gpu_uuids or {}), category=classify(check, codes), codes=codes,
        healthy=f.flag("isHealthy"), fatal=f.flag("isFatal"),
        observed_s=f.timestamp("generatedTimestamp"),
        message=" ".join(f.text("message").split()), where=f"{where}:{label}")


def parse_health_events(text: str, where: str,
                        gpu_uuids: Mapping[str, int] | None = None) -> list[Verdict]:
    """Every HealthEvent in ``text`` (one, a list, ``HealthEvents`` or JSON Lines).

    Raises:
        ParseError: the first malformed event, naming ``where``, line and field.
    """
    try:
        doc = json.loads(text)
    except ValueError:
        return _json_lines(text, where, gpu_uuids)
    if isinstance(doc, Mapping) and "events" in doc and "checkName" not in doc:
        items = doc["events"]
        if not isinstance(items, list):
            raise ParseError(where, 0, "events: must be a list")
        return [event_verdict(e, where, 0, f"events[{i}]", gpu_uuids)
                for i, e in enumerate(items) if not _own(e)]
    if isinstance(doc, list):
        return [event_verdict(e, where, 0, f"events[{i}]", gpu_uuids)
                for i, e in enumerate(doc) if not _own(e)]
    return [] if _own(doc) else [event_verdict(doc, where, 0, "event", gpu_uuids)]


def _own(raw: Any) -> bool:
    """brownout's own events (read back from a shared log) are never verdicts."""
    return isinstance(raw, Mapping) and raw.get("agent") == AGENT


def _json_lines(text: str, where: str, gpu_uuids: Mapping[str, int] | None) -> list[Verdict]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except ValueError as exc:
            raise ParseError(where, n, f"not JSON ({exc.args[0][:60]})") from None
        if not _own(raw):
            out.append(event_verdict(raw, where, n, "event", gpu_uuids))
    return out


# ------------------------------------------------------------------ writing
#: finding kinds sent as node events: those localised to a node or a part of one
NODE_KINDS = frozenset({"gpu_failed", "gpu_degraded", "gpu_overheating", "nic_degraded",
                        "host_straggler", "rank_hang", "nvlink_degraded"})
_CLASS = {"gpu": "GPU", "nic": "NIC", "node": "NODE"}
_ACTION = {"reset_gpu": "COMPONENT_RESET", "reboot_node": "RESTART_BM",
           "drain_node": "CONTACT_SUPPORT", "replace_part": "CONTACT_SUPPORT"}


def check_name(kind: str) -> str:
    """``gpu_degraded`` -> ``BrownoutGpuDegraded`` (also the node condition type)."""
    return "Brownout" + "".join(w.capitalize() for w in kind.split("_"))


def is_fatal(f: Finding) -> bool:
    """Fatal in NVSentinel's sense: brownout itself would take the part out of service."""
    return f.severity != "minor" and (f.severity == "critical" or f.recommended_action in _ACTION)


def _entity(f: Finding, node: str) -> dict[str, str]:
    ref = ComponentRef.parse(f.component)
    if f.component_type == "gpu" and ref.gpu is not None:
        return {"entityType": "GPU", "entityValue": str(ref.gpu)}
    if f.component_type == "nic" and ref.part:
        return {"entityType": "NIC", "entityValue": ref.part}
    return {"entityType": "NODE", "entityValue": node}


def rfc3339(t_s: float) -> str:
    """Unix seconds as protobuf JSON writes a Timestamp."""
    return datetime.fromtimestamp(t_s, UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def health_event(f: Finding, remediate: bool = False, resolved_s: float | None = None
                 ) -> dict[str, Any] | None:
    """The HealthEvent (protobuf JSON) for a finding, or None if it is not about a node.

    Args:
        f: the finding.
        remediate: ``EXECUTE_REMEDIATION`` (NVSentinel may quarantine) instead of
            ``STORE_ONLY`` (it records and exports only).
        resolved_s: when given, the healthy event that clears it.
    """
    node = ComponentRef.parse(f.component).node(f.component_type)
    if f.kind not in NODE_KINDS or not node:
        return None
    healthy = resolved_s is not None
    t_s = resolved_s if resolved_s is not None else f.detected_at
    return {
        "version": 1, "agent": AGENT, "componentClass": _CLASS.get(f.component_type, "NODE"),
        "checkName": check_name(f.kind), "isFatal": not healthy and is_fatal(f),
        "isHealthy": healthy,
        "message": f"brownout {f.kind} resolved on {f.component}" if healthy else
                   " ".join(f"{f.kind} {f.severity} {f.component}: {f.summary}".split())[:500],
        "recommendedAction": "NONE" if healthy else _ACTION.get(f.recommended_action, "NONE"),
        "errorCode": [f.kind], "entitiesImpacted": [_entity(f, node)],
        "metadata": {"brownout.finding_id": f.id, "brownout.confidence": f"{f.confidence:.3f}",
                     "brownout.severity": f.severity, "brownout.component": f.component,
                     "brownout.recommended_action": f.recommended_action,
                     "brownout.onset": rfc3339(f.onset)},
        "generatedTimestamp": rfc3339(t_s),
        "nodeName": node,
        "processingStrategy": "EXECUTE_REMEDIATION" if remediate else "STORE_ONLY",
    }
