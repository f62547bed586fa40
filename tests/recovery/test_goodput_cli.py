"""``brownout goodput``: the JSON contract, the table, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from brownout.cli.main import main
from brownout.recovery.ledger import CAUSES

from .synth import JobSpec, generate


def _log(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = generate(JobSpec(steps=120, crash_after=90, straggler=(10, 30, 1.5),
                            congestion=(40, 60, 3.0)), rng).rows
    rows += generate(JobSpec(name="small", n_nodes=1, steps=60, crash_after=None), rng).rows
    path = tmp_path / "steps.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_json_output_follows_the_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    assert main(["goodput", "--steps", str(_log(tmp_path)), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["jobs"]) == {"llm", "small"}
    for job in out["jobs"].values():
        assert {"wall_s", "productive_s", "ettr", "lost_s"} <= set(job)
        assert list(job["lost_s"]) == list(CAUSES)
        assert sum(job["lost_s"].values()) == pytest.approx(job["wall_s"] - job["productive_s"])
        assert job["ettr"] == pytest.approx(job["productive_s"] / job["wall_s"])
    assert out["jobs"]["llm"]["lost_s"]["restart"] > 0


def test_table_output_names_every_cause(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    assert main(["goodput", "--steps", str(_log(tmp_path))]) == 0
    text = capsys.readouterr().out
    for word in ("ETTR", "availability", "cluster", *CAUSES):
        assert word in text


def test_findings_are_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    findings = tmp_path / "findings.json"
    findings.write_text(json.dumps({"format": "brownout.findings", "version": 1,
                                    "cluster": "c", "findings": []}))
    assert main(["goodput", "--steps", str(_log(tmp_path)), "--findings", str(findings),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["jobs"]


@pytest.mark.parametrize("content", ["", "not json\n", '{"ts": 1}\n'])
def test_bad_or_empty_logs_exit_2_with_one_line(tmp_path: Path, content: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "steps.jsonl"
    path.write_text(content)
    assert main(["goodput", "--steps", str(path), "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err
    assert str(path) in err[-1]


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["goodput", "--steps", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl" in capsys.readouterr().err
