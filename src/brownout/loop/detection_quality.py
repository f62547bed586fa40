"""How quickly and how reliably the fine-mode closed loop isolates each fault kind.

Coarse mode (weeks on thousands of nodes) has no per-sample telemetry, so it
cannot run the detectors. It models brownout's detection by per-kind
isolation delays and recalls *measured here*, in fine mode: the real engine
and policy run closed-loop on short single-fault scenarios, and for each
run we record whether the faulty node was drained and how long after the
fault's onset. The numbers are pinned in ``scenarios/detection.yaml``
(regenerate with ``python benchmarks/eval_goodput.py --measure-detection``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

from brownout.errors import InputError
from brownout.loop.fine import run_loop
from brownout.sim import load_scenario
from brownout.topology.component import host_of
from brownout.yamldoc import parse_yaml

#: fail-slow kinds measured, with the built-in scenario that injects each
MEASURED = {"gpu_degraded": "gpu_degraded", "host_straggler": "host_straggler"}
#: slowdown bins measured separately (mild episodes are harder to see)
BINS = ((1.1, 1.3), (1.3, 2.0))


@dataclass(frozen=True)
class KindQuality:
    """Isolation quality of one fault kind.

    Attributes:
        kind: the fault kind.
        slowdown: the range of slowdowns injected.
        delays_s: onset-to-drain delays of the runs where the node was drained.
        runs: runs measured.
        false_drains: drains of nodes that were not faulty, over all runs.
    """

    kind: str
    slowdown: tuple[float, float]
    delays_s: tuple[float, ...]
    runs: int
    false_drains: int = 0

    @property
    def recall(self) -> float:
        return len(self.delays_s) / self.runs if self.runs else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"slowdown": list(self.slowdown), "recall": round(self.recall, 3),
                "runs": self.runs,
                "false_drains": self.false_drains,
                "delays_s": [round(d, 1) for d in self.delays_s]}


def measure_kind(kind: str, seeds: Sequence[int], slowdown: tuple[float, float],
                 minutes: float = 45.0) -> KindQuality:
    """Run the closed loop on ``kind``'s scenario (4 spare nodes) for each seed,
    the fault slowing its rank(s) by a factor drawn from ``slowdown``."""
    sc = load_scenario(MEASURED[kind])
    faults = tuple(replace(f, onset_s=(480.0, 900.0), magnitude={"slowdown": slowdown})
                   for f in sc.faults)
    sc = replace(sc, n_nodes=sc.n_nodes + 4, duration_s=minutes * 60.0, faults=faults)
    delays, false = [], 0
    for seed in seeds:
        res = run_loop(sc, seed, "detect")
        bad = {host_of(t.component): t.onset for t in res.truth}
        for a in res.actions:
            if a.kind != "drain_node":
                continue
            if a.node in bad:
                delays.append(a.t_s - bad.pop(a.node))
            else:
                false += 1
    return KindQuality(kind, slowdown, tuple(delays), len(seeds), false)


#: kinds the policy never drains for, measured as onset-to-finding delays instead
FOUND = {"switch_congestion": ("switch_congestion", "switch_congestion_rail")}
#: ... in bins of the leaf's bandwidth factor (standing in for the job's slowdown bins)
FACTOR_BINS = ((1.2, 2.0), (2.0, 4.0))


def measure_finding(kind: str, seeds: Sequence[int], factor: tuple[float, float],
                    minutes: float = 45.0) -> KindQuality:
    """Run the closed loop on each of ``kind``'s scenarios for each seed and
    record when the finding of the right component appeared (onset to the
    finding's ``detected_at``); a finding on another component counts in
    ``false_drains`` (here: false findings)."""
    delays, false, runs = [], 0, 0
    for name in FOUND[kind]:
        sc = load_scenario(name)
        faults = tuple(replace(f, onset_s=(480.0, 900.0), magnitude={"factor": factor})
                       for f in sc.faults)
        sc = replace(sc, duration_s=minutes * 60.0, faults=faults)
        for seed in seeds:
            res = run_loop(sc, seed, "detect")
            runs += 1
            truth = {t.component: t.onset for t in res.truth if t.kind == kind}
            for f in res.findings:
                if f.kind != kind:
                    continue
                if f.component in truth:
                    delays.append(f.detected_at - truth.pop(f.component))
                else:
                    false += 1
    return KindQuality(kind, factor, tuple(delays), runs, false)


@dataclass(frozen=True)
class Detection:
    """Per-kind, per-slowdown-bin isolation delay samples and recall used by coarse mode."""

    by_kind: dict[str, tuple[KindQuality, ...]]

    def quality(self, kind: str, slowdown: float) -> KindQuality | None:
        """The measurement whose slowdown bin holds ``slowdown`` (nearest bin outside)."""
        bins = self.by_kind.get(kind, ())
        if not bins:
            return None
        inside = [q for q in bins if q.slowdown[0] <= slowdown <= q.slowdown[1]]
        return inside[0] if inside else min(
            bins, key=lambda q: min(abs(slowdown - q.slowdown[0]), abs(slowdown - q.slowdown[1])))


def load_detection() -> Detection:
    """The pinned measurements (``scenarios/detection.yaml``)."""
    text = resources.files("brownout.loop").joinpath("scenarios/detection.yaml").read_text()
    raw = parse_yaml(text, "scenarios/detection.yaml") or {}
    out: dict[str, tuple[KindQuality, ...]] = {}
    for kind, bins in (raw.get("kinds") or {}).items():
        out[str(kind)] = tuple(_quality(str(kind), d) for d in bins)
    return Detection(out)


def _quality(kind: str, d: dict[str, Any]) -> KindQuality:
    delays = tuple(float(x) for x in d.get("delays_s") or ())
    runs = int(d.get("runs", len(delays)))
    if runs < len(delays) or runs <= 0:
        raise InputError(f"detection.yaml: {kind}: runs must be >= the delays measured")
    lo, hi = (float(x) for x in d["slowdown"])
    return KindQuality(kind, (lo, hi), delays, runs, int(d.get("false_drains", 0)))
