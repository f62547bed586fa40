"""Step instances: one row per execution of one step of one job.

A step executed twice (after a restart from an earlier checkpoint) gives two
instances. The per-rank restart count (``epoch``: the step number of a rank
goes back, or repeats at a later time) separates them. Everything here is
vectorised over records with the group-by helpers; the only loop is over
jobs, in :mod:`brownout.recovery.ledger`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from brownout.recovery.groups import (
    dense_ids,
    group_count,
    group_max,
    group_median,
)
from brownout.telemetry.steps import StepRecords

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

DUPLICATE_TOL_S = 1e-6  # a repeated (rank, step) line within this is a duplicate, not a restart


@dataclass(frozen=True)
class Instances:
    """Per-instance statistics of one job, in order of completion.

    Attributes:
        step, epoch: identity of the instance (epoch counts restarts).
        end_s: when the last rank finished (unix seconds): the next step
            cannot start before.
        dur_s: from the ranks' (median) start to ``end_s``.
        common_s: median over stages of (median compute - that stage's usual
            median compute): a slowdown that hits every rank alike.
        cmax_s: slowest rank's compute time (what every rank waits for).
        chealthy_s: slowest compute among ranks within the healthy spread of
            their stage's median (what the step would have waited for
            without the ranks beyond it).
        coll_s: ``dur_s - cmax_s``: the collective, from the slowest rank's
            arrival to the last rank's exit.
        ranks: records in the instance.
        repeat: the step was already completed by an earlier instance.
        start_s: the job's first step start (same for every row).
        nodes: node index per instance's records is not kept; ``node_ids`` is
            the set of node indexes the job ran on.
    """

    step: I64
    epoch: I64
    end_s: F64
    dur_s: F64
    common_s: F64
    cmax_s: F64
    chealthy_s: F64
    coll_s: F64
    ranks: I64
    repeat: B
    start_s: float
    node_ids: I64

    def __len__(self) -> int:
        return int(self.step.shape[0])


def rank_epochs(rank: I64, step: I64, ts: F64) -> tuple[I64, B]:
    """Per-record restart count of its rank, and a mask of duplicate lines.

    A record starts a new epoch when its step is lower than the rank's
    previous step, or equal to it but logged later (the step is run again).
    """
    order = np.lexsort((ts, rank))
    r, s, t = rank[order], step[order], ts[order]
    same = np.concatenate(([False], r[1:] == r[:-1]))
    prev_s = np.concatenate(([0], s[:-1]))
    prev_t = np.concatenate(([0.0], t[:-1]))
    dup = same & (s == prev_s) & (np.abs(t - prev_t) <= DUPLICATE_TOL_S)
    back = same & ~dup & (s <= prev_s)
    cs = np.cumsum(back)
    first = np.concatenate(([True], ~same[1:]))
    rank_base = np.maximum.accumulate(np.where(first, np.arange(len(r)), 0))
    epoch_sorted = cs - cs[rank_base]
    epoch = np.empty_like(epoch_sorted)
    epoch[order] = epoch_sorted
    dup_out = np.empty_like(dup)
    dup_out[order] = dup
    return epoch.astype(np.int64), dup_out


def build_instances(rec: StepRecords, max_spread: float = 0.10) -> Instances:
    """Instances of one job's records (``rec`` holds a single job).

    Args:
        rec: the records of one job.
        max_spread: the widest healthy spread of compute time between ranks
            of one stage (relative to their median); slower ranks straggle.
    """
    step, rank = rec.step.astype(np.int64), rec.rank.astype(np.int64)
    epoch, dup = rank_epochs(rank, step, rec.ts)
    keep = ~dup
    rec, step, epoch = rec.take(np.flatnonzero(keep)), step[keep], epoch[keep]
    inst, n = dense_ids(epoch, step)
    step_s = rec.step_s
    end = group_max(inst, rec.ts, n)
    dur = end - group_median(inst, rec.ts - step_s, n)
    common, within = _common_mode(inst, n, rec.stage.astype(np.int64), rec.compute_s,
                                  max_spread)
    cmax = group_max(inst, rec.compute_s, n)
    chealthy = group_max(inst, np.where(within, rec.compute_s, -np.inf), n, fill=0.0)
    chealthy = np.where(np.isfinite(chealthy), chealthy, cmax)
    coll = np.maximum(dur - cmax, 0.0)
    inst_step = group_max(inst, step.astype(np.float64), n).astype(np.int64)
    inst_epoch = group_max(inst, epoch.astype(np.float64), n).astype(np.int64)
    order = np.argsort(end, kind="stable")
    inst_step, inst_epoch = inst_step[order], inst_epoch[order]
    return Instances(
        step=inst_step, epoch=inst_epoch, end_s=end[order], dur_s=dur[order],
        common_s=common[order], cmax_s=cmax[order],
        chealthy_s=chealthy[order], coll_s=coll[order],
        ranks=group_count(inst, n)[order], repeat=repeats(inst_step),
        start_s=float(np.min(rec.ts - step_s)) if len(rec) else 0.0,
        node_ids=np.unique(rec.node[rec.node >= 0]).astype(np.int64),
    )


def repeats(step_in_order: I64) -> B:
    """True for every instance whose step was completed by an earlier instance."""
    _, first = np.unique(step_in_order, return_index=True)
    rep = np.ones(step_in_order.shape[0], dtype=bool)
    rep[first] = False
    return rep


def _common_mode(inst: I64, n: int, stage: I64, compute_s: F64, max_spread: float
                 ) -> tuple[F64, B]:
    """Compute slowdown shared by every rank, per instance; and per record,
    whether the rank is within the healthy spread of its stage.

    Ranks are compared only with ranks of their own pipeline stage: each
    (instance, stage) group's median compute time minus that stage's usual
    median (over instances); the median of that over the stages.
    """
    grp, m = dense_ids(inst, stage)
    c_med = group_median(grp, compute_s, m)
    within = compute_s <= c_med[grp] * (1.0 + max_spread)
    g_inst = group_max(grp, inst.astype(np.float64), m).astype(np.int64)
    g_stage = group_max(grp, stage.astype(np.float64), m).astype(np.int64)
    st_ids, n_st = dense_ids(g_stage)
    base_med = group_median(st_ids, c_med, n_st)[st_ids]
    return group_median(g_inst, c_med - base_med, n, fill=0.0), within
