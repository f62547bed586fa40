"""The policy: open findings and cluster state in, a list of actions out.

:func:`decide` is a pure function (no I/O, no clock, no randomness): the same
:class:`PolicyInput` always gives the same actions in the same order. The
guardrails (:mod:`brownout.policy.guardrails`) then decide which of them may
run; the controller journals and executes them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from brownout.findings import Finding
from brownout.policy.actions import (
    DRAIN_NODE,
    ISOLATING,
    NOTIFY,
    ORDER,
    REROUTE,
    RESTART_JOB,
    RETURN_NODE,
    Action,
)
from brownout.policy.config import NEVER_ISOLATE, PolicyConfig
from brownout.policy.escalation import Shared, escalate
from brownout.policy.states import IN_REPAIR, OUT_OF_SERVICE
from brownout.policy.xid import worst_xid_actions
from brownout.topology.component import host_of, node_of


@dataclass(frozen=True)
class PolicyInput:
    """One frozen snapshot of what the policy may look at.

    Attributes:
        findings: open findings (faults of components).
        node_states: node -> state, for nodes not ``healthy``.
        state_since_s: node -> when it entered its current state (unix s).
        now_s: the time of the decision (unix s), from the injected clock.
        shared: kind -> node -> the rack, NVLink domain, cooling loop and leaf
            above it (:func:`brownout.policy.escalation.shared_groups`); empty:
            no escalation.
        past_hangs: node -> when ``rank_hang`` findings there were acted on
            within ``hang_repeat_window_s`` (unix s, from the journal).
    """

    findings: tuple[Finding, ...]
    node_states: Mapping[str, str] = field(default_factory=dict)
    state_since_s: Mapping[str, float] = field(default_factory=dict)
    now_s: float = 0.0
    shared: Shared = field(default_factory=dict)
    past_hangs: Mapping[str, tuple[float, ...]] = field(default_factory=dict)


def decide(inp: PolicyInput, config: PolicyConfig) -> list[Action]:
    """Actions for every open finding, then returns to service; no duplicates.

    Findings absorbed by an escalation (:mod:`brownout.policy.escalation`) get
    the one recommendation for their shared component instead of node actions.
    """
    out: dict[str, Action] = {}
    escalations = escalate(inp.findings, inp.shared, config.escalate_min_nodes,
                           config.escalate_window_s, config.min_confidence)
    for e in escalations:
        a = e.action(config.escalate_window_s)
        out.setdefault(a.key, a)
    absorbed = {i for e in escalations for i in e.finding_ids}
    for f in sorted(inp.findings, key=lambda f: (f.detected_at, f.id)):
        if f.id in absorbed:
            continue
        for a in _for_finding(f, inp, config):
            out.setdefault(a.key, a)
    for a in _returns(inp, config):
        out.setdefault(a.key, a)
    return list(out.values())


def _for_finding(f: Finding, inp: PolicyInput, cfg: PolicyConfig) -> list[Action]:
    if f.kind == "cooling_fault":
        return _cooling(f, cfg)
    if f.kind == "switch_congestion":
        return _congestion(f, inp, cfg)
    node = node_of(f.component, f.component_type)
    kinds = _kinds_for(f, cfg)
    if f.kind == "rank_hang" and RESTART_JOB in kinds and _hung_before(f, node, inp):
        kinds = (DRAIN_NODE, *kinds)  # the node hangs again: restart the job without it
    if not node:
        kinds = tuple(k for k in kinds if k == NOTIFY)
    if inp.node_states.get(node) in OUT_OF_SERVICE:
        kinds = tuple(k for k in kinds if k not in (DRAIN_NODE, RESTART_JOB))
    return [_action(k, f, node) for k in sorted(kinds, key=ORDER.__getitem__)]


def _hung_before(f: Finding, node: str, inp: PolicyInput) -> bool:
    """Whether the node hung before: a ``rank_hang`` there was acted on before this
    one began (two ranks of one node stuck in the same incident are one hang)."""
    return any(t < f.onset for t in inp.past_hangs.get(node, ()))


def _kinds_for(f: Finding, cfg: PolicyConfig) -> tuple[str, ...]:
    kinds = cfg.kind_actions.get(f.kind, {}).get(f.severity, (NOTIFY,))
    xids = _xids(f.evidence)
    if f.kind == "gpu_failed" and xids:
        from_xid = worst_xid_actions(xids, cfg.xid_overrides)
        if from_xid is not None:
            kinds = from_xid or (NOTIFY,)
    if f.confidence < cfg.min_confidence or f.kind in NEVER_ISOLATE:
        kinds = tuple(k for k in kinds if k not in ISOLATING) or (NOTIFY,)
    return kinds


def _xids(evidence: Mapping[str, Any]) -> list[int]:
    raw = evidence.get("xids", evidence.get("xid"))
    items = raw if isinstance(raw, list | tuple) else [raw]
    out = []
    for x in items:
        if isinstance(x, int | str) and not isinstance(x, bool) and str(x).strip().isdigit():
            out.append(int(x))
    return out


def _action(kind: str, f: Finding, node: str) -> Action:
    target = f.component if kind in (NOTIFY, "reset_gpu", REROUTE) else node
    why = f"{f.kind} {f.severity} {f.component}: {f.summary}".strip().rstrip(":")
    return Action(kind=kind, component=target, node=node, finding_id=f.id,
                  reason=_one_line(why), finding_kind=f.kind)


def _one_line(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


def hot_nodes(evidence: Mapping[str, Any]) -> dict[str, float]:
    """Hottest GPU temperature per node (deg C) from a cooling finding's evidence.

    Understands ``node_temp_c`` ({node: degC}), ``gpu_temp_c`` ({gpu id: degC})
    and ``hottest`` ([{component, temp_c}]); anything else is ignored.
    """
    temps: dict[str, float] = {}
    pairs: list[tuple[str, Any]] = []
    for key in ("node_temp_c", "gpu_temp_c"):
        raw = evidence.get(key)
        if isinstance(raw, Mapping):
            pairs += [(str(k), v) for k, v in raw.items()]
    raw_list = evidence.get("hottest")
    if isinstance(raw_list, list):
        pairs += [(str(e.get("component", "")), e.get("temp_c")) for e in raw_list
                  if isinstance(e, Mapping)]
    for comp, value in pairs:
        if isinstance(value, int | float) and not isinstance(value, bool) and comp:
            node = host_of(comp)
            temps[node] = max(temps.get(node, float("-inf")), float(value))
    return temps


def _cooling(f: Finding, cfg: PolicyConfig) -> list[Action]:
    """A ticket for the cooling domain; drain nodes past the throttle point, hottest first."""
    out = [_action(NOTIFY, f, "")]
    if f.severity == "minor" or f.confidence < cfg.min_confidence:
        return out
    hot = sorted(((t, n) for n, t in hot_nodes(f.evidence).items() if t > cfg.throttle_temp_c),
                 reverse=True)
    for temp_c, node in hot[: cfg.cooling_max_drains]:
        why = (f"cooling_fault {f.component}: GPUs at {temp_c:.1f} degC,"
               f" past the {cfg.throttle_temp_c:.1f} degC throttle point")
        out.append(Action(DRAIN_NODE, node, node, f.id, why, f.kind))
    return out


def job_slowdown(evidence: Mapping[str, Any]) -> float | None:
    """The job's measured slowdown (step time over its healthy step time) from
    a finding's evidence (``job_slowdown`` or ``slowdown``), or None."""
    for key in ("job_slowdown", "slowdown"):
        v = evidence.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            return float(v)
    return None


