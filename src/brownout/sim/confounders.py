"""Confounders: things real clusters do that look odd but are no fault.

None of these ever appears in the truth file; a detector that reports them as
faults loses precision. Each scenario confounder spec becomes a few
:class:`Event` values, applied per tick like faults. ``checkpoint`` stalls and
idle nodes come from the job model itself and need no spec.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from brownout.sim.effects import Effects
from brownout.sim.faults import Candidates
from brownout.sim.scenario import ConfounderSpec, Range

DEFAULTS: dict[str, dict[str, Range]] = {
    "fleet_shift": {"delta_c": (5.0, 9.0)},
    "diurnal": {"amplitude_c": (1.0, 3.0)},
    "exporter_restarts": {"gap_s": (30.0, 90.0)},
    "power_cap": {"fraction": (0.05, 0.15), "dyn_mult": (1.12, 1.2)},
    "incast": {"duration_s": (10.0, 30.0), "wait_mult": (10.0, 40.0)},
    "nvlink_phase": {"duration_s": (300.0, 900.0), "traffic_mult": (0.25, 0.6)},
    "warm_loop": {"delta_c": (3.0, 6.0)},
}
APP_XIDS = (13, 31, 43)


@dataclass(frozen=True)
class Event:
    """One confounder occurrence.

    Attributes:
        kind: confounder kind.
        at_s, until_s: absolute unix seconds (``until_s`` == ``at_s`` for instants).
        index: the GPU, node or switch it touches (-1 for fleet-wide).
        value: magnitude (degrees, Xid code, multiplier...).
        target: a job name for ``job_restarts``.
    """

    kind: str
    at_s: float
    until_s: float
    index: int = -1
    value: float = 0.0
    target: str = ""

    def to_json(self, names: dict[str, list[str]]) -> dict[str, Any]:
        where = self.target or (names[self.kind][self.index] if self.index >= 0 else "fleet")
        return {"kind": self.kind, "at": _finite(self.at_s), "until": _finite(self.until_s),
                "component": where, "value": self.value}


def _finite(t: float) -> float | None:
    return t if math.isfinite(t) else None


def _draw(rng: np.random.Generator, r: Range) -> float:
    return float(r[0] if r[0] == r[1] else rng.uniform(r[0], r[1]))


def _pick(rng: np.random.Generator, pool: np.ndarray[Any, Any]) -> int:
    return int(pool[int(rng.integers(len(pool)))]) if len(pool) else -1


def sample_events(specs: tuple[ConfounderSpec, ...], cands: Candidates, *,
                  leaves: np.ndarray[Any, Any], jobs: tuple[str, ...], n_gpus: int,
                  start_s: float, rng: np.random.Generator) -> list[Event]:
    """Concrete confounder events for a scenario (sorted by time)."""
    out: list[Event] = []
    for spec in specs:
        p = {**DEFAULTS.get(spec.kind, {}), **spec.params}
        for _ in range(spec.count):
            at = start_s + _draw(rng, spec.at_s)
            ev = _event(spec.kind, at, p, cands, ctx=(leaves, jobs, n_gpus), rng=rng)
            out.extend(ev)
    return sorted(out, key=lambda e: (e.at_s, e.kind, e.index))


def _event(kind: str, at: float, p: dict[str, Range], cands: Candidates, *,
           ctx: tuple[np.ndarray[Any, Any], tuple[str, ...], int],
           rng: np.random.Generator) -> list[Event]:
    leaves, jobs, n_gpus = ctx
    if kind == "fleet_shift":
        return [Event(kind, at, at + 90.0, -1, _draw(rng, p["delta_c"]))]
    if kind == "diurnal":
        return [Event(kind, at, math.inf, -1, _draw(rng, p["amplitude_c"]))]
    if kind == "app_xids":
        code = APP_XIDS[int(rng.integers(len(APP_XIDS)))]
        return [Event(kind, at, at, _pick(rng, cands.gpus), float(code))]
    if kind == "exporter_restarts":
        return [Event(kind, at, at + _draw(rng, p["gap_s"]), _pick(rng, cands.nodes))]
    if kind == "power_cap":
        n = max(1, round(n_gpus * _draw(rng, p["fraction"])))
        picks = rng.choice(n_gpus, size=min(n, n_gpus), replace=False)
        return [Event(kind, -math.inf, math.inf, int(g), _draw(rng, p["dyn_mult"]))
                for g in sorted(picks)]
    if kind == "job_restarts" and jobs:
        return [Event(kind, at, at, -1, 0.0, jobs[int(rng.integers(len(jobs)))])]
    if kind == "warm_loop":  # a loop or row that always runs warmer: static, from the start
        return [Event(kind, -math.inf, math.inf, _pick(rng, cands.domains),
                      _draw(rng, p["delta_c"]))]
    if kind == "incast":
        return [Event(kind, at, at + _draw(rng, p["duration_s"]), _pick(rng, leaves),
                      _draw(rng, p["wait_mult"]))]
    if kind == "nvlink_phase" and jobs:  # a job's NVLink traffic drops (sim/nvlink.py)
        return [Event(kind, at, at + _draw(rng, p["duration_s"]), -1,
                      _draw(rng, p["traffic_mult"]), jobs[int(rng.integers(len(jobs)))])]
    return []  # idle_nodes: nodes no job uses are idle by construction


def apply_events(e: Effects, events: list[Event], t_s: float, dt_s: float) -> None:
    """Write every event's effect at ``t_s`` into ``e``."""
    for ev in events:
        if ev.kind == "fleet_shift" and t_s >= ev.at_s:
            e.domain_inlet_add += ev.value * min(1.0, (t_s - ev.at_s) / (ev.until_s - ev.at_s))
        elif ev.kind == "diurnal" and t_s >= ev.at_s:
            e.domain_inlet_add += ev.value * math.sin(2 * math.pi * (t_s - ev.at_s) / 86400.0)
        elif t_s - dt_s < ev.at_s <= t_s:
            _instant(e, ev)
        if ev.kind in ("exporter_restarts", "incast") and ev.at_s <= t_s < ev.until_s:
            if ev.kind == "incast":
                e.switch_wait_mult[ev.index] *= ev.value
            else:
                e.node_silent[ev.index] = True


def _instant(e: Effects, ev: Event) -> None:
    if ev.kind == "app_xids" and ev.index >= 0:
        e.xid_events.append((ev.index, int(ev.value), ev.at_s))
    elif ev.kind == "job_restarts":
        e.crashes.append((ev.target, ev.at_s))
    elif ev.kind == "exporter_restarts" and ev.index >= 0:
        e.counter_resets.append((ev.index, ev.at_s))


def static_inlet_add(events: list[Event], n_domains: int) -> np.ndarray[Any, Any]:
    """Per-domain inlet offset of the ``warm_loop`` confounder (degC, whole run)."""
    add = np.zeros(n_domains)
    for ev in events:
        if ev.kind == "warm_loop" and ev.index >= 0:
            add[ev.index] += ev.value
    return add


def static_power_mult(events: list[Event], n_gpus: int) -> np.ndarray[Any, Any]:
    """Per-GPU dynamic-power multiplier of the ``power_cap`` confounder."""
    mult = np.ones(n_gpus)
    for ev in events:
        if ev.kind == "power_cap":
            mult[ev.index] = ev.value
    return mult
