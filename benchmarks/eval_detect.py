"""Detection quality on a suite of freshly drawn simulated scenarios.

    python benchmarks/eval_detect.py                 # 24 scenarios, fresh seeds
    python benchmarks/eval_detect.py --master 1234   # reproduce a printed run
    python benchmarks/eval_detect.py -n 6 --max-nodes 32   # quicker

Every run draws a master seed (printed) from which each scenario's size
(64-1,024 GPUs), fabric layout, jobs, fault mix and simulator seed follow.
Every fault kind appears several times, every confounder in every scenario,
and one scenario is healthy but noisy (confounders only: it must yield zero
findings). Each scenario goes end to end through the real commands:
``brownout simulate`` -> ``brownout detect`` -> ``brownout score``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from brownout.cli.main import main as brownout
from brownout.findings import KINDS, read_findings, read_truth
from brownout.scoring import score

CONFOUNDERS = ("fleet_shift", "app_xids", "exporter_restarts", "power_cap", "diurnal",
               "job_restarts", "incast")
FAIL_STOP = ("gpu_failed",)
#: kinds that need rack-scale NVLink domains: benchmarks/eval_nvlink.py measures them
RACK_SCALE = ("nvlink_degraded", "nvswitch_fault")


def draw_scenario(rng: np.random.Generator, i: int, max_nodes: int, healthy: bool
                  ) -> dict[str, Any]:
    """One scenario document: size, layout, jobs, faults and every confounder."""
    sizes = [s for s in (8, 16, 32, 64, 128) if s <= max_nodes] or [8]
    nodes = int(rng.choice(sizes))
    layout = str(rng.choice(["tor", "rail"]))
    busy = max(2, int(nodes * rng.uniform(0.75, 0.95)))
    n_jobs = 1 if busy < 8 else int(rng.integers(1, 4))
    cuts = np.sort(rng.choice(np.arange(1, busy), size=n_jobs - 1, replace=False)) if (
        n_jobs > 1) else np.array([], dtype=int)
    parts = np.diff(np.concatenate([[0], cuts, [busy]]))
    jobs = [{"name": f"job{j}", "nodes": int(p), "compute_s": round(float(rng.uniform(5, 10)), 1),
             "allreduce_gb": round(float(rng.uniform(60, 140))),
             "checkpoint_every_steps": int(rng.integers(100, 250))}
            for j, p in enumerate(parts) if p > 0]
    faults = [] if healthy else [
        {"kind": k, "count": int(rng.integers(1, 3)) if nodes >= 32 else 1,
         "onset_min": [6, 50]} | ({"duration_min": [15, 40]} if rng.random() < 0.4 else {})
        for k in KINDS if k not in RACK_SCALE]
    confs = [{"kind": c, "count": 2 if c in ("app_xids", "incast", "exporter_restarts") else 1,
              "at_min": [5, 70]} for c in CONFOUNDERS]
    return {"name": f"eval{i:02d}{'-healthy' if healthy else ''}",
            "description": "drawn by benchmarks/eval_detect.py",
            "cluster": {"nodes": nodes, "layout": layout, "nodes_per_rack": 4,
                        "racks_per_cooling": 2},
            "duration_min": 75, "scrape_interval_s": 30, "jobs": jobs, "faults": faults,
            "confounders": confs}


def run_one(doc: dict[str, Any], seed: int, work: Path) -> dict[str, Any]:
    """Simulate, detect and score one scenario; return what the table needs."""
    sc = work / f"{doc['name']}.yaml"
    sc.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = work / doc["name"]
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        t0 = time.perf_counter()
        rc = brownout(["simulate", "--scenario", str(sc), "--out", str(out), "--seed",
                       str(seed), "--quiet"])
        t1 = time.perf_counter()
        rc2 = brownout(["detect", "--topology", str(out / "topology.yaml"), "--metrics",
                        str(out / "metrics"), "--steps", str(out / "steps.jsonl"), "--out",
                        str(out / "findings.json"), "-q"])
        t2 = time.perf_counter()
    if rc or rc2:
        raise RuntimeError(f"{doc['name']} seed {seed}: simulate rc={rc} detect rc={rc2}")
    ff = read_findings(out / "findings.json")
    truth = read_truth(out / "truth.jsonl")
    report = score(ff.findings, truth)
    ttd: dict[str, list[float]] = {}
    for m in report.matches:
        ttd.setdefault(truth[m.truth_index].kind, []).append(m.ttd_s)
    per = {k: (s.truth, s.matched, s.false) for k, s in report.per_kind.items()}
    missed = [f"{truth[i].kind}:{truth[i].component}" for i in report.missed_truth]
    false = [f"{ff.findings[i].kind}:{ff.findings[i].component}" for i in report.false_findings]
    return {"name": doc["name"], "seed": seed, "gpus": doc["cluster"]["nodes"] * 8,
            "layout": doc["cluster"]["layout"], "per": per, "ttd": ttd, "missed": missed,
            "false": false, "findings": len(ff.findings), "sim_s": t1 - t0,
            "detect_s": t2 - t1}


def aggregate(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per kind and overall: counts summed over scenarios, TTDs pooled."""
    rows: dict[str, dict[str, Any]] = {}
    for k in [*KINDS, "overall"]:
        kinds = list(KINDS) if k == "overall" else [k]
        truth = sum(r["per"][x][0] for r in results for x in kinds)
        matched = sum(r["per"][x][1] for r in results for x in kinds)
        false = sum(r["per"][x][2] for r in results for x in kinds)
        ttd = np.array([v for r in results for x in kinds for v in r["ttd"].get(x, [])])
        rows[k] = {"truth": truth, "matched": matched, "false": false,
                   "precision": matched / (matched + false) if matched + false else 1.0,
                   "recall": matched / truth if truth else 1.0,
                   "ttd_median_s": float(np.median(ttd)) if ttd.size else None,
                   "ttd_p90_s": float(np.percentile(ttd, 90)) if ttd.size else None}
    return rows


