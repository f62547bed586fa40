"""A hung job on a fleet without profiling fields: its rank named, its cooling GPUs no fault.

A hung job's peers spin in the collective at 100 % utilisation and a small
fraction of a computing GPU's power (:data:`brownout.sim.hangs.SPIN_POWER`).
Without ``DCGM_FI_PROF_*`` fields power is the only sign of a stuck kernel
(the one GPU still computing), and the spinning GPUs cool towards their idle
temperature, which a cooling domain's baselines must not read as a loop
changing. Each test simulates a small A100 cluster on a 15 s scrape, with
job restarts (so GPUs also learn idle baselines), and replays it.
"""

from __future__ import annotations

import numpy as np
import pytest

from brownout.detect.baselines import StateBaselines
from brownout.detect.engine import replay
from brownout.findings import FindingsFile
from brownout.sim import Simulation, scenario_from_dict

HETERO = {"temp_sd_c": 1.0, "power_sd": 0.03, "inlet_sd_c": 1.0, "r_th_sd": 0.09}


def run(seed: int, variant: str) -> tuple[Simulation, FindingsFile]:
    doc = {"name": "hang", "cluster": {"nodes": 16, "layout": "tor", "nodes_per_rack": 4,
                                       "racks_per_cooling": 1,
                                       "gpu_model": "NVIDIA A100-SXM4-40GB"},
           "duration_min": 30, "scrape_interval_s": 15.0,
           "telemetry": {"profiling": False, **HETERO},
           "jobs": [{"name": "a", "nodes": 7, "compute_s": 4.0},
                    {"name": "b", "nodes": 7, "compute_s": 11.0}],
           "faults": [{"kind": "rank_hang", "variant": variant, "onset_min": [8, 10]}],
           "confounders": [{"kind": "job_restarts", "count": 2, "at_min": [2, 6]}]}
    sim = Simulation(scenario_from_dict(doc, "<test>"), seed=seed)
    sim.run()
    return sim, replay(sim.topology, sim.frame(), sim.steps())


@pytest.mark.parametrize("seed", [2, 3])
def test_a_stuck_kernel_rank_is_named_without_profiling_fields(seed: int) -> None:
    sim, ff = run(seed, "stuck_kernel")
    (truth,) = sim.truth()
    hangs = [f for f in ff.findings if f.kind == "rank_hang"]
    assert [f.component for f in hangs] == [truth.component]
    assert "power" in hangs[0].summary


@pytest.mark.parametrize("seed", [1, 4])
def test_a_hung_jobs_spinning_gpus_raise_no_cooling_fault(seed: int) -> None:
    sim, ff = run(seed, "stuck_kernel")
    assert sorted((f.kind, f.component) for f in ff.findings) == sorted(
        (t.kind, t.component) for t in sim.truth())


def test_a_gpu_cooler_at_lower_power_is_where_its_own_slope_expects() -> None:
    """Learned idle (80 W, 40 degC) and busy (380 W, 70 degC): 0.1 degC/W. Spinning at
    130 W it is expected at 45 degC; at 50 degC it is 5 degC warmer than that."""
    n = 8
    base = StateBaselines(n)
    idle, busy = np.zeros(n, bool), np.ones(n, bool)
    still = np.zeros(n, bool)
    base.update(np.full(n, 40.0), idle, still, alpha=0.1, power=np.full(n, 80.0))
    base.update(np.full(n, 70.0), busy, still, alpha=0.1, power=np.full(n, 380.0))
    temp = np.array([45.0] * 7 + [50.0])
    dev = base.deviation(temp, idle, np.full(n, 130.0), fleet_c_per_w=0.06)
    assert np.allclose(dev, [0.0] * 7 + [5.0])
    # by state alone the spinning GPUs would read 5 degC warmer than their idle baseline
    assert np.allclose(base.deviation(temp, idle), [5.0] * 7 + [10.0])


def test_without_both_baselines_the_fleet_slope_moves_the_expectation() -> None:
    n = 8
    base = StateBaselines(n)
    base.update(np.full(n, 70.0), np.ones(n, bool), np.zeros(n, bool), alpha=0.1,
                power=np.full(n, 380.0))
    dev = base.deviation(np.full(n, 58.0), np.ones(n, bool), np.full(n, 180.0),
                         fleet_c_per_w=0.06)
    assert np.allclose(dev, 0.0)
