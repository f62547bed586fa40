"""Run a scenario end to end and collect (or write) what it produced."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from brownout.sim import output
from brownout.sim.engine import Simulation, TickCallback
from brownout.sim.result import SimResult
from brownout.sim.scenario import Scenario
from brownout.telemetry.steps import StepRecords
from brownout.topology.model import Topology

Progress = Callable[[str, float], None]


def run_scenario(scenario: Scenario, seed: int | None = None, out_dir: str | Path | None = None,
                 *, on_tick: TickCallback | None = None, progress: Progress | None = None,
                 topology: Topology | None = None, compress: bool = True) -> SimResult:
    """Simulate ``scenario``; write its outputs to ``out_dir`` when given.

    Args:
        seed: overrides the scenario's seed.
        on_tick: called after every tick with the :class:`Simulation` (fine mode),
            where a controller may read telemetry and drain nodes.
        progress: called with (phase, fraction done).
        topology: simulate this cluster instead of the scenario's.
        compress: gzip the metric files (``.om.gz``).
    """
    if scenario.mode == "coarse":
        from brownout.sim.coarse import run_coarse

        return run_coarse(scenario, seed, out_dir, progress)
    sim = Simulation(scenario, seed, topology)
    sim.run(on_tick, None if progress is None else lambda f: progress("simulate", f))
    result = SimResult(scenario, sim.seed, sim.topology, sim.truth(), sim.steps(),
                       {}, sim)
    result.summary.update(summarise(sim, result.steps))
    if out_dir is not None:
        write_fine(result, Path(out_dir), progress, compress=compress)
    return result


def write_fine(result: SimResult, out: Path, progress: Progress | None = None, *,
               compress: bool = True) -> None:
    """Write every output file of a fine-mode run."""
    sim = result.simulation
    assert sim is not None
    output.write_common(result.topology, result.truth, out)
    output.write_metrics(sim.recording, sim.topology, sim.labels, out / "metrics",
                         progress=None if progress is None else lambda f: progress("write", f),
                         compress=compress)
    output.write_steps(result.steps, sim.topology, out / "steps.jsonl")
    names = {"app_xids": [result.topology.gpu_name(g) for g in range(result.topology.n_gpus)],
             "exporter_restarts": [n.name for n in result.topology.nodes],
             "incast": [s.name for s in result.topology.switches],
             "power_cap": [result.topology.gpu_name(g) for g in range(result.topology.n_gpus)],
             "warm_loop": list(result.topology.cooling_domains)}
    names.update({k: [] for k in ("fleet_shift", "diurnal", "job_restarts", "nvlink_phase")})
    output.write_jsonl([ev.to_json(names) for ev in sim.events], out / "confounders.jsonl")
    output.write_json(result.summary, out / "summary.json")


def summarise(sim: Simulation, steps: StepRecords) -> dict[str, Any]:
    """Headline numbers of a fine run (used by the golden tests and the CLI)."""
    rec = sim.recording
    temp = rec.matrix("gpu", "DCGM_FI_DEV_GPU_TEMP") if len(rec) else np.zeros((0, 0))
    power = rec.matrix("gpu", "DCGM_FI_DEV_POWER_USAGE") if len(rec) else np.zeros((0, 0))
    util = rec.matrix("gpu", "DCGM_FI_DEV_GPU_UTIL") if len(rec) else np.zeros((0, 0))
    busy = util > 50
    idle = util < 5
    kinds = Counter(f.kind for f in sim.truth())
    return {
        "scenario": sim.scenario.name, "seed": sim.seed, "mode": "fine",
        "gpus": sim.topology.n_gpus, "nodes": sim.topology.n_nodes,
        "duration_s": sim.scenario.duration_s, "scrapes": len(rec),
        "step_records": len(steps),
        "steps_per_job": {j.spec.name: int((steps.job == j.index).sum() // max(1, len(j.gpus)))
                          for j in sim.jobs},
        "crashes": {j.spec.name: j.crashes for j in sim.jobs},
        "truth": dict(sorted(kinds.items())),
        "confounders": dict(sorted(Counter(e.kind for e in sim.events).items())),
        "busy_temp_c_median": _median(temp[busy]), "idle_temp_c_median": _median(temp[idle]),
        "busy_power_w_median": _median(power[busy]),
        "idle_power_w_median": _median(power[idle]),
        "step_s_median": _median(steps.step_s) if len(steps) else None,
    }


def _median(x: Any) -> float | None:
    x = np.asarray(x, dtype=np.float64)
    x = x[~np.isnan(x)]
    return round(float(np.median(x)), 3) if len(x) else None
