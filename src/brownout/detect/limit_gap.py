"""A GPU at its thermal limit while its node peers, at the same load, are far below.

A GPU's usual place among its node's GPUs is judged at a steady load only (a
job's warm-up heats GPUs at their own pace). A bad thermal interface does
not wait for that: its GPU reaches its limit within a minute or two of a
job's start, and its temperature then stops telling (the firmware holds it
there), while its node peers, at work in the same job, are still far below.
Peers share its inlet, so a warm or failing cooling loop moves them alike;
a GPU that always runs warmer than them (its place) is allowed that much.
Only a GPU that *reaches* its limit counts: one seen at its limit from the
first scrape on gives no reading of its place at all.

Peers are the node's other GPUs at work (utilisation) with a reading; three
at least (a node where one GPU runs has no peers). Like the place, the gap
is the smaller of two views: raw temperature, and temperature corrected for
power (a GPU drawing more than its peers, held at its power cap while they
are capped lower, runs warmer for that).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from brownout.detect.api import Candidate, confidence_of, severity_of
from brownout.detect.robust import group_median, place_spread, sustained
from brownout.detect.tick import Tick

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class LimitGapSettings:
    """Settings of the limit-gap rule (units in the names).

    Attributes:
        gap_c: at its limit, this much hotter than its working node peers beyond
            its usual place among them (a failing loop warms every peer alike;
            static heterogeneity is the place, or the fleet's spread of places
            for a GPU with none yet).
        persist_s: held this long, and over at least 2 scrapes.
        util_pct: a GPU at or above this utilisation is at work.
    """

    gap_c: float = 10.0
    persist_s: float = 30.0
    util_pct: float = 50.0


GAP_DEFAULTS = LimitGapSettings()


class LimitGap:
    """Names a GPU held at its thermal limit far ahead of its working node peers.

    Args:
        settings: the bar and the persistence.
        n_gpus: number of GPUs.
    """

    def __init__(self, settings: LimitGapSettings, n_gpus: int) -> None:
        self.settings = settings
        self.since = np.full(n_gpus, np.nan)
        self.seen_below = np.zeros(n_gpus, dtype=bool)  # ever read below its limit

    def update(self, tick: Tick, temp_level: tuple[F64, F64], at_limit: B, places_c: F64,
               limit_c: F64, *, resting: B) -> list[Candidate]:
        """Candidates of this tick.

        Args:
            temp_level: temperature, and temperature corrected for power (degC).
            at_limit: GPUs held at their thermal limit (bits or temperature).
            places_c: per GPU, how much warmer than its node's GPUs it usually is at
                work (NaN where not known yet: then three robust standard deviations
                of the known places, at least 2 degC each, are allowed, and nothing
                is judged while fewer than 8 places are known).
            limit_c: per GPU, its maximum operating temperature.
            resting: GPUs at a fraction of the power of work whatever their
                utilisation (spinning in a hung job's collective): no peers at work
                (next to them a stuck kernel's GPU at full power reaches its limit).
        """
        topo = tick.topology
        util, _ = tick.fresh("DCGM_FI_DEV_GPU_UTIL")
        working = (util >= self.settings.util_pct) & ~resting
        self.seen_below |= np.isfinite(temp_level[0]) & ~at_limit
        if not (at_limit & working & self.seen_below).any():  # the usual case: no medians
            self.since[:] = np.nan
            return []
        gaps = []
        for values in temp_level:
            med, count = group_median(np.where(working, values, np.nan), topo.gpu_node,
                                      topo.n_nodes)
            gap = values - med[topo.gpu_node]
            gap[count[topo.gpu_node] < 4] = np.nan  # itself and 3 peers at least
            gaps.append(gap)
        gap = np.fmin(gaps[0], gaps[1])
        allowed = np.clip(places_c, 0.0, None)
        far = at_limit & working & self.seen_below & (
            gap - np.nan_to_num(allowed) >= self.settings.gap_c)
        if (far & ~np.isfinite(allowed)).any():  # the spread costs a median over the fleet
            allowed = np.where(np.isfinite(allowed), allowed, place_spread(places_c, 2.0))
        gap -= allowed
        far &= gap >= self.settings.gap_c  # (never where the allowance is not known)
        self.since = sustained(self.since, far, tick.data_t_s)
        need = max(self.settings.persist_s, 0.8 * tick.interval_s)
        ready = np.flatnonzero(far & (tick.t_s - self.since >= need))
        temp = temp_level[0]
        return [self._candidate(tick, int(g), temp=float(temp[g]), peers=float(
            temp[g] - gaps[0][g]), gap=float(gap[g]), limit=float(limit_c[g])) for g in ready]

    def _candidate(self, tick: Tick, g: int, *, temp: float, peers: float, gap: float,
                   limit: float) -> Candidate:
        name = tick.topology.gpu_name(g)
        return Candidate(
            "gpu_overheating", name, float(self.since[g]),
            confidence_of(gap, self.settings.gap_c), severity_of(temp, limit - 4.0, limit),
            "investigate",
            f"{name} held at its thermal limit ({temp:.0f} degC) while its node peers at "
            f"work are at {peers:.0f} degC: {gap:.0f} degC beyond its usual place among "
            "them (thermal interface, airflow)",
            {"temp_c": round(temp, 1), "peers_temp_c": round(peers, 1),
             "excess_c": round(gap, 2), "limit_gap": True},
            source="thermal")


__all__ = ["GAP_DEFAULTS", "LimitGap", "LimitGapSettings"]
