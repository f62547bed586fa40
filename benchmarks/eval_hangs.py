"""Hang detection: real Flight Recorder dumps, then time to detect in the twin.

    python benchmarks/eval_hangs.py                # 20 hung + 6 healthy scenarios, fresh seeds
    python benchmarks/eval_hangs.py --master 1234  # reproduce a printed run
    python benchmarks/eval_hangs.py -n 6           # quicker

1. The four NVRx dump sets (tests/fixtures/flight_recorder): ranks brownout names
   against the injected ranks, beside NVRx's own reference output (the peer).
2. Fresh twin scenarios, each with one ``rank_hang`` (stuck kernel, host hang or
   GPU error, drawn) among confounders (job restarts, application Xids,
   exporter restarts), on H100 or A100 fleets at 15 or 30 s scrapes, every
   other one without profiling fields (recall is printed for each), end to end
   through ``brownout simulate`` -> ``detect`` -> ``score``: recall, false
   findings, time to detect, against the peer a cluster has without brownout:
   the NCCL watchdog, which only notices when it kills the job (``watchdog_s``
   after the onset).
3. Healthy scenarios with the same confounders: any ``rank_hang`` is a false
   finding; ``job_stalled`` notices are counted.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from brownout.cli.main import main as brownout
from brownout.detect.collectives import analyse
from brownout.findings import read_findings, read_truth
from brownout.scoring import score
from brownout.telemetry.flight_recorder import read_dump_dir

FR = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "flight_recorder"
CONFOUNDERS = ("job_restarts", "app_xids", "exporter_restarts")
MODELS = ("NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-40GB")


def dumps_table() -> tuple[int, int, int, int]:
    """Print per case: injected, brownout, NVRx; return (injected, ours, theirs, false)."""
    print("1. Real Flight Recorder dumps (NVRx fixtures, 16 ranks each)")
    print(f"   {'case':<15}{'injected':<12}{'brownout':<12}{'NVRx reference':<16}")
    tot = [0, 0, 0, 0]
    for case_dir in sorted((FR / "fr_traces").iterdir()):
        log = (case_dir / "fault_injection.log").read_text()
        injected = {int(r) for r in re.findall(r"Rank (\d+), fault_type", log)}
        (ds,) = read_dump_dir(case_dir)
        ours = {s.rank for s in analyse(ds).stuck}
        ref_lines = (FR / "reference_outputs" / f"{case_dir.name}_reference.txt"
                     ).read_text().splitlines()[1:]
        theirs = {int(r) for line in ref_lines for r in line.rsplit("|", 1)[1].split(",")}
        print(f"   {case_dir.name:<15}{fmt(injected):<12}{fmt(ours):<12}{fmt(theirs):<16}")
        tot[0] += len(injected)
        tot[1] += len(ours & injected)
        tot[2] += len(theirs & injected)
        tot[3] += len(ours - injected)
    print(f"   found {tot[1]}/{tot[0]} injected ranks (NVRx reference: {tot[2]}/{tot[0]}), "
          f"{tot[3]} other rank(s) named\n")
    return tot[0], tot[1], tot[2], tot[3]


def fmt(ranks: set[int]) -> str:
    return ",".join(str(r) for r in sorted(ranks)) or "-"


def draw(rng: np.random.Generator, i: int, healthy: bool) -> dict[str, Any]:
    nodes = int(rng.choice([8, 16, 32]))
    busy = max(2, int(nodes * rng.uniform(0.75, 0.95)))
    n_jobs = int(rng.integers(1, 4)) if busy >= 6 else 1
    cuts = np.sort(rng.choice(np.arange(1, busy), size=n_jobs - 1, replace=False))
    parts = np.diff(np.concatenate([[0], cuts, [busy]]))
    jobs = [{"name": f"job{j}", "nodes": int(p), "compute_s": round(float(rng.uniform(3, 12)), 1),
             "allreduce_gb": round(float(rng.uniform(20, 140))),
             "checkpoint_every_steps": int(rng.integers(50, 250))}
            for j, p in enumerate(parts) if p > 0]
    faults = [] if healthy else [{"kind": "rank_hang", "onset_min": [8, 40]}]
    confs = [{"kind": c, "count": 2, "at_min": [5, 55]} for c in CONFOUNDERS]
    model = str(rng.choice(MODELS))
    return {"name": f"hang{i:02d}{'-healthy' if healthy else ''}", "description": "eval_hangs",
            "cluster": {"nodes": nodes, "layout": "tor", "nodes_per_rack": 4,
                        "gpu_model": model},
            "duration_min": 60, "scrape_interval_s": int(rng.choice([15, 30])), "jobs": jobs,
            "faults": faults, "confounders": confs,
            # every other scenario without DCGM_FI_PROF_* fields: power is then the only
            # sign of a stuck kernel (the one GPU still computing among spinning peers)
            "telemetry": {"profiling": i % 2 == 0}}


def run(doc: dict[str, Any], seed: int, work: Path) -> dict[str, Any]:
    sc = work / f"{doc['name']}.yaml"
    sc.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = work / doc["name"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert brownout(["simulate", "--scenario", str(sc), "--out", str(out), "--seed",
                         str(seed), "--quiet"]) == 0
        assert brownout(["detect", "--topology", str(out / "topology.yaml"), "--metrics",
                         str(out / "metrics"), "--steps", str(out / "steps.jsonl"), "--out",
                         str(out / "f.json"), "-q"]) == 0
    ff = read_findings(out / "f.json")
    truth = [t for t in read_truth(out / "truth.jsonl") if t.kind == "rank_hang"]
    hangs = [f for f in ff.findings if f.kind == "rank_hang"]
    r = score(hangs, truth)
    ttd = [h.detected_at - t.onset for t in truth for h in hangs if h.component == t.component]
    return {"truth": truth, "matched": r.overall.matched, "false": r.overall.false,
            "ttd": min(ttd) if ttd else None,
            "watchdog": [float(m.group(1)) for t in truth
                         if (m := re.search(r"watchdog_s=([0-9.e+]+)", t.note))],
            "variant": [t.note.split(":")[0] for t in truth],
            "stalled": sum(1 for n in ff.notices if n.kind == "job_stalled")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=20, help="hung scenarios (plus a third as many "
                    "healthy ones)")
    ap.add_argument("--master", type=int, default=None, help="master seed (default: fresh)")
    args = ap.parse_args()
    dumps_table()
    master = args.master if args.master is not None else secrets.randbelow(2**31)
    rng = np.random.default_rng(master)
    print(f"2. Twin, fresh seeds (master seed {master}): one rank_hang per scenario")
    ttds, dogs, matched, truth_n, false, stalled_healthy, false_healthy = [], [], 0, 0, 0, 0, 0
    by_prof = {True: [0, 0], False: [0, 0]}  # profiling fields collected: [matched, truth]
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.n + max(1, args.n // 3)):
            healthy = i >= args.n
            doc = draw(rng, i, healthy)
            res = run(doc, int(rng.integers(2**31)), Path(tmp))
            if healthy:
                false_healthy += res["false"]
                stalled_healthy += res["stalled"]
                print(f"   {doc['name']:<16} healthy: {res['false']} rank_hang, "
                      f"{res['stalled']} job_stalled notice(s)")
                continue
            matched += res["matched"]
            truth_n += len(res["truth"])
            prof = by_prof[doc["telemetry"]["profiling"]]
            prof[0] += res["matched"]
            prof[1] += len(res["truth"])
            false += res["false"]
            if res["ttd"] is not None:
                ttds.append(res["ttd"])
                dogs.extend(res["watchdog"])
            ttd = "missed" if res["ttd"] is None else f"TTD {res['ttd']:.0f} s"
            prof = "prof" if doc["telemetry"]["profiling"] else "noprof"
            model = doc["cluster"]["gpu_model"].split()[1][:4]
            fleet = f"{model} {doc['scrape_interval_s']}s {prof}"
            print(f"   {doc['name']:<16} {fleet:<18} {res['variant'][0][:48]:<50} {ttd}, "
                  f"watchdog {res['watchdog'][0]:.0f} s, {res['false']} false")
    print(f"\n   recall {matched}/{truth_n}, false rank_hang findings {false} in hung "
          f"scenarios, {false_healthy} in healthy ones ({stalled_healthy} job_stalled "
          "notices there)")
    print(f"   recall with profiling fields {by_prof[True][0]}/{by_prof[True][1]}, without "
          f"{by_prof[False][0]}/{by_prof[False][1]}")
    if ttds:
        med, p90 = float(np.median(ttds)), float(np.percentile(ttds, 90))
        dog = float(np.median(dogs))
        print(f"   time to detect: median {med:.0f} s, p90 {p90:.0f} s; the NCCL watchdog "
              f"(peer) notices after a median {dog:.0f} s: {dog / med:.1f}x later")
    return 0


if __name__ == "__main__":
    sys.exit(main())
