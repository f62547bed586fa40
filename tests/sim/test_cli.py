"""``brownout simulate`` as the CLI contract drives it."""

from __future__ import annotations

from pathlib import Path

import pytest

from brownout.cli.main import main


def test_list_names_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--list"]) == 0
    out = capsys.readouterr().out
    assert "mixed" in out and "llama3-54d" in out and len(out.splitlines()) >= 12


def test_simulate_a_user_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sc = tmp_path / "tiny.yaml"
    sc.write_text("name: tiny\ncluster: {nodes: 3}\nduration_min: 3\n"
                  "jobs: [{name: j, nodes: 2}]\n"
                  "faults: [{kind: host_straggler, onset_min: 1}]\n")
    out = tmp_path / "out"
    assert main(["simulate", "--scenario", str(sc), "--out", str(out), "--seed", "5"]) == 0
    for name in ("topology.yaml", "steps.jsonl", "truth.jsonl", "metrics/n0001.om.gz",
                 "metrics/fabric.om.gz"):
        assert (out / name).is_file(), name
    assert "host_straggler" in (out / "truth.jsonl").read_text()


def test_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sc = tmp_path / "bad.yaml"
    sc.write_text("cluster: {nodes: 3}\nfaults: [{kind: nope}]\n")
    assert main(["simulate", "--scenario", str(sc), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "kind" in err and "Traceback" not in err
    assert main(["simulate", "--out", str(tmp_path / "o")]) == 2
