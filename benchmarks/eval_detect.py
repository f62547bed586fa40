"""Detection quality on freshly drawn simulated scenarios, per fleet track.

    python benchmarks/eval_detect.py                      # every track, 4 scenarios each
    python benchmarks/eval_detect.py --master 1234        # reproduce a printed run
    python benchmarks/eval_detect.py --tracks a100-15s -n 6
    python benchmarks/eval_detect.py --tracks h100 -n 24  # the original single-fleet suite

Tracks are fleets unlike one another (spec in TRACKS): H100 like the
original twin; A100 with 15 s scrapes, no profiling fields, three jobs and
64 nodes; H200; Blackwell (B200 / GB200); 60 s scrapes; 10 s scrapes; 1,024
nodes. Every
scenario has static telemetry heterogeneity (sensor offsets, power reading
errors, rack-position inlet offsets), a cooling loop that always runs a few
degrees warmer (a confounder), ToR and rail fabrics alternating, and, when
faulty, every fault kind plus a GPU with a bad thermal interface inside a
failing cooling domain. The first scenario of every track is healthy (it
must yield zero findings). A master seed (printed) fixes everything drawn.
Each scenario goes end to end through the real commands:
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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from step_visibility import STEP_VISIBLE, node_times, running_s

from brownout.cli.main import main as brownout
from brownout.findings import KINDS, Finding, TruthFault, read_findings, read_truth
from brownout.scoring import ScoreReport, score

CONFOUNDERS = ("fleet_shift", "app_xids", "exporter_restarts", "power_cap", "diurnal",
               "job_restarts", "incast", "warm_loop")
FAIL_STOP = ("gpu_failed",)
#: kinds that need rack-scale NVLink domains: benchmarks/eval_nvlink.py measures them
RACK_SCALE = ("nvlink_degraded", "nvswitch_fault")
HETEROGENEITY = {"temp_sd_c": 1.0, "power_sd": 0.03, "inlet_sd_c": 1.0, "r_th_sd": 0.09}


@dataclass(frozen=True)
class Track:
    """One fleet variant: GPU models, scrape interval, profiling, jobs, sizes."""

    models: tuple[str, ...]
    scrape_s: float
    profiling: bool
    jobs: tuple[int, int]  # concurrent jobs, inclusive range
    nodes: tuple[int, ...]
    duration_min: float = 75.0


H100 = "NVIDIA H100 80GB HBM3"
TRACKS: dict[str, Track] = {
    "h100": Track((H100,), 30.0, True, (1, 3), (8, 16, 32, 64, 128)),
    "a100-15s": Track(("NVIDIA A100-SXM4-80GB", "NVIDIA A100-SXM4-40GB"), 15.0, False, (3, 3),
                      (64,)),
    "h200": Track(("NVIDIA H200",), 30.0, True, (1, 3), (16, 32, 64)),
    "blackwell": Track(("NVIDIA B200", "NVIDIA GB200"), 30.0, True, (1, 3), (16, 32, 64)),
    "scrape60": Track((H100,), 60.0, True, (1, 3), (16, 32, 64)),
    "scrape10": Track((H100, "NVIDIA H200"), 10.0, True, (1, 3), (16, 32), duration_min=45.0),
    "n1024": Track((H100,), 30.0, False, (2, 4), (1024,), duration_min=45.0),
}


def _jobs(rng: np.random.Generator, busy: int, n_jobs: int) -> list[dict[str, Any]]:
    n_jobs = max(1, min(n_jobs, busy // 2))
    cuts = np.sort(rng.choice(np.arange(1, busy), size=n_jobs - 1, replace=False)) if (
        n_jobs > 1) else np.array([], dtype=int)
    parts = np.diff(np.concatenate([[0], cuts, [busy]]))
    return [{"name": f"job{j}", "nodes": int(p), "compute_s": round(float(rng.uniform(3, 15)), 1),
             "allreduce_gb": round(float(rng.uniform(60, 140))),
             "checkpoint_every_steps": int(rng.integers(100, 250))}
            for j, p in enumerate(parts) if p > 0]


def _faults(rng: np.random.Generator, nodes: int, duration_min: float) -> list[dict[str, Any]]:
    late = min(50.0, duration_min - 25.0)
    faults = [{"kind": k, "count": int(rng.integers(1, 3)) if nodes >= 32 else 1,
               "onset_min": [6, late]} | ({"duration_min": [15, 40]} if rng.random() < 0.4
                                          else {})
              for k in KINDS if k not in RACK_SCALE]
    # a GPU with a bad thermal interface inside a failing cooling domain
    faults.append({"kind": "gpu_overheating", "placement": "failing_cooling",
                   "onset_min": [-4, 8]})
    return faults


def draw_scenario(rng: np.random.Generator, i: int, track_name: str, max_nodes: int,
                  healthy: bool) -> dict[str, Any]:
    """One scenario document of a track: size, layout, model, jobs, faults, confounders."""
    track = TRACKS[track_name]
    sizes = [s for s in track.nodes if s <= max_nodes] or [min(track.nodes)]
    nodes = int(rng.choice(sizes))
    layout = ("tor", "rail")[i % 2]
    busy = max(2, int(nodes * rng.uniform(0.75, 0.95)))
    jobs = _jobs(rng, busy, int(rng.integers(track.jobs[0], track.jobs[1] + 1)))
    faults = [] if healthy else _faults(rng, nodes, track.duration_min)
    late = min(70.0, track.duration_min - 5.0)
    confs = [{"kind": c, "count": 2 if c in ("app_xids", "incast", "exporter_restarts") else 1,
              "at_min": [5, late]} for c in CONFOUNDERS]
    return {"name": f"{track_name}-{i:02d}{'-healthy' if healthy else ''}",
            "description": f"drawn by benchmarks/eval_detect.py, track {track_name}",
            "cluster": {"nodes": nodes, "layout": layout, "nodes_per_rack": 4,
                        "racks_per_cooling": 2,
                        "gpu_model": str(track.models[i % len(track.models)])},
            "duration_min": track.duration_min, "scrape_interval_s": track.scrape_s,
            "telemetry": {"profiling": track.profiling, **HETEROGENEITY},
            "jobs": jobs, "faults": faults, "confounders": confs}


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
    ran, seen = visible_parts(out / "steps.jsonl", truth, ff.findings, report)
    missed = [f"{truth[i].kind}:{truth[i].component}{seen.get(i, '')}"
              for i in report.missed_truth]
    false = [f"{ff.findings[i].kind}:{ff.findings[i].component}" for i in report.false_findings]
    return {"name": doc["name"], "seed": seed, "gpus": doc["cluster"]["nodes"] * 8,
            "layout": doc["cluster"]["layout"], "per": per, "ttd": ttd, "ttd_running": ran,
            "missed": missed,
            "false": false, "findings": len(ff.findings), "sim_s": t1 - t0,
            "detect_s": t2 - t1}


def visible_parts(steps: Path, truth: list[TruthFault], findings: Sequence[Finding],
                  report: ScoreReport) -> tuple[dict[str, list[float]], dict[int, str]]:
    """For step-visible faults: each matched one's TTD counting only time its job ran,
    and, per missed one, a note of how much of it the step log holds."""
    mine = [i for i, t in enumerate(truth) if t.kind in STEP_VISIBLE]
    if not mine:
        return {}, {}
    ts = node_times(steps, {truth[i].component.split("/")[0] for i in mine})
    end = max((float(x[0][-1]) for x in ts.values() if x[0].size), default=0.0)
    ran: dict[str, list[float]] = {}
    for m in report.matches:
        t = truth[m.truth_index]
        if m.truth_index in mine:
            run = running_s(ts[t.component], t.onset, findings[m.finding_index].detected_at)
            ran.setdefault(t.kind, []).append(run[0])
    seen = {}
    for i in set(report.missed_truth) & set(mine):
        t = truth[i]
        s, n = running_s(ts[t.component], t.onset, t.end if t.end is not None else end)
        seen[i] = f" (its job ran {s:.0f} s, {n} records, of it)"
    return ran, seen


def aggregate(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per kind and overall: counts summed over scenarios, TTDs pooled."""
    rows: dict[str, dict[str, Any]] = {}
    for k in [*KINDS, "overall"]:
        kinds = list(KINDS) if k == "overall" else [k]
        truth = sum(r["per"][x][0] for r in results for x in kinds)
        matched = sum(r["per"][x][1] for r in results for x in kinds)
        false = sum(r["per"][x][2] for r in results for x in kinds)
        ttd = np.array([v for r in results for x in kinds for v in r["ttd"].get(x, [])])
        run = np.array([v for r in results for v in r.get("ttd_running", {}).get(k, [])])
        rows[k] = {"truth": truth, "matched": matched, "false": false,
                   "precision": matched / (matched + false) if matched + false else 1.0,
                   "recall": matched / truth if truth else 1.0,
                   "ttd_median_s": float(np.median(ttd)) if ttd.size else None,
                   "ttd_p90_s": float(np.percentile(ttd, 90)) if ttd.size else None,
                   "ttd_running_median_s": float(np.median(run)) if run.size else None}
    return rows


