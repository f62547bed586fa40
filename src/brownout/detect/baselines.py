"""Per-GPU temperature baselines by load state, for judging a cooling domain.

A cooling domain is judged by how far its GPUs moved from *their own* usual
temperature, never by its median temperature against a baseline of that
median: which GPUs are busy changes as jobs start, stop and restart, and GPUs
differ statically (sensor offsets, rack position, thermal interface, a loop
that always runs a few degrees warmer), so a domain median jumps with its
membership alone. Each GPU keeps one baseline per load state (idle, busy);
its deviation from the baseline of its current state is free of every static
offset, and a domain's median deviation is free of membership changes.

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
    """Baseline temperature of every GPU in each load state (0 idle, 1 busy).

    Args:
        n_gpus: how many GPUs.
    """

    def __init__(self, n_gpus: int) -> None:
        self.base = np.full((2, n_gpus), np.nan)

    def deviation(self, temp: F64, busy: B) -> F64:
        """Each GPU's temperature minus its baseline for its current state (NaN if none)."""
        b = np.where(busy, self.base[1], self.base[0])
        out: F64 = temp - b
        return out

    def update(self, temp: F64, busy: B, frozen: B, alpha: float,
               join_c: F64 | None = None) -> None:
        """Learn the GPUs seen in each state; every other baseline follows the fleet.

        A GPU seen (finite ``temp``) and not ``frozen`` learns by EWMA. Every
        other baseline of the state (frozen, or not seen: idle, unsteady,
        silent) moves by the median change of the learning ones, so a GPU
        that comes back after a facility change is not mistaken for a warm
        one. A GPU seen in a state for the first time starts at its
        temperature minus the state's median deviation (it joins where its
        peers stand), plus ``join_c`` (per GPU, degC) where the caller knows
        it stands apart: a GPU first seen idle inside a failing cooling loop
        is as far from its usual as its loop's GPUs are from theirs. A NaN
        there starts nothing yet (a reading held at the thermal limit, or
        still moving after a load change, is no place to start from).
        """
        for state in (0, 1):
            mine = (busy if state else ~busy) & np.isfinite(temp)
            old = self.base[state]
            dev = temp - old
            learn = mine & ~frozen & np.isfinite(old)
            level = float(np.median(dev[learn])) if learn.sum() >= MIN_DRIFT_PEERS else 0.0
            new = old + alpha * level
            new[learn] = old[learn] + alpha * dev[learn]
            start = mine & ~np.isfinite(old)
            new[start] = temp[start] - level - (0.0 if join_c is None else join_c[start])
            self.base[state] = new

    def shift(self, delta_c: float) -> None:
        """Move every baseline (a confirmed fleet-wide step, when no peer domain exists)."""
        self.base += delta_c


__all__ = ["StateBaselines"]
