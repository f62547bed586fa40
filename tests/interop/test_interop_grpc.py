"""HealthEvents against a gRPC server generated from the same proto, run here.

No real NVSentinel runs in these tests: the server is the generated
``PlatformConnector`` servicer, listening on a Unix socket as NVSentinel's
platform connector does.
"""

from __future__ import annotations

import filecmp
import json
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import pytest

grpc = pytest.importorskip("grpc", reason="grpcio (extra 'nvsentinel') is not installed")

from google.protobuf import json_format  # noqa: E402 - after the skip

from brownout.errors import ExecutorError, InputError  # noqa: E402
from brownout.findings import Finding, Lifecycle  # noqa: E402
from brownout.interop.grpc_sink import NvsentinelSink, stubs, to_message  # noqa: E402
from brownout.interop.health_events import health_event, parse_health_events  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures" / "nvsentinel"
pb, pb_grpc = stubs()


class Connector(pb_grpc.PlatformConnectorServicer):  # type: ignore[misc]
    """The generated servicer: keeps what it is sent, or refuses with ``fail``."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self.fail: Any = None
        self.lock = threading.Lock()

    def HealthEventOccurredV1(self, request: Any, context: Any) -> Any:
        if self.fail is not None:
            context.abort(self.fail, "connector refused the batch: datastore unavailable")
        with self.lock:
            self.received.extend(request.events)
        from google.protobuf import empty_pb2
        return empty_pb2.Empty()


@pytest.fixture
def connector() -> Iterator[tuple[Connector, str]]:
    sock_dir = tempfile.mkdtemp(prefix="nvs", dir="/tmp")  # socket paths must stay short
    target = f"unix://{sock_dir}/nvsentinel.sock"
    servicer = Connector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_PlatformConnectorServicer_to_server(servicer, server)
    server.add_insecure_port(target)
    server.start()
    yield servicer, target
    server.stop(grace=None)
    shutil.rmtree(sock_dir, ignore_errors=True)


def _samples() -> list[tuple[str, dict[str, Any]]]:
    out = [(p.name, json.loads(p.read_text())) for p in sorted(FIX.glob("*.json"))]
    lines = (FIX / "monitors.jsonl").read_text().splitlines()
    return out + [(f"monitors.jsonl:{i + 1}", json.loads(s)) for i, s in enumerate(lines)]


def test_samples_parse_with_protobuf_as_with_ours() -> None:
    samples = _samples()
    assert len(samples) == 10
    for name, raw in samples:
        msg = json_format.ParseDict(raw, pb.HealthEvent())  # strict: unknown fields refused
        ours = parse_health_events(json.dumps(raw), name)[0]
        assert (ours.node, ours.check, ours.fatal, ours.healthy, ours.codes) == (
            msg.nodeName, msg.checkName, msg.isFatal, msg.isHealthy, tuple(msg.errorCode))
        if msg.HasField("generatedTimestamp"):
            t = msg.generatedTimestamp
            assert ours.observed_s == pytest.approx(t.seconds + t.nanos * 1e-9)


def findings(n_nodes: int = 16) -> list[Finding]:
    kinds = [("gpu_failed", "gpu3", "critical", "reset_gpu"),
             ("gpu_degraded", "gpu5", "major", "drain_node"),
             ("gpu_overheating", "gpu0", "minor", "investigate"),
             ("nvlink_degraded", "gpu7", "major", "drain_node"),
             ("nic_degraded", "mlx5_2", "major", "investigate"),
             ("host_straggler", "", "major", "reboot_node"),
             ("rank_hang", "gpu1", "critical", "restart_job")]
    out = []
    for n in range(1, n_nodes + 1):
        for i, (kind, part, sev, act) in enumerate(kinds):
            comp = f"n{n:04d}/{part}" if part else f"n{n:04d}"
            ctype = {"nic_degraded": "nic", "host_straggler": "node"}.get(kind, "gpu")
            resolved = 1764009000.0 + n if (n + i) % 3 == 0 else None
            out.append(Finding(f"f-{n:03d}{i}", kind, comp, ctype, 1764003600.0 + n,
                               1764003690.25 + n * 7, 0.8 + i / 100, sev, f"{kind} at {comp}",
                               {}, act, lifecycle=Lifecycle(resolved_at_s=resolved)))
    return out


def test_events_round_trip_through_the_generated_server(connector: tuple[Connector, str]
                                                        ) -> None:
    servicer, target = connector
    fs = findings()
    sent = [e for f in fs if (e := health_event(
        f, remediate=f.severity == "critical",
        resolved_s=f.resolved_at)) is not None]
    with NvsentinelSink(target, timeout_s=5.0) as sink:
        for i in range(0, len(sent), 25):
            assert sink.send(sent[i:i + 25]) == len(sent[i:i + 25])
    assert len(servicer.received) == len(sent) == 112
    for raw, got in zip(sent, servicer.received, strict=True):
        back = json_format.MessageToDict(got)
        assert back == json_format.MessageToDict(json_format.ParseDict(raw, pb.HealthEvent()))
        verdict = parse_health_events(json.dumps(back | {"agent": "relay"}), "relay")[0]
        assert verdict.node == raw["nodeName"] and verdict.check == raw["checkName"]
        assert verdict.healthy == raw["isHealthy"] and verdict.fatal == raw["isFatal"]
        assert back["processingStrategy"] == raw["processingStrategy"]
        assert got.recommendedAction == pb.RecommendedAction.Value(raw["recommendedAction"])


def test_refusal_and_unreachable_connector_are_errors(connector: tuple[Connector, str]) -> None:
    servicer, target = connector
    servicer.fail = grpc.StatusCode.UNAVAILABLE
    event = health_event(findings(1)[0])
    assert event is not None
    with NvsentinelSink(target, timeout_s=5.0) as sink, \
            pytest.raises(ExecutorError, match=r"UNAVAILABLE: connector refused"):
        sink.send([event])
    with NvsentinelSink("unix:///tmp/nvs-absent/none.sock", timeout_s=1.0) as sink, \
            pytest.raises(ExecutorError, match=r"nvsentinel: unix:///tmp/nvs-absent/none.sock: "):
        sink.send([event])


def test_schema_refuses_a_bad_event_before_sending() -> None:
    event = health_event(findings(1)[0])
    assert event is not None
    with pytest.raises(InputError, match=r"events\[1\]: .*severity"):
        to_message([event, {**event, "severity": "high"}])


def test_committed_stubs_match_the_proto(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools (extra 'dev') is not installed")
    subprocess.run([str(ROOT / "scripts" / "gen_proto"), str(tmp_path)], check=True)
    got = tmp_path / "brownout" / "interop" / "_proto"
    want = ROOT / "src" / "brownout" / "interop" / "_proto"
    names = ["health_event_pb2.py", "health_event_pb2.pyi", "health_event_pb2_grpc.py"]
    match, mismatch, errors = filecmp.cmpfiles(got, want, names, shallow=False)
    assert (mismatch, errors) == ([], []) and len(match) == 3


# ---------------------------------------------------------------- fuzz: ours vs protobuf's parser
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from brownout.errors import ParseError  # noqa: E402
from brownout.interop.health_events import EVENT_FIELDS  # noqa: E402

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False)
    | st.sampled_from(["", "x", "79", "GPU", "RESTART_BM", "STORE_ONLY", "2025-11-24T17:05:00Z"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["entityType", "entityValue", "force", "skip", "a"]), inner, max_size=3),
    max_leaves=6)
FIELD = st.sampled_from(sorted(EVENT_FIELDS | {"bogus"}))


def _stricter_on_purpose(event: dict[str, Any]) -> bool:
    """Where ours refuses what protobuf's Python parser lets through, by design: brownout
    needs a node and a check; an enum written as true/false/1.5, or overrides or an
    entity written as "" or [], are accepted by that parser only through its leniency."""
    if not (isinstance(event.get("nodeName"), str) and event["nodeName"].strip()):
        return True
    if not (isinstance(event.get("checkName"), str) and event["checkName"].strip()):
        return True
    for name in ("recommendedAction", "processingStrategy"):
        if isinstance(event.get(name), bool | float):
            return True
    entities = event.get("entitiesImpacted")
    if isinstance(entities, list) and any(e in ("", []) for e in entities):
        return True  # the same leniency for an entity written as "" or []
    return any(event.get(n) in ("", []) for n in ("quarantineOverrides", "drainOverrides"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_samples()), st.lists(st.tuples(FIELD, JSON), max_size=3))
def test_fuzz_ours_accepts_exactly_what_protobuf_accepts(sample: tuple[str, dict[str, Any]],
                                                         edits: list[tuple[str, Any]]) -> None:
    event = dict(sample[1])
    for name, value in edits:
        event[name] = value
    try:
        json_format.ParseDict(event, pb.HealthEvent())
        theirs = True
    except (json_format.ParseError, ValueError, TypeError, AttributeError, OverflowError):
        theirs = False
    try:
        parse_health_events(json.dumps(event), "fuzz.json")
        ours = True
    except ParseError as exc:
        assert str(exc).startswith("fuzz.json: event") and "\n" not in str(exc)
        ours = False
    assert ours <= theirs, f"ours accepted what protobuf refuses: {event}"
    assert ours or not theirs or _stricter_on_purpose(event), f"ours refused: {event}"
