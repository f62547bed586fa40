"""Job model: lifecycle, pipeline stages, checkpoints, the slowest-rank rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from brownout.sim import Simulation, run_scenario
from brownout.telemetry.steps import read_steps

from .conftest import small


@pytest.mark.parametrize("seed", [1, 2])
def test_job_starts_and_completes_and_its_gpus_go_idle(seed: int) -> None:
    sc = small(duration_min=20, jobs=[{"name": "j", "nodes": 3, "start_min": 5,
                                       "run_min": 10}])
    sim = Simulation(sc, seed=seed)
    sim.run()
    s = sim.steps()
    t0 = sc.start_s
    assert s.ts.min() >= t0 + 300 and s.ts.max() <= t0 + 900
    util = sim.recording.matrix("gpu", "DCGM_FI_DEV_GPU_UTIL")
    t = np.array(sim.recording.t_s)
    gpus = np.isin(sim.topology.gpu_node, np.unique(s.node))
    assert util[t < t0 + 290][:, gpus].max() == 0
    assert util[(t > t0 + 400) & (t < t0 + 880)][:, gpus].min() > 50
    assert util[t > t0 + 920][:, gpus].max() == 0
    assert sim.jobs[0].status == "done"


@pytest.mark.parametrize("seed", [1, 2])
def test_pipeline_stages_are_recorded_and_the_last_computes_more(seed: int,
                                                                 tmp_path: Path) -> None:
    sc = small(duration_min=6, jobs=[{"name": "pp", "nodes": 4, "stages": 4,
                                      "stage_extra": 0.15}])
    res = run_scenario(sc, seed=seed, out_dir=tmp_path)
    steps = read_steps(tmp_path / "steps.jsonl", res.topology, strict=True)
    assert set(steps.stage.tolist()) == {0, 1, 2, 3}
    last = np.median(steps.compute_s[steps.stage == 3])
    rest = np.median(steps.compute_s[steps.stage < 3])
    assert last / rest == pytest.approx(1.15, rel=0.04)


@pytest.mark.parametrize("seed", [3, 4])
def test_checkpoint_stalls_hit_every_rank_alike(seed: int) -> None:
    sim = Simulation(small(duration_min=15), seed=seed)
    sim.run()
    s = sim.steps()
    every = sim.scenario.jobs[0].checkpoint_every_steps
    ck = s.step % every == 0
    assert ck.any()
    stall = np.median(s.compute_s[ck]) - np.median(s.compute_s[~ck])
    assert stall == pytest.approx(sim.scenario.jobs[0].checkpoint_stall_s, rel=0.1)
    assert np.median(s.comm_s[ck]) == pytest.approx(np.median(s.comm_s[~ck]), rel=0.3)


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_healthy_spread_is_five_to_eight_percent(seed: int) -> None:
    sim = Simulation(small(duration_min=15), seed=seed)
    sim.run()
    s = sim.steps()
    per_rank = np.array([np.median(s.compute_s[(s.rank == r) & (s.step % 40 != 0)])
                         for r in np.unique(s.rank)])
    spread = per_rank.max() / per_rank.min() - 1
    assert 0.04 <= spread <= 0.09
