"""Per-GPU temperature baselines by load state, for judging a cooling domain.

A cooling domain is judged by how far its GPUs moved from *their own* usual
temperature, never by its median temperature against a baseline of that
median: which GPUs are busy changes as jobs start, stop and restart, and GPUs
differ statically (sensor offsets, rack position, thermal interface, a loop
that always runs a few degrees warmer), so a domain median jumps with its
membership alone. Each GPU keeps one baseline per load state (idle, busy);
its deviation from the baseline of its current state is free of every static
offset, and a domain's median deviation is free of membership changes.

A load state is no fixed load: a job's GPUs draw more or less for their own
reasons (a power cap, a model's mix of work), and a hung job's GPUs spin in
a collective at 100 % utilisation and a small fraction of a computing GPU's
power, cooling towards their idle temperature. So each baseline is a point
(temperature, power), and a GPU's expected temperature at its power now is
its baseline's temperature moved along its own degrees per watt: the slope
between its idle and busy baselines (its thermal resistance: at a steady
load its die sits ``power x r_th`` over its coolant), or the fleet's slope
where it has not been seen in both states. A GPU that draws less than its
baseline is expected cooler; a cooling loop losing capacity warms its GPUs
at the same power.

A flagged GPU's baseline must not learn the fault, yet it must follow what
moves every GPU (a facility change, a diurnal drift): while frozen, or while
the GPU is not seen in that state, it moves by the median change of the
learning baselines of the same state.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
MIN_DRIFT_PEERS = 8


class StateBaselines:
    """Baseline (temperature, power) of every GPU in each load state (0 idle, 1 busy).

    Args:
        n_gpus: how many GPUs.
        min_gap_w: a GPU's own degrees per watt needs its two baselines at least
            this far apart in power (closer, the slope is mostly noise).
        max_c_per_w: a slope above this is no thermal resistance: it is bounded.
    """

    def __init__(self, n_gpus: int, *, min_gap_w: float = 60.0,
                 max_c_per_w: float = 0.25) -> None:
        self.base = np.full((2, n_gpus), np.nan)
        self.power = np.full((2, n_gpus), np.nan)
        self.min_gap_w = min_gap_w
        self.max_c_per_w = max_c_per_w

    def deviation(self, temp: F64, busy: B, power: F64 | None = None,
                  fleet_c_per_w: float = 0.0) -> F64:
        """Each GPU's temperature minus its baseline for its current state (NaN if
        none), the baseline moved to the GPU's power now along its degrees per watt
        (:meth:`c_per_w`; ``fleet_c_per_w`` where the fleet has none either)."""
        b = np.where(busy, self.base[1], self.base[0])
        out: F64 = temp - b
        if power is None:
            return out
        at_w = np.where(busy, self.power[1], self.power[0])
        moved: F64 = np.nan_to_num(power - at_w) * self.c_per_w(fleet_c_per_w)
        return out - moved

    def c_per_w(self, fallback: float) -> F64:
        """Each GPU's degrees per watt: between its idle and busy baselines where they
        lie ``min_gap_w`` apart, else the median of the GPUs where they do (at least
        ``MIN_DRIFT_PEERS`` of them), else ``fallback``."""
        gap = self.power[1] - self.power[0]
        own = (self.base[1] - self.base[0]) / np.where(gap >= self.min_gap_w, gap, np.nan)
        own = np.clip(own, 0.0, self.max_c_per_w)
        known = own[np.isfinite(own)]
        fleet = float(np.median(known)) if known.size >= MIN_DRIFT_PEERS else fallback
        out: F64 = np.where(np.isfinite(own), own, fleet)
        return out

    def update(self, temp: F64, busy: B, frozen: B, *, alpha: float,
               join_c: F64 | None = None, power: F64 | None = None,
               fleet_c_per_w: float = 0.0) -> None:
        """Learn the GPUs seen in each state; every other baseline follows the fleet.

        A GPU seen (finite ``temp``) and not ``frozen`` learns by EWMA, its
        temperature and its power alike (so its baseline stays a point its
        readings were at). Every other baseline of the state (frozen, or not
        seen: idle, unsteady, silent) moves by the median deviation of the
        learning ones, so a GPU that comes back after a facility change is not
        mistaken for a warm one. A GPU seen in a state for the first time
        starts at its temperature and power, less the state's median
        deviation (it joins where its peers stand), less ``join_c`` (per GPU,
        degC) where the caller knows it stands apart: a GPU first seen idle
        inside a failing cooling loop is as far from its usual as its loop's
        GPUs are from theirs. A NaN there starts nothing yet (a reading held
        at the thermal limit, or still moving after a load change, is no place
        to start from).
        """
        watts = np.full(temp.shape, np.nan) if power is None else power
        for state in (0, 1):
            mine = (busy if state else ~busy) & np.isfinite(temp)
            old, old_w = self.base[state], self.power[state]
            dev = self.deviation(temp, np.full(temp.shape, bool(state)), power, fleet_c_per_w)
            learn = mine & ~frozen & np.isfinite(old)
            level = float(np.median(dev[learn])) if learn.sum() >= MIN_DRIFT_PEERS else 0.0
            new, new_w = old + alpha * level, old_w.copy()
            new[learn] = old[learn] + alpha * (temp[learn] - old[learn])
            seen_w = learn & np.isfinite(watts)
            new_w[seen_w] = np.where(np.isfinite(old_w[seen_w]), old_w[seen_w] + alpha * (
                watts[seen_w] - old_w[seen_w]), watts[seen_w])
            start = mine & ~np.isfinite(old)
            new[start] = temp[start] - level - (0.0 if join_c is None else join_c[start])
            new_w[start] = watts[start]
            self.base[state], self.power[state] = new, new_w

    def shift(self, delta_c: float) -> None:
        """Move every baseline (a confirmed fleet-wide step, when no peer domain exists)."""
        self.base += delta_c


__all__ = ["StateBaselines"]
