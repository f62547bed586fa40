"""A fleet shift: every cooling domain's GPUs stepping together, then holding.

A telemetry, firmware or facility change (a sensor recalibration, a new
exporter, a chiller set point) moves every domain's temperatures within
minutes at unchanged power. That is a ``fleet_shift`` notice, not a
hardware fault, and a cluster with a single cooling domain (no peer domains
to cancel it) re-anchors its own past by the jump. A step still moving after
the window is a ramp (a cooling loop losing capacity), not a shift.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from brownout.detect.api import Candidate
from brownout.detect.robust import group_median
from brownout.detect.tick import Tick

F64 = npt.NDArray[np.float64]


class FleetShift:
    """Fleet-wide temperature steps, judged tick by tick.

    Args:
        shift_c: the move of every domain within ``window_s`` read as a shift.
        window_s: the window over which a fleet-wide move counts as one step.
        source: the detector the notice is credited to.

    Attributes:
        pending: (start, jump, fraction moving the same way, temperatures
            before) of a step waiting to hold still, or None.
        jump_c: the jump of a shift confirmed at this tick, else None.
    """

    def __init__(self, shift_c: float, window_s: float, source: str) -> None:
        self.shift_c = shift_c
        self.window_s = window_s
        self.source = source
        self.hist: list[tuple[float, F64]] = []  # (time, temperature where steady)
        self.pending: tuple[float, float, float, F64] | None = None
        self.jump_c: float | None = None

    def update(self, tick: Tick, temp: F64, steady: npt.NDArray[np.bool_]) -> list[Candidate]:
        """Every cooling domain moving together within ``window_s``, then holding.

        A step is only a shift once it has stopped: if the GPUs keep warming for
        another window it is a ramp (a cooling loop losing capacity), which
        matters when there is no other domain to compare with.
        """
        # a GPU counts when its load was steady at both ends of the window (a job that
        # started or stopped inside it moves temperatures for reasons of its own)
        self.jump_c = None
        self.hist.append((tick.t_s, np.where(steady, temp, np.nan)))
        while len(self.hist) > 2 and tick.t_s - self.hist[1][0] >= self.window_s:
            self.hist.pop(0)
        if tick.t_s - self.hist[0][0] < self.window_s:
            return []
        moved = np.where(steady, temp - self.hist[0][1], np.nan)  # NaN unless steady twice
        if self.pending is not None:
            return self._confirm(tick, temp, moved)
        ok = moved[np.isfinite(moved)]
        if ok.size < 8:
            return []
        jump = float(np.median(ok))
        same_way = float(np.mean(np.sign(ok) == np.sign(jump)))
        n_dom = len(tick.topology.cooling_domains)
        dom, _ = group_median(moved, tick.topology.gpu_cooling(), n_dom)
        dom = dom[np.isfinite(dom)]
        if abs(jump) >= self.shift_c and same_way >= 0.8 and np.min(np.abs(dom)) >= (
                self.shift_c / 2):
            self.pending = (tick.t_s, jump, same_way, self.hist[0][1])
        return []

    def _confirm(self, tick: Tick, temp: F64, moved: F64) -> list[Candidate]:
        """A pending step is a shift once it holds still; still moving later, a ramp."""
        assert self.pending is not None
        t0, jump, same_way, before = self.pending
        if tick.t_s - t0 < self.window_s / 2:
            return []
        # how fast the steady GPUs move now, over the last minute
        then = min(self.hist, key=lambda h: abs(tick.t_s - 60.0 - h[0]))
        last = np.where(np.isfinite(moved), temp - then[1], np.nan)
        recent = last[np.isfinite(last)]
        per_min = abs(float(np.median(recent))) * 60.0 / max(tick.t_s - then[0], 1.0) if (
            recent.size) else np.inf
        if per_min >= self.shift_c / 6:
            if tick.t_s - t0 >= 1.5 * self.window_s:
                self.pending = None  # kept moving: a ramp (a cooling loop), not a step
            return []
        self.pending = None
        total = np.where(np.isfinite(moved), temp - before, np.nan)  # steady GPUs only
        if np.isfinite(total).sum() >= max(8, 0.5 * np.isfinite(before).sum()):
            jump = float(np.median(total[np.isfinite(total)]))
        # else the load changed meanwhile (a job stopped): the step as first measured stands
        self.jump_c = jump
        return [Candidate(
            "fleet_shift", tick.cluster, t0, 0.9, "minor", "investigate",
            f"every cooling domain's GPUs moved {jump:+.1f} degC within minutes at unchanged "
            "power, then held: a telemetry, firmware or facility change, not a hardware fault",
            {"metric": "DCGM_FI_DEV_GPU_TEMP", "jump_c": round(jump, 2),
             "gpus_same_direction": round(same_way, 3)}, notice=True, source=self.source)]
