"""Simulator throughput: fine mode with every file written, and coarse llama3-54d.

Fine: 512 GPUs (64 nodes, two jobs, one fault of every kind plus confounders)
for 2 simulated hours at a 30 s scrape interval, writing topology, gzip
OpenMetrics per node and fabric, steps and truth (target: under 60 s).
Coarse: the built-in ``llama3-54d`` (16,384 GPUs x 54 days) with its outputs
written (target: under 120 s). Prints wall seconds, the split between
simulating and writing, and simulated GPU-seconds per wall-second.

Run: python benchmarks/bench_sim.py [--nodes 64] [--hours 2] [--plain]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from brownout.sim import load_scenario, run_scenario, scenario_from_dict
from brownout.sim.engine import Simulation
from brownout.sim.run import write_fine

KINDS = ["gpu_failed", "gpu_degraded", "gpu_overheating", "cooling_fault", "nic_degraded",
         "switch_congestion", "host_straggler", "telemetry_loss"]


def fine_scenario(nodes: int, hours: float) -> dict[str, object]:
    minutes = hours * 60
    return {
        "name": "bench-fine", "seed": 1, "duration_min": minutes,
        "cluster": {"nodes": nodes, "layout": "tor"},
        "jobs": [{"name": "big", "nodes": nodes * 5 // 8, "compute_s": 8.0},
                 {"name": "small", "nodes": nodes // 4, "compute_s": 6.0}],
        "faults": [{"kind": k, "onset_min": [5, minutes - 10], "duration_min": [10, 60]}
                   for k in KINDS],
        "confounders": [{"kind": k, "at_min": [1, minutes - 1]} for k in
                        ("diurnal", "power_cap", "app_xids", "exporter_restarts", "incast",
                         "fleet_shift", "job_restarts")],
    }


def bench_fine(nodes: int, hours: float, compress: bool) -> None:
    sc = scenario_from_dict(fine_scenario(nodes, hours), "<bench>")
    t0 = time.perf_counter()
    sim = Simulation(sc)
    sim.run()
    t1 = time.perf_counter()
    res = run_result(sim)
    with tempfile.TemporaryDirectory() as tmp:
        write_fine(res, Path(tmp), compress=compress)
        size = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
    t2 = time.perf_counter()
    gpu_s = sim.topology.n_gpus * sc.duration_s
    print(f"fine   {sim.topology.n_gpus} GPUs x {hours:g} h, {len(sim.recording)} scrapes, "
          f"{len(res.steps):,} step records, {size / 1e6:.0f} MB written")
    print(f"       wall {t2 - t0:.1f} s (simulate {t1 - t0:.1f} s, write {t2 - t1:.1f} s); "
          f"{gpu_s / (t2 - t0):,.0f} simulated GPU-s per wall-s")


def run_result(sim: Simulation) -> object:
    from brownout.sim.result import SimResult
    from brownout.sim.run import summarise

    steps = sim.steps()
    return SimResult(sim.scenario, sim.seed, sim.topology, sim.truth(), steps,
                     summarise(sim, steps), sim)


def bench_coarse() -> None:
    sc = load_scenario("llama3-54d")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = run_scenario(sc, out_dir=tmp)
        wall = time.perf_counter() - t0
    s = res.summary
    gpu_s = s["gpus"] * sc.duration_s
    print(f"coarse llama3-54d: {s['gpus']} GPUs x {sc.duration_s / 86400:g} d, "
          f"{s['interruptions']} interruptions, MTBI {s['mtbi_h']:.2f} h, ETTR {s['ettr']:.3f}")
    print(f"       wall {wall:.1f} s; {gpu_s / wall:,.0f} simulated GPU-s per wall-s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=64)
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--plain", action="store_true", help="write .om text instead of gzip")
    args = ap.parse_args()
    bench_fine(args.nodes, args.hours, not args.plain)
    bench_coarse()


if __name__ == "__main__":
    main()