def print_table(console: Console, rows: dict[str, dict[str, Any]], title: str) -> None:
    table = Table(title=title)
    for col in ("kind", "truth", "matched", "false", "precision", "recall", "TTD median",
                "TTD p90", "TTD median, job running"):
        table.add_column(col, justify="left" if col == "kind" else "right")
    for k, r in rows.items():
        def s(v: float | None) -> str:
            return "-" if v is None else f"{v:.0f} s"
        table.add_row(k, str(r["truth"]), str(r["matched"]), str(r["false"]),
                      f"{r['precision']:.3f}", f"{r['recall']:.3f}", s(r["ttd_median_s"]),
                      s(r["ttd_p90_s"]), s(r["ttd_running_median_s"]))
    console.print(table)


def check_targets(rows: dict[str, dict[str, Any]], healthy_findings: int, scrape_s: float
                  ) -> list[str]:
    """The issue's quality bar for one track; returns what is not met."""
    bad = []
    o = rows["overall"]
    if o["precision"] < 0.97:
        bad.append(f"precision {o['precision']:.3f} < 0.97")
    if o["recall"] < 0.97:
        bad.append(f"recall {o['recall']:.3f} < 0.97")
    for k in KINDS:
        r = rows[k]
        limit = 2.0 * scrape_s if k in FAIL_STOP else 300.0
        if r["ttd_median_s"] is not None and r["ttd_median_s"] > limit:
            bad.append(f"{k} median TTD {r['ttd_median_s']:.0f} s > {limit:.0f} s")
    if healthy_findings:
        bad.append(f"healthy scenarios yielded {healthy_findings} findings")
    return bad


