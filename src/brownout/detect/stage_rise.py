"""Whole pipeline stages that got slower: how a slow node that holds a stage shows.

A node that holds a whole pipeline stage (pipeline over nodes, tensor
parallel inside) has no peers in its stage, so the per-rank peer ratio of
:mod:`brownout.detect.stragglers` cannot see it slow. Per (job, stage),
:class:`StageRises` follows the stage's *fastest* rank's compute (one slow rank
does not move it, a slow node does), both relative to the other stages at the
same step and absolute, each as a median over the stage's recent steps.
Stages differ by design, so only a stage's rise over its own baselines
counts, and only when both rose: the stage got slower (absolute) and not the
whole job (relative).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from brownout.detect.robust import MAD_TO_SD, OwnBaselines, group_median
from brownout.detect.step_levels import peer_ratio, recent_window

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
StageLevels = tuple[I64, F64, I64, F64]
Risen = dict[tuple[int, int], tuple[float, float, int]]


class StageRises:
    """Per (job, stage): baselines of its levels, and since when it has risen.

    Args:
        recent_s, min_records: a stage's level is its median over the last
            ``recent_s`` seconds of steps, never fewer than ``min_records``.
        self_excess: a stage has risen when both levels are this much above
            their baselines (and ``noise_k`` standard errors of the level).
        noise_k: see ``self_excess``.
        base_min_s: baselines count after this long ...
        tau_s: ... and follow the levels with this time constant, never while
            the stage is rising.
    """

    def __init__(self, *, recent_s: float, min_records: int, self_excess: float,
                 noise_k: float, base_min_s: float, tau_s: float) -> None:
        self.recent_s = recent_s
        self.min_records = min_records
        self.self_excess = self_excess
        self.noise_k = noise_k
        self.base_ = OwnBaselines(base_min_s=base_min_s, tau_s=tau_s)
        self.since_: dict[tuple[int, int], float] = {}

    def levels(self, t_s: float, ts: F64, compute_s: F64, *, inst: I64, stage: I64, ok: B
               ) -> StageLevels:
        """Per (job, stage): its fastest rank's compute relative to the other stages'
        at the same step and absolute, each as a median over its recent steps.

        Args:
            ts, compute_s: the records' times and compute seconds.
            inst: per record ``(job << 44) + (epoch << 36) + step``.
            stage: per record its stage (-1: none).
            ok: records that count.

        Returns:
            (keys ``(job << 8) + stage + 1``, levels [key, 2], records, noise [key, 2]).
        """
        sel = ok & (stage >= 0)
        groups, gidx = np.unique((inst[sel] << 8) + stage[sel] + 1, return_inverse=True)
        gmed = np.full(groups.size, np.inf)
        np.minimum.at(gmed, gidx, compute_s[sel])
        g_ts = np.full(groups.size, -np.inf)
        np.maximum.at(g_ts, gidx, ts[sel])
        ratio = peer_ratio(groups >> 8, gmed)
        skey = ((groups >> 52) << 8) + (groups & 0xFF)  # (job, stage + 1)
        use = np.isfinite(ratio) & recent_window(skey, g_ts, t_s, self.recent_s,
                                                 self.min_records)
        keys, kidx = np.unique(skey[use], return_inverse=True)
        levels, noises = [], []
        for x in (ratio[use], gmed[use]):
            level, n = group_median(x, kidx, keys.size)
            levels.append(level)
            noises.append(MAD_TO_SD * group_median(np.abs(x / level[kidx] - 1.0), kidx,
                                                   keys.size)[0])
        return keys, np.stack(levels, axis=1), n, np.stack(noises, axis=1)

    def risen(self, t_s: float, st: StageLevels, dt: float) -> Risen:
        """Stages risen over their own baselines: (job, stage) -> (since, rise, records),
        persistent or not yet; learns the baselines."""
        out: Risen = {}
        for key, level, n, noise in zip(*st, strict=True):
            k = (int(key >> 8), int(key & 0xFF) - 1)
            if n < self.min_records or not np.all(np.isfinite(level)):
                continue
            bar = max(self.self_excess, float(self.noise_k * 1.25 * noise.max() / np.sqrt(n)))
            rise = self.base_.rise(k, level, t_s, dt, bar)
            if rise < bar:
                self.since_.pop(k, None)
                continue
            since = self.since_.setdefault(k, t_s)
            out[k] = (since, rise, int(n))  # not yet persistent: since is recent
        return out


def per_rank(lv: dict[str, Any], stages: Risen) -> tuple[F64, F64]:
    """(since, rise) per rank of ``lv`` whose whole stage rose (NaN elsewhere)."""
    since, rise = np.full(lv["job"].size, np.nan), np.full(lv["job"].size, np.nan)
    for (j, st), (t0, r, _) in stages.items():
        mine = (lv["job"] == j) & (lv["stage"] == st)
        since[mine], rise[mine] = t0, r
    return since, rise
