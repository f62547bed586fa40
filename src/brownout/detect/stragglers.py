"""Stragglers from step records: which rank, or which node, holds the barrier.

In synchronous training the slow rank shows a high ``compute_s`` while its
peers wait in ``comm_s``. Each record's compute time is divided by the median
of the same job, pipeline stage and step (ranks of different stages do
different work; a checkpoint stall slows every rank of the step alike and so
cancels out). A rank's *level* is the median of that ratio over its recent
steps, so sequence-length imbalance that moves the slowest rank around from
step to step does not count. A rank is slow when its level is above its
stage peers by more than the healthy static spread allows (and at least
``min_excess``), or when it has risen above its own baseline by
``self_excess``; it must stay slow for ``persist_s``.

Half or more of one node's ranks slow together -> ``host_straggler`` at the
node (the localiser checks that the GPUs look healthy). A lone slow rank
whose GPU reports telemetry is left to the GPU detectors, which see the
cause (clocks, heat, errors), and only noted (``slow_rank`` notice): its
GPU telemetry looks healthy, so the cause is elsewhere (data, sequence
lengths). Without GPU telemetry a lone slow rank is the one sign of a GPU
computing slowly -> ``gpu_degraded`` at its GPU, with low confidence.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from brownout.detect.api import Candidate, Detector, confidence_of, severity_of
from brownout.detect.robust import (
    MAD_TO_SD,
    alpha_for,
    ewma_update,
    group_median,
    sustained,
)
from brownout.detect.tick import Tick
from brownout.telemetry.steps import StepRecords

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
COLS = ("ts", "job", "step", "rank", "node", "gpu", "compute_s", "stage")


class StragglerDetector(Detector):
    """Slow ranks and slow hosts from the step-time log.

    Args:
        window_s: step records kept for comparison.
        recent_s: a rank's level is the median ratio over this much recent time.
        min_excess: a slow rank is at least this fraction slower than its stage peers ...
        spread_k: ... and this many robust standard deviations of the peers' levels.
        self_excess: or this much slower than its own baseline.
        node_fraction: fraction of a node's ranks slow together for a host straggler.
        persist_s: how long a rank must stay slow.
        tau_s: time constant of each rank's own baseline.
    """

    name = "stragglers"

    def __init__(self, *, window_s: float = 600.0, recent_s: float = 120.0,
                 min_excess: float = 0.12, spread_k: float = 5.0, self_excess: float = 0.1,
                 node_fraction: float = 0.5, persist_s: float = 60.0,
                 tau_s: float = 1800.0) -> None:
        self.window_s = window_s
        self.recent_s = recent_s
        self.min_excess = min_excess
        self.spread_k = spread_k
        self.self_excess = self_excess
        self.node_fraction = node_fraction
        self.persist_s = persist_s
        self.tau_s = tau_s

    def _init(self) -> None:
        self.buf_: dict[str, Any] = {c: np.zeros(0) for c in COLS}
        self.jobs_: dict[str, int] = {}
        self.slot_: dict[tuple[int, int], int] = {}
        self.base_ = np.zeros(0)
        self.since_ = np.zeros(0)
        self.last_t_ = float("nan")

    def update(self, tick: Tick) -> list[Candidate]:
        if not hasattr(self, "buf_"):
            self._init()
        self._append(tick.steps, tick.t_s)
        if self.buf_["ts"].size < 8:
            return []
        dt = tick.t_s - self.last_t_ if np.isfinite(self.last_t_) else tick.interval_s
        self.last_t_ = tick.t_s
        levels = self._levels(tick.t_s)
        if levels is None:
            return []
        return self._judge(tick, levels, dt)

    def _append(self, steps: StepRecords, t_s: float) -> None:
        buf = self.buf_
        if len(steps):
            job = np.array([self.jobs_.setdefault(steps.jobs[j], len(self.jobs_))
                            for j in range(len(steps.jobs))], dtype=np.int64)[steps.job]
            new = {"ts": steps.ts, "job": job, "step": steps.step, "rank": steps.rank,
                   "node": steps.node, "gpu": steps.gpu, "compute_s": steps.compute_s,
                   "stage": steps.stage}
            for c in COLS:
                buf[c] = np.concatenate([buf[c], np.asarray(new[c], dtype=np.float64)])
        keep = buf["ts"] > t_s - self.window_s
        if not keep.all():
            for c in COLS:
                buf[c] = buf[c][keep]

    def _levels(self, t_s: float) -> dict[str, Any] | None:
        """Per (job, rank): median ratio to its step peers over the recent window."""
        b = self.buf_
        job, stage, step = (b[c].astype(np.int64) for c in ("job", "stage", "step"))
        key = (job << 42) + ((stage + 1) << 32) + step
        _, gidx, gcount = np.unique(key, return_inverse=True, return_counts=True)
        med, _ = group_median(b["compute_s"], gidx, gcount.size)
        ratio = b["compute_s"] / np.where(med[gidx] > 0, med[gidx], np.nan)
        use = (b["ts"] > t_s - self.recent_s) & (gcount[gidx] >= 4) & (b["node"] >= 0)
        if not use.any():
            return None
        rkey = (job[use] << 32) + b["rank"][use].astype(np.int64)
        ranks, ridx = np.unique(rkey, return_inverse=True)
        level, n = group_median(ratio[use], ridx, ranks.size)
        last = np.zeros(ranks.size, dtype=np.int64)
        last[ridx] = np.flatnonzero(use)  # time order: the latest record wins
        return {"rkey": ranks, "level": level, "n": n, "job": ranks >> 32,
                "stage": stage[last], "node": b["node"][last].astype(np.int64),
                "gpu": b["gpu"][last].astype(np.int64)}

    def _slots(self, rkeys: I64) -> I64:
        slots = np.array([self.slot_.setdefault((int(k >> 32), int(k & 0xFFFFFFFF)),
                                                len(self.slot_)) for k in rkeys], dtype=np.int64)
        grow = len(self.slot_) - self.base_.size
        if grow > 0:
            self.base_ = np.concatenate([self.base_, np.full(grow, np.nan)])
            self.since_ = np.concatenate([self.since_, np.full(grow, np.nan)])
        return slots

    def _judge(self, tick: Tick, lv: dict[str, Any], dt: float) -> list[Candidate]:
        slots = self._slots(lv["rkey"])
        peer_key = (lv["job"] << 32) + lv["stage"] + 1
        _, pidx = np.unique(peer_key, return_inverse=True)
        n_peer = int(pidx.max()) + 1
        peer_med, peer_n = group_median(lv["level"], pidx, n_peer)
        spread = MAD_TO_SD * group_median(np.abs(lv["level"] - peer_med[pidx]), pidx, n_peer)[0]
        rel = lv["level"] / peer_med[pidx] - 1.0
        limit = np.maximum(self.min_excess, self.spread_k * spread[pidx])
        base = self.base_[slots]
        own = lv["level"] - np.where(np.isfinite(base), base, lv["level"])
        slow = (lv["n"] >= 3) & (peer_n[pidx] >= 4) & (
            (rel >= limit) | ((own >= self.self_excess) & (rel >= 2.5 * spread[pidx])))
        if slow.sum() > max(2, 0.3 * slow.size):
            slow[:] = False  # most of the job at once is no straggler
        since = sustained(self.since_[slots], slow, tick.data_t_s)
        self.since_[slots] = since
        self.base_[slots] = ewma_update(base, lv["level"], alpha_for(self.tau_s, dt),
                                        frozen=slow)
        ready = slow & (tick.t_s - since >= self.persist_s)
        return self._localise(tick, lv, ready, rel, since)

    def _localise(self, tick: Tick, lv: dict[str, Any], ready: npt.NDArray[np.bool_],
                  rel: F64, since: F64) -> list[Candidate]:
        topo = tick.topology
        node = lv["node"]
        per_node = np.bincount(node, minlength=topo.n_nodes)
        slow_node = np.bincount(node[ready], minlength=topo.n_nodes)
        host = (slow_node >= 2) & (slow_node >= self.node_fraction * np.maximum(per_node, 1))
        out = []
        for n in np.flatnonzero(host):
            mine = ready & (node == n)
            r = float(np.median(rel[mine]))
            out.append(Candidate(
                "host_straggler", topo.nodes[int(n)].name, float(np.nanmin(since[mine])),
                confidence_of(r, self.min_excess), severity_of(r, 0.3, 1.0), "drain_node",
                f"{int(mine.sum())} of {int(per_node[n])} ranks on {topo.nodes[int(n)].name} "
                f"compute {r:.0%} slower than their stage peers (they hold the barrier)",
                {"slow_ranks": int(mine.sum()), "ranks": int(per_node[n]),
                 "compute_excess": round(r, 3)}, source=self.name))
        clock, _ = tick.fresh("DCGM_FI_DEV_SM_CLOCK", 5 * tick.interval_s)
        for i in np.flatnonzero(ready & ~host[node]):
            g = topo.gpu_id(int(node[i]), int(lv["gpu"][i]))
            if g < 0:
                continue
            seen = bool(np.isfinite(clock[g]))
            out.append(Candidate(
                "slow_rank" if seen else "gpu_degraded", topo.gpu_name(g), float(since[i]),
                0.6, severity_of(float(rel[i]), 0.3, 1.0), "investigate" if seen else "reset_gpu",
                f"rank {int(lv['rkey'][i] & 0xFFFFFFFF)} on {topo.gpu_name(g)} computes "
                f"{rel[i]:.0%} slower than its stage peers (it holds the barrier)",
                {"compute_excess": round(float(rel[i]), 3), "from": "step records"},
                notice=seen, source=self.name))
        return out