def summary_row(name: str, rows: dict[str, dict[str, Any]], results: list[dict[str, Any]],
                bad: list[str]) -> dict[str, Any]:
    o = rows["overall"]
    return {"track": name, "scenarios": len(results), "truth": o["truth"],
            "precision": o["precision"], "recall": o["recall"],
            "gpu_failed_ttd_s": rows["gpu_failed"]["ttd_median_s"],
            "worst_slow_ttd_s": max((rows[k]["ttd_median_s"] or 0.0) for k in KINDS
                                    if k not in FAIL_STOP),
            "healthy_findings": sum(r["findings"] for r in results
                                    if r["name"].endswith("healthy")),
            "met": not bad, "unmet": bad}


def print_summary(console: Console, summary: list[dict[str, Any]]) -> None:
    table = Table(title="per track (targets: precision and recall >= 0.97, gpu_failed median "
                  "TTD <= 2 scrapes, fail-slow <= 300 s, healthy: 0 findings)")
    for col in ("track", "scenarios", "truth", "precision", "recall", "gpu_failed TTD",
                "worst fail-slow TTD", "healthy findings", "targets"):
        table.add_column(col, justify="left" if col in ("track", "targets") else "right")
    for s in summary:
        ttd = s["gpu_failed_ttd_s"]
        table.add_row(s["track"], str(s["scenarios"]), str(s["truth"]), f"{s['precision']:.3f}",
                      f"{s['recall']:.3f}", "-" if ttd is None else f"{ttd:.0f} s",
                      f"{s['worst_slow_ttd_s']:.0f} s", str(s["healthy_findings"]),
                      "met" if s["met"] else "; ".join(s["unmet"]))
    console.print(table)


