"""A GPU's usual place among its node's idle GPUs: overheating seen at rest.

A bad thermal interface multiplies a GPU's die rise over its coolant at any
power, idle included: at idle that rise is small (70-150 W over a cold
plate, 5-10 degC on SXM parts), so an interface 1.45x worse shows as about
3 degC, where at full load it shows as 15 degC and more. Idle GPUs of a node
share its inlet (air or coolant), so a facility change, a diurnal drift or a
failing loop moves them alike and cancels against their peers; what stays
is static (sensor offset, chassis position), learned per GPU as its usual
idle place, and what a fault adds.

The node's idle level is the median of its idle GPUs' temperatures less
their own places, so it does not move with which of the node's GPUs happen
to be idle. A GPU is judged only once it has been idle ``settle_s`` (several
die time constants, so a GPU still cooling from a job is never read as hot)
and only with two more idle peers. Like the busy place, two views count and
the smaller excess wins: raw temperature, and temperature corrected for
power (a GPU with a process attached idles at more power and a little
warmer for that).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from brownout.detect.robust import (
    MAD_TO_SD,
    alpha_for,
    ewma_update,
    group_median,
    place_spread,
    sustained,
)

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class IdleSettings:
    """Settings of the idle place (units in the names).

    Attributes:
        hot_c: excess over the GPU's own idle place that makes it hot. Integer
            sensors put a healthy GPU within about 1 degC of its place (its
            reading and its peers' median each round by up to half a degree);
            an interface 1.45x worse adds about 3 degC at idle power.
        z_min: the bar is also this many robust standard deviations of the
            fleet's idle excesses (noisier sensors need more; 32 judged GPUs at least).
        settle_s: idle this long before a GPU is judged or its place learned
            (a job's heat leaves the die in a few time constants of a minute).
        persist_s: the excess must hold this long, and over at least 3 scrapes.
        util_pct: a GPU below this utilisation is idle ...
        rest_fraction: ... and so is one drawing less than this fraction of the
            fleet's busy power whatever its utilisation: GPUs spinning in a hung
            job's collective read 100 % busy at 2-20 % of their dynamic power,
            often for the tens of minutes until a watchdog ends the job, and
            otherwise no place would judge them.
        min_spread_c: the fleet's spread of idle places is taken as at least
            this many degC (robust standard deviation); a GPU with no idle
            place yet is hot only beyond three of them.
        tau_s: time constant of the places.
    """

    hot_c: float = 2.5
    z_min: float = 6.0
    settle_s: float = 180.0
    persist_s: float = 45.0
    util_pct: float = 10.0
    rest_fraction: float = 0.35
    min_spread_c: float = 1.0
    tau_s: float = 1200.0


class IdlePlaces:
    """Per GPU, its usual place among its node's idle GPUs, and how far above it is.

    Args:
        settings: the bars and windows.
        gpu_node: node index of every GPU.
        n_nodes: number of nodes.
    """

    def __init__(self, settings: IdleSettings, gpu_node: npt.NDArray[np.int32],
                 n_nodes: int) -> None:
        self.settings = settings
        self.gpu_node = gpu_node
        self.n_nodes = n_nodes
        n = gpu_node.size
        self.places = np.full((2, n), np.nan)  # raw, power-corrected; at idle
        self.spin_places = np.full((2, n), np.nan)  # the same, spinning in a hung job
        self.idle_since = np.full(n, np.nan)
        self.spin_since = np.full(n, np.nan)
        self.spinning = np.zeros(n, dtype=bool)  # judged in the spinning state this scrape
        self.hot_since = np.full(n, np.nan)
        self.resid = np.full((2, n), np.nan)
        self.excess = np.full(n, np.nan)
        self.bar_c = settings.hot_c
        self.any_settled = False

    def update(self, temp_level: tuple[F64, F64], rest: tuple[B, B], working: B,
               t_s: float, busy_place_c: F64) -> F64:
        """This scrape's excess of every settled GPU at rest (``rest``: idle, spinning)
        over its place in that state (NaN where not judged); a GPU with no place yet
        counts beyond the fleet's spread.

        Each state has its own places and node levels: a hung job's spinning GPUs
        draw more than idle ones, and one whose process stopped idles next to
        them; compared across states either would look misplaced. A GPU with no
        spinning place yet (hangs are rare) is judged at its idle place. A node
        with a GPU at work (``working``) is not judged: a working GPU heats its
        neighbours unevenly (shared airflow), and a stuck kernel's GPU computes at
        full power next to its spinning peers. A GPU with no place at rest at all
        is hot only beyond the fleet's spread of places and beyond its usual place
        at work (``busy_place_c``: a GPU always 12 degC warmer than its node peers
        at work sits several degrees above them at rest too).
        """
        ok = np.isfinite(temp_level[0])
        self.idle_since = sustained(self.idle_since, rest[0] & ok, t_s)
        self.spin_since = sustained(self.spin_since, rest[1] & ok, t_s)
        calm = np.bincount(self.gpu_node, working, self.n_nodes)[self.gpu_node] == 0
        idle = calm & (t_s - self.idle_since >= self.settings.settle_s)
        self.spinning = calm & (t_s - self.spin_since >= self.settings.settle_s)
        self.any_settled = bool(idle.any() or self.spinning.any())
        if not self.any_settled:  # a busy fleet: nothing to judge, no medians
            self.resid[:], self.excess[:] = np.nan, np.nan
            return self.excess
        spin_places = np.where(np.isfinite(self.spin_places), self.spin_places, self.places)
        places = np.where(self.spinning, spin_places, self.places)
        for k, values in enumerate(temp_level):
            self.resid[k] = np.where(self.spinning,
                                     self._resid(values, self.spinning, spin_places[k]),
                                     self._resid(values, idle, self.places[k]))
        known = np.isfinite(places[0])
        placeless = np.isfinite(self.resid[0]) & ~known  # the spread costs fleet medians
        allowed = np.fmax(self._spread(), np.clip(busy_place_c, 0.0, None)) if (
            placeless.any()) else 0.0
        over = self.resid - np.where(known, places, allowed)
        self.excess = np.fmin(over[0], over[1])
        self.bar_c = self.settings.hot_c
        if (self.excess >= self.bar_c / 2).any():  # the bar matters only then (and costs)
            fin = self.excess[np.isfinite(self.excess) & known]
            # (integer sensors spread a few excesses over +-0.5 degC: few give a noisy MAD)
            sd = MAD_TO_SD * float(np.median(np.abs(fin - np.median(fin)))) if (
                fin.size >= 32) else 0.0
            self.bar_c = max(self.bar_c, self.settings.z_min * sd)
        return self.excess

    def hot(self, t_s: float, interval_s: float) -> tuple[B, B]:
        """(above the bar now, above it long enough) per GPU."""
        if not self.any_settled:
            self.hot_since[:] = np.nan
            none = np.zeros(self.excess.size, dtype=bool)
            return none, none
        above: B = self.excess >= self.bar_c
        self.hot_since = sustained(self.hot_since, above, t_s)
        need = max(self.settings.persist_s, 1.6 * interval_s)  # 3 scrapes, with jitter
        held: B = above & (t_s - self.hot_since >= need)
        return above, held

    def learn(self, frozen: B, dt_s: float) -> None:
        """Places follow the settled idle GPUs that are not ``frozen`` (hot, flagged)."""
        if not self.any_settled:
            return
        alpha = alpha_for(self.settings.tau_s, dt_s)
        for k in range(2):  # a frozen GPU starts no place either
            resid = np.where(frozen, np.nan, self.resid[k])
            self.places[k] = ewma_update(self.places[k], np.where(self.spinning, np.nan, resid),
                                         alpha)
            self.spin_places[k] = ewma_update(self.spin_places[k],
                                              np.where(self.spinning, resid, np.nan), alpha)

    def _resid(self, values: F64, settled: B, place: F64) -> F64:
        """Each settled GPU's value over its node's idle level (its peers' less their
        places; a GPU with no place yet counts at the node's usual)."""
        node = self.gpu_node
        own = np.where(settled, values - np.nan_to_num(place), np.nan)
        level, count = group_median(own, node, self.n_nodes)
        out: F64 = values - level[node]
        out[~settled | (count[node] < 3)] = np.nan
        return out

    def _spread(self) -> float:
        """Three robust standard deviations of the learned idle places (of the
        minimum while fewer than 8 are known)."""
        spread = place_spread(self.places[0], self.settings.min_spread_c)
        return spread if np.isfinite(spread) else 3.0 * self.settings.min_spread_c


IDLE_DEFAULTS = IdleSettings()

__all__ = ["IDLE_DEFAULTS", "IdlePlaces", "IdleSettings"]