def print_table(console: Console, rows: dict[str, dict[str, Any]]) -> None:
    table = Table(title="detection quality (brownout score, pooled over scenarios)")
    for col in ("kind", "truth", "matched", "false", "precision", "recall", "TTD median",
                "TTD p90"):
        table.add_column(col, justify="left" if col == "kind" else "right")
    for k, r in rows.items():
        def s(v: float | None) -> str:
            return "-" if v is None else f"{v:.0f} s"
        table.add_row(k, str(r["truth"]), str(r["matched"]), str(r["false"]),
                      f"{r['precision']:.3f}", f"{r['recall']:.3f}", s(r["ttd_median_s"]),
                      s(r["ttd_p90_s"]))
    console.print(table)


def check_targets(rows: dict[str, dict[str, Any]], healthy_findings: int) -> list[str]:
    """The issue's quality bar; returns what is not met."""
    bad = []
    o = rows["overall"]
    if o["precision"] < 0.97:
        bad.append(f"overall precision {o['precision']:.3f} < 0.97")
    if o["recall"] < 0.95:
        bad.append(f"overall recall {o['recall']:.3f} < 0.95")
    for k in KINDS:
        r = rows[k]
        if r["truth"] and r["recall"] < 0.9:
            bad.append(f"{k} recall {r['recall']:.3f} < 0.9")
        limit = 60.0 if k in FAIL_STOP else 300.0
        if r["ttd_median_s"] is not None and r["ttd_median_s"] > limit:
            bad.append(f"{k} median TTD {r['ttd_median_s']:.0f} s > {limit:.0f} s")
        if r["ttd_p90_s"] is not None and r["ttd_p90_s"] > 600:
            bad.append(f"{k} p90 TTD {r['ttd_p90_s']:.0f} s > 600 s")
    if healthy_findings:
        bad.append(f"healthy-noisy scenario yielded {healthy_findings} findings")
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--scenarios", type=int, default=24)
    ap.add_argument("--master", type=int, default=None, help="master seed (default: fresh)")
    ap.add_argument("--max-nodes", type=int, default=128, help="largest cluster, in nodes")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--keep", type=Path, default=None, help="keep every scenario's files here")
    ap.add_argument("--only", nargs="*", default=None, help="run only these scenario names")
    args = ap.parse_args()
    master = args.master if args.master is not None else secrets.randbits(32)
    console = Console(width=150)
    console.print(f"master seed {master}  (rerun: --master {master})")
    rng = np.random.default_rng(master)
    results = []
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="brownout-eval-") as tmp_dir, Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("scenarios", total=args.scenarios)
        for i in range(args.scenarios):
            doc = draw_scenario(rng, i, args.max_nodes, healthy=i == 0)
            seed = int(rng.integers(1, 2**31 - 1))
            if args.only is not None and doc["name"] not in args.only:
                bar.advance(task)
                continue
            bar.update(task, description=f"{doc['name']} ({doc['cluster']['nodes'] * 8} GPUs, "
                       f"{doc['cluster']['layout']}, seed {seed})")
            r = run_one(doc, seed, args.keep or Path(tmp_dir))
            results.append(r)
            if r["missed"] or r["false"]:
                bar.console.print(f"  {r['name']} seed {r['seed']} {r['gpus']} GPUs "
                                  f"{r['layout']}: missed {r['missed']} false {r['false']}")
            bar.advance(task)
    rows = aggregate(results)
    print_table(console, rows)
    console.print("scenarios: " + ", ".join(f"{r['name']}={r['gpus']}/{r['layout']}/"
                                            f"seed {r['seed']}" for r in results))
    det = [r["detect_s"] for r in results]
    console.print(f"detect wall time per scenario: median {np.median(det):.1f} s, "
                  f"max {np.max(det):.1f} s")
    healthy = sum(r["findings"] for r in results if r["name"].endswith("healthy"))
    bad = check_targets(rows, healthy)
    console.print("targets met" if not bad else "targets NOT met: " + "; ".join(bad))
    if args.json:
        args.json.write_text(json.dumps({"master": master, "rows": rows, "results": results},
                                        indent=1, default=str))
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
