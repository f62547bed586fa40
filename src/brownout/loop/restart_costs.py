"""The coarse evaluation's cost model: what restarting now costs, and whether it pays.

Pure functions of the run's state at one moment (progress not yet durable,
spares, the episode's age); the event walk in :mod:`brownout.loop.coarse_eval`
asks them at every decision. Policies differ only in their :class:`Plan`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from brownout.loop.coarse_physics import Episode, Physics
from brownout.loop.costs import EvalScenario
from brownout.policy.rules import act_now_pays, expected_remaining_s


class Knowledge(enum.StrEnum):
    """What a policy knows of the fail-slow episodes."""

    NONE = "none"      # baseline: nothing
    CAUSAL = "causal"  # brownout: what detection knows, when it knows it
    TRUTH = "truth"    # oracle: episode ends and the next crash


class Warm(enum.StrEnum):
    """Whether restarts land on warm spares."""

    NEVER = "never"    # always a cold restart
    POOL = "pool"      # warm while the spare pool lasts
    ALWAYS = "always"  # warm without drawing on the pool (the oracle's crash restarts)


@dataclass(frozen=True)
class Plan:
    """How a policy checkpoints, restarts and times its isolations.

    Attributes:
        knowledge: ``none`` (baseline), ``causal`` (brownout: what detection
            knows when it knows it) or ``truth`` (oracle: episode ends, next crash).
        reroute: move the job's ranks off a leaf with ``switch_congestion``
            (onto warm spares under other leaves) when that pays.
        snapshot_save: before a restart it chooses, save with an asynchronous
            snapshot and keep training until it is durable (else: the sync stall).
        cost_aware: restart for an isolation only when that beats waiting for the
            next restart that happens anyway (else: at once).
    """

    stall_s: float
    persist_s: float
    warm: Warm
    interval_s: float | None  # fixed interval; None: the online tuner
    knowledge: Knowledge = Knowledge.NONE
    reroute: bool = False
    snapshot_save: bool = False
    cost_aware: bool = False


@dataclass(frozen=True)
class Moment:
    """The run's state when a decision is made.

    Attributes:
        t: seconds into the run.
        unsaved_s: training progress since the last durable checkpoint.
        spares: warm spares free now.
        rate_per_s: the interruption rate the policy believes in.
    """

    t: float
    unsaved_s: float
    spares: int
    rate_per_s: float


def save_s(plan: Plan, es: EvalScenario) -> float:
    """Stall of the save before a planned restart."""
    return plan.stall_s if plan.snapshot_save else es.costs.sync_checkpoint_s


def remaining_s(ep: Episode, plan: Plan, es: EvalScenario, t: float, horizon_s: float) -> float:
    """How much longer ``ep`` slows the job, as the policy knows it (capped at the horizon)."""
    if plan.knowledge == Knowledge.TRUTH:
        return min(ep.end_s, t + horizon_s) - t
    return expected_remaining_s(t - ep.start_s, es.fail_slow.duration_s, horizon_s)


def restart_cost_s(ep: Episode, plan: Plan, es: EvalScenario, ph: Physics,
                   m: Moment) -> float | None:
    """Expected cost of restarting now for ``ep`` (None: not possible now)."""
    c = es.costs
    save = min(m.unsaved_s, save_s(plan, es))
    if ep.kind != "switch_congestion":
        warm = plan.warm == Warm.ALWAYS or (plan.warm == Warm.POOL and m.spares >= 1)
        return save + (c.warm_restart_s if warm else c.cold_restart_s)
    k = ph.leaf_nodes
    if m.spares < k:
        return None
    short = 0.0
    if plan.warm == Warm.POOL:  # spares lent to the reroute are missing for crashes
        crashes = remaining_s(ep, plan, es, m.t, math.inf) * m.rate_per_s
        short = max(0.0, crashes - (m.spares - k)) * (c.cold_restart_s - c.warm_restart_s)
    return save + c.warm_restart_s + short


def restart_pays(ep: Episode, cost_s: float, plan: Plan, es: EvalScenario, *, ph: Physics,
                 m: Moment) -> bool:
    """Does restarting now for ``ep`` cost less than living with it?"""
    if plan.knowledge == Knowledge.CAUSAL and not plan.cost_aware:
        return True
    if plan.knowledge == Knowledge.TRUTH:
        nxt = ph.fail_s[np.searchsorted(ph.fail_s, m.t, side="right"):]
        horizon = float(nxt[0]) - m.t if len(nxt) else math.inf
        return (1 - 1 / ep.slowdown) * remaining_s(ep, plan, es, m.t, horizon) > cost_s
    return act_now_pays(ep.slowdown, m.t - ep.start_s, es.fail_slow.duration_s,
                        cost_s, 1.0 / m.rate_per_s)
