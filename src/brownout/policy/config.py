"""Policy configuration: one frozen value object with named defaults.

Every number the policy and its guardrails use lives here, with its unit in
its name. :func:`load_policy_config` reads the same fields from a YAML file a
person can read (docs/policy.md documents each one); unknown keys are refused
so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brownout.errors import InputError, ParseError
from brownout.findings import KINDS, SEVERITIES
from brownout.policy.actions import (
    ACTION_KINDS,
    DRAIN_NODE,
    ISOLATING,
    NOTIFY,
    REROUTE,
    RESTART_JOB,
)
from brownout.yamldoc import read_yaml, refuse_unknown

#: kinds whose findings never take hardware out of service, whatever the config says
NEVER_ISOLATE = frozenset({"telemetry_loss", "switch_congestion"})
#: the only kind a reroute may follow from (a leaf switch's congestion)
REROUTE_KINDS = frozenset({"switch_congestion"})
APPROVAL_MODES = ("off", "disruptive", "all")
#: groups a GPU-hours budget may be stated for
BUDGET_GROUPS = ("rack", "leaf", "nvlink_domain", "cooling", "job")

_ISOLATE = (DRAIN_NODE, RESTART_JOB, NOTIFY)


def _default_kind_actions() -> dict[str, dict[str, tuple[str, ...]]]:
    """Default mapping finding kind -> severity -> actions (before Xid refinement)."""
    node_fault = {"minor": (NOTIFY,), "major": (DRAIN_NODE, NOTIFY), "critical": _ISOLATE}
    return {
        "gpu_failed": {"minor": (NOTIFY,), "major": _ISOLATE, "critical": _ISOLATE},
        "gpu_degraded": dict(node_fault),
        "gpu_overheating": dict(node_fault),
        "nic_degraded": dict(node_fault),
        "host_straggler": dict(node_fault),
        # cooling_fault: a ticket always; drains only through the hottest-first rule
        "cooling_fault": dict.fromkeys(SEVERITIES, (NOTIFY,)),
        "switch_congestion": dict.fromkeys(SEVERITIES, (NOTIFY,)),
        "telemetry_loss": dict.fromkeys(SEVERITIES, (NOTIFY,)),
        # a hung rank: restart the job (a second hang of the node within
        # hang_repeat_window_s also drains the node: rules.py)
        "rank_hang": {"minor": (NOTIFY,), "major": (RESTART_JOB, NOTIFY),
                      "critical": (RESTART_JOB, NOTIFY)},
    }


@dataclass(frozen=True)
class PolicyConfig:
    """Settings of the policy, guardrails, breaker and approvals.

    Attributes:
        kind_actions: finding kind -> severity -> actions to take.
        min_confidence: findings below this confidence only notify.
        throttle_temp_c: GPU slowdown temperature; a cooling fault drains only
            nodes whose GPUs are past it.
        cooling_max_drains: at most this many nodes drained per cooling finding,
            hottest first.
        return_after_s: a node in repair with no open finding returns after this.
        probation_s: a returned node counts as healthy after this long.
        max_fleet_fraction: at most this fraction of all nodes isolated at once.
        max_group_fraction: the same limit within one rack, leaf switch or job.
        min_group_nodes: a group may always lose this many nodes (small racks).
        window_s: isolations decided within this window count as in force.
        cooldown_s: no second isolating action on a node within this time
            unless it follows from the same finding.
        flap_max: a node quarantined this many times within ``flap_window_s``
            is flapping: no more automatic actions on it, a person decides.
        flap_window_s: see ``flap_max``.
        rate_max_actions: at most this many disruptive actions per ``rate_window_s``.
        rate_window_s: see ``rate_max_actions``.
        breaker_anomaly_fraction: the breaker opens when this fraction of the
            fleet's nodes have open findings at once.
        breaker_blind_fraction: ... or when this fraction of nodes lost telemetry.
        breaker_min_nodes: the breaker ignores fleets smaller than this.
        breaker_reset_s: the breaker closes after its cause has been gone this long.
        approval_mode: ``off``, ``disruptive`` (every disruptive action waits
            for a person) or ``all``.
        approval_ttl_s: an unapproved action expires after this.
        retry_attempts: executor attempts per action per run.
        retry_backoff_s: first back-off between attempts (doubles each time).
        xid_overrides: Xid code -> resolution name, replacing NVIDIA's catalogue entry.
        reroute_after_s: a ``switch_congestion`` finding must have lasted this
            long (from its onset) before a ``reroute`` is considered.
        reroute_cost_s: what a reroute costs the job (a warm restart plus the
            save before it), compared with the expected slowdown loss.
        reroute_min_duration_s: shortest congestion episode of the duration
            prior (log-uniform; default: Greyhound's observed 10 min ..).
        reroute_max_duration_s: ... longest (.. 10 h).
        escalate_min_nodes: this many nodes under one rack, NVLink domain,
            cooling loop or leaf going bad within ``escalate_window_s`` get one
            recommendation for the shared part instead of node actions (0: off).
        escalate_window_s: see ``escalate_min_nodes`` (onsets this close).
        gpu_hours_budget: group kind (``rack``, ``leaf``, ``nvlink_domain``,
            ``cooling``, ``job``) -> GPU-hours at risk allowed in any one such
            group: isolated GPUs times ``isolation_expected_h``.
        isolation_expected_h: how long an isolated node is expected to stay
            out (hours), for the GPU-hours at risk.
        hang_repeat_window_s: a node whose ranks hang a second time within this
            window is drained (its job restarts without it); the first hang
            only restarts the job.
    """

    kind_actions: dict[str, dict[str, tuple[str, ...]]] = field(
        default_factory=_default_kind_actions)
    min_confidence: float = 0.6
    throttle_temp_c: float = 87.0
    cooling_max_drains: int = 2
    return_after_s: float = 3600.0
    probation_s: float = 86400.0
    max_fleet_fraction: float = 0.05
    max_group_fraction: float = 0.25
    min_group_nodes: int = 1
    window_s: float = 3600.0
    cooldown_s: float = 1800.0
    flap_max: int = 3
    flap_window_s: float = 7 * 86400.0
    rate_max_actions: int = 20
    rate_window_s: float = 600.0
    breaker_anomaly_fraction: float = 0.2
    breaker_blind_fraction: float = 0.1
    breaker_min_nodes: int = 10
    breaker_reset_s: float = 900.0
    approval_mode: str = "off"
    approval_ttl_s: float = 3600.0
    retry_attempts: int = 3
    retry_backoff_s: float = 0.5
    xid_overrides: dict[int, str] = field(default_factory=dict)
    reroute_after_s: float = 300.0
    reroute_cost_s: float = 300.0
    reroute_min_duration_s: float = 600.0
    reroute_max_duration_s: float = 36000.0
    escalate_min_nodes: int = 3
    escalate_window_s: float = 1800.0
    gpu_hours_budget: dict[str, float] = field(default_factory=dict)
    isolation_expected_h: float = 24.0
    hang_repeat_window_s: float = 7 * 86400.0

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise InputError(f"policy config: {problems[0]}")

    def replace(self, **changes: Any) -> PolicyConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def _problems(cfg: PolicyConfig) -> list[str]:
    out = [f"{name} must be in [0, 1], got {getattr(cfg, name)}" for name in (
        "min_confidence", "max_fleet_fraction", "max_group_fraction",
        "breaker_anomaly_fraction", "breaker_blind_fraction")
        if not 0.0 <= getattr(cfg, name) <= 1.0]
    out += [f"{f.name} must be >= 0" for f in dataclasses.fields(cfg)
            if isinstance(getattr(cfg, f.name), int | float) and getattr(cfg, f.name) < 0]
    if cfg.approval_mode not in APPROVAL_MODES:
        out.append(f"approval_mode must be one of {', '.join(APPROVAL_MODES)}")
    if cfg.retry_attempts < 1:
        out.append("retry_attempts must be >= 1")
    if not 0 < cfg.reroute_min_duration_s <= cfg.reroute_max_duration_s:
        out.append("reroute_min_duration_s must be > 0 and <= reroute_max_duration_s")
    for kind, by_sev in cfg.kind_actions.items():
        out += _kind_problems(kind, by_sev)
    for group, budget in cfg.gpu_hours_budget.items():
        if group not in BUDGET_GROUPS:
            out.append(f"gpu_hours_budget: unknown group {group!r} (one of"
                       f" {', '.join(BUDGET_GROUPS)})")
        elif isinstance(budget, bool) or not isinstance(budget, int | float) or budget < 0:
            out.append(f"gpu_hours_budget.{group} must be a number >= 0, got {budget!r}")
    return out


def _kind_problems(kind: str, by_sev: dict[str, tuple[str, ...]]) -> list[str]:
    if kind not in KINDS:
        return [f"kind_actions: unknown finding kind {kind!r}"]
    out = []
    for sev, actions in by_sev.items():
        if sev not in SEVERITIES:
            out.append(f"kind_actions.{kind}: unknown severity {sev!r}")
        bad = [a for a in actions if a not in ACTION_KINDS]
        if bad:
            out.append(f"kind_actions.{kind}.{sev}: unknown action {bad[0]!r}")
        if kind in NEVER_ISOLATE and ISOLATING.intersection(actions):
            out.append(f"kind_actions.{kind}.{sev}: {kind} never isolates hardware")
        if REROUTE in actions and kind not in REROUTE_KINDS:
            out.append(f"kind_actions.{kind}.{sev}: reroute follows only switch_congestion")
    return out


def with_reroute(cfg: PolicyConfig) -> PolicyConfig:
    """``cfg`` with major and critical ``switch_congestion`` findings rerouted
    (when :func:`~brownout.policy.rules.reroute_pays`) as well as notified."""
    kinds = {k: dict(v) for k, v in cfg.kind_actions.items()}
    for sev in ("major", "critical"):
        kinds["switch_congestion"][sev] = (REROUTE, NOTIFY)
    return cfg.replace(kind_actions=kinds)


def load_policy_config(path: str | Path) -> PolicyConfig:
    """Read a policy YAML file; absent fields keep their defaults.

    Raises:
        ParseError: unreadable file, bad YAML, unknown key or bad value.
    """
    where = str(path)
    raw = read_yaml(path) or {}
    if not isinstance(raw, dict):
        raise ParseError(where, 0, "a policy file is a mapping of setting: value")
    try:
        return config_from_dict(raw)
    except InputError as exc:
        raise ParseError(where, 0, str(exc)) from exc


def config_from_dict(raw: dict[str, Any]) -> PolicyConfig:
    """Build a config from plain data (YAML); ``kind_actions`` merges per kind."""
    names = {f.name: f for f in dataclasses.fields(PolicyConfig)}
    refuse_unknown(raw, names, "policy", "settings")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        values[key] = _coerce(key, value, names[key].default)
    if "kind_actions" in values:
        merged = _default_kind_actions()
        for kind, by_sev in values["kind_actions"].items():
            merged.setdefault(kind, {}).update(by_sev)
        values["kind_actions"] = merged
    return PolicyConfig(**values)


def _coerce(key: str, value: Any, default: Any) -> Any:
    if key == "kind_actions":
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise InputError("kind_actions must map kind -> severity -> [actions]")
        return {k: {s: tuple(a) if isinstance(a, list) else (str(a),) for s, a in v.items()}
                for k, v in value.items()}
    if key == "gpu_hours_budget":
        if not isinstance(value, dict):
            raise InputError("gpu_hours_budget must map group -> GPU-hours")
        return {str(k): float(v) if isinstance(v, int | float) and not isinstance(v, bool)
                else v for k, v in value.items()}
    if key == "xid_overrides":
        if not isinstance(value, dict):
            raise InputError("xid_overrides must map Xid -> resolution")
        return {int(k): str(v) for k, v in value.items()}
    if key == "approval_mode" and value is False:
        return "off"  # YAML 1.1 reads an unquoted off as false
    if isinstance(default, bool) or default is dataclasses.MISSING:
        return value
    if isinstance(default, int) and not isinstance(value, bool) and isinstance(value, int):
        return value
    if isinstance(default, float) and isinstance(value, int | float) and not isinstance(
            value, bool):
        return float(value)
    if isinstance(default, str) and isinstance(value, str):
        return value
    raise InputError(f"{key} must be a {type(default).__name__}, got {value!r}")
