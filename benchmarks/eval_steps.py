"""Step-only detection quality over real job shapes, against NVIDIA NVRx's rule.

    python benchmarks/eval_steps.py               # 48 scenarios, fresh seeds
    python benchmarks/eval_steps.py --seed 1234   # reproduce a printed run
    python benchmarks/eval_steps.py -n 12         # quicker

Every scenario is drawn by :mod:`brownout.sim.step_shapes` from the master
seed: 1-3 jobs of 1-8 ranks per node, 1-8 pipeline stages, steps of 50 ms to
2 minutes, logs keeping every Nth step, static heterogeneity up to 15%,
heavy-tailed noise, sequence-length imbalance, pipeline bubbles, restarts;
slow ranks (or whole nodes) of 1.25x-2.5x lasting at least max(5 records,
2 minutes), some from the very first record. One scenario in four is
healthy (must yield zero findings). No telemetry: the step-only track.
What a log cannot show is not drawn (see ``draw_slowdown``): a slowdown
slows at least 5 logged records; no whole pipeline stage is slow from its
first record; slowdowns beginning together leave every stage a healthy majority.

Each scenario goes through the real commands (``brownout detect --steps`` ->
``brownout score``); the peer (``nvrx_peer.py``) is scored the same way.
Then the real PAI traces (tests/fixtures/steps_pai) against their inferred
labels, with and without the static labels.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import secrets
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from brownout.cli.main import main as brownout
from brownout.findings import Finding, TruthFault, read_findings, read_truth, write_truth
from brownout.scoring import score
from brownout.sim.output import write_steps
from brownout.sim.step_shapes import (
    PAI_STEADY_COV,
    StepScenario,
    cross_rank_cov,
    draw_scenario,
    simulate_steps,
)
from brownout.telemetry.steps import StepRecords, read_steps
from brownout.topology.loader import load_topology, write_topology

sys.path.insert(0, str(Path(__file__).parent))
from nvrx_peer import nvrx_findings

PAI = Path(__file__).parent.parent / "tests" / "fixtures" / "steps_pai"
KINDS = ("gpu_degraded", "host_straggler")


def detect(topo_path: Path, steps_path: Path, out: Path) -> list[Finding]:
    """``brownout detect --steps`` (no telemetry), quietly; its findings."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        rc = brownout(["detect", "--topology", str(topo_path), "--steps", str(steps_path),
                       "--out", str(out), "-q"])
    if rc:
        raise RuntimeError(f"brownout detect failed on {steps_path} (rc={rc})")
    return list(read_findings(out).findings)


def tally(found: list[Finding], truth: list[TruthFault]) -> dict[str, Any]:
    r = score(found, truth)
    return {"truth": r.overall.truth, "matched": r.overall.matched, "false": r.overall.false,
            "ttd": [m.ttd_s for m in r.matches],
            "missed": [f"{truth[i].kind}:{truth[i].component}" for i in r.missed_truth],
            "false_list": [f"{found[i].kind}:{found[i].component}" for i in r.false_findings]}


def shape_tags(sc: StepScenario) -> list[str]:
    """The job-shape classes a scenario belongs to (for the per-shape table)."""
    tags = set()
    for j in sc.jobs:
        tags.add(f"{j.ranks_per_node} rank/node" if j.ranks_per_node == 1 else "multi-rank nodes")
        tags.add("pipeline" if j.stages > 1 else "data-parallel")
        tags.add("steps < 1 s" if j.step_s < 1 else ("steps > 30 s" if j.step_s > 30
                                                     else "steps 1-30 s"))
        if j.log_every > 1:
            tags.add("every Nth step logged")
        if j.restarts:
            tags.add("restarts")
        if j.seqlen_sigma:
            tags.add("sequence-length imbalance")
    if any(s.onset_s == 0 for s in sc.slow):
        tags.add("slow from first record")
    if len(sc.jobs) > 1:
        tags.add("several jobs")
    return sorted(tags)


def run_one(sc: StepScenario, seed: int, work: Path) -> dict[str, Any]:
    run = simulate_steps(sc, seed)
    d = work / sc.name
    d.mkdir(parents=True, exist_ok=True)
    write_topology(run.topology, d / "topology.yaml")
    write_steps(run.steps, run.topology, d / "steps.jsonl")
    write_truth(run.truth, d / "truth.jsonl")
    (d / "scenario.json").write_text(json.dumps(asdict(sc), indent=1))
    ours = detect(d / "topology.yaml", d / "steps.jsonl", d / "findings.json")
    truth = read_truth(d / "truth.jsonl")
    dp = np.isin(run.steps.job, [i for i, j in enumerate(sc.jobs) if j.stages == 1])
    cov = cross_rank_cov(run.steps.take(np.flatnonzero(dp))) if not sc.slow else np.zeros(0)
    return {"name": sc.name, "seed": seed, "healthy": not sc.slow, "tags": shape_tags(sc),
            "records": len(run.steps), "cov": cov.tolist(),
            "brownout": tally(ours, truth), "nvrx": tally(nvrx_findings(run.steps,
                                                                         run.topology), truth)}


def pool(rows: list[dict[str, Any]], who: str) -> dict[str, Any]:
    m = sum(r[who]["matched"] for r in rows)
    t = sum(r[who]["truth"] for r in rows)
    f = sum(r[who]["false"] for r in rows)
    ttd = [v for r in rows for v in r[who]["ttd"]]
    return {"truth": t, "matched": m, "false": f,
            "precision": m / (m + f) if m + f else 1.0, "recall": m / t if t else 1.0,
            "ttd_median_s": float(np.median(ttd)) if ttd else None,
            "healthy_findings": sum(r[who]["false"] for r in rows if r["healthy"])}


