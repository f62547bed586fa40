"""Closed-loop goodput evaluation: the numbers of docs/goodput.md section 4.

    python benchmarks/eval_goodput.py [--seeds 1,2,3,4,5] [--fine] [--measure-detection]

Prints, for ``llama3-54d`` and ``fail-slow-heavy`` (coarse mode), ETTR,
goodput, availability, interruptions and hours lost by cause per policy
(mean over the seeds), the share of the baseline-to-oracle ETTR gap brownout
closes, the same with fail-stops only; then the tuned checkpoint interval
against a brute-force sweep of fixed intervals, and thermal-throttle
GPU-minutes of aware placement against first fit on a 1,024-GPU cluster with
one hot cooling domain; ``--fine`` adds fine-mode scenarios run through the
real engine and policy. ``--measure-detection`` re-measures the fine-mode
isolation delays that coarse mode uses (prints YAML for
``src/brownout/loop/scenarios/detection.yaml``).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from brownout.loop.coarse_eval import CAUSES, POLICIES, REMEDIES, run_policy
from brownout.loop.costs import find_eval_scenario
from brownout.loop.detection_quality import (
    BINS,
    FACTOR_BINS,
    FOUND,
    MEASURED,
    measure_finding,
    measure_kind,
)
from brownout.loop.placement_eval import throttle_minutes
from brownout.loop.tuner_sweep import sweep


def _table(name: str, seeds: list[int], fail_slow: bool = True) -> None:
    es = find_eval_scenario(name)
    assert es is not None
    runs = {p: [run_policy(es, p, s, fail_slow=fail_slow) for s in seeds] for p in POLICIES}
    label = name if fail_slow else f"{name} (fail-stops only)"
    print(f"\n## {label}: mean over seeds {seeds}")
    print("| policy | ETTR (min-max) | goodput GPU-h | availability | interruptions | "
          + " | ".join(f"{c} h" for c in CAUSES) + " |")
    print("|" + " --- |" * (5 + len(CAUSES)))
    for p, rs in runs.items():
        e = [r.ettr for r in rs]
        lost = {c: np.mean([r.lost_s[c] for r in rs]) / 3600 for c in CAUSES}
        print(f"| {p} | {np.mean(e):.4f} ({min(e):.4f}-{max(e):.4f}) | "
              f"{np.mean([r.goodput_gpu_h for r in rs]):,.0f} | "
              f"{np.mean([r.availability for r in rs]):.4f} | "
              f"{np.mean([r.interruptions for r in rs]):.0f} | "
              + " | ".join(f"{lost[c]:.1f}" for c in CAUSES) + " |")
    gaps = []
    for b, w, o in zip(runs["baseline"], runs["brownout"], runs["oracle"], strict=True):
        gaps.append((w.ettr - b.ettr) / (o.ettr - b.ettr))
    d = runs["brownout"]
    lead = np.mean([w.ettr - b.ettr for w, b in zip(d, runs["baseline"], strict=True)])
    print(f"gap closed per seed: {', '.join(f'{100 * g:.1f}%' for g in gaps)}; "
          f"brownout - baseline: {100 * lead:.1f} points; "
          f"brownout isolations {np.mean([r.isolations for r in d]):.0f}, reroutes "
          f"{np.mean([r.reroutes for r in d]):.1f} (oracle "
          f"{np.mean([r.reroutes for r in runs['oracle']]):.1f}), cold restarts "
          f"{np.mean([r.cold_restarts for r in d]):.1f}, mean interval "
          f"{np.mean([r.mean_interval_s for r in d]):.0f} s, detection-delay loss "
          f"{np.mean([r.detection_delay_s for r in d]) / 3600:.1f} h")


def _ablation(name: str, seeds: list[int]) -> None:
    """ETTR of brownout and the oracle with each remedy of REMEDIES turned off alone."""
    es = find_eval_scenario(name)
    assert es is not None
    print(f"\n## {name}: remedies (mean ETTR over seeds {seeds})")
    print("| remedies | brownout | oracle | brownout restarts | brownout congestion h |")
    print("| --- | --- | --- | --- | --- |")
    variants = [("all", REMEDIES), ("none", frozenset[str]())]
    variants += [(f"all but {r}", REMEDIES - {r}) for r in sorted(REMEDIES)]
    for label, rem in variants:
        b = [run_policy(es, "brownout", s, remedies=rem) for s in seeds]
        o = [run_policy(es, "oracle", s, remedies=rem) for s in seeds]
        print(f"| {label} | {np.mean([r.ettr for r in b]):.4f} | "
              f"{np.mean([r.ettr for r in o]):.4f} | "
              f"{np.mean([r.interruptions for r in b]):.0f} | "
              f"{np.mean([r.lost_s['congestion'] for r in b]) / 3600:.1f} |")


def _sweep(seeds: list[int]) -> None:
    es = find_eval_scenario("llama3-54d")
    assert es is not None
    for sync in (True, False):
        r = sweep(es, seeds, sync=sync)
        kind = "sync 60 s checkpoints" if sync else "async 5 s snapshots"
        print(f"\n## tuner vs sweep (llama3-54d fail-stops, {kind}, seeds {seeds})")
        print(json.dumps(r.to_json()))


def _placement(seeds: list[int]) -> None:
    print(f"\n## placement: 1,024 GPUs, one hot cooling domain, 40 min, seeds {seeds}")
    print("| placer | throttle GPU-min (sum) | per seed | job nodes in hot domain |")
    print("| --- | --- | --- | --- |")
    for p in ("brownout", "first_fit"):
        rs = [throttle_minutes(s, p) for s in seeds]
        print(f"| {p} | {sum(r.throttle_gpu_min for r in rs):.0f} | "
              f"{', '.join(f'{r.throttle_gpu_min:.0f}' for r in rs)} | "
              f"{sum(r.hot_nodes for r in rs)} |")


def _fine(seeds: list[int]) -> None:
    from brownout.loop.evaluate import evaluate

    print(f"\n## fine mode (real detection engine and policy), mean ETTR over seeds {seeds}")
    print("| scenario | baseline | brownout | oracle | brownout actions (drains) |")
    print("| --- | --- | --- | --- | --- |")
    for name in ("gpu_degraded", "host_straggler", "rail-mixed", "healthy-noisy"):
        res = {p: [evaluate(name, p, s) for s in seeds] for p in POLICIES}
        drains = sum(1 for r in res["brownout"] for a in r.extra["actions"]
                     if a["action"] == "drain_node")
        print(f"| {name} | " + " | ".join(f"{np.mean([r.ettr for r in res[p]]):.4f}"
                                          for p in POLICIES) + f" | {drains} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--measure-detection", action="store_true")
    ap.add_argument("--fine", action="store_true", help="also the fine-mode table (slow)")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    t0 = time.perf_counter()
    if args.measure_detection:
        print("kinds:")
        for kind in MEASURED:
            print(f"  {kind}:")
            for b in BINS:
                q = measure_kind(kind, range(7001, 7013), b).to_json()
                print(f"    - slowdown: {list(b)}\n      runs: {q['runs']}\n"
                      f"      false_drains: {q['false_drains']}\n      delays_s: {q['delays_s']}")
        for kind in FOUND:
            print(f"  {kind}:")
            for b, fb in zip(BINS, FACTOR_BINS, strict=True):
                q = measure_finding(kind, range(7001, 7013), fb).to_json()
                print(f"    - slowdown: {list(b)}  # leaf bandwidth factor {list(fb)}\n"
                      f"      runs: {q['runs']}\n      false_drains: {q['false_drains']}\n"
                      f"      delays_s: {q['delays_s']}")
        return
    _table("llama3-54d", seeds)
    _table("llama3-54d", seeds, fail_slow=False)
    _table("fail-slow-heavy", seeds)
    _ablation("llama3-54d", seeds)
    _ablation("fail-slow-heavy", seeds)
    _sweep(seeds[:4] if len(seeds) >= 4 else seeds)
    _placement(list(range(101, 117)))
    if args.fine:
        _fine(seeds[:3])
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
