"""``brownout evaluate``: a scenario closed-loop under baseline, brownout and oracle.

Two modes, chosen by the scenario:

- a rack-scale scenario (``brownout/loop/rack_scale_scenarios``: ``nvl72``,
  ``nvl72-full``, or a file with a ``fleet`` section) runs in coarse mode with
  NVLink domains modelled (:mod:`brownout.loop.nvl72_eval`);
- an evaluation scenario (``brownout/loop/scenarios``: ``llama3-54d``,
  ``fail-slow-heavy``, or a file with ``sim_scenario``) runs in coarse mode
  (:mod:`brownout.loop.coarse_eval`): weeks of job and failure dynamics with
  detection modelled by delays measured in fine mode;
- a fine-mode simulator scenario (``gpu_degraded``, ``mixed``...) runs the
  real loop (:mod:`brownout.loop.fine`): ``baseline`` never acts (the
  simulator restarts crashed jobs, cold: 10 min), ``brownout`` runs the
  detection engine and the policy (restarts onto spare nodes, warm: 4 min),
  ``oracle`` feeds the policy the ground truth at onset (warm restarts). The
  cluster gets about 10% spare nodes, the same for every policy; the
  checkpoint interval is the scenario's. The goodput ledger of the step
  records gives the numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from brownout.errors import InputError
from brownout.loop.coarse_eval import POLICIES, run_policy
from brownout.loop.costs import EvalScenario, find_eval_scenario
from brownout.loop.fine import run_loop
from brownout.loop.nvl72_eval import result_extra, run_rack_scale
from brownout.loop.nvl72_scenario import RackScaleScenario, find_rack_scale
from brownout.recovery.ledger import CAUSES, build_ledger
from brownout.recovery.timeline import ettr_over_time
from brownout.sim import load_scenario
from brownout.sim.scenario import Scenario

FINE_MODES = {"baseline": "none", "brownout": "detect", "oracle": "oracle"}
COLD_RESTART_S = 600.0
WARM_RESTART_S = 240.0


@dataclass(frozen=True)
class EvalResult:
    """One policy's numbers on one scenario and seed."""

    scenario: str
    policy: str
    seed: int
    mode: str
    ettr: float
    availability: float
    goodput_gpu_h: float
    interruptions: int
    lost_s: dict[str, float]
    series: tuple[tuple[float, float], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "policy": self.policy, "seed": self.seed,
                "mode": self.mode, "ettr": self.ettr, "availability": self.availability,
                "goodput_gpu_h": self.goodput_gpu_h, "interruptions": self.interruptions,
                "lost_s": {c: self.lost_s.get(c, 0.0) for c in CAUSES}, **self.extra}


def evaluate(name_or_path: str, policy: str, seed: int | None = None) -> EvalResult:
    """Run ``policy`` on the scenario ``name_or_path`` (see module docstring)."""
    if policy not in POLICIES:
        raise InputError(f"--policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    rs = find_rack_scale(name_or_path)
    if rs is not None:
        return evaluate_rack_scale(rs, policy, rs.seed if seed is None else seed)
    es = find_eval_scenario(name_or_path)
    if es is not None:
        return evaluate_coarse(es, policy, es.sim.seed if seed is None else seed)
    sc = load_scenario(name_or_path)
    if sc.mode == "coarse":
        raise InputError(f"{sc.source}: coarse simulator scenarios are evaluated through an "
                         "evaluation scenario with pinned costs (e.g. llama3-54d)")
    return evaluate_fine(sc, policy, sc.seed if seed is None else seed)


def evaluate_coarse(es: EvalScenario, policy: str, seed: int) -> EvalResult:
    """Coarse-mode evaluation (:mod:`brownout.loop.coarse_eval`)."""
    r = run_policy(es, policy, seed)
    j = r.to_json()
    extra = {k: j[k] for k in ("fail_stops", "isolations", "reroutes", "cold_restarts",
                               "checkpoints", "mean_checkpoint_interval_s", "wall_s",
                               "productive_s")}
    extra["detail"] = j["detail"]
    start = es.sim.start_s
    return EvalResult(es.name, policy, seed, "coarse", r.ettr, r.availability, r.goodput_gpu_h,
                      r.interruptions, dict(r.lost_s),
                      tuple((start + t, e) for t, e in r.ettr_series), extra)


def evaluate_rack_scale(rs: RackScaleScenario, policy: str, seed: int) -> EvalResult:
    """Rack-scale (NVL72) coarse evaluation (:mod:`brownout.loop.nvl72_eval`)."""
    r = run_rack_scale(rs, policy, seed)
    extra = {"wall_s": r.wall_s, "productive_s": r.productive_s, **result_extra(r)}
    return EvalResult(rs.name, policy, seed, "coarse", r.ettr, r.availability, r.goodput_gpu_h,
                      r.interruptions, dict(r.lost_s), tuple(r.series), extra)


def spare_nodes(sc: Scenario) -> int:
    """About 10% spare nodes, in whole racks (tor) or at least two."""
    want = max(2, math.ceil(0.1 * sc.n_nodes))
    if sc.layout == "tor":
        want = math.ceil(want / sc.nodes_per_rack) * sc.nodes_per_rack
    return want


def fine_scenario(sc: Scenario, policy: str) -> Scenario:
    """The scenario as ``policy`` runs it: spare nodes; cold or warm restarts."""
    if sc.topology_file:
        raise InputError(f"{sc.source}: evaluate adds spare nodes and needs a generated cluster")
    r = COLD_RESTART_S if policy == "baseline" else WARM_RESTART_S
    jobs = tuple(replace(j, restart_s=(r, r)) for j in sc.jobs)
    return replace(sc, n_nodes=sc.n_nodes + spare_nodes(sc), jobs=jobs)


def evaluate_fine(sc: Scenario, policy: str, seed: int) -> EvalResult:
    """Fine-mode evaluation: the real closed loop and the ledger of its steps."""
    res = run_loop(fine_scenario(sc, policy), seed, FINE_MODES[policy])
    if len(res.steps) == 0:
        raise InputError(f"{sc.source}: the scenario produced no steps to evaluate")
    ledger = build_ledger(res.steps, res.findings, topology=res.sim.topology)
    cl = ledger.cluster_json()
    curves = ettr_over_time(res.steps, ledger)
    series = _cluster_curve(curves, ledger)
    extra = {"actions": [{"t": a.t_s, "action": a.kind, "node": a.node,
                          "finding_kind": a.finding_kind} for a in res.actions],
             "findings": len(res.findings), "truth": len(res.truth)}
    return EvalResult(sc.name, policy, seed, "fine", ledger.ettr, ledger.availability,
                      float(cl["goodput_gpu_h"]), sum(j.crashes for j in res.sim.jobs),
                      {c: float(v) for c, v in ledger.lost_s().items()}, series, extra)


def _cluster_curve(curves: dict[str, Any], ledger: Any) -> tuple[tuple[float, float], ...]:
    """The largest job's ETTR curve (the cluster's headline curve)."""
    if not curves:
        return ()
    name = max(curves, key=lambda n: ledger.jobs[n].ranks)
    c = curves[name]
    return tuple(zip(np.asarray(c.t_s).tolist(), np.asarray(c.ettr).tolist(), strict=True))
