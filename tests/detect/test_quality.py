"""End to end on the simulator with fresh seeds: a quality floor, fast enough for CI.

Seeds are drawn fresh on every run and printed on failure, so a failure can
be replayed with ``brownout simulate --scenario FILE --seed N``. The full
suite with the issue's targets is ``python benchmarks/eval_detect.py``.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
import yaml

from brownout.cli.main import main
from brownout.findings import KINDS, read_findings, read_truth
from brownout.scoring import score

RACK_SCALE = ("nvlink_degraded", "nvswitch_fault")  # need NVL72 domains: test_nvlink.py

FLEETS = {  # fleet variants: GPU model, scrape interval, profiling, static heterogeneity
    "h100": ("NVIDIA H100 80GB HBM3", 30.0, {}),
    "a100": ("NVIDIA A100-SXM4-80GB", 15.0, {"profiling": False, "temp_sd_c": 1.0,
                                             "power_sd": 0.03, "inlet_sd_c": 1.0}),
    "b200": ("NVIDIA B200", 60.0, {"temp_sd_c": 1.0, "power_sd": 0.03, "inlet_sd_c": 1.0}),
}


def scenario(path: Path, nodes: int, layout: str, faults: bool, fleet: str = "h100") -> Path:
    model, scrape_s, telemetry = FLEETS[fleet]
    doc = {
        "name": path.stem, "cluster": {"nodes": nodes, "layout": layout, "gpu_model": model,
                                       "nodes_per_rack": 4, "racks_per_cooling": 1},
        "duration_min": 50, "scrape_interval_s": scrape_s, "telemetry": telemetry,
        "jobs": [{"name": "a", "nodes": nodes // 2, "compute_s": 5.0},
                 {"name": "b", "nodes": nodes // 2 - 1, "compute_s": 11.0}],
        "faults": [{"kind": k, "onset_min": [6, 30]} for k in KINDS
                   if k not in RACK_SCALE] if faults else [],
        "confounders": [{"kind": c, "at_min": [5, 40]} for c in (
            "fleet_shift", "app_xids", "exporter_restarts", "power_cap", "incast",
            "job_restarts", "warm_loop")],
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def simulate_and_detect(tmp: Path, sc: Path, seed: int) -> tuple[list, list]:  # type: ignore[type-arg]
    out = tmp / f"{sc.stem}-{seed}"
    assert main(["simulate", "--scenario", str(sc), "--out", str(out), "--seed", str(seed),
                 "--quiet"]) == 0
    assert main(["detect", "--topology", str(out / "topology.yaml"), "--metrics",
                 str(out / "metrics"), "--steps", str(out / "steps.jsonl"), "--out",
                 str(out / "findings.json"), "-q"]) == 0
    return list(read_findings(out / "findings.json").findings), read_truth(out / "truth.jsonl")


def test_quality_floor_on_fresh_seeds(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    seeds = [secrets.randbelow(2**31) for _ in range(3)]
    plans = [(12, "tor", True, "h100"), (16, "rail", True, "a100"), (8, "tor", False, "b200")]
    matched = truth_n = false = 0
    notes = []
    for seed, (nodes, layout, faults, fleet) in zip(seeds, plans, strict=True):
        sc = scenario(tmp_path / f"q{nodes}{layout}{int(faults)}{fleet}.yaml", nodes, layout,
                      faults, fleet)
        found, truth = simulate_and_detect(tmp_path, sc, seed)
        r = score(found, truth)
        matched, truth_n, false = (matched + r.overall.matched, truth_n + r.overall.truth,
                                   false + r.overall.false)
        notes.append(f"{sc.name} seed {seed}: missed "
                     f"{[(truth[i].kind, truth[i].component) for i in r.missed_truth]} false "
                     f"{[(found[i].kind, found[i].component) for i in r.false_findings]}")
        if not faults:
            assert found == [], f"healthy scenario raised findings; {notes[-1]}"
    capsys.readouterr()
    report = json.dumps({"seeds": seeds, "notes": notes}, indent=1)
    assert matched / truth_n >= 0.8, report
    assert matched / max(matched + false, 1) >= 0.85, report
