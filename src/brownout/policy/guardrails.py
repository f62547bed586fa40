"""Guardrails: small validators that may refuse an action, combined with :func:`and_`.

A validator is a callable ``(action, ledger) -> Refusal | None`` in the spirit
of attrs' validators. The :class:`Ledger` holds what the validator may look at:
the fleet's groups, nodes already out of service, the journal's recent
actions, and the actions already accepted in this batch. A refusal names the
rule, its limit and the value it observed, so a person can see why.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from brownout.policy.actions import DRAIN_NODE, ISOLATING, NOTIFY, Action, PastAction, Refusal
from brownout.policy.config import PolicyConfig
from brownout.policy.statuses import LIVE

#: journal statuses of actions that did or will happen (count against limits)
LIVE_STATUSES = LIVE


@dataclass
class Ledger:
    """What the guardrails see while a batch is being checked.

    Attributes:
        now_s: decision time (unix s).
        n_nodes: nodes in the fleet.
        groups: group kind (``rack``, ``leaf``, ``job``) -> node -> group names.
        out_of_service: nodes already isolated (node state machine).
        recent: actions the journal remembers.
        quarantines: node -> times it entered ``quarantined`` in the flap window.
        accepted: actions accepted so far in this batch (the checker appends).
        gpus: node -> its GPUs (for GPU-hours budgets; a node not listed has none).
    """

    now_s: float
    n_nodes: int
    groups: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    out_of_service: frozenset[str] = frozenset()
    recent: tuple[PastAction, ...] = ()
    quarantines: Mapping[str, int] = field(default_factory=dict)
    accepted: list[Action] = field(default_factory=list)
    gpus: Mapping[str, int] = field(default_factory=dict)

    def isolated_nodes(self, window_s: float) -> set[str]:
        """Nodes out of service now, isolated in the window, or accepted in this batch."""
        since = self.now_s - window_s
        nodes = set(self.out_of_service)
        nodes.update(p.node for p in self.recent if p.kind in ISOLATING and p.node
                     and p.status in LIVE_STATUSES and p.decided_at_s >= since)
        nodes.update(a.node for a in self.accepted if a.isolating and a.node)
        return nodes

    def group_size(self, kind: str, name: str) -> int:
        return sum(1 for names in self.groups.get(kind, {}).values() if name in names)


Validator = Callable[[Action, Ledger], Refusal | None]


def and_(*validators: Validator) -> Validator:
    """All validators must pass; the first refusal wins."""
    def check(action: Action, ledger: Ledger) -> Refusal | None:
        for v in validators:
            refusal = v(action, ledger)
            if refusal is not None:
                return refusal
        return None
    return check


def _allowed(fraction: float, size: int, floor_nodes: int) -> int:
    return max(floor_nodes, math.floor(fraction * size + 1e-9))


def max_fleet_fraction(fraction: float, window_s: float, floor_nodes: int = 1) -> Validator:
    """At most ``fraction`` of all nodes isolated (now or within ``window_s``)."""
    def check(action: Action, ledger: Ledger) -> Refusal | None:
        if not action.isolating or not action.node:
            return None
        isolated = ledger.isolated_nodes(window_s)
        if action.node in isolated:
            return None
        if len(isolated) + 1 > _allowed(fraction, ledger.n_nodes, floor_nodes):
            return Refusal(action, "max_fleet_fraction", fraction,
                           (len(isolated) + 1) / max(ledger.n_nodes, 1),
                           f"{len(isolated) + 1} of {ledger.n_nodes} nodes would be out")
        return None
    return check


def max_group_fraction(kind: str, fraction: float, window_s: float,
                       floor_nodes: int = 1) -> Validator:
    """At most ``fraction`` of the nodes of any one ``kind`` group (rack, leaf, job)."""
    def check(action: Action, ledger: Ledger) -> Refusal | None:
        if not action.isolating or not action.node:
            return None
        isolated = ledger.isolated_nodes(window_s)
        if action.node in isolated:
            return None
        member = ledger.groups.get(kind, {})
        for name in member.get(action.node, ()):
            size = ledger.group_size(kind, name)
            n_out = sum(1 for n in isolated if name in member.get(n, ()))
            if n_out + 1 > _allowed(fraction, size, floor_nodes):
                return Refusal(action, f"max_{kind}_fraction", fraction,
                               (n_out + 1) / max(size, 1),
                               f"{n_out + 1} of {size} nodes of {kind} {name} would be out")
        return None
    return check


def max_gpu_hours(kind: str, budget_gpu_h: float, expected_h: float,
                  window_s: float) -> Validator:
    """At most ``budget_gpu_h`` GPU-hours at risk in any one ``kind`` group.

    A node isolated (out of service, within ``window_s``, or accepted in this
    batch) puts its GPUs at risk for ``expected_h`` hours, the expected time
    out; the budget bounds their sum per rack, leaf, NVLink domain, cooling
    loop or job. Sizes differ (a 4-GPU tray, an 8-GPU node), so the budget is
    stated in what is lost, not in node counts.
    """
    def check(action: Action, ledger: Ledger) -> Refusal | None:
        if not action.isolating or not action.node:
            return None
        isolated = ledger.isolated_nodes(window_s)
        if action.node in isolated:
            return None
        member = ledger.groups.get(kind, {})
        for name in member.get(action.node, ()):
            gpus = sum(ledger.gpus.get(n, 0) for n in isolated if name in member.get(n, ()))
            at_risk = (gpus + ledger.gpus.get(action.node, 0)) * expected_h
            if at_risk > budget_gpu_h + 1e-9:
                return Refusal(action, f"max_{kind}_gpu_hours", budget_gpu_h, at_risk,
                               f"{at_risk:.0f} GPU-hours would be at risk in {kind} {name}")
        return None
    return check


def cooldown(cooldown_s: float) -> Validator:
    """No second isolating action on a node within ``cooldown_s`` for another finding."""
    def check(action: Action, ledger: Ledger) -> Refusal | None:
        if not action.isolating or not action.node:
            return None
        times = [p.decided_at_s for p in ledger.recent
                 if p.node == action.node and p.kind in ISOLATING
                 and p.status in LIVE_STATUSES and p.finding_id != action.finding_id]
        times += [ledger.now_s for a in ledger.accepted
                  if a.node == action.node and a.isolating and a.finding_id != action.finding_id]
        if times and ledger.now_s - max(times) < cooldown_s:
            return Refusal(action, "cooldown", cooldown_s, ledger.now_s - max(times),
                           f"node {action.node} was acted on {ledger.now_s - max(times):.0f} s ago")
        return None
    return check


def flap_suppression(flap_max: int) -> Validator:
    """A node quarantined ``flap_max`` times in the flap window is left to a person."""
    def check(action: Action, ledger: Ledger) -> Refusal | None:
        if not action.disruptive or not action.node:
            return None
        count = ledger.quarantines.get(action.node, 0)
        if count >= flap_max:
            return Refusal(action, "flap_suppression", flap_max, count,
                           f"node {action.node} quarantined {count} times: a person decides")
        return None
    return check


def rate_limit(max_actions: int, window_s: float) -> Validator:
    """At most ``max_actions`` disruptive actions in any ``window_s``."""
    def check(action: Action, ledger: Ledger) -> Refusal | None:
        if not action.disruptive:
            return None
        since = ledger.now_s - window_s
        count = sum(1 for p in ledger.recent if p.kind != NOTIFY
                    and p.status in LIVE_STATUSES and p.decided_at_s > since)
        count += sum(1 for a in ledger.accepted if a.disruptive)
        if count + 1 > max_actions:
            return Refusal(action, "rate_limit", max_actions, count + 1,
                           f"{count + 1} disruptive actions within {window_s:.0f} s")
        return None
    return check


def default_guardrails(cfg: PolicyConfig) -> Validator:
    """The guardrails every controller runs, from the policy config."""
    groups = [max_group_fraction(k, cfg.max_group_fraction, cfg.window_s, cfg.min_group_nodes)
              for k in ("rack", "leaf", "job")]
    budgets = [max_gpu_hours(k, b, cfg.isolation_expected_h, cfg.window_s)
               for k, b in sorted(cfg.gpu_hours_budget.items())]
    return and_(flap_suppression(cfg.flap_max), cooldown(cfg.cooldown_s),
                max_fleet_fraction(cfg.max_fleet_fraction, cfg.window_s), *groups, *budgets,
                rate_limit(cfg.rate_max_actions, cfg.rate_window_s))


def apply_guardrails(actions: Iterable[Action], validator: Validator,
                     ledger: Ledger) -> tuple[list[Action], list[Refusal]]:
    """Check actions in order; accepted ones count against the limits of later ones.

    An action that depends on a refused drain of the same node for the same
    finding (restart, reset, reboot) is refused with the drain's rule: a GPU is
    never reset on a node that still runs work. Notifications always pass: a
    refused isolation is exactly when a person must hear of the finding.
    """
    allowed: list[Action] = []
    refused: list[Refusal] = []
    blocked: dict[tuple[str, str], Refusal] = {}
    for action in actions:
        cause = blocked.get((action.node, action.finding_id)) if action.isolating else None
        refusal = cause and Refusal(action, cause.rule, cause.limit, cause.observed,
                                    f"depends on refused {cause.action.kind}")
        refusal = refusal or validator(action, ledger)
        if refusal is None:
            allowed.append(action)
            ledger.accepted.append(action)
            continue
        refused.append(refusal)
        if action.kind == DRAIN_NODE:
            blocked[(action.node, action.finding_id)] = refusal
    return allowed, refused
