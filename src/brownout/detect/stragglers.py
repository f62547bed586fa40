"""Stragglers from step records: which rank, or which node, holds the barrier.

In synchronous training the slow rank shows a high ``compute_s`` while its
peers wait in ``comm_s``. Each record's compute time is divided by the median
of the *other* ranks of the same job, restart epoch, pipeline stage and step
(:mod:`brownout.detect.step_levels`): stages do different work by design, and
a slowdown of every rank alike (a checkpoint stall, a power cap) cancels. A
rank's *level* is the median of that ratio over its recent records (the last
``recent_s`` seconds, never fewer than ``min_records`` records), so
data-dependent imbalance that moves the slowest rank from step to step does
not count, while a rank that stays slow does. Noisy jobs also get levels
over 2x and 4x as many records (``SCALES``), which count only while the
shortest level is still ``min_rel`` above the peers and every shorter
level agrees (a long window remembers a fault that has ended). A rank with
an established baseline is also slow on evidence accumulated over records
(a CUSUM of its rise over that baseline, :mod:`brownout.detect.step_evidence`):
mild slowdowns on noisy small stages need more records than a short level
has, and fewer than a long one.

A rank is slow when its level passes one of two bars, each widened by the
noise of the level (robust, from the records themselves) and by the healthy
spread of its stage peers' own long-term levels:

- **peers**: ``abs_excess`` (20%) above its stage peers. Static
  heterogeneity (mixed SKUs, placement) of up to ~15% stays under it, and a
  rank slow from its very first record, which has no baseline of its own, is
  still caught from 1.3x on;
- **itself**: ``self_excess`` above its own baseline (an EWMA frozen while
  flagged), and at least ``min_rel`` above its peers (it holds the barrier).

A slow node that holds a whole pipeline stage has no stage peers: it shows
as its stage rising over its own past (:mod:`brownout.detect.stage_rise`).

Slowness must persist for ``persist_s`` seconds of data *and* over at least
``min_records`` records, so that 45-second and 50-millisecond steps both work.
A slow spell is carried through a stop of its job (a hang, a crash, a restart)
while nothing says either way: a slow host stays slow after a restart.
Confidence grows with the margin over the bar and with the records seen.

Localisation (spec/findings.md taxonomy; the findings' words and evidence are
:mod:`brownout.detect.straggler_findings`):

- most of a node's ranks slow together (:mod:`brownout.detect.slow_hosts`; what
  more than half of them reach passes the bars; the self bar is
  ``node_self_excess``, lower, as several ranks agree) -> ``host_straggler`` at the node;
- a node with a single rank -> ``host_straggler`` at the node, the evidence
  saying that GPU and host cannot be told apart from steps;
- a lone slow rank of a multi-rank node without GPU telemetry ->
  ``gpu_degraded`` at its GPU (a GPU whose telemetry reported and then
  stopped is a blind spot, ``telemetry_loss`` of the gaps detector: its
  cause could be heat or a cap that nothing shows now, so no guess);
- a lone slow rank whose GPU reports telemetry is first left to the GPU
  detectors, which see a GPU cause (clocks, heat, errors). If the GPU has
  looked healthy for the whole time the rank was slow (clock with its node
  peers, no thermal or slowdown reason, below its throttle point:
  :mod:`brownout.detect.gpu_causes`) and the rank has held the barrier for
  ``host_persist_s`` (and three scrape intervals), the cause is on the host
  side -> ``host_straggler`` at the node (the localiser drops it if the GPU
  itself is flagged).

- a job that runs on one node has no peers (every rank slows alike): its
  per-step median compute against its own past
  (:mod:`brownout.detect.one_node_jobs`), risen ``abs_excess`` and alone
  among the one-node jobs, on GPUs that showed no cause all along ->
  ``host_straggler`` at the node, after the same wait as a lone rank.

A rank whose latest record is old (its job hung, crashed or ended) is no
longer judged: stale records are no evidence of a fault now. After a
restart (the step number goes back) a rank's level is made of its new
records only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from brownout.detect.api import Candidate, Detector
from brownout.detect.gpu_causes import GpuSlowCauses
from brownout.detect.one_node_jobs import OneNodeJobs, Rise
from brownout.detect.robust import (
    MAD_TO_SD,
    alpha_for,
    ewma_update,
    group_median,
    sustained,
)
from brownout.detect.slow_hosts import SlowHosts
from brownout.detect.stage_rise import StageRises, per_rank
from brownout.detect.step_evidence import last_records, sequential_slow
from brownout.detect.step_levels import epochs, peer_ratio, recent_window, stage_noise
from brownout.detect.straggler_findings import (
    Words,
    blind_gpu,
    host_side_rank,
    one_node_host,
    single_rank_node,
    slow_host,
)
from brownout.detect.tick import Tick
from brownout.telemetry.steps import StepRecords

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
COLS = ("ts", "job", "step", "rank", "node", "gpu", "compute_s", "stage", "epoch")
SCALES = (1, 2, 4)  # level windows, in multiples of ``min_records``


def rank_key(job: I64, rank: I64, node: I64, gpu: I64) -> I64:
    """One integer per (job, rank, placement): a rank placed elsewhere starts afresh."""
    return (((job << 20) + rank) << 20) + ((node + 1) << 8) + (gpu + 1)


class StragglerDetector(Detector):
    """Slow ranks and slow hosts from the step-time log.

    Args:
        window_s: step records kept (never fewer than ``keep_records`` per rank).
        keep_records: records per rank always kept, however old.
        max_records: records per rank kept at most, however recent: at one-second
            steps a 16,384-rank job writes 4.9 M records in ``window_s``, and the
            levels need only the newest few dozen (``SCALES`` x ``min_records``).
        recent_s: a rank's level is its median ratio over this much recent time ...
        min_records: ... and over at least this many records (also the
            persistence in records).
        first_records: a rank with fewer records than ``min_records`` (new, or
            just restarted) is judged once it has this many: a rank slow from
            its first record may have no more (its bar's noise term is wider).
        agree_k: a longer level counts while the shortest is not this many of
            its standard errors below it (else it remembers a fault that ended).
        cusum_k: a rank is also slow once the CUSUM of its records' rise over
            its own baseline (beyond ``self_excess``) passes this many noise
            standard deviations (evidence accumulated over records).
        abs_excess: the peers bar: this much slower than the stage peers, and
            at least ``static_excess`` (healthy static heterogeneity) plus
            ``noise_k`` standard errors of the level.
        self_excess: the own bar: this much slower than its own baseline ...
        min_rel: ... while at least this much slower than its peers.
        node_self_excess: the own bar of a node's ranks taken together.
        noise_k: bars are at least this many standard errors of the level.
        spread_k: the peers bar is at least this many robust standard
            deviations of the stage peers' baselines (their healthy spread).
        node_fraction: fraction of a node's ranks slow together for a host straggler.
        persist_s: how long (data seconds) a rank or node must stay slow.
        host_persist_s: how long a lone slow rank on a GPU that looks healthy
            must hold the barrier before it is a host-side finding (and at
            least ``host_scrapes`` scrape intervals: the GPU detectors' time).
        host_scrapes: see ``host_persist_s``.
        clear_s: that GPU must have shown no cause of slowness since the rank
            turned slow (and over its level's records), or over the last
            ``clear_s`` when it has been slow longer.
        stale_records: a rank whose latest record is older than this many of
            its record intervals (and ``persist_s``) is not judged.
        carry_s: a slow spell is kept this long through a time without evidence
            (its job hung, or restarted and has too few records yet).
        base_min_s: a baseline counts after this long ...
        tau_s: ... and follows the level with this time constant.
    """

    name = "stragglers"
    needs_metrics = False

    def __init__(self, *, window_s: float = 300.0, keep_records: int = 32,
                 max_records: int = 96,
                 recent_s: float = 90.0, min_records: int = 7, first_records: int = 5,
                 agree_k: float = 2.0, cusum_k: float = 7.0, abs_excess: float = 0.2,
                 static_excess: float = 0.15,
                 self_excess: float = 0.12, min_rel: float = 0.1,
                 node_self_excess: float = 0.1, noise_k: float = 5.0, spread_k: float = 3.0,
                 node_fraction: float = 0.5, persist_s: float = 60.0,
                 host_persist_s: float = 150.0, host_scrapes: float = 3.0, clear_s: float = 300.0,
                 stale_records: float = 4.0, carry_s: float = 3600.0, base_min_s: float = 180.0,
                 tau_s: float = 3600.0) -> None:
        self.window_s = window_s
        self.keep_records = keep_records
        self.max_records = max_records
        self.recent_s = recent_s
        self.min_records = min_records
        self.first_records = first_records
        self.agree_k = agree_k
        self.cusum_k = cusum_k
        self.abs_excess = abs_excess
        self.static_excess = static_excess
        self.self_excess = self_excess
        self.min_rel = min_rel
        self.node_self_excess = node_self_excess
        self.noise_k = noise_k
        self.spread_k = spread_k
        self.node_fraction = node_fraction
        self.persist_s = persist_s
        self.host_persist_s = host_persist_s
        self.host_scrapes = host_scrapes
        self.clear_s = clear_s
        self.stale_records = stale_records
        self.carry_s = carry_s
        self.base_min_s = base_min_s
        self.tau_s = tau_s

    def _init(self) -> None:
        self.buf_: dict[str, Any] = {c: np.zeros(0) for c in COLS}
        self.jobs_: dict[str, int] = {}
        self.words_ = Words(self.name, self.min_records, self.abs_excess, self.jobs_)
        self.last_step_: dict[int, tuple[int, int]] = {}
        self.slot_: dict[int, int] = {}
        self.place_slot_: dict[int, int] = {}  # (job, node, gpu) -> its latest rank's slot
        self.base_ = np.zeros(0)
        self.base_t_ = np.zeros(0)
        self.since_ = np.zeros(0)
        self.last_slow_ = np.zeros(0)
        self.ready_ = np.zeros(0, dtype=bool)
        self.hosts_ = SlowHosts(abs_excess=self.abs_excess, node_self_excess=self.node_self_excess,
                                min_rel=self.min_rel, node_fraction=self.node_fraction,
                                persist_s=self.persist_s)
        self.host_seen_: dict[int, float] = {}  # node -> data time it was last a slow host
        self.stages_ = StageRises(recent_s=self.recent_s, min_records=self.min_records,
                                  self_excess=self.self_excess, noise_k=self.noise_k,
                                  base_min_s=self.base_min_s, tau_s=self.tau_s)
        self.last_t_ = float("nan")
        self.said_: list[tuple[Candidate, float]] = []  # with the data time it holds to
        self.causes_ = GpuSlowCauses()
        self.one_node_ = OneNodeJobs(rise_bar=self.abs_excess, noise_k=self.noise_k,
                                     recent_s=self.recent_s, min_steps=self.min_records,
                                     persist_s=self.persist_s, base_min_s=self.base_min_s,
                                     tau_s=self.tau_s)

    def update(self, tick: Tick) -> list[Candidate]:
        if not hasattr(self, "buf_"):
            self._init()
            self.n_nodes_ = tick.topology.n_nodes
        if tick.has_metrics:
            self.causes_.observe(tick)
        if not len(tick.steps):  # nothing new: the same belief (keeps findings open),
            return [c for c, until in self.said_ if tick.data_t_s <= until]  # until stale
        self._append(tick.steps)
        self._trim(tick.t_s)
        if self.buf_["ts"].size < 8:
            return []
        dt = tick.t_s - self.last_t_ if np.isfinite(self.last_t_) else tick.interval_s
        self.last_t_ = tick.t_s
        lv = self._levels(tick.t_s)
        if lv is None:
            return []
        self.said_ = self._judge(tick, lv, dt)
        return [c for c, _ in self.said_]

    # ------------------------------------------------------------ buffer
    def _append(self, steps: StepRecords) -> None:
        if not len(steps):
            return
        job = np.array([self.jobs_.setdefault(steps.jobs[j], len(self.jobs_))
                        for j in range(len(steps.jobs))], dtype=np.int64)[steps.job]
        rank = steps.rank.astype(np.int64)
        ep = epochs((job << 32) + rank, steps.step.astype(np.int64), self.last_step_)
        new = {"ts": steps.ts, "job": job, "step": steps.step, "rank": rank,
               "node": steps.node, "gpu": steps.gpu, "compute_s": steps.compute_s,
               "stage": steps.stage, "epoch": ep}
        for c in COLS:
            self.buf_[c] = np.concatenate([self.buf_[c], np.asarray(new[c], dtype=np.float64)])

    def _trim(self, t_s: float) -> None:
        b = self.buf_
        if not b["ts"].size:
            return
        key = (b["job"].astype(np.int64) << 32) + b["rank"].astype(np.int64)
        keep = recent_window(key, b["ts"], t_s, self.window_s, self.keep_records,
                             max_records=self.max_records)
        if not keep.all():
            for c in COLS:
                b[c] = b[c][keep]

    # ------------------------------------------------------------ levels
    def _levels(self, t_s: float) -> dict[str, Any] | None:
        """Per rank: level, its noise, records, barrier share (see module docstring)."""
        b = self.buf_
        job, stage, step, ep, rank, node, gpu = (b[c].astype(np.int64) for c in (
            "job", "stage", "step", "epoch", "rank", "node", "gpu"))
        inst = (job << 44) + (ep << 36) + step
        rk = rank_key(job, rank, node, gpu)
        ratio = peer_ratio((inst << 8) + stage + 1, b["compute_s"], ~np.isin(rk, self._slow_keys()))
        _, iidx = np.unique(inst, return_inverse=True)
        imax = np.full(int(iidx.max()) + 1, -np.inf)
        np.maximum.at(imax, iidx, b["compute_s"])
        holds = (b["compute_s"] >= imax[iidx]).astype(np.float64)
        _, kinv = np.unique(rk, return_inverse=True)
        top = np.full(int(kinv.max()) + 1, -1)
        np.maximum.at(top, kinv, ep)  # a restarted rank's level: its new records only
        ok = np.isfinite(ratio) & (node >= 0) & (ep == top[kinv])
        if not ok.any():
            return None
        key = np.where(ok, rk, -1)
        use = ok & recent_window(key, b["ts"], t_s, self.recent_s, self.min_records)
        ranks, ridx = np.unique(rk[use], return_inverse=True)
        nr = ranks.size
        level, n = group_median(ratio[use], ridx, nr)
        scales = [(level, n)]
        for mult in SCALES[1:]:  # longer windows: noisy jobs need more records
            wide = ok & recent_window(key, b["ts"], t_s, self.recent_s, mult * self.min_records)
            widx = np.searchsorted(ranks, rk[wide])
            scales.append(group_median(ratio[wide], widx, nr))
        noise = stage_noise(rk, ratio, ok, (job << 32) + stage + 1, ranks)
        last = np.zeros(nr, dtype=np.int64)
        last[ridx] = np.flatnonzero(use)  # time order: the latest record wins
        first_ts = np.full(nr, np.inf)
        np.minimum.at(first_ts, ridx, b["ts"][use])
        peer = (job << 32) + stage + 1
        one = np.unique(rk, return_index=True)[1]  # a record of every rank in the buffer
        pk, members = np.unique(peer[one], return_counts=True)
        self.node_ranks_ = np.bincount(node[one][node[one] >= 0], minlength=self.n_nodes_)
        return {"t_s": t_s, "ok": ok, "rkey": ranks, "level": level, "n": n, "noise": noise,
                "scales": scales, "tail": last_records(rk[ok], b["ts"][ok], ratio[ok], ranks,
                                                       SCALES[-1] * self.min_records),
                "members": members[np.searchsorted(pk, peer[last])],
                "holds": np.bincount(ridx, holds[use], nr) / np.maximum(n, 1),
                "span_s": t_s - first_ts, "last_ts": b["ts"][last],
                "job": job[last], "rank": rank[last],
                "stage": stage[last], "node": node[last], "gpu": gpu[last],
                "stages": self.stages_.levels(t_s, b["ts"], b["compute_s"], inst=inst, stage=stage,
                                               ok=ok)}

    def _slow_keys(self) -> I64:
        """Rank keys flagged slow at the last judgment (no reference for their peers)."""
        keys = np.fromiter(self.slot_.keys(), np.int64, len(self.slot_))
        slots = np.fromiter(self.slot_.values(), np.int64, len(self.slot_))
        return keys[np.isfinite(self.since_[slots])] if keys.size else keys

    def _slots(self, rkeys: I64, t_s: float) -> I64:
        known = len(self.slot_)
        slots = np.array([self.slot_.setdefault(int(k), len(self.slot_)) for k in rkeys],
                         dtype=np.int64)
        grow = len(self.slot_) - self.base_.size
        if grow > 0:
            self.base_ = np.concatenate([self.base_, np.full(grow, np.nan)])
            self.base_t_ = np.concatenate([self.base_t_, np.full(grow, t_s)])
            self.since_ = np.concatenate([self.since_, np.full(grow, np.nan)])
            self.last_slow_ = np.concatenate([self.last_slow_, np.full(grow, -np.inf)])
            self.ready_ = np.concatenate([self.ready_, np.zeros(grow, dtype=bool)])
        for k, slot in zip(rkeys, slots, strict=True):
            if slot >= known:
                self._inherit(int(k), int(slot))
        return slots

    def _inherit(self, key: int, slot: int) -> None:
        """A new rank on a GPU its job used before (a restart renumbered the ranks)
        takes over that rank's baseline and slow spell: both belong to the GPU and
        its host, not to the rank number."""
        place = ((key >> 40) << 20) + (key & 0xFFFFF)  # (job, node, gpu)
        old = self.place_slot_.get(place)
        self.place_slot_[place] = slot
        if old is not None:
            for a in (self.base_, self.base_t_, self.since_, self.last_slow_):
                a[slot] = a[old]

    # ------------------------------------------------------------ judging
    def _bars(self, lv: dict[str, Any], n: I64, base: F64, pidx: I64, n_peer: int
              ) -> tuple[F64, F64, F64, F64]:
        """(peers bar, own bar, noise term, spread term) per rank for levels over ``n``
        records: the settings widened by the level's noise and the stage's healthy spread."""
        stage_noise = group_median(lv["noise"], pidx, n_peer)[0][pidx]
        se = 1.25 * stage_noise / np.sqrt(np.maximum(n, 1))
        se_own = np.hypot(se, 1.25 * stage_noise / np.sqrt(np.maximum(lv["base_n"], 1)))
        est = np.where(np.isfinite(base), base, np.nan)
        med = group_median(est, pidx, n_peer)[0]
        dev = np.abs(est - med[pidx])  # trimmed: slow ranks are no measure of healthy spread
        spread = MAD_TO_SD * group_median(np.where(dev <= self.abs_excess, dev, np.nan), pidx,
                                          n_peer)[0]
        spread = np.where(np.bincount(pidx, minlength=n_peer) >= 5, np.nan_to_num(spread), 0.0)
        noise, wide = self.noise_k * se, self.spread_k * spread[pidx]
        peers = np.maximum(np.maximum(self.abs_excess, self.static_excess + noise), wide)
        own = np.maximum(self.self_excess, self.noise_k * se_own)  # a young baseline is
        return peers, own, noise, wide  # uncertain too: its own records widen the bar

    def _judge(self, tick: Tick, lv: dict[str, Any], dt: float
               ) -> list[tuple[Candidate, float]]:
        slots = self._slots(lv["rkey"], tick.data_t_s)
        _, pidx = np.unique((lv["job"] << 32) + lv["stage"] + 1, return_inverse=True)
        n_peer = int(pidx.max()) + 1
        base = self.base_[slots]
        interval = lv["span_s"] / np.maximum(lv["n"], 1)  # seconds a record, about
        learn_s = np.maximum(self.base_min_s, self.min_records * interval)
        established = np.isfinite(base) & (tick.data_t_s - self.base_t_[slots] >= learn_s)
        # records behind the baseline (an EWMA remembers about tau_s of them)
        lv["base_n"] = np.minimum(np.maximum(tick.data_t_s - self.base_t_[slots], 0.0),
                                  self.tau_s) / np.maximum(interval, 1e-9)
        enough = lv["n"] >= self.first_records
        slow, rel, rise, peers_bar, own_bar, noise, wide = self._scales(lv, base, established,
                                                                        pidx, n_peer)
        fresh = tick.data_t_s <= self._until(lv)  # stale records: no evidence now
        slow &= fresh
        known = np.isfinite(self.since_[slots])  # slow already: no reference for peers
        new = slow & ~known
        crowd = np.bincount(pidx, new, n_peer)[pidx] > 0.5 * (
            lv["members"] - np.bincount(pidx, known, n_peer)[pidx])
        slow &= ~(crowd & new)  # most of a stage turning slow at once is no straggler
        since, ready = self._persist(slots, slow, tick.data_t_s, interval,
                                     unknown=~(enough & fresh),
                                     back_s=np.minimum(lv["span_s"], self.persist_s) / 2.0)
        first = lv["level"] / np.where(established, base, np.nan) - 1.0
        plausible = enough & (lv["level"] >= 1.0 - self.abs_excess)  # far below its peers,
        # its reference was a slow peer (not yet flagged): nothing to learn from
        self.base_[slots] = self._learn(base, np.where(plausible, lv["level"], np.nan), dt,
                                        established=established, learn_s=learn_s,
                                        frozen=slow | (first >= 0.75 * own_bar)
                                        | (lv["evidence"] >= 0.25))
        self.base_t_[slots] = np.where(np.isfinite(base), self.base_t_[slots], tick.data_t_s)
        bar = np.where(rel >= peers_bar, peers_bar, own_bar)
        risen = per_rank(lv, self.stages_.risen(tick.data_t_s, lv["stages"], dt))
        alone = np.bincount(pidx, slow, n_peer)[pidx] == 0  # else its own slow rank explains it
        rising = np.isfinite(risen[0]) & alone & fresh
        by_stage = rising & (tick.data_t_s - risen[0] >= self.persist_s)
        rel, rise = np.where(by_stage, risen[1], rel), np.where(by_stage, risen[1], rise)
        lv.update(rel=rel, rise=rise, since=np.where(by_stage, risen[0], since),
                  bar=np.where(by_stage, self.self_excess, bar), established=established,
                  by_stage=by_stage, ready=ready | by_stage, slow=slow | rising)
        host = self.hosts_.judge(tick.data_t_s, lv, self.node_ranks_, (enough | by_stage) & fresh,
                                 (noise, wide), rise=rise, established=established | by_stage)
        on_host = np.isin(lv["node"], np.fromiter(set(host) | lv["pending"], np.int64))
        self._reseed(slots, pidx, lv["members"], (np.isfinite(since) & ~known) | on_host,
                     t_s=tick.data_t_s, learn_s=learn_s)
        lone = self.one_node_.update(tick.data_t_s, dt, self.buf_, lv["ok"])
        return self._localise(tick, lv, ready | by_stage, host) + self._one_node(tick, lone, host)

    def _reseed(self, slots: I64, pidx: I64, members: I64, flagged: B, *, t_s: float,
                learn_s: F64) -> None:
        """Ranks just flagged slow were their stage peers' reference until now, and the
        ranks of a slow host still are: when they are a third of the stage or more
        (a median of the others moves with them), a peer's baseline still young
        (learnt in the last two ``learn_s``) learnt a reference they pulled (half a
        stage slow from the start makes its healthy half look fast): it starts afresh."""
        n_peer = int(pidx.max()) + 1
        hit = 3 * np.bincount(pidx, flagged, n_peer)[pidx] >= members
        young = hit & ~np.isfinite(self.since_[slots]) & (t_s - self.base_t_[slots] < 2 * learn_s)
        if young.any():
            self.base_[slots[young]] = np.nan
            self.base_t_[slots[young]] = t_s

    def _until(self, lv: dict[str, Any]) -> F64:
        """Per rank: the data time until which its latest record is current evidence
        (``stale_records`` of its own record intervals, at least ``persist_s``)."""
        n = np.maximum(lv["n"] - 1, 1)
        record_s = (lv["last_ts"] - (lv["t_s"] - lv["span_s"])) / n
        until: F64 = lv["last_ts"] + np.maximum(self.persist_s, self.stale_records * record_s)
        lv["until"] = until
        return until

    def _persist(self, slots: I64, slow: B, t_s: float, interval: F64, *, unknown: B,
                 back_s: F64) -> tuple[F64, B]:
        """(slow since, ready) per rank. Ready once slow for ``persist_s``; a ready rank
        stays so through a short dip (three records, or ``persist_s``), so that one
        noisy level does not split one fault into two findings. A spell begins
        ``back_s`` before the judgment that first sees it (its level is a median:
        half its records, at most half of ``persist_s``, were slow already). While ``unknown`` (its
        records stale, or too few since a restart) a slow spell is kept, not ended,
        for up to ``carry_s``: a job that hangs or restarts does not cure a slow host,
        and the spell before counts toward persistence when slowness shows again."""
        last = np.where(slow, t_s, self.last_slow_[slots])
        self.last_slow_[slots] = last
        hold = self.ready_[slots] & (t_s - last < np.maximum(self.persist_s, 3 * interval))
        carried = unknown & ~slow & (t_s - last <= self.carry_s)
        since = np.where(carried, self.since_[slots],
                         sustained(self.since_[slots], slow | hold, t_s - back_s))
        ready = (slow | hold) & (t_s - since >= self.persist_s)
        self.since_[slots], self.ready_[slots] = since, ready
        return since, ready

    def _scales(self, lv: dict[str, Any], base: F64, established: B, pidx: I64, n_peer: int
                ) -> tuple[B, F64, F64, F64, F64, F64, F64]:
        """Slow at any window length; (slow, rel, rise, peers bar, own bar, noise term,
        spread term) of the first length that shows it (the shortest when none).

        A longer window remembers a fault that has ended: it counts only while the
        shortest level is still ``min_rel`` above the peers and every shorter level
        agrees with it (is not ``agree_k`` of its standard errors below it: the
        newer records are as slow as the whole window). So does the evidence
        accumulated over records (:meth:`_sequential`, checked last), with the shortest."""
        out: list[tuple[B, F64, F64, F64, F64, F64, F64]] = []
        short = lv["scales"][0][0] - 1.0
        shorter: list[tuple[F64, F64]] = []  # (rel, its standard error) of shorter windows
        for mult, (level, n) in zip(SCALES, lv["scales"], strict=True):
            peers_bar, own_bar, noise, wide = self._bars(lv, n, base, pidx, n_peer)
            rel = level - 1.0
            need = self.first_records if mult == SCALES[0] else mult * self.min_records
            now = (short >= self.min_rel) | (mult == SCALES[0])
            for r, se in shorter:
                now &= r >= rel - self.agree_k * se
            shorter.append((rel, noise / self.noise_k))
            rise = np.where(established, level / np.where(established, base, 1.0) - 1.0, 0.0)
            slow = (n >= need) & now & (
                (rel >= peers_bar) | ((rise >= own_bar) & (rel >= self.min_rel)))
            out.append((slow, rel, rise, peers_bar, own_bar, noise, wide))
        seq = self._sequential(lv, base, established, pidx, n_peer, short=out[0])
        now = (short >= self.min_rel) & (short >= seq[1] - self.agree_k * shorter[0][1])
        out.append((seq[0] & now, *seq[1:]))
        pick = np.zeros(pidx.size, dtype=np.int64)
        for k in range(len(out) - 1, -1, -1):
            pick = np.where(out[k][0], k, pick)
        rows = np.arange(pidx.size)
        return tuple(np.stack([o[i] for o in out])[pick, rows] for i in range(7))  # type: ignore[return-value]

    def _sequential(self, lv: dict[str, Any], base: F64, established: B, pidx: I64,
                    n_peer: int, *, short: tuple[B, F64, F64, F64, F64, F64, F64]
                    ) -> tuple[B, F64, F64, F64, F64, F64, F64]:
        """Slow by evidence accumulated over records (:func:`sequential_slow`, noise
        of the stage); a baseline is not learnt while that evidence builds up."""
        sigma = group_median(lv["noise"], pidx, n_peer)[0][pidx]
        slow, rel, rise, lv["evidence"] = sequential_slow(
            lv["tail"], np.where(established, base, np.nan), sigma, self_excess=self.self_excess,
            min_rel=self.min_rel, first_records=self.first_records, bar_k=self.cusum_k)
        return slow, rel, rise, short[3], np.full(pidx.size, self.self_excess), short[5], short[6]

    def _learn(self, base: F64, level: F64, dt: float, *, established: B, frozen: B,
               learn_s: F64) -> F64:
        """Own baselines: learnt fast until established (``learn_s``: at least
        ``base_min_s`` and one level window), then slowly, and never while
        slow or rising (a fault is not learnt as the new normal)."""
        a = 1.0 - np.exp(-dt / np.maximum(learn_s / 3.0, 1e-9))
        fast = np.where(np.isfinite(base), (1 - a) * base + a * level, level)
        fast = np.where(np.isfinite(level), fast, base)
        slow = ewma_update(base, level, alpha_for(self.tau_s, dt), frozen=frozen)
        return np.where(established, slow, fast)

    # ------------------------------------------------------------ localising
    def _host_side_due(self, tick: Tick, lv: dict[str, Any], i: int, g: int) -> bool:
        """A lone slow rank is a host-side finding once it has held the barrier long
        enough for the GPU detectors, its GPU clear of causes since it turned slow."""
        return bool(lv["holds"][i] >= 0.5 and self._gpus_cleared(
            tick, np.array([g]), float(lv["since"][i]), float(lv["span_s"][i])))

    def _gpus_cleared(self, tick: Tick, gpus: I64, since_s: float, back_s: float) -> bool:
        """Slow since ``since_s`` for max(``host_persist_s``, ``host_scrapes`` scrape
        intervals) (the GPU detectors' time), ``gpus`` clear of causes since it
        turned slow (back over ``back_s`` of its records; at most the last
        ``clear_s``): then the cause is on the host side."""
        wait_s = max(self.host_persist_s, self.host_scrapes * tick.interval_s)
        began = max(since_s, tick.data_t_s - self.clear_s) - back_s
        return bool(tick.data_t_s - since_s >= wait_s
                    and self.causes_.clear_since(gpus, np.full(gpus.size, began)).all())

    def _localise(self, tick: Tick, lv: dict[str, Any], ready: B,
                  host: dict[int, tuple[float, float, int]]) -> list[tuple[Candidate, float]]:
        topo = tick.topology
        node, until = lv["node"], lv["until"]
        per_node = self.node_ranks_  # ranks seen on each node, compared or not
        node_until = np.full(self.n_nodes_, -np.inf)
        np.maximum.at(node_until, node, until)
        slow_now = (lv["slow"] | lv["ready"]) & (tick.data_t_s <= until)
        slow_gpu, slow_node = lv["gpu"][slow_now], node[slow_now]
        out = [(slow_host(self.words_, topo, n, host[n], ranks=int(per_node[n]),
                           gpus=sorted({int(g) for g in slow_gpu[slow_node == n]})),
                float(node_until[n])) for n in sorted(host)]
        seen = self.causes_.seen
        self.host_seen_.update(dict.fromkeys(host, tick.data_t_s))
        record_s = lv["span_s"] / np.maximum(lv["n"], 1)
        for i in (int(k) for k in np.flatnonzero(ready)):
            n = int(node[i])
            if n in host or n in lv["pending"]:
                continue
            if tick.data_t_s - self.host_seen_.get(n, -np.inf) < (
                    SCALES[-1] * self.min_records * record_s[i]):
                continue  # its longest level still holds its host's slow records: no GPU
            if per_node[n] == 1:
                out.append((single_rank_node(self.words_, topo, lv, i), float(until[i])))
                continue
            g = topo.gpu_id(n, int(lv["gpu"][i]))
            if g < 0:
                continue
            if not (seen.size and seen[g]):
                if not (seen.size and self.causes_.ever_seen[g]):  # lost: telemetry_loss
                    out.append((blind_gpu(self.words_, topo, lv, i, g), float(until[i])))
            elif self._host_side_due(tick, lv, i, g):
                cand = host_side_rank(self.words_, topo, lv, i, g=g, ranks=int(per_node[n]))
                out.append((cand, float(until[i])))
        return out

    def _one_node(self, tick: Tick, lone: list[Rise], host: dict[int, tuple[float, float, int]]
                  ) -> list[tuple[Candidate, float]]:
        """One-node jobs risen over their own past, their GPUs clear of causes all along
        (as for a lone rank, :meth:`_host_side_due`): the host is the cause."""
        topo, out = tick.topology, []
        for r in lone:
            gpus = np.arange(topo.gpu_offset[r.node], topo.gpu_offset[r.node + 1])
            if r.node in host or not self._gpus_cleared(tick, gpus, r.since_s, 0.0):
                continue
            out.append((one_node_host(self.words_, topo, r), tick.data_t_s + self.persist_s))
        return out
