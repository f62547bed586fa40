"""A job that runs on one node: its own past is the only reference.

Every rank of such a job shares the node, so a slow host slows them all alike
and the stage-peer ratio of :mod:`brownout.detect.stragglers` stays at one.
What shows is the job's own step: the median ``compute_s`` of its ranks at
each step, over its recent steps, against a baseline learnt from its own
past (fast at first, then slowly, never while risen). A rise beyond
``rise_bar`` (and the level's noise) that persists is evidence against the
node; the straggler detector names it only when the node's GPUs have shown
no cause of slowness meanwhile (then the cause is the host), and only when
the job rose alone (a slowdown of every job is no fault of one node).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from brownout.detect.robust import MAD_TO_SD, OwnBaselines, group_median

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Rise:
    """A one-node job's step compute risen over its own baseline."""

    job: int
    node: int
    since_s: float
    rise: float
    bar: float
    steps: int


class OneNodeJobs:
    """Per one-node job: level, baseline and rise of its per-step median compute.

    Args:
        rise_bar: the least rise over its own baseline that counts.
        noise_k: the bar is at least this many standard errors of the level.
        recent_s, min_steps: the level is the median over the last ``recent_s``
            seconds of steps, never fewer than ``min_steps``.
        persist_s: a rise begins half its level's window, at most half of this,
            before the judgment that first sees it.
        base_min_s: the baseline is learnt fast for this long ...
        tau_s: ... then follows the level with this time constant.
    """

    def __init__(self, *, rise_bar: float = 0.2, noise_k: float = 5.0, recent_s: float = 90.0,
                 min_steps: int = 7, persist_s: float = 60.0, base_min_s: float = 180.0,
                 tau_s: float = 3600.0) -> None:
        self.rise_bar = rise_bar
        self.noise_k = noise_k
        self.recent_s = recent_s
        self.min_steps = min_steps
        self.persist_s = persist_s
        self.base_ = OwnBaselines(base_min_s=base_min_s, tau_s=tau_s)
        self.since_: dict[int, float] = {}

    def update(self, t_s: float, dt: float, cols: dict[str, F64], ok: B) -> list[Rise]:
        """Judge every one-node job from the buffer's columns (``ok``: current epoch)."""
        job = cols["job"].astype(np.int64)
        node = cols["node"].astype(np.int64)
        pairs = np.unique((job[ok] << 32) + node[ok])  # one pass for every job's nodes
        jobs, n_nodes = np.unique(pairs >> 32, return_counts=True)
        out, rises = [], {}
        for j in jobs[n_nodes == 1]:
            mine = ok & (job == j)
            n = int(node[mine][0])
            if n < 0 or np.unique(cols["rank"][mine]).size < 2:
                continue
            r = self._judge(int(j), n, t_s, dt, cols=cols, mine=mine)
            if r is not None:
                rises[int(j)] = r
        for j, r in rises.items():
            others = [x.rise for k, x in rises.items() if k != j]
            if not others or np.median(others) < 0.5 * r.rise:  # it rose alone
                out.append(r)
        return [r for r in out if r.rise >= r.bar]

    def _judge(self, j: int, n: int, t_s: float, dt: float, *, cols: dict[str, F64],
               mine: B) -> Rise | None:
        """This job's rise (every judged job, risen or not: for the 'alone' test)."""
        steps, inv = np.unique(cols["step"][mine] + 1e6 * cols["epoch"][mine],
                               return_inverse=True)
        med = group_median(cols["compute_s"][mine], inv, steps.size)[0]
        ts = np.zeros(steps.size)
        np.maximum.at(ts, inv, cols["ts"][mine])
        order = np.argsort(ts)
        med, ts = med[order], ts[order]
        use = (ts > t_s - self.recent_s) | (np.arange(ts.size) >= ts.size - self.min_steps)
        if use.sum() < self.min_steps:
            return None
        level = float(np.median(med[use]))
        noise = MAD_TO_SD * float(np.median(np.abs(med[use] / level - 1.0)))
        bar = max(self.rise_bar, self.noise_k * 1.25 * noise / np.sqrt(use.sum()))
        rise = self.base_.rise(j, level, t_s, dt, bar)
        if rise < bar:
            self.since_.pop(j, None)
            return Rise(j, n, t_s, rise, bar, int(use.sum()))
        since = self.since_.setdefault(  # as the straggler detector's spells
            j, t_s - min(float(t_s - ts[use][0]), self.persist_s) / 2.0)
        return Rise(j, n, since, rise, bar, int(use.sum()))
