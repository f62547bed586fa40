"""Detection quality on GB200 NVL72 fleets, freshly drawn (the issue-15 quality bar).

    python benchmarks/eval_nvlink.py                 # 16 NVL72 scenarios, fresh seeds
    python benchmarks/eval_nvlink.py --master 1234   # reproduce a printed run
    python benchmarks/eval_nvlink.py -n 4            # quicker

Every run draws a master seed (printed) from which each scenario follows:
2-6 NVLink domains of 18 four-GPU trays, jobs that fill part of them (some
spanning domains, some domains idle), 1-3 ``nvlink_degraded`` GPUs, one or two
``nvswitch_fault`` domains, every other fault kind once (to measure them on
this fleet too), every confounder including ``nvlink_phase`` (a job's NVLink
traffic dropping between phases). One scenario is healthy but noisy and must
yield no findings. Each goes through ``brownout simulate`` -> ``brownout
detect`` -> ``brownout score``, as eval_detect.py does.

Target: precision and recall >= 0.97 for ``nvlink_degraded`` and
``nvswitch_fault``. The peer figures printed beside them are the other kinds
measured in the same run; the general suite (``eval_detect.py``) measures them
on non-NVLink fleets.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from eval_detect import CONFOUNDERS, RACK_SCALE, aggregate, print_table, run_one
from rich.console import Console

from brownout.findings import KINDS

TRAYS = 18


def draw_jobs(rng: np.random.Generator, domains: int) -> list[dict[str, Any]]:
    """Jobs over 70-90 % of the trays; the largest may span domains, a domain may idle."""
    busy = int(domains * TRAYS * rng.uniform(0.7, 0.9))
    jobs, left, j = [], busy, 0
    while left >= 4:
        size = int(min(left, rng.choice([9, 16, 18, 27, 36])))
        jobs.append({"name": f"job{j}", "nodes": size,
                     "compute_s": round(float(rng.uniform(5, 10)), 1),
                     "allreduce_gb": round(float(rng.uniform(60, 140))),
                     "checkpoint_every_steps": int(rng.integers(100, 250))})
        left, j = left - size, j + 1
    return jobs


def draw_scenario(rng: np.random.Generator, i: int, healthy: bool) -> dict[str, Any]:
    domains = int(rng.integers(2, 7))
    nvl = [{"kind": "nvlink_degraded", "count": int(rng.integers(1, 4)), "onset_min": [6, 50]},
           {"kind": "nvswitch_fault", "count": 1 + int(domains >= 4 and rng.random() < 0.4),
            "onset_min": [6, 50]} | ({"duration_min": [15, 40]} if rng.random() < 0.4 else {})]
    others = [{"kind": k, "onset_min": [6, 50]}
              | ({"duration_min": [15, 40]} if rng.random() < 0.4 else {})
              for k in KINDS if k not in RACK_SCALE]
    confs = [{"kind": c, "count": 2 if c in ("app_xids", "incast", "exporter_restarts",
                                             "nvlink_phase") else 1, "at_min": [5, 70]}
             for c in (*CONFOUNDERS, "nvlink_phase")]
    return {"name": f"nvl{i:02d}{'-healthy' if healthy else ''}",
            "description": "drawn by benchmarks/eval_nvlink.py",
            "cluster": {"nodes": domains * TRAYS, "layout": "nvl72"},
            "duration_min": 75, "scrape_interval_s": 30, "jobs": draw_jobs(rng, domains),
            "faults": [] if healthy else nvl + others, "confounders": confs}


def check(rows: dict[str, dict[str, Any]], healthy_findings: int) -> list[str]:
    bad = [f"{k} {m} {rows[k][m]:.3f} < 0.97" for k in RACK_SCALE
           for m in ("precision", "recall") if rows[k][m] < 0.97]
    if healthy_findings:
        bad.append(f"healthy NVL72 scenario yielded {healthy_findings} findings")
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--scenarios", type=int, default=16)
    ap.add_argument("--master", type=int, default=None, help="master seed (default: fresh)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--keep", type=Path, default=None, help="keep every scenario's files here")
    args = ap.parse_args()
    master = args.master if args.master is not None else secrets.randbits(32)
    console = Console(width=150)
    console.print(f"master seed {master}  (rerun: --master {master})")
    rng = np.random.default_rng(master)
    results = []
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="brownout-nvl-") as tmp:
        for i in range(args.scenarios):
            doc = draw_scenario(rng, i, healthy=i == 0)
            seed = int(rng.integers(1, 2**31 - 1))
            r = run_one(doc, seed, args.keep or Path(tmp))
            r["gpus"] = doc["cluster"]["nodes"] * 4
            results.append(r)
            console.print(f"  {r['name']} seed {seed}: {r['gpus']} GPUs, "
                          f"{len(doc['jobs'])} jobs, detect {r['detect_s']:.1f} s"
                          + (f"; missed {r['missed']} false {r['false']}"
                             if r["missed"] or r["false"] else ""))
    rows = aggregate(results)
    print_table(console, rows)
    other = [k for k in KINDS if k not in RACK_SCALE]
    peer = aggregate([{**r, "per": {**r["per"], **dict.fromkeys(RACK_SCALE, (0, 0, 0))}}
                      for r in results])["overall"]
    console.print(f"other kinds on the same fleets ({len(other)} kinds): precision "
                  f"{peer['precision']:.3f}, recall {peer['recall']:.3f}")
    healthy = sum(r["findings"] for r in results if r["name"].endswith("healthy"))
    bad = check(rows, healthy)
    console.print("targets met" if not bad else "targets NOT met: " + "; ".join(bad))
    if args.json:
        args.json.write_text(json.dumps({"master": master, "rows": rows, "results": results},
                                        indent=1, default=str))
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
