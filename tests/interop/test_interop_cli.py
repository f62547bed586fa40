"""``brownout detect --verdicts`` and ``brownout publish`` end to end on a simulated recording."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from brownout.cli.main import main
from brownout.interop.health_events import rfc3339

FIX = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("rec")
    sc = tmp / "tiny.yaml"
    sc.write_text(yaml.safe_dump({
        "name": "tiny", "cluster": {"nodes": 8, "layout": "tor"}, "duration_min": 25,
        "jobs": [{"name": "a", "nodes": 7}],
        "faults": [{"kind": "gpu_failed", "onset_min": [8, 12]},
                   {"kind": "gpu_degraded", "onset_min": [8, 12]}]}))
    out = tmp / "out"
    assert main(["simulate", "--scenario", str(sc), "--out", str(out), "--seed", "3",
                 "--quiet"]) == 0
    truth = [json.loads(s) for s in (out / "truth.jsonl").read_text().splitlines()]
    base = tmp / "base.json"
    assert _detect(out, base) == 0
    return {"dir": out, "tmp": tmp, "truth": {t["kind"]: t for t in truth},
            "base": json.loads(base.read_text())}


def _detect(out: Path, dest: Path, *extra: str) -> int:
    return main(["detect", "--topology", str(out / "topology.yaml"), "--metrics",
                 str(out / "metrics"), "--steps", str(out / "steps.jsonl"), "--out", str(dest),
                 "-q", *extra])


def _verdict_files(rec: dict[str, Any]) -> tuple[Path, Path]:
    failed, degraded = rec["truth"]["gpu_failed"], rec["truth"]["gpu_degraded"]
    node, gpu = failed["component"].split("/gpu")
    events = [
        {"version": 1, "agent": "syslog-health-monitor", "componentClass": "GPU",
         "checkName": "SysLogsXIDError", "isFatal": True, "message": "Xid 95 uncontained",
         "recommendedAction": "RESTART_BM", "errorCode": ["95"],
         "entitiesImpacted": [{"entityType": "GPU", "entityValue": gpu}],
         "generatedTimestamp": rfc3339(failed["onset"] + 5), "nodeName": node},
        {"version": 1, "agent": "gpu-health-monitor", "componentClass": "GPU",
         "checkName": "GpuXidError", "isFatal": True, "message": "Xid 48 DBE",
         "recommendedAction": 15, "errorCode": ["48"],
         "entitiesImpacted": [{"entityType": "GPU", "entityValue": "2"}],
         "generatedTimestamp": rfc3339(failed["onset"]), "nodeName": "n0007"}]
    nvs = rec["tmp"] / "nvsentinel.jsonl"
    nvs.write_text("".join(json.dumps(e) + "\n" for e in events))
    doc = json.loads((FIX / "npd" / "nodes_gcm.json").read_text())
    node2 = copy.deepcopy(doc["items"][1])
    node2["metadata"]["name"] = degraded["component"].split("/")[0]
    node2["status"]["conditions"] = [
        {"type": "GcmSmiEccProblem", "status": "True", "reason": "EccErrorsFound",
         "message": "ecc: uncorrected volatile errors on GPU 5",
         "lastHeartbeatTime": rfc3339(degraded["onset"]),
         "lastTransitionTime": rfc3339(degraded["onset"] + 30)}]
    nodes = rec["tmp"] / "nodes.json"
    nodes.write_text(json.dumps({"kind": "NodeList", "apiVersion": "v1", "items": [node2]}))
    return nvs, nodes


def test_verdicts_add_evidence_and_change_nothing_else(
        rec: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nvs, nodes = _verdict_files(rec)
    dest = tmp_path / "f.json"
    assert _detect(rec["dir"], dest, "--verdicts", str(nvs), "--verdicts", str(nodes)) == 0
    doc = json.loads(dest.read_text())
    base = {f["id"]: f for f in rec["base"]["findings"]}
    got = {f["id"]: f for f in doc["findings"]}
    assert set(got) == set(base)
    keep = ("kind", "component", "onset", "detected_at", "severity", "recommended_action")
    for fid, f in got.items():
        assert {k: f[k] for k in keep} == {k: base[fid][k] for k in keep}
        assert f["confidence"] >= base[fid]["confidence"]
    by_kind = {f["kind"]: f for f in got.values()}
    failed = by_kind["gpu_failed"]
    assert failed["evidence"]["node_verdicts"][0]["check"] == "SysLogsXIDError"
    assert failed["component"] == rec["truth"]["gpu_failed"]["component"]
    degraded = by_kind["gpu_degraded"]
    assert degraded["evidence"]["node_verdicts"][0]["check"] == "GcmSmiEccProblem"
    assert degraded["confidence"] > base[degraded["id"]]["confidence"]
    lonely = [n for n in doc["notices"] if n["kind"] == "node_verdict"]
    assert [n["component"] for n in lonely] == ["n0007/gpu2"]
    (tmp_path / "base.json").write_text(json.dumps(rec["base"]))
    scores = []
    for path in (tmp_path / "base.json", dest):
        capsys.readouterr()
        assert main(["score", "--findings", str(path), "--truth",
                     str(rec["dir"] / "truth.jsonl"), "--json"]) == 0
        scores.append(json.loads(capsys.readouterr().out))
    assert scores[0] == scores[1] and scores[0]["overall"]["recall"] == 1.0


def test_a_malformed_verdict_file_is_one_line_and_writes_nothing(
        rec: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"nodeName": "n0001", "checkName": "GpuXidError"}\n'
                   '{"nodeName": "n0001", "checkName": "GpuXidError", "isFatal": "true"}\n')
    dest = tmp_path / "f.json"
    capsys.readouterr()
    assert _detect(rec["dir"], dest, "--verdicts", str(bad)) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"brownout: {bad}:2: event.isFatal: must be true or false"
    assert not dest.exists()


def test_publish_prints_what_it_would_write(rec: dict[str, Any], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    findings = tmp_path / "f.json"
    findings.write_text(json.dumps(rec["base"]))
    capsys.readouterr()
    assert main(["publish", "--findings", str(findings)]) == 0
    lines = [json.loads(s) for s in capsys.readouterr().out.splitlines()]
    conds = {(x["node"], x["condition"]["type"]) for x in lines if "condition" in x}
    failed = rec["truth"]["gpu_failed"]["component"].split("/")[0]
    assert (failed, "BrownoutGpuFailed") in conds
    events = [x["health_event"] for x in lines if "health_event" in x]
    assert {e["checkName"] for e in events} == {"BrownoutGpuFailed", "BrownoutGpuDegraded"}
    assert all(e["processingStrategy"] == "STORE_ONLY" for e in events)


@pytest.fixture
def api_server(rec: dict[str, Any]) -> Iterator[tuple[Any, str]]:
    pytest.importorskip("kubernetes")
    from npd_api import NodeApi, NodeApiServer
    template = json.loads((FIX / "npd" / "nodes_gcm.json").read_text())["items"][0]
    nodes = {}
    for i in range(1, 9):
        n = copy.deepcopy(template)
        n["metadata"]["name"] = f"n{i:04d}"
        nodes[f"n{i:04d}"] = n
    api = NodeApi(nodes=nodes)
    with NodeApiServer(api) as server:
        yield api, server.url


def test_publish_to_kubernetes(rec: dict[str, Any], tmp_path: Path,
                               api_server: tuple[Any, str]) -> None:
    api, url = api_server
    findings = tmp_path / "f.json"
    findings.write_text(json.dumps(rec["base"]))
    assert main(["publish", "--findings", str(findings), "--kubernetes", "--api-server", url,
                 "--namespace", "kube-system"]) == 0
    node = rec["truth"]["gpu_failed"]["component"].split("/")[0]
    types = {c["type"]: c for c in api.nodes[node]["status"]["conditions"]}
    assert types["BrownoutGpuFailed"]["status"] == "True"
    assert {e["metadata"]["namespace"] for e in api.events} == {"kube-system"}


def test_publish_to_nvsentinel(rec: dict[str, Any], tmp_path: Path) -> None:
    pytest.importorskip("grpc")
    import shutil
    import tempfile
    from concurrent import futures

    import grpc
    from test_interop_grpc import Connector, pb_grpc
    sock_dir = tempfile.mkdtemp(prefix="nvs", dir="/tmp")
    target = f"unix://{sock_dir}/nvsentinel.sock"
    servicer = Connector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_PlatformConnectorServicer_to_server(servicer, server)
    server.add_insecure_port(target)
    server.start()
    try:
        findings = tmp_path / "f.json"
        findings.write_text(json.dumps(rec["base"]))
        assert main(["publish", "--findings", str(findings), "--nvsentinel", target,
                     "--nvsentinel-remediate"]) == 0
    finally:
        server.stop(grace=None)
        shutil.rmtree(sock_dir, ignore_errors=True)
    got = sorted((e.checkName, e.nodeName, e.processingStrategy) for e in servicer.received)
    want = sorted((f"Brownout{''.join(w.capitalize() for w in k.split('_'))}",
                   t["component"].split("/")[0], 1) for k, t in rec["truth"].items())
    assert got == want
