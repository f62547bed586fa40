"""What node-local verdicts do to brownout's findings and actions, on fresh seeds.

    python benchmarks/eval_verdicts.py                 # 10 scenarios, fresh seeds
    python benchmarks/eval_verdicts.py --master 1234   # reproduce a printed run
    python benchmarks/eval_verdicts.py -n 4            # quicker

Each scenario (8-32 nodes, every fault kind, the usual confounders) goes through
``brownout simulate`` and ``brownout detect`` twice: without verdicts (the peer)
and with ``--verdicts``: NVSentinel HealthEvents written the way its monitors
write them, for a share of the true faults a node-local check can see (Xid for
``gpu_failed``, ECC for ``gpu_degraded``, an InfiniBand port check for
``nic_degraded``; ``--hit`` of them) plus false verdicts on healthy GPUs and
nodes (``--false`` per scenario: a node-local tool's own false positives and
application Xids). Printed: the score with and without (it must not change:
verdicts never make or remove a finding), the confidence of true and false
findings before and after, and what the policy decides for each: isolating
actions on truly faulty nodes and on healthy ones.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from brownout.cli.main import main as brownout
from brownout.findings import read_findings, read_truth
from brownout.interop.health_events import rfc3339
from brownout.policy.config import PolicyConfig
from brownout.policy.rules import PolicyInput, decide
from brownout.scoring import score

KINDS = ("gpu_failed", "gpu_degraded", "nic_degraded", "host_straggler", "gpu_overheating",
         "switch_congestion", "cooling_fault", "telemetry_loss")
SEEN_BY = {"gpu_failed": ("SysLogsXIDError", ["79"]), "gpu_degraded": ("GpuMemWatch", ["DBE"]),
           "nic_degraded": ("InfiniBandDegradationCheck", ["symbol_error"])}
FALSE_CHECKS = (("GpuXidError", ["13"]), ("GpuMemWatch", ["SBE"]),
                ("InfiniBandStateCheck", []), ("GpuNvlinkWatch", []))


def draw(rng: np.random.Generator, i: int) -> dict[str, Any]:
    nodes = int(rng.choice([8, 16, 32]))
    return {"name": f"verdicts{i:02d}", "cluster": {"nodes": nodes, "layout": "tor",
                                                   "nodes_per_rack": 4, "racks_per_cooling": 2},
            "duration_min": 60, "scrape_interval_s": 30,
            "jobs": [{"name": "job0", "nodes": max(2, int(nodes * 0.85))}],
            "faults": [{"kind": k, "onset_min": [6, 40]} for k in KINDS],
            "confounders": [{"kind": c, "at_min": [5, 50]}
                            for c in ("app_xids", "exporter_restarts", "power_cap")]}


def event(check: str, codes: list[str], node: str, part: str | None, t_s: float
          ) -> dict[str, Any]:
    ent = [{"entityType": "GPU", "entityValue": part[3:]}] if part and part.startswith("gpu") \
        else [{"entityType": "port", "entityValue": f"{part}/1"}] if part else []
    return {"version": 1, "agent": "gpu-health-monitor", "componentClass": "GPU",
            "checkName": check, "isFatal": True, "message": f"{check} {codes}",
            "errorCode": codes, "entitiesImpacted": ent,
            "generatedTimestamp": rfc3339(t_s), "nodeName": node}


def verdicts(rng: np.random.Generator, truth: list[Any], nodes: list[str], hit: float,
             n_false: int, t0: float) -> list[dict[str, Any]]:
    out = []
    for t in truth:
        if t.kind in SEEN_BY and rng.random() < hit:
            node, _, part = t.component.partition("/")
            check, codes = SEEN_BY[t.kind]
            out.append(event(check, codes, node, part, t.onset + rng.uniform(0, 300)))
    faulty = {t.component.split("/")[0] for t in truth}
    healthy = [n for n in nodes if n not in faulty] or nodes
    for _ in range(n_false):
        check, codes = FALSE_CHECKS[int(rng.integers(len(FALSE_CHECKS)))]
        part = f"mlx5_{rng.integers(4)}" if "InfiniBand" in check else f"gpu{rng.integers(8)}"
        out.append(event(check, codes, str(rng.choice(healthy)), part,
                         t0 + rng.uniform(0, 3600)))
    return out


def run_one(doc: dict[str, Any], seed: int, work: Path, hit: float, n_false: int,
            rng: np.random.Generator) -> dict[str, Any]:
    sc = work / f"{doc['name']}.yaml"
    sc.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = work / doc["name"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert brownout(["simulate", "--scenario", str(sc), "--out", str(out), "--seed",
                         str(seed), "--quiet"]) == 0
        truth = read_truth(out / "truth.jsonl")
        topo = yaml.safe_load((out / "topology.yaml").read_text())
        nodes = [n["name"] for n in topo["nodes"]]
        t0 = min(t.onset for t in truth) - 600
        vs = verdicts(rng, truth, nodes, hit, n_false, t0)
        (out / "verdicts.jsonl").write_text("".join(json.dumps(v) + "\n" for v in vs))
        base = [str(out / "topology.yaml"), "--metrics", str(out / "metrics"), "--steps",
                str(out / "steps.jsonl"), "-q"]
        assert brownout(["detect", "--topology", *base, "--out", str(out / "a.json")]) == 0
        assert brownout(["detect", "--topology", *base, "--out", str(out / "b.json"),
                         "--verdicts", str(out / "verdicts.jsonl")]) == 0
    return measure(read_findings(out / "a.json"), read_findings(out / "b.json"), truth, vs)


def _isolating(findings: tuple[Any, ...], truth_nodes: set[str]) -> tuple[int, int]:
    end = max((f.detected_at for f in findings), default=0.0) + 600
    acts = [a for a in decide(PolicyInput(findings, now_s=end), PolicyConfig()) if a.isolating]
    on_faulty = sum(a.node in truth_nodes for a in acts)
    return on_faulty, len(acts) - on_faulty


def measure(a: Any, b: Any, truth: list[Any], vs: list[dict[str, Any]]) -> dict[str, Any]:
    sa, sb = score(a.findings, truth), score(b.findings, truth)
    tp = {m.finding_index for m in sa.matches}
    false = set(sa.false_findings)
    conf: dict[str, list[tuple[float, float]]] = {"tp": [], "fp": [], "joined": []}
    for i, (fa, fb) in enumerate(zip(a.findings, b.findings, strict=True)):
        if i in tp or i in false:
            conf["tp" if i in tp else "fp"].append((fa.confidence, fb.confidence))
        if "node_verdicts" in fb.evidence:
            conf["joined"].append((fa.confidence, fb.confidence))
    truth_nodes = {t.component.split("/")[0] for t in truth}
    return {"same_score": (sa.matches, sa.false_findings) == (sb.matches, sb.false_findings),
            "matched": len(sa.matches), "truth": len(truth), "false": len(sa.false_findings),
            "conf": conf, "verdicts": len(vs),
            "lonely": sum(n.kind == "node_verdict" for n in b.notices),
            "acts_a": _isolating(a.findings, truth_nodes),
            "acts_b": _isolating(b.findings, truth_nodes)}


def report(results: list[dict[str, Any]]) -> int:
    def mean(pairs: list[tuple[float, float]], j: int) -> float:
        return float(np.mean([p[j] for p in pairs])) if pairs else float("nan")
    tp = [p for r in results for p in r["conf"]["tp"]]
    fp = [p for r in results for p in r["conf"]["fp"]]
    same = all(r["same_score"] for r in results)
    print(f"scenarios {len(results)}; truth faults {sum(r['truth'] for r in results)}, "
          f"matched {sum(r['matched'] for r in results)}, false findings "
          f"{sum(r['false'] for r in results)}; score identical with verdicts: {same}")
    print(f"verdicts {sum(r['verdicts'] for r in results)}, of which agreed with no finding "
          f"(notices only) {sum(r['lonely'] for r in results)}")
    print(f"confidence of true findings  ({len(tp):3d}): {mean(tp, 0):.3f} -> {mean(tp, 1):.3f}"
          f"  (+{mean(tp, 1) - mean(tp, 0):.3f})")
    print(f"confidence of false findings ({len(fp):3d}): {mean(fp, 0):.3f} -> {mean(fp, 1):.3f}"
          f"  (+{mean(fp, 1) - mean(fp, 0):.3f})")
    joined = [p for r in results for p in r["conf"]["joined"]]
    print(f"confidence of findings a verdict agreed with ({len(joined):3d}): "
          f"{mean(joined, 0):.3f} -> {mean(joined, 1):.3f}")
    for label, key in (("without verdicts (peer)", "acts_a"), ("with verdicts", "acts_b")):
        good = sum(r[key][0] for r in results)
        bad = sum(r[key][1] for r in results)
        print(f"isolating actions {label:24s}: on faulty nodes {good}, on healthy nodes {bad}")
    worse = sum(r["acts_b"][1] > r["acts_a"][1] for r in results)
    print(f"scenarios where verdicts added an action on a healthy node: {worse}")
    return 0 if same and worse == 0 else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=10, help="scenarios")
    ap.add_argument("--master", type=int, default=None, help="master seed (default: fresh)")
    ap.add_argument("--hit", type=float, default=0.7, help="share of visible faults reported")
    ap.add_argument("--false", dest="n_false", type=int, default=4,
                    help="false verdicts per scenario")
    args = ap.parse_args()
    master = args.master if args.master is not None else secrets.randbits(32)
    print(f"master seed {master}")
    rng = np.random.default_rng(master)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.n):
            doc = draw(rng, i)
            results.append(run_one(doc, int(rng.integers(1, 2**31)), Path(tmp), args.hit,
                                   args.n_false, rng))
            print(f"  {doc['name']}: {doc['cluster']['nodes'] * 8} GPUs done", file=sys.stderr)
    return report(results)


if __name__ == "__main__":
    sys.exit(main())
