"""Simulator vs published figures: prints the table of docs/calibration.md.

Published numbers are constants below, derived once from the sources named
beside them (the project never reads ../shared at run time):

- Llama 3 405B: Llama Team, "The Llama 3 Herd of Models" (2024), Table 5.
- AcmeTrace (InternLM, CC-BY-4.0): quantiles of the Seren cluster's GPU
  temperature and power CDFs (A100 80 GB, 400 W TDP).
- StepFun InfiniteHBD trace (Apache-2.0): 584 fault start/end pairs on 400
  servers over 345 days.
- nccl-tests bus bandwidth: 8x H100 SXM NVLink 460-480 GB/s; one 400 Gb/s NIC
  46-48 GB/s (of 50 GB/s line rate).

Run: python benchmarks/calibrate_sim.py [--seeds 20]
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from brownout.sim import Simulation, load_scenario, run_scenario, scenario_from_dict
from brownout.sim.fabric import allreduce_s, bus_bandwidth_gbps
from brownout.sim.failure_tables import LLAMA3

ACME_TEMP_C = {"p10": 28.0, "p25": 31.0, "p50": 39.0, "p75": 53.0, "p90": 61.0, "p99": 69.0}
ACME_POWER_W = {"p10": 63.0, "p25": 66.2, "p50": 96.5, "p75": 291.1, "p90": 395.3,
                "p99": 438.7}
STEPFUN = {"per_node_year": 1.54, "interarrival_cv": 1.76, "repair_median_h": 20.4,
           "repair_p90_h": 311.3, "simultaneous_frac": 0.13}


def llama(seeds: int) -> None:
    sc = load_scenario("llama3-54d")
    counts, mtbi, ettr, cats, cvs, per_node_year, repairs = [], [], [], Counter(), [], [], []
    for seed in range(seeds):
        r = run_scenario(sc, seed=seed)
        s = r.summary
        counts.append(s["interruptions"])
        mtbi.append(s["mtbi_h"])
        ettr.append(s["ettr"])
        cats.update(s["by_category"])
        t = np.array([i["t"] for i in r.extra["interruptions"]])
        ia = np.diff(t)
        cvs.append(ia.std() / ia.mean())
        per_node_year.append(len(t) / s["nodes"] / (sc.duration_s / (365 * 86400)))
        repairs.extend(np.array(r.extra["repair_s"]) / 3600)
    pub_cats = Counter()
    for c in LLAMA3:
        pub_cats[c.category] += c.count
    print(f"| llama3-54d interruptions | {np.mean(counts):.0f} +- {np.std(counts):.0f} "
          f"({seeds} seeds) | 419 |")
    print(f"| llama3-54d MTBI | {np.mean(mtbi):.2f} h | ~3 h (54 d / 419 = 3.09 h) |")
    print(f"| llama3-54d effective training time | {np.mean(ettr):.1%} | >90% |")
    total = sum(cats.values())
    for cat, n in pub_cats.most_common():
        print(f"| share: {cat} | {cats[cat] / total:.1%} | {n / 419:.1%} |")
    rep = np.array(repairs)
    print(f"| fault rate per node-year | {np.mean(per_node_year):.2f} | "
          f"{STEPFUN['per_node_year']:.2f} (StepFun, all fault classes) |")
    print(f"| inter-arrival CV (cluster) | {np.mean(cvs):.2f} | {STEPFUN['interarrival_cv']:.2f}"
          f" (StepFun; {STEPFUN['simultaneous_frac']:.0%} simultaneous) |")
    print(f"| repair time median / p90 | {np.median(rep):.1f} h / {np.percentile(rep, 90):.0f} h"
          f" | {STEPFUN['repair_median_h']:.1f} h / {STEPFUN['repair_p90_h']:.0f} h (StepFun) |")


def fabric() -> None:
    one = bus_bandwidth_gbps(1, 8)
    multi = bus_bandwidth_gbps(16, 8)
    size = 8.0
    t = allreduce_s(size, 16, 8)
    n = 128
    busbw = size * 2 * (n - 1) / n / t
    print(f"| all-reduce busbw, 8 GPUs (NVLink) | {one:.0f} GB/s | 460-480 GB/s |")
    print(f"| all-reduce busbw, 16 nodes x 8 x 400G | {multi:.0f} GB/s ({multi / 8:.0f} per NIC);"
          f" 8 GB message {busbw:.0f} GB/s | 46-48 GB/s per NIC (368-384) |")


def thermal() -> None:
    sc = scenario_from_dict({
        "name": "calib", "seed": 3, "duration_min": 60, "cluster": {"nodes": 32},
        "jobs": [{"name": "j", "nodes": 24}], "confounders": [{"kind": "power_cap"}]}, "<calib>")
    sim = Simulation(sc)
    sim.run()
    rec = sim.recording
    temp = rec.matrix("gpu", "DCGM_FI_DEV_GPU_TEMP")
    power = rec.matrix("gpu", "DCGM_FI_DEV_POWER_USAGE")
    util = rec.matrix("gpu", "DCGM_FI_DEV_GPU_UTIL")
    busy, idle = util > 50, util < 5

    def q(x: np.ndarray, p: float) -> float:
        return float(np.percentile(x, p))

    print(f"| idle GPU temperature p50 | {q(temp[idle], 50):.0f} C | "
          f"{ACME_TEMP_C['p10']:.0f}-{ACME_TEMP_C['p25']:.0f} C (AcmeTrace lower mode) |")
    print(f"| busy GPU temperature p10/p50/p90 | {q(temp[busy], 10):.0f}/{q(temp[busy], 50):.0f}/"
          f"{q(temp[busy], 90):.0f} C | {ACME_TEMP_C['p75']:.0f}/{ACME_TEMP_C['p90']:.0f}/"
          f"{ACME_TEMP_C['p99']:.0f} C (AcmeTrace p75/p90/p99) |")
    tdp = sim.model.power_cap_w
    idle_w = q(power[idle], 50)
    print(f"| idle power (share of TDP) | {idle_w:.0f} W ({idle_w / tdp:.0%})"
          f" | {ACME_POWER_W['p10']:.0f}-{ACME_POWER_W['p25']:.0f} W of 400 W (16%) |")
    print(f"| busy power p50/p90 (share of TDP) | {q(power[busy], 50):.0f}/{q(power[busy], 90):.0f}"
          f" W ({q(power[busy], 50) / tdp:.0%}/{q(power[busy], 90) / tdp:.0%}) | "
          f"{ACME_POWER_W['p90']:.0f}/{ACME_POWER_W['p99']:.0f} W of 400 W (99%/110%) |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    args = ap.parse_args()
    print("| quantity | simulator | published |")
    print("| --- | --- | --- |")
    llama(args.seeds)
    fabric()
    thermal()


if __name__ == "__main__":
    main()
