"""One sweep run: simulate, detect causally, score, measure goodput. A pure function."""

from __future__ import annotations

import time
from typing import Any

from brownout.sweep.grid import RunSpec
from brownout.yamldoc import parse_yaml


def _scenario(spec: RunSpec) -> Any:
    from brownout.sim.scenario import scenario_from_dict, scenario_text

    text, where = scenario_text(spec.scenario)
    doc = parse_yaml(text, where)
    for key, value in spec.variant.scenario.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key] = {**doc[key], **value}
        else:
            doc[key] = value
    return scenario_from_dict(doc, where)


def run_one(spec: RunSpec) -> dict[str, Any]:
    """Run one grid point; returns flat, JSON-ready metrics."""
    from brownout.detect.engine import EngineConfig, replay
    from brownout.recovery import build_ledger
    from brownout.scoring import score
    from brownout.sim.run import run_scenario

    t0 = time.perf_counter()
    result = run_scenario(_scenario(spec), seed=spec.seed)
    findings = replay(result.topology, result.frame(), result.steps,
                      EngineConfig(**spec.variant.engine))
    report = score(list(findings.findings), result.truth).overall
    ledger = build_ledger(result.steps, findings.findings, topology=result.topology)
    return {
        "scenario": spec.scenario, "seed": spec.seed, "variant": spec.variant.name,
        "gpus": result.topology.n_gpus, "truth": report.truth, "matched": report.matched,
        "false": report.false, "precision": report.precision, "recall": report.recall,
        "f1": report.f1, "ttd_median_s": report.ttd_median_s,
        "ettr": ledger.ettr if ledger.jobs else None,
        "wall_s": time.perf_counter() - t0,
    }
