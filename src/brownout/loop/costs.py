"""Evaluation scenarios: a simulator scenario plus the pinned costs of issue 6.

The simulator's scenario format describes physics (cluster, failure table,
jobs); what a recovery *costs* is pinned here, in the same file for every
policy, so that no policy can win by changing the physics. Built-in files
live in ``brownout/loop/scenarios/*.yaml`` (``llama3-54d``,
``fail-slow-heavy``); a user passes a path to their own. Fields (all
required unless marked):

- ``name``, ``description`` (optional), ``sim_scenario`` (a built-in coarse
  simulator scenario or a path), ``duration_days`` (optional override);
- ``costs``: ``sync_checkpoint_s``, ``async_snapshot_s``, ``async_persist_s``,
  ``cold_restart_s``, ``warm_restart_s``, ``warm_spares`` (nodes),
  ``baseline_checkpoint_interval_s``;
- ``fail_slow``: ``rate_vs_fail_stop``, ``duration_s: [lo, hi]`` (log-uniform),
  ``slowdown: [lo, hi]`` (uniform), ``mix: {kind: weight}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from brownout.errors import InputError
from brownout.sim import load_scenario
from brownout.sim.scenario import Scenario
from brownout.yamldoc import parse_yaml, refuse_unknown

COST_FIELDS = ("sync_checkpoint_s", "async_snapshot_s", "async_persist_s", "cold_restart_s",
               "warm_restart_s", "warm_spares", "baseline_checkpoint_interval_s")
SLOW_KINDS = ("gpu_degraded", "host_straggler", "switch_congestion")


@dataclass(frozen=True)
class Costs:
    """Pinned recovery costs (seconds; spares in nodes)."""

    sync_checkpoint_s: float
    async_snapshot_s: float
    async_persist_s: float
    cold_restart_s: float
    warm_restart_s: float
    warm_spares: int
    baseline_checkpoint_interval_s: float


@dataclass(frozen=True)
class FailSlow:
    """Fail-slow episodes: how often (per fail-stop), how long, how slow, which kinds."""

    rate_vs_fail_stop: float
    duration_s: tuple[float, float]
    slowdown: tuple[float, float]
    mix: Mapping[str, float]


@dataclass(frozen=True)
class EvalScenario:
    """A coarse-mode evaluation scenario."""

    name: str
    description: str
    sim: Scenario
    costs: Costs
    fail_slow: FailSlow
    source: str


def builtin_names() -> list[str]:
    """Names of the built-in evaluation scenarios."""
    root = resources.files("brownout.loop").joinpath("scenarios")
    return sorted(p.name[:-5] for p in root.iterdir()
                  if p.name.endswith(".yaml") and p.name != "detection.yaml")


def find_eval_scenario(name_or_path: str) -> EvalScenario | None:
    """The evaluation scenario ``name_or_path`` names, or None if it names none.

    A path is an evaluation scenario when it has ``sim_scenario``; otherwise
    (a plain simulator scenario) None.
    """
    doc = scenario_document(name_or_path, "scenarios", builtin_names(), "sim_scenario")
    return None if doc is None else parse_eval_scenario(*doc)


def scenario_document(name_or_path: str, folder: str, builtins: list[str],
                      marker: str) -> tuple[str, str] | None:
    """(text, where) of a built-in scenario in ``brownout/loop/<folder>`` or of a file
    whose top level has ``marker``; None when ``name_or_path`` names neither."""
    if name_or_path in builtins:
        where = f"{folder}/{name_or_path}.yaml"
        return resources.files("brownout.loop").joinpath(where).read_text(), where
    path = Path(name_or_path)
    if not path.is_file():
        return None
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read scenario ({exc})") from exc
    raw = parse_yaml(text, str(path))
    if not isinstance(raw, Mapping) or marker not in raw:
        return None
    return text, str(path)


def parse_eval_scenario(text: str, where: str) -> EvalScenario:
    """Validate an evaluation scenario document."""
    raw = parse_yaml(text, where)
    if not isinstance(raw, Mapping):
        raise InputError(f"{where}: must be a mapping")
    _only(raw, where, "scenario", ("name", "description", "sim_scenario", "duration_days",
                                    "costs", "fail_slow"))
    sim = load_scenario(str(raw["sim_scenario"]))
    if sim.mode != "coarse":
        raise InputError(f"{where}: sim_scenario {raw['sim_scenario']!r} is not coarse-mode")
    if "duration_days" in raw:
        sim = replace(sim, duration_s=_pos(raw, "duration_days", where) * 86400.0)
    c = _section(raw, "costs", where, COST_FIELDS)
    vals = {k: _pos(c, k, f"{where}: costs") for k in COST_FIELDS}
    spares = int(vals.pop("warm_spares"))
    costs = Costs(warm_spares=spares, **vals)
    f = _section(raw, "fail_slow", where, ("rate_vs_fail_stop", "duration_s", "slowdown", "mix"))
    mix = f.get("mix")
    if not isinstance(mix, Mapping) or not mix or any(k not in SLOW_KINDS for k in mix):
        raise InputError(f"{where}: fail_slow.mix must map some of {', '.join(SLOW_KINDS)}"
                         " to weights")
    slow = FailSlow(float(_pos(f, "rate_vs_fail_stop", where, zero=True)),
                    _pair(f, "duration_s", where), _pair(f, "slowdown", where),
                    {str(k): float(v) for k, v in mix.items()})
    return EvalScenario(str(raw.get("name", sim.name)), str(raw.get("description", "")), sim,
                        costs, slow, where)


def _only(raw: Mapping[str, Any], where: str, label: str, keys: tuple[str, ...]) -> None:
    refuse_unknown(raw, keys, where, label)


def _section(raw: Mapping[str, Any], key: str, where: str, keys: tuple[str, ...]
             ) -> Mapping[str, Any]:
    sec = raw.get(key)
    if not isinstance(sec, Mapping):
        raise InputError(f"{where}: {key} must be a mapping")
    _only(sec, where, key, keys)
    missing = [k for k in keys if k not in sec]
    if missing:
        raise InputError(f"{where}: {key}: missing {', '.join(missing)}")
    return sec


def _pos(raw: Mapping[str, Any], key: str, where: str, zero: bool = False) -> float:
    v = raw.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0 or (v == 0 and not zero):
        raise InputError(f"{where}: {key} must be a positive number, got {v!r}")
    return float(v)


def _pair(raw: Mapping[str, Any], key: str, where: str) -> tuple[float, float]:
    v = raw.get(key)
    if (not isinstance(v, list) or len(v) != 2
            or not all(isinstance(x, int | float) and x > 0 for x in v) or v[0] > v[1]):
        raise InputError(f"{where}: fail_slow.{key} must be [lo, hi] with 0 < lo <= hi")
    return float(v[0]), float(v[1])