def plan(args: argparse.Namespace, rng: np.random.Generator) -> list[tuple[str, dict[str, Any],
                                                                            int]]:
    """Every (track, scenario, seed) of this run, drawn from the master generator."""
    out = []
    for name in args.tracks:
        for i in range(args.scenarios):
            doc = draw_scenario(rng, i, name, args.max_nodes, healthy=i == 0)
            out.append((name, doc, int(rng.integers(1, 2**31 - 1))))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--scenarios", type=int, default=4, help="scenarios per track")
    ap.add_argument("--tracks", nargs="*", default=list(TRACKS), choices=list(TRACKS))
    ap.add_argument("--master", type=int, default=None, help="master seed (default: fresh)")
    ap.add_argument("--max-nodes", type=int, default=1024, help="largest cluster, in nodes")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--keep", type=Path, default=None, help="keep every scenario's files here")
    ap.add_argument("--only", nargs="*", default=None, help="run only these scenario names")
    args = ap.parse_args()
    master = args.master if args.master is not None else secrets.randbits(32)
    console = Console(width=160)
    console.print(f"master seed {master}  (rerun: --master {master})")
    todo = plan(args, np.random.default_rng(master))
    if args.only is not None:
        todo = [t for t in todo if t[1]["name"] in args.only]
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in args.tracks}
    with tempfile.TemporaryDirectory(prefix="brownout-eval-") as tmp_dir, Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("scenarios", total=len(todo))
        for name, doc, seed in todo:
            bar.update(task, description=f"{doc['name']} ({doc['cluster']['nodes'] * 8} GPUs, "
                       f"{doc['cluster']['layout']}, seed {seed})")
            r = run_one(doc, seed, args.keep or Path(tmp_dir))
            results[name].append(r)
            if r["missed"] or r["false"]:
                bar.console.print(f"  {r['name']} seed {r['seed']} {r['gpus']} GPUs "
                                  f"{r['layout']}: missed {r['missed']} false {r['false']}")
            bar.advance(task)
    summary = []
    for name, res in results.items():
        if not res:
            continue
        rows = aggregate(res)
        print_table(console, rows, f"track {name} (pooled over {len(res)} scenarios)")
        healthy = sum(r["findings"] for r in res if r["name"].endswith("healthy"))
        summary.append(summary_row(name, rows, res, check_targets(
            rows, healthy, TRACKS[name].scrape_s)))
    print_summary(console, summary)
    flat = [r for res in results.values() for r in res]
    console.print("scenarios: " + ", ".join(f"{r['name']}={r['gpus']}/{r['layout']}/"
                                            f"seed {r['seed']}" for r in flat))
    det = [r["detect_s"] for r in flat]
    if det:
        console.print(f"detect wall time per scenario: median {np.median(det):.1f} s, "
                      f"max {np.max(det):.1f} s")
    met = all(s["met"] for s in summary)
    console.print("targets met on every track" if met else "targets NOT met on: " + ", ".join(
        s["track"] for s in summary if not s["met"]))
    if args.json:
        args.json.write_text(json.dumps({"master": master, "summary": summary,
                                         "results": flat}, indent=1, default=str))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