def table(console: Console, title: str, groups: dict[str, list[dict[str, Any]]]) -> None:
    t = Table(title=title)
    for col in ("scenarios", "truth", "brownout P", "brownout R", "brownout false",
                "brownout TTD", "NVRx P", "NVRx R", "NVRx false"):
        t.add_column(col, justify="left" if col == "scenarios" else "right")
    for name, rows in groups.items():
        a, b = pool(rows, "brownout"), pool(rows, "nvrx")
        ttd = "-" if a["ttd_median_s"] is None else f"{a['ttd_median_s']:.0f} s"
        t.add_row(f"{name} ({len(rows)})", str(a["truth"]), f"{a['precision']:.3f}",
                  f"{a['recall']:.3f}", str(a["false"]), ttd, f"{b['precision']:.3f}",
                  f"{b['recall']:.3f}", str(b["false"]))
    console.print(t)


def real_traces(console: Console) -> dict[str, Any]:
    """The PAI jobs against their inferred labels (all, and without ``static:`` ones)."""
    topo = load_topology(PAI / "topology.yaml")
    out: dict[str, Any] = {}
    t = Table(title="real traces (Alibaba PAI, inferred labels)")
    for col in ("job", "labels", "brownout matched", "brownout false", "NVRx matched",
                "NVRx false", "brownout missed"):
        t.add_column(col)
    with tempfile.TemporaryDirectory() as tmp:
        for j in (2, 3, 4):
            truth = read_truth(PAI / f"job_{j}_truth.jsonl")
            ours = detect(PAI / "topology.yaml", PAI / f"job_{j}_steps.jsonl.gz",
                          Path(tmp) / f"f{j}.json")
            steps: StepRecords = read_steps(PAI / f"job_{j}_steps.jsonl.gz", topo)
            peer = nvrx_findings(steps, topo)
            for label, tr in (("all", truth), ("episodes", [x for x in truth
                                                            if not x.note.startswith("static")])):
                if label == "episodes" and len(tr) == len(truth):
                    continue
                a, b = tally(ours, tr), tally(peer, tr)
                out[f"job{j}/{label}"] = {"brownout": a, "nvrx": b}
                t.add_row(str(j), f"{label} ({len(tr)})", f"{a['matched']}/{a['truth']}",
                          str(a["false"]), f"{b['matched']}/{b['truth']}", str(b["false"]),
                          ", ".join(a["missed"]) or "-")
    console.print(t)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--scenarios", type=int, default=48)
    ap.add_argument("--seed", type=int, default=None, help="master seed (default: fresh)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--keep", type=Path, default=None, help="keep every scenario's files here")
    ap.add_argument("--no-real", action="store_true", help="skip the real PAI traces")
    args = ap.parse_args()
    master = args.seed if args.seed is not None else secrets.randbits(32)
    console = Console(width=150)
    console.print(f"master seed {master}  (rerun: --seed {master})")
    rng = np.random.default_rng(master)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="brownout-steps-") as tmp, Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("scenarios", total=args.scenarios)
        for i in range(args.scenarios):
            healthy = i % 4 == 0
            sc = draw_scenario(rng, f"steps{i:03d}{'-healthy' if healthy else ''}", healthy)
            seed = int(rng.integers(1, 2**31 - 1))
            bar.update(task, description=f"{sc.name} (seed {seed})")
            r = run_one(sc, seed, args.keep or Path(tmp))
            rows.append(r)
            b = r["brownout"]
            if b["missed"] or b["false_list"]:
                bar.console.print(f"  {sc.name} seed {seed} {r['tags']}: missed {b['missed']} "
                                  f"false {b['false_list']}")
            bar.advance(task)
    groups: dict[str, list[dict[str, Any]]] = {"all": rows,
                                                "healthy": [r for r in rows if r["healthy"]]}
    for tag in sorted({t for r in rows for t in r["tags"]}):
        groups[tag] = [r for r in rows if tag in r["tags"]]
    table(console, "step-only track: brownout vs NVRx rule (pooled over scenarios)", groups)
    cov = np.array([v for r in rows for v in r["cov"]])
    if cov.size:
        console.print(f"healthy spread (cross-rank CoV of healthy data-parallel jobs): median "
                      f"{np.median(cov):.3f}, p90 {np.quantile(cov, 0.9):.3f}; PAI steady jobs: "
                      f"median {PAI_STEADY_COV['median']}, p90 {PAI_STEADY_COV['p90']}")
    real = {} if args.no_real else real_traces(console)
    a = pool(rows, "brownout")
    bad = []
    if a["precision"] < 0.95 or a["recall"] < 0.95:
        bad.append(f"precision {a['precision']:.3f} / recall {a['recall']:.3f} < 0.95")
    if a["healthy_findings"]:
        bad.append(f"{a['healthy_findings']} findings on healthy scenarios")
    if a["ttd_median_s"] is not None and a["ttd_median_s"] > 300:
        bad.append(f"median TTD {a['ttd_median_s']:.0f} s > 300 s")
    console.print("targets met" if not bad else "targets NOT met: " + "; ".join(bad))
    if args.json:
        args.json.write_text(json.dumps({"master": master, "rows": rows, "real": real},
                                        indent=1, default=str))
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
