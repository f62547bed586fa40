"""The circuit breaker: stop all automatic isolation when the picture is not credible.

When a large part of the fleet looks faulty at once, or telemetry is missing
at scale, the likeliest cause is the observer (an exporter rollout, a firmware
change, a facility event), not hundreds of simultaneous hardware faults. The
breaker then opens: every disruptive action is refused with the rule
``circuit_breaker``, notifications still go out, and it says so loudly. It
closes only after its cause has been gone for ``breaker_reset_s``.
"""

from __future__ import annotations

from dataclasses import dataclass

from brownout.findings import Finding
from brownout.policy.actions import Action, Refusal
from brownout.policy.config import PolicyConfig
from brownout.topology.component import node_of

#: notice kinds that mean "the observer, not the hardware, changed": trip the breaker
FLEET_NOTICES = {"fleet_shift": "fleet_shift_notice", "telemetry_outage": "telemetry_outage_notice"}


@dataclass(frozen=True)
class BreakerReading:
    """Whether this snapshot alone would trip the breaker, and why."""

    tripped: bool
    rule: str = ""
    limit: float = 0.0
    observed: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class Breaker:
    """Breaker state carried between decisions (persisted in the journal).

    Attributes:
        open: True while automatic isolation is stopped.
        last_trip_s: the last time a reading tripped it (unix s).
        reading: the reading that opened it (for the loud message).
    """

    open: bool = False
    last_trip_s: float = float("-inf")
    reading: BreakerReading = BreakerReading(False)

    def update(self, reading: BreakerReading, now_s: float, reset_s: float) -> Breaker:
        """Open on a tripping reading; close once none came for ``reset_s``."""
        if reading.tripped:
            return Breaker(True, now_s, reading)
        if self.open and now_s - self.last_trip_s < reset_s:
            return self
        return Breaker(False, self.last_trip_s, BreakerReading(False))

    def refuse(self, action: Action) -> Refusal | None:
        """The refusal of a disruptive action while open (notifications pass)."""
        if not self.open or not action.disruptive:
            return None
        r = self.reading
        return Refusal(action, "circuit_breaker", r.limit, r.observed, r.reason)


def read_breaker(findings: tuple[Finding, ...], notices: tuple[Finding, ...],
                 n_nodes: int, cfg: PolicyConfig) -> BreakerReading:
    """Judge one snapshot: fleet-wide anomalies, mass telemetry loss, fleet-wide notices.

    A notice counts while it is recent: detected within ``breaker_reset_s`` of
    the newest finding or notice of the snapshot (its own clock, so a recorded
    or simulated findings file is judged in its own time).
    """
    latest_s = max((f.detected_at for f in (*findings, *notices)), default=0.0)
    recent = [n for n in notices if n.kind in FLEET_NOTICES
              and latest_s - n.detected_at <= cfg.breaker_reset_s]
    if recent:
        n = recent[-1]
        return BreakerReading(True, FLEET_NOTICES[n.kind], 0, len(recent),
                              f"{n.kind} reported: {n.summary}")
    if n_nodes < cfg.breaker_min_nodes:
        return BreakerReading(False)
    blind = {f.component for f in findings if f.kind == "telemetry_loss"}
    if len(blind) / n_nodes >= cfg.breaker_blind_fraction:
        return BreakerReading(True, "telemetry_loss_fraction", cfg.breaker_blind_fraction,
                              len(blind) / n_nodes,
                              f"telemetry lost from {len(blind)} of {n_nodes} nodes: blind")
    sick = {node_of(f.component, f.component_type) for f in findings
            if f.kind != "telemetry_loss"} - {""}
    if len(sick) / n_nodes >= cfg.breaker_anomaly_fraction:
        return BreakerReading(True, "anomaly_fraction", cfg.breaker_anomaly_fraction,
                              len(sick) / n_nodes,
                              f"{len(sick)} of {n_nodes} nodes anomalous at once: fleet-wide")
    return BreakerReading(False)
