"""Detection on fleets unlike the default twin: warm loops, bad interfaces, other GPUs.

Each test simulates a small cluster with the simulator's fleet options and
replays it through the engine, over a few seeds.
"""

from __future__ import annotations

from typing import Any

import pytest

from brownout.detect.engine import replay
from brownout.findings import FindingsFile
from brownout.sim import Simulation, scenario_from_dict

HETERO = {"temp_sd_c": 1.0, "power_sd": 0.03, "inlet_sd_c": 1.0, "r_th_sd": 0.09}


def run(seed: int, faults: list[dict[str, Any]], confounders: list[dict[str, Any]], *,
        model: str = "NVIDIA H100 80GB HBM3", scrape_s: float = 30.0) -> tuple[
            Simulation, FindingsFile]:
    doc = {"name": "fleet", "cluster": {"nodes": 16, "layout": "tor", "racks_per_cooling": 1,
                                        "gpu_model": model},
           "duration_min": 30, "scrape_interval_s": scrape_s,
           "telemetry": {"profiling": False, **HETERO},
           "jobs": [{"name": "a", "nodes": 7, "compute_s": 4.0},
                    {"name": "b", "nodes": 7, "compute_s": 11.0}],
           "faults": faults, "confounders": confounders}
    sim = Simulation(scenario_from_dict(doc, "<test>"), seed=seed)
    sim.run()
    return sim, replay(sim.topology, sim.frame(), sim.steps())


@pytest.mark.parametrize("seed", [11, 12])
def test_a_loop_that_always_runs_warmer_is_not_a_cooling_fault(seed: int) -> None:
    confs = [{"kind": "warm_loop"}, {"kind": "job_restarts", "count": 2, "at_min": [8, 22]},
             {"kind": "fleet_shift", "at_min": [10, 22]}]
    _, ff = run(seed, [], confs, model="NVIDIA A100-SXM4-80GB", scrape_s=15.0)
    assert [(f.kind, f.component) for f in ff.findings] == []


@pytest.mark.parametrize("seed", [21, 22])
def test_bad_interface_inside_a_failing_domain_is_told_apart(seed: int) -> None:
    faults = [{"kind": "cooling_fault", "onset_min": [5, 6],
               "magnitude": {"inlet_rise_c": [14, 18], "tau_min": [4, 5]}},
              {"kind": "gpu_overheating", "placement": "failing_cooling", "onset_min": [6, 9]}]
    sim, ff = run(seed, faults, [{"kind": "warm_loop"}])
    found = {(f.kind, f.component) for f in ff.findings}
    truth = {(t.kind, t.component) for t in sim.truth()}
    assert truth <= found, (seed, sorted(found))
    assert {k for k, _ in found} <= {"cooling_fault", "gpu_overheating"}, sorted(found)


def test_unknown_gpu_model_gets_a_notice_and_detection_still_runs() -> None:
    sim, ff = run(31, [{"kind": "gpu_degraded", "variant": "clock_cap", "onset_min": [5, 6]}],
                  [], model="Contoso Accelerator X1")
    assert any(n.kind == "unknown_gpu_model" for n in ff.notices)
    assert {(t.kind, t.component) for t in sim.truth()} <= {
        (f.kind, f.component) for f in ff.findings}
