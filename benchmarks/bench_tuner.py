"""Tuned checkpoint interval against a brute-force sweep, by Monte Carlo.

A job needs ``work`` seconds of compute. It saves a checkpoint every ``tau``
seconds of compute (stall ``C``); interruptions arrive as a Poisson process
with mean ``M``; each loses the work since the last checkpoint and costs a
restart ``R``. For each fixed ``tau`` of a sweep, the wall time is sampled
exactly (per segment: a geometric number of failed attempts, each a
truncated-exponential time plus the restart) over many replicas. The tuner's
interval (Young/Daly, from the Llama 3 prior on 2,048 nodes) is compared with
the best swept interval.

Run: ``python benchmarks/bench_tuner.py [--replicas N] [--seed S]``
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from brownout.clock import ManualClock
from brownout.recovery.priors import LLAMA3
from brownout.recovery.rates import FailureRateModel
from brownout.recovery.tuner import CheckpointTuner, TunerConfig, expected_overhead


def simulate_overhead(tau: float, c: float, m: float, r: float, work: float,
                      rng: np.random.Generator, replicas: int) -> float:
    """Mean (wall / work - 1) over replicas for a fixed interval ``tau``."""
    n_seg = math.ceil(work / tau)
    seg = tau + c
    p_ok = math.exp(-seg / m)
    fails = rng.geometric(p_ok, size=(replicas, n_seg)) - 1
    k = int(fails.sum())
    u = rng.random(k)
    lost = -m * np.log1p(-u * (1 - p_ok))  # time to failure, conditioned on < seg
    per_rep = np.bincount(np.repeat(np.repeat(np.arange(replicas), n_seg), fails.ravel()),
                          weights=lost + r, minlength=replicas)
    wall = n_seg * seg + per_rep
    return float(np.mean(wall / work - 1.0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--replicas", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save-cost", type=float, default=60.0)
    ap.add_argument("--restart", type=float, default=600.0)
    ap.add_argument("--nodes", type=int, default=2048)
    ap.add_argument("--days", type=float, default=54.0)
    args = ap.parse_args()
    clock = ManualClock(0.0)
    nodes = [f"n{i:05d}" for i in range(args.nodes)]
    tuner = CheckpointTuner(FailureRateModel(LLAMA3, clock), clock, nodes,
                            TunerConfig(default_save_cost_s=args.save_cost))
    c, m, r = args.save_cost, tuner.mtbi_s(), args.restart
    work = args.days * 86400.0
    rng = np.random.default_rng(args.seed)
    tau_tuned = tuner.interval_s()
    sweep = np.unique(np.round(np.geomspace(tau_tuned / 4, tau_tuned * 4, 41)))
    sim = {float(t): simulate_overhead(float(t), c, m, r, work, rng, args.replicas)
           for t in sweep}
    tuned_sim = simulate_overhead(tau_tuned, c, m, r, work, rng, args.replicas)
    best_tau = min(sim, key=lambda t: sim[t])
    exact = {float(t): expected_overhead(float(t), c, m, r) for t in sweep}
    best_exact = min(exact.values())
    print(f"C={c:.0f} s  M={m:.0f} s ({m / 3600:.2f} h, {args.nodes} nodes, Llama 3 prior)"
          f"  R={r:.0f} s  work={args.days:.0f} d  replicas={args.replicas}")
    print(f"tuned tau = {tau_tuned:.0f} s   best swept tau (simulated) = {best_tau:.0f} s")
    print(f"overhead simulated: tuned {tuned_sim:.4%}  best fixed {sim[best_tau]:.4%}"
          f"  gap {tuned_sim / sim[best_tau] - 1:+.2%}")
    print(f"overhead exact (Daly): tuned {expected_overhead(tau_tuned, c, m, r):.4%}"
          f"  best fixed {best_exact:.4%}"
          f"  gap {expected_overhead(tau_tuned, c, m, r) / best_exact - 1:+.2%}")
    print(f"30-min fixed interval (the baseline policy): simulated "
          f"{simulate_overhead(1800.0, c, m, r, work, rng, args.replicas):.4%}")


if __name__ == "__main__":
    main()
