"""Rack-scale (NVL72) evaluation scenarios: the fleet, the job's own description,
failure rates and pinned costs, in one YAML file (``loop/rack_scale_scenarios``).

Fields (all required unless marked): ``name``, ``description`` (optional),
``duration_days``, ``seed``; ``fleet``: ``domains``, ``trays_per_domain``,
``gpus_per_tray``; ``job``: as :func:`brownout.recovery.domains.job_shape_from_dict`
reads it; ``failures``: ``table``, ``transient_share``, ``transient_repair_s``;
``nvswitch``: ``rate_per_domain_day``, ``duration_s``, ``slowdown``,
``detect_delay_s``, ``recall``; ``costs``: ``sync_checkpoint_s``,
``async_snapshot_s``, ``cold_restart_s``, ``warm_restart_s``, ``move_s``,
``baseline_checkpoint_interval_s``, ``cross_domain_slowdown``;
``baseline_placement`` (optional): ``blind`` (default) or ``block``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from brownout.errors import InputError
from brownout.loop.costs import scenario_document
from brownout.recovery.domains import JobShape, check_shape, job_shape_from_dict
from brownout.sim.failure_tables import TABLES
from brownout.yamldoc import parse_yaml, refuse_unknown

PACKAGE_DIR = "rack_scale_scenarios"
BASELINES = ("blind", "block")
_TOP = ("name", "description", "duration_days", "seed", "fleet", "job", "failures",
        "nvswitch", "costs", "baseline_placement")
_FLEET = ("domains", "trays_per_domain", "gpus_per_tray")
_FAIL = ("table", "transient_share", "transient_repair_s")
_NVS = ("rate_per_domain_day", "duration_s", "slowdown", "detect_delay_s", "recall")
_COSTS = ("sync_checkpoint_s", "async_snapshot_s", "cold_restart_s", "warm_restart_s",
          "move_s", "baseline_checkpoint_interval_s", "cross_domain_slowdown")


@dataclass(frozen=True)
class RackScaleScenario:
    """A parsed NVL72 evaluation scenario (see the module docstring)."""

    name: str
    description: str
    duration_s: float
    seed: int
    domains: int
    trays_per_domain: int
    gpus_per_tray: int
    job: JobShape
    table: str
    transient_share: float
    transient_repair_s: tuple[float, float]
    nvswitch: Mapping[str, Any]
    costs: Mapping[str, float]
    baseline_placement: str
    source: str

    @property
    def trays(self) -> int:
        return self.domains * self.trays_per_domain


def builtin_rack_scale() -> list[str]:
    """Names of the built-in rack-scale scenarios."""
    root = resources.files("brownout.loop").joinpath(PACKAGE_DIR)
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def find_rack_scale(name_or_path: str) -> RackScaleScenario | None:
    """The rack-scale scenario ``name_or_path`` names (a built-in name, or a file
    with a ``fleet`` section), or None."""
    doc = scenario_document(name_or_path, PACKAGE_DIR, builtin_rack_scale(), "fleet")
    return None if doc is None else parse_rack_scale(*doc)


def parse_rack_scale(text: str, where: str) -> RackScaleScenario:
    """Validate a rack-scale scenario document (one clear line per problem)."""
    raw = parse_yaml(text, where)
    if not isinstance(raw, Mapping):
        raise InputError(f"{where}: must be a mapping")
    _only(raw, where, "scenario", _TOP)
    fleet = _section(raw, "fleet", where, _FLEET)
    fail = _section(raw, "failures", where, _FAIL)
    nvs = _section(raw, "nvswitch", where, _NVS)
    costs = _section(raw, "costs", where, _COSTS)
    job = job_shape_from_dict(_mapping(raw, "job", where), f"{where}: job")
    sizes = {k: int(_num(fleet, k, where)) for k in _FLEET}
    try:
        check_shape(job, sizes["gpus_per_tray"], sizes["trays_per_domain"])
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from exc
    if job.nodes > sizes["domains"] * sizes["trays_per_domain"]:
        raise InputError(f"{where}: job {job.name} needs more trays than the fleet has")
    if str(fail.get("table")) not in TABLES:
        raise InputError(f"{where}: failures.table must be one of {', '.join(TABLES)}")
    baseline = str(raw.get("baseline_placement", "blind"))
    if baseline not in BASELINES:
        raise InputError(f"{where}: baseline_placement must be one of {', '.join(BASELINES)}")
    return RackScaleScenario(
        str(raw.get("name", "nvl72")), str(raw.get("description", "")),
        _num(raw, "duration_days", where) * 86400.0, int(_num(raw, "seed", where, zero=True)),
        sizes["domains"], sizes["trays_per_domain"], sizes["gpus_per_tray"], job,
        str(fail["table"]), _share(fail, "transient_share", where),
        _pair(fail, "transient_repair_s", where),
        {"rate_per_domain_day": _num(nvs, "rate_per_domain_day", where, zero=True),
         "duration_s": _pair(nvs, "duration_s", where), "slowdown": _pair(nvs, "slowdown", where),
         "detect_delay_s": _num(nvs, "detect_delay_s", where, zero=True),
         "recall": _share(nvs, "recall", where)},
        {k: _num(costs, k, where, zero=True) for k in _COSTS}, baseline, where)


def _mapping(raw: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    sec = raw.get(key)
    if not isinstance(sec, Mapping):
        raise InputError(f"{where}: {key} must be a mapping")
    return sec


def _only(raw: Mapping[str, Any], where: str, label: str, keys: tuple[str, ...]) -> None:
    refuse_unknown(raw, keys, where, label)


def _section(raw: Mapping[str, Any], key: str, where: str, keys: tuple[str, ...]
             ) -> Mapping[str, Any]:
    sec = _mapping(raw, key, where)
    _only(sec, where, key, keys)
    missing = [k for k in keys if k not in sec]
    if missing:
        raise InputError(f"{where}: {key}: missing {', '.join(missing)}")
    return sec


def _num(raw: Mapping[str, Any], key: str, where: str, zero: bool = False) -> float:
    v = raw.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0 or (v == 0 and not zero):
        raise InputError(f"{where}: {key} must be a positive number, got {v!r}")
    return float(v)


def _share(raw: Mapping[str, Any], key: str, where: str) -> float:
    v = _num(raw, key, where, zero=True)
    if v > 1:
        raise InputError(f"{where}: {key} must be in [0, 1], got {v!r}")
    return v


def _pair(raw: Mapping[str, Any], key: str, where: str) -> tuple[float, float]:
    v = raw.get(key)
    if (not isinstance(v, list) or len(v) != 2 or not all(
            isinstance(x, int | float) and not isinstance(x, bool) and x > 0 for x in v)
            or v[0] > v[1]):
        raise InputError(f"{where}: {key} must be [lo, hi] with 0 < lo <= hi")
    return float(v[0]), float(v[1])
