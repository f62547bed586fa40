"""``brownout act`` as spec/cli.md fixes it: flags, JSON shape, exit codes, approvals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from policy_factories import make_finding

from brownout.cli.main import main
from brownout.findings import FindingsFile, write_findings
from brownout.topology import write_topology
from brownout.topology.generate import generate_topology

ACTION_KEYS = {"action", "component", "node", "finding_id", "reason", "state"}
REFUSED_KEYS = {"action", "component", "rule", "limit", "observed"}


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    topo, findings = tmp_path / "topology.yaml", tmp_path / "findings.json"
    write_topology(generate_topology(64), topo)
    fs = (make_finding("gpu_failed", "n0003/gpu2", evidence={"xid": 79}, fid="f-1"),
          make_finding("gpu_failed", "n0004/gpu2", evidence={"xid": 79}, fid="f-2"),
          make_finding("switch_congestion", "leaf05", "major", fid="f-3"))
    write_findings(FindingsFile("sim", fs), findings)
    return topo, findings


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    code = main(["act", *args, "--json"])
    captured = capsys.readouterr()
    run_json.last_err = captured.err  # type: ignore[attr-defined]
    return code, json.loads(captured.out)


def test_dry_run_json_shape(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
                            ) -> None:
    topo, findings = files
    code, out = run_json(capsys, "--findings", str(findings), "--topology", str(topo))
    assert code == 0 and set(out) == {"actions", "refused", "breaker"}
    assert out["breaker"] == "closed"
    assert out["actions"] and all(set(a) == ACTION_KEYS for a in out["actions"])
    assert all(set(r) == REFUSED_KEYS for r in out["refused"])
    # n0003 and n0004 share rack r01: the second drain is refused by the rack limit
    assert {(r["action"], r["component"], r["rule"]) for r in out["refused"]} >= {
        ("drain_node", "n0004", "max_rack_fraction")}
    assert {a["state"] for a in out["actions"]} == {"dry_run"}
    assert not any(a["action"] != "notify" and a["finding_id"] == "f-3" for a in out["actions"])


def test_journal_makes_a_second_run_a_no_op(files: tuple[Path, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    topo, findings = files
    args = ("--findings", str(findings), "--topology", str(topo), "--journal",
            str(tmp_path / "j.db"))
    _, first = run_json(capsys, *args)
    _, second = run_json(capsys, *args)
    assert first["actions"] and second["actions"] == []


def test_approval_via_cli(files: tuple[Path, Path], tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    topo, findings = files
    base = ["--findings", str(findings), "--topology", str(topo), "--journal",
            str(tmp_path / "j.db")]
    _, out = run_json(capsys, *base, "--approval", "disruptive")
    assert {a["state"] for a in out["actions"] if a["action"] != "notify"} == {
        "awaiting_approval"}
    assert main(["act", "--journal", str(tmp_path / "j.db"), "--pending", "--json"]) == 0
    pending = json.loads(capsys.readouterr().out)["pending"]
    drain = next(p for p in pending if p["action"] == "drain_node")
    _, out = run_json(capsys, *base, "--approve", drain["key"])
    assert [(a["action"], a["state"]) for a in out["actions"]] == [("drain_node", "dry_run")]


@pytest.mark.parametrize("broken", ["{not json", '{"format": "other"}'])
def test_bad_findings_exit_2_with_one_line(files: tuple[Path, Path], tmp_path: Path,
                                           broken: str) -> None:
    topo, _ = files
    bad = tmp_path / "bad.json"
    bad.write_text(broken)
    proc = subprocess.run([sys.executable, "-m", "brownout.cli.main", "act", "--findings",
                           str(bad), "--topology", str(topo)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 2
    assert str(bad) in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_missing_flags_and_wrong_journal_exit_2(files: tuple[Path, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    topo, findings = files
    assert main(["act", "--topology", str(topo)]) == 2
    j = str(tmp_path / "j.db")
    assert main(["act", "--findings", str(findings), "--topology", str(topo), "--journal",
                 j]) == 0
    assert main(["act", "--findings", str(findings), "--topology", str(topo), "--journal", j,
                 "--executor", "slurm"]) == 2
    assert "belongs to executor" in capsys.readouterr().err


def test_breaker_open_is_loud(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    topo, findings = tmp_path / "t.yaml", tmp_path / "f.json"
    write_topology(generate_topology(20), topo)
    fs = tuple(make_finding("telemetry_loss", f"n{i:04d}", "major") for i in range(1, 6))
    write_findings(FindingsFile("sim", fs), findings)
    code, out = run_json(capsys, "--findings", str(findings), "--topology", str(topo))
    assert code == 0 and out["breaker"] == "open"
    assert "CIRCUIT BREAKER OPEN" in run_json.last_err  # type: ignore[attr-defined]
