"""Hostile telemetry through the real pipeline: simulate -> mutate files -> ``brownout detect``.

A small simulated cluster with one fail-slow GPU is recorded, its node files
are mutated the way real exporters and clusters misbehave (see hostile.py),
and the real CLI reads them. Graceful means: exit 0, the real fault is still
found, no flood of false findings, and dropped data is said on stderr.
Figures are in docs/reliability.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.hardening.hostile import MUTATIONS, mutate_recording

from brownout.cli.main import main

SCENARIO = """\
name: hostile-small
description: eight nodes, one fail-slow GPU, no confounders
seed: {seed}
cluster: {{nodes: 8, layout: tor}}
duration_min: 30
jobs:
  - {{name: llm, nodes: 8, compute_s: 6.0, allreduce_gb: 60, checkpoint_every_steps: 100}}
faults:
  - {{kind: gpu_degraded, onset_min: 10}}
confounders: []
"""
SEEDS = (3, 4)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    out = {}
    for seed in SEEDS:
        root = tmp_path_factory.mktemp(f"sim{seed}")
        (root / "s.yaml").write_text(SCENARIO.format(seed=seed))
        assert main(["simulate", "--scenario", str(root / "s.yaml"), "--out",
                     str(root / "rec"), "--plain", "--quiet"]) == 0
        out[seed] = root / "rec"
    return out


def _detect(rec: Path, metrics: Path, out: Path) -> dict:
    rc = main(["detect", "--topology", str(rec / "topology.yaml"), "--metrics", str(metrics),
               "--steps", str(rec / "steps.jsonl"), "--out", str(out), "-q"])
    assert rc == 0
    return json.loads(out.read_text())


def _truth(rec: Path) -> tuple[str, str]:
    (fault,) = [json.loads(x) for x in (rec / "truth.jsonl").read_text().splitlines()]
    return fault["kind"], fault["component"]


def _false(findings: list[dict], component: str) -> list[dict]:
    """Findings other than the injected fault (any kind on any component, its node included)."""
    return [f for f in findings if f["component"] != component]


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutated_recording_degrades_gracefully(recordings: dict[int, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               name: str) -> None:
    seed = SEEDS[sorted(MUTATIONS).index(name) % len(SEEDS)]
    rec = recordings[seed]
    kind, component = _truth(rec)
    clean = _detect(rec, rec / "metrics", tmp_path / "clean.json")
    mutate_recording(rec / "metrics", tmp_path / "m", MUTATIONS[name], seed)
    capsys.readouterr()
    got = _detect(rec, tmp_path / "m", tmp_path / "out.json")
    err = capsys.readouterr().err
    assert (kind, component) in {(f["kind"], f["component"]) for f in got["findings"]}
    false = _false(got["findings"], component)
    if name == "everything":
        # known (reported): a node skewed under the detection threshold, relative to a fleet
        # median that is itself off, can look silent at the end; it shows its last sample
        assert all(f["kind"] == "telemetry_loss" and "last_sample_at" in f["evidence"]
                   for f in false)
        assert len(false) <= 1
    else:
        assert len(false) <= len(_false(clean["findings"], component))
    if name in ("nonfinite", "everything"):
        assert "NaN/Inf samples dropped" in err
    if name in ("sentinels", "everything"):
        assert "sentinel samples dropped" in err
    assert "internal error" not in err and "Traceback" not in err


def test_clock_skew_is_named_not_read_as_loss(recordings: dict[int, Path],
                                              tmp_path: Path) -> None:
    rec = recordings[SEEDS[0]]
    _, component = _truth(rec)
    mutate_recording(rec / "metrics", tmp_path / "m", MUTATIONS["clock_skew"], 1)
    got = _detect(rec, tmp_path / "m", tmp_path / "out.json")
    assert _false(got["findings"], component) == []
    assert any(n["kind"] == "clock_skew" for n in got["notices"])


def test_counter_resets_are_explained(recordings: dict[int, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    rec = recordings[SEEDS[0]]
    mutate_recording(rec / "metrics", tmp_path / "m", MUTATIONS["counter_resets"], 1)
    capsys.readouterr()
    _detect(rec, tmp_path / "m", tmp_path / "out.json")
    assert "counter resets" in capsys.readouterr().err


@pytest.mark.xfail(reason="detect (reported): skew is estimated against the fleet median, not "
                          "the step-log clock; a sub-threshold residual plus the median's own "
                          "offset reads as telemetry_loss", strict=False)
def test_everything_at_once_has_no_false_findings(recordings: dict[int, Path],
                                                  tmp_path: Path) -> None:
    rec = recordings[SEEDS[0]]
    _, component = _truth(rec)
    mutate_recording(rec / "metrics", tmp_path / "m", MUTATIONS["everything"], 1)
    got = _detect(rec, tmp_path / "m", tmp_path / "out.json")
    assert _false(got["findings"], component) == []
