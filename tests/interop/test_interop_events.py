"""NVSentinel HealthEvents in protobuf JSON: NVIDIA's published samples, our own, bad ones."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from brownout.errors import ParseError
from brownout.findings import Finding, Lifecycle
from brownout.interop.health_events import check_name, health_event, is_fatal, parse_health_events
from brownout.interop.read import read_verdicts

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "nvsentinel"
SAMPLES = ["xid-79-error.json", "fatal-health-event.json", "fabric-manager-down.json",
           "gpu-service-down.json"]


def test_nvidia_samples_parse() -> None:
    got = {name: parse_health_events((FIX / name).read_text(), name) for name in SAMPLES}
    xid = got["xid-79-error.json"][0]
    assert (xid.check, xid.node, xid.gpu, xid.codes, xid.category) == \
        ("GpuXidError", "NODE_NAME", 0, ("79",), "xid")
    assert xid.fatal and not xid.healthy and math.isinf(xid.observed_s)
    assert got["fatal-health-event.json"][0].gpu == 0  # lower-case "gpu" entity
    fm = got["fabric-manager-down.json"][0]
    assert (fm.node, fm.gpu, fm.category) == ("gpu-node-07", None, "other")
    assert not got["gpu-service-down.json"][0].fatal


def test_monitor_families_and_times() -> None:
    vs = read_verdicts([FIX / "monitors.jsonl"])
    by = {(v.node, v.check, v.healthy): v for v in vs}
    xid = by[("n0002", "SysLogsXIDError", False)]
    assert xid.gpu is None and xid.observed_s == 1764003900.0  # a UUID without a map: node-level
    assert by[("n0003", "SysLogsXIDError", False)].category == "xid_nvlink"
    assert by[("n0003", "SysLogsXIDError", False)].observed_s == 1764003990.25
    assert by[("n0004", "GpuNvlinkWatch", False)].category == "nvlink"
    assert by[("n0005", "InfiniBandStateCheck", False)].category == "nic"
    assert by[("n0006", "GpuMemWatch", True)].healthy
    uuid = "GPU-455d8f70-2051-db6c-0430-ffc457bff834"
    with_map = read_verdicts([FIX / "monitors.jsonl"], gpu_uuids={uuid: 6})
    assert next(v for v in with_map if v.node == "n0002").gpu == 6


def test_whole_directory_and_own_events_skipped(tmp_path: Path) -> None:
    own = health_event(_finding("gpu_degraded", "n0001/gpu2"))
    (tmp_path / "a.jsonl").write_text(json.dumps(own) + "\n"
                                      + (FIX / "monitors.jsonl").read_text())
    (tmp_path / "b.json").write_text(json.dumps({"version": 1, "events": [own]}))
    (tmp_path / "notes.txt").write_text("ignored")
    assert len(read_verdicts([tmp_path])) == 6


BAD = [
    ("[1]", "events[0]: must be a JSON object"),
    ('{"checkName": "GpuXidError"}', "event.nodeName: missing"),
    ('{"nodeName": "n1", "checkName": ""}', "event.checkName: must be a non-empty string"),
    ('{"nodeName": "n1", "checkName": "X", "isFatal": "yes"}', "event.isFatal: must be true or"),
    ('{"nodeName": "n1", "checkName": "X", "errorCode": "79"}', "event.errorCode: must be a list"),
    ('{"nodeName": "n1", "checkName": "X", "recommendedAction": "REBOOT"}',
     "event.recommendedAction: unknown value 'REBOOT'"),
    ('{"nodeName": "n1", "checkName": "X", "generatedTimestamp": "yesterday"}',
     "event.generatedTimestamp: 'yesterday' is not an RFC 3339 time"),
    ('{"nodeName": "n1", "checkName": "X", "generatedTimestamp": "2025-01-01T00:00:00"}',
     "has no time zone"),
    ('{"nodeName": "n1", "checkName": "X", "node": "n1"}', "event.node: unknown field"),
    ('{"nodeName": "n1", "checkName": "X", "entitiesImpacted": [{"entityType": 3}]}',
     "event.entitiesImpacted[0].entityType: must be a string"),
    ('{"nodeName": "n1", "checkName": "X", "metadata": {"a": 1}}', "event.metadata: must map"),
    ('{"version": 1, "events": {}}', "events: must be a list"),
    ('{"nodeName": "n1", "checkName": "X"}\n{oops', ":2: not JSON"),
]


@pytest.mark.parametrize(("text", "needle"), BAD)
def test_malformed_events_get_one_line_naming_source_and_field(text: str, needle: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_health_events(text, "feed.jsonl")
    msg = str(info.value)
    assert msg.startswith("feed.jsonl") and needle in msg and "\n" not in msg


def _finding(kind: str, component: str, severity: str = "major", action: str = "drain_node",
             resolved: float | None = None) -> Finding:
    ctype = {"nic_degraded": "nic", "host_straggler": "node"}.get(kind, "gpu")
    return Finding("f-000007", kind, component, ctype, 1764003600.0, 1764003690.5, 0.93,
                   severity, "SM clock 38% below peers", {},
                   action, lifecycle=Lifecycle(resolved_at_s=resolved))


def test_findings_become_node_events_only_where_a_node_is_at_fault() -> None:
    e = health_event(_finding("gpu_degraded", "n0003/gpu5"))
    assert e is not None
    assert (e["checkName"], e["nodeName"], e["entitiesImpacted"]) == \
        ("BrownoutGpuDegraded", "n0003", [{"entityType": "GPU", "entityValue": "5"}])
    assert e["isFatal"] and not e["isHealthy"] and e["processingStrategy"] == "STORE_ONLY"
    assert e["generatedTimestamp"] == "2025-11-24T17:01:30.500Z"
    nic = health_event(_finding("nic_degraded", "n0003/mlx5_1"), remediate=True)
    assert nic is not None and nic["entitiesImpacted"][0] == {"entityType": "NIC",
                                                               "entityValue": "mlx5_1"}
    assert nic["processingStrategy"] == "EXECUTE_REMEDIATION"
    ok = health_event(_finding("gpu_degraded", "n0003/gpu5"), resolved_s=1764007200.0)
    assert ok is not None and ok["isHealthy"] and not ok["isFatal"]
    assert ok["recommendedAction"] == "NONE"
    for kind, comp in [("switch_congestion", "leaf04"), ("cooling_fault", "cdu02"),
                       ("telemetry_loss", "n0003"), ("nvswitch_fault", "nvl0")]:
        f = Finding("f", kind, comp, "x", 0.0, 1.0, 0.9, "critical", "s")
        assert health_event(f) is None
    assert not is_fatal(_finding("gpu_degraded", "n1/gpu1", "minor"))
    assert is_fatal(_finding("gpu_degraded", "n1/gpu1", "critical", "investigate"))
    assert check_name("nvlink_degraded") == "BrownoutNvlinkDegraded"


def test_every_entity_is_checked_not_only_up_to_the_first_gpu() -> None:
    text = json.dumps({"nodeName": "n1", "checkName": "GpuXidError", "entitiesImpacted": [
        {"entityType": "GPU", "entityValue": "1"}, {"entityType": "PCI", "entityValue": 7}]})
    with pytest.raises(ParseError, match=r"entitiesImpacted\[1\]\.entityValue: must be a string"):
        parse_health_events(text, "e.json")