def reroute_pays(f: Finding, now_s: float, cfg: PolicyConfig) -> bool:
    """Whether moving the job off ``f``'s congested leaf now is worth its restart.

    Causal: only the finding's onset, its measured slowdown and the duration
    prior are used (never when the congestion will end). The finding must
    have lasted ``reroute_after_s`` and be confident; without a measured job
    slowdown there is nothing to weigh the restart against: no reroute.
    """
    slow = job_slowdown(f.evidence)
    elapsed_s = now_s - f.onset
    if (slow is None or f.confidence < cfg.min_confidence or f.severity == "minor"
            or elapsed_s < cfg.reroute_after_s):
        return False
    prior = (cfg.reroute_min_duration_s, cfg.reroute_max_duration_s)
    return act_now_pays(slow, elapsed_s, prior, cfg.reroute_cost_s)


def _congestion(f: Finding, inp: PolicyInput, cfg: PolicyConfig) -> list[Action]:
    """A ticket; a reroute of the job off the leaf when configured and it pays.

    Never a drain, restart of a node, reset or reboot: the leaf is at fault,
    not the nodes below it (``NEVER_ISOLATE``), and the reroute touches no node.
    """
    kinds = _kinds_for(f, cfg)
    out = [_action(NOTIFY, f, "")]
    if REROUTE in kinds and reroute_pays(f, inp.now_s, cfg):
        out.insert(0, _action(REROUTE, f, ""))
    return out


