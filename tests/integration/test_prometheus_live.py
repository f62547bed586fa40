"""End to end: a real Prometheus scrapes the live simulator; detect reads PromQL alone.

The simulated cluster runs 90x faster than wall time and stamps its samples
with simulated time (see ``live_prom``); ``brownout detect --prometheus``
must find the injected faults as well as it does from the recorded files of
the same scenario and seed.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from brownout.cli.main import main
from brownout.findings import Finding, read_findings
from brownout.scoring import score
from brownout.sim.run import run_scenario
from brownout.sim.scenario import Scenario, scenario_from_dict
from brownout.telemetry.series import SeriesRegistry
from brownout.telemetry.sources.files import read_recording
from brownout.telemetry.sources.prometheus import read_range
from brownout.topology.loader import load_topology

from .flaky import FlakyServer
from .live_prom import run_live
from .prom import needs_prometheus

SPEED = 90.0


def _scenario() -> Scenario:
    return scenario_from_dict({
        "name": "prom-e2e", "cluster": {"nodes": 8, "layout": "tor", "nodes_per_rack": 4},
        "duration_min": 30, "scrape_interval_s": 30,
        "jobs": [{"name": "llm", "nodes": 8, "compute_s": 8.0, "allreduce_gb": 100}],
        "faults": [{"kind": "gpu_overheating", "onset_min": [3, 8]},
                   {"kind": "nic_degraded", "onset_min": [4, 10]},
                   {"kind": "gpu_failed", "onset_min": [10, 15]},
                   {"kind": "telemetry_loss", "onset_min": [15, 19], "duration_min": [4, 6]}],
        "confounders": [{"kind": "diurnal"}]})


def _keys(findings: list[Finding]) -> list[tuple[str, str, float]]:
    return [(f.kind, f.component, f.detected_at) for f in findings]


def _detect(args: list[str], out: Path) -> list[Finding]:
    assert main(["detect", *args, "--out", str(out), "-q"]) == 0
    return list(read_findings(out).findings)


@needs_prometheus
@pytest.mark.slow
def test_detect_through_prometheus_matches_files(tmp_path: Path) -> None:
    seed = secrets.randbelow(10_000)
    run, server = run_live(_scenario(), seed, SPEED, tmp_path)
    try:
        topo = str(run.topology_path)
        span = ["--start", f"{run.start_s:.3f}", "--end", f"{run.end_s + 60:.3f}"]
        via_prom = _detect(["--topology", topo, "--prometheus", server.url, *span],
                           tmp_path / "prom.json")
        stored, _ = read_range(server.url, span[1], span[3], SeriesRegistry(load_topology(topo)))
        flaky = FlakyServer(server.url, fail_first=2, delay_s=0.02)  # overloaded, recovers
        try:
            via_flaky = _detect(["--topology", topo, "--prometheus", flaky.url, *span],
                                tmp_path / "flaky.json")
        finally:
            flaky.close()
    finally:
        server.stop()
    assert flaky.failed == 2 and _keys(via_flaky) == _keys(via_prom)  # retried, nothing lost
    files = run_scenario(run.scenario, seed, tmp_path / "files", compress=False)
    assert [(t.kind, t.component, t.onset) for t in files.truth] == \
        [(t.kind, t.component, t.onset) for t in run.truth], "same scenario, same faults"
    via_files = _detect(["--topology", topo, "--metrics", str(tmp_path / "files" / "metrics")],
                        tmp_path / "files.json")
    recorded, _ = read_recording([tmp_path / "files" / "metrics"],
                                 SeriesRegistry(load_topology(topo)))
    # one stored sample per simulated scrape, on the simulated clock, from start to end
    assert 0.7 * len(recorded) <= len(stored) <= 1.3 * len(recorded)  # scrape timing varies
    assert stored.t_s.min() - run.start_s < 60 and run.end_s - stored.t_s.max() < 60
    prom, ref = score(via_prom, run.truth).overall, score(via_files, run.truth).overall
    info = f"seed {seed}: prometheus {prom}, files {ref}, live run {run.wall_s:.1f} s"
    assert prom.truth == 4, info
    assert prom.matched >= min(ref.matched, 3), info  # the faults are found from PromQL alone
    assert prom.matched >= ref.matched - 1 and prom.false <= ref.false + 1, info
