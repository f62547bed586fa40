"""Online interruption-rate estimate: gamma-Poisson with exponential forgetting.

Each node's rate has a gamma prior whose mean is the fleet's current rate;
the fleet rate itself is a gamma posterior over fleet-wide observations,
starting from a published prior (:mod:`brownout.recovery.priors`). Old
evidence fades with a half-life, so a fleet that degrades (or a node that
starts failing) moves the estimate within weeks, not years. Times come from
an injected clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from brownout.clock import Clock
from brownout.recovery.priors import DAY_S, RatePrior


@dataclass(frozen=True)
class _Batch:
    t_s: float
    failures: float
    node_s: float


class FailureRateModel:
    """Per-node and fleet interruption rates, estimated online.

    Args:
        prior: the fleet prior.
        clock: time source (unix seconds).
        half_life_s: evidence half-life (default 30 days).
    """

    def __init__(self, prior: RatePrior, clock: Clock, half_life_s: float = 30 * DAY_S) -> None:
        self.prior = prior
        self.clock = clock
        self.half_life_s = half_life_s
        self._fleet: list[_Batch] = []
        self._first_seen: dict[str, float] = {}
        self._failures: dict[str, list[float]] = {}

    def _w(self, age_s: float) -> float:
        return float(0.5 ** (max(age_s, 0.0) / self.half_life_s))

    def observe_fleet(self, failures: int, node_s: float) -> None:
        """Fleet-wide evidence: ``failures`` interruptions over ``node_s`` node-seconds,
        ending now."""
        self._fleet.append(_Batch(self.clock.now(), float(failures), float(node_s)))

    def track(self, nodes: Iterable[str]) -> None:
        """Start counting exposure for nodes not seen before (from now)."""
        now = self.clock.now()
        for n in nodes:
            self._first_seen.setdefault(n, now)

    def observe_node_failure(self, node: str) -> None:
        """One interruption caused by ``node``, now."""
        self.track([node])
        self._failures.setdefault(node, []).append(self.clock.now())

    def fleet_rate_per_s(self) -> float:
        """Posterior mean fleet rate per node-second."""
        now = self.clock.now()
        w0 = self.prior.weight_node_days * DAY_S
        k = sum(self._w(now - b.t_s) * b.failures for b in self._fleet)
        e = sum(self._w(now - b.t_s) * b.node_s for b in self._fleet)
        return (self.prior.per_node_day / DAY_S * w0 + k) / (w0 + e)

    def node_rate_per_s(self, node: str) -> float:
        """Posterior mean rate of one node (its own history, shrunk toward the fleet)."""
        now = self.clock.now()
        k = sum(self._w(now - t) for t in self._failures.get(node, []))
        age = now - self._first_seen.get(node, now)
        decay = math.log(2) / self.half_life_s
        exposure = (1 - math.exp(-decay * age)) / decay if age > 0 else 0.0
        shape = self.prior.shape
        return (shape + k) / (shape / self.fleet_rate_per_s() + exposure)

    def job_mtbi_s(self, nodes: Iterable[str]) -> float:
        """Mean time between interruptions of a job on ``nodes`` (any node stops it)."""
        total = sum(self.node_rate_per_s(n) for n in nodes)
        return 1.0 / total if total > 0 else math.inf
