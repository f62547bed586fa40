"""``brownout detect`` as spec/cli.md fixes it: inputs, output file, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from brownout.cli.main import main


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("rec")
    sc = tmp / "tiny.yaml"
    sc.write_text(yaml.safe_dump({
        "name": "tiny", "cluster": {"nodes": 8, "layout": "tor"}, "duration_min": 25,
        "jobs": [{"name": "a", "nodes": 7}],
        "faults": [{"kind": "gpu_failed", "onset_min": [8, 12]},
                   {"kind": "host_straggler", "onset_min": [8, 12]}]}))
    assert main(["simulate", "--scenario", str(sc), "--out", str(tmp / "out"), "--seed", "3",
                 "--quiet"]) == 0
    return tmp / "out"


def detect(rec: Path, out: Path, *extra: str) -> int:
    return main(["detect", "--topology", str(rec / "topology.yaml"), "--out", str(out), "-q",
                 *extra])


def test_metrics_and_steps_write_a_findings_file(recording: Path, tmp_path: Path) -> None:
    out = tmp_path / "f.json"
    assert detect(recording, out, "--metrics", str(recording / "metrics"),
                  "--steps", str(recording / "steps.jsonl")) == 0
    doc = json.loads(out.read_text())
    assert doc["format"] == "brownout.findings" and doc["version"] == 1
    kinds = {f["kind"] for f in doc["findings"]}
    assert {"gpu_failed", "host_straggler"} <= kinds
    for f in doc["findings"]:
        assert f["evidence"] and f["summary"] and f["recommended_action"]
    assert main(["score", "--findings", str(out), "--truth",
                 str(recording / "truth.jsonl"), "--json"]) == 0


def test_either_input_may_be_absent(recording: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    assert detect(recording, out, "--metrics", str(recording / "metrics")) == 0
    assert "gpu_failed" in {f["kind"] for f in json.loads(out.read_text())["findings"]}
    out2 = tmp_path / "s.json"
    assert detect(recording, out2, "--steps", str(recording / "steps.jsonl")) == 0
    assert "host_straggler" in {f["kind"] for f in json.loads(out2.read_text())["findings"]}


def test_bad_input_exits_2_with_one_line(recording: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.json"
    assert detect(recording, out) == 2  # neither --metrics nor --steps
    assert detect(recording, out, "--metrics", str(tmp_path / "missing")) == 2
    err = capsys.readouterr().err
    assert "missing" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("bad", ["stall_floor_s=-5", "stall_k=abc", "stall_kk=3", "stall_k"])
def test_a_bad_hang_timeout_is_one_line_and_no_file(recording: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    bad: str) -> None:
    out = tmp_path / "f.json"
    assert detect(recording, out, "--steps", str(recording / "steps.jsonl"), "--hang", bad) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ("hang" in err[0]) and not out.exists()