def _returns(inp: PolicyInput, cfg: PolicyConfig) -> list[Action]:
    """Return nodes in repair that no open finding names and that waited long enough."""
    named = {node_of(f.component, f.component_type) for f in inp.findings}
    out = []
    for node, state in sorted(inp.node_states.items()):
        since_s = inp.state_since_s.get(node, inp.now_s)
        if state == IN_REPAIR and node not in named and inp.now_s - since_s >= cfg.return_after_s:
            out.append(Action(RETURN_NODE, node, node, f"repair@{since_s:.0f}",
                              f"repaired: no open finding for {inp.now_s - since_s:.0f} s"))
    return out


# ----------------------------------------------------------------- cost-aware timing
def expected_remaining_s(elapsed_s: float, prior_s: tuple[float, float],
                         horizon_s: float = math.inf) -> float:
    """Expected time an episode still lasts, capped by the next restart opportunity.

    The episode's total duration ``D`` follows a log-uniform prior on
    ``prior_s`` (``[lo, hi]``); it has lasted ``elapsed_s`` so far. The next
    restart that happens anyway (a crash) comes after an exponential time
    of mean ``horizon_s``; after it the fault costs nothing more (that
    restart leaves the bad node or leaf out for free). Returns
    ``E[min(D - elapsed, T) | D > elapsed]``: what waiting would cost, in
    seconds of the fault's slowdown. Causal: uses only what is known now.
    """
    lo, hi = prior_s
    a = max(elapsed_s, 0.0)
    if a >= hi:
        return 0.0
    start = max(lo, a)
    if start >= hi:
        return 0.0
    # quadrature over log D (the prior's density is flat in log D)
    u = np.linspace(math.log(start), math.log(hi), 257)
    rem = np.exp(u) - a
    capped = rem if math.isinf(horizon_s) else horizon_s * -np.expm1(-rem / horizon_s)
    return float(np.trapezoid(capped, u) / (u[-1] - u[0])) if u[-1] > u[0] else 0.0


def act_now_pays(slowdown: float, elapsed_s: float, prior_s: tuple[float, float],
                 cost_now_s: float, horizon_s: float = math.inf) -> bool:
    """Whether restarting now (to isolate a node or reroute off a leaf) beats waiting.

    Waiting loses ``(1 - 1/slowdown)`` of the job's time for as long as the
    episode lasts or until the next restart that happens anyway
    (:func:`expected_remaining_s`); acting now costs ``cost_now_s`` (restart,
    plus the save or the rework).
    """
    if slowdown <= 1.0:
        return False
    loss_rate = 1.0 - 1.0 / slowdown
    return loss_rate * expected_remaining_s(elapsed_s, prior_s, horizon_s) > cost_now_s
