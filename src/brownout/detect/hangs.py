"""Hung jobs: a rank stuck inside a step while its peers wait at a collective.

Two kinds of evidence reach this detector.

- **Flight Recorder reports** (:mod:`brownout.detect.collectives`): each
  stuck rank becomes a ``rank_hang`` at the GPU where the job's step records
  place it, or at ``rank<N>`` when none does. The finding stays while the job
  makes no progress (no step record after the report) and at most ``hold_s``.
- **Step records alone.** When every rank of a job stops reporting (no record
  for ``max(stall_k x step time, stall_floor_s)``, the step time being the
  job's own robust median) while other data keeps arriving, the job has
  stalled: a ``job_stalled`` notice. If the evidence then singles out one
  rank, that rank gets a ``rank_hang``: its last record older than its
  peers' (a step behind), a new Xid on its GPU since the job was last seen
  stepping, or its GPU doing something else than all its peers' (computing
  while they sit in the collective, or idle while they spin in it: GPU
  utilisation or tensor activity apart from the peers' median, which weighs
  double), or its power apart (``power_ratio``: a GPU spinning in a
  collective reads 100 % utilisation at a fraction of a computing GPU's power,
  the evidence where profiling fields are not collected). Apart means by at
  least ``activity_ratio`` of the larger of the two and
  ``activity_margin_pct`` points: tensor activity under load differs between
  GPU models, so a fixed margin would not hold across a fleet. When
  the evidence points at several ranks, the one whose evidence weighs most is
  named; a tie names nobody. A GPU that was already half as far apart, on
  the same side, while the job stepped (a power brake, a capped GPU; its
  latest sample two steps before the job's last record, or the one before)
  is no evidence. Once named, a
  rank stays the named one for the rest of that silence: one hang, one
  finding. Evidence that weighs two or more (GPU activity
  apart, or a step behind with an Xid) names the rank sooner, after
  ``max(hang_k x step time, hang_floor_s)``: a hung job is often ended by
  something else (a GPU failing, a restart) within minutes, and the notice's
  long timeout would miss it.

Silence is judged at the time the step records are known to be complete: in
``brownout watch`` with telemetry, the controller's own now (records are
pushed as they happen: :attr:`Tick.steps_until_s`), unless records of the
job after the tick are still waiting; in a replay, or with steps alone, the
data time (see :func:`steps_now_s`).

A hung job still holds its GPUs: peers spin in the collective. When GPU
telemetry shows every GPU of the job idle, its processes are gone (a crash,
a restart on its way, the end of the run): not a hang, nothing is said. If
its GPUs are busy again with still no record, a new incarnation came up and
stopped before its first step: silent since it came back, and the notice is
given (where its ranks run now, and what stopped it, no record says); a rank
is named only when a GPU of the previous placement posted an Xid since the
job came back and its activity is apart from the job's. A job that steps
again is no longer stalled; a silence longer than ``give_up_s`` is taken for
a job that ended.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from brownout.detect.api import Candidate, Detector
from brownout.detect.collectives import HangReport
from brownout.detect.hang_findings import rank_hang
from brownout.detect.hang_settings import HangTimeouts
from brownout.detect.tick import Tick
from brownout.telemetry.steps import StepRecords
from brownout.telemetry.xid import catalogue
from brownout.topology.model import Topology

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

POWER = "DCGM_FI_DEV_POWER_USAGE"
TENSOR = "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"
#: what a GPU is doing, as (metric, words, scale to the unit shown, unit); power last:
#: it stands in for tensor activity where profiling fields are not collected
ACTIVITY = (("DCGM_FI_DEV_GPU_UTIL", "utilisation", 1.0, "%"),
            (TENSOR, "tensor activity", 100.0, "%"),
            (POWER, "power", 1.0, " W"))


@dataclass
class _Job:
    """What the detector knows of one job (internal, mutable): columns over its ranks."""

    rank: I64 = field(default_factory=lambda: np.zeros(0, np.int64))  # sorted
    last_ts: F64 = field(default_factory=lambda: np.zeros(0))  # newest record per rank
    last_step: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    node: I64 = field(default_factory=lambda: np.zeros(0, np.int64))  # where it ran last
    gpu: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    per_step_s: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    newest_s: float = -math.inf
    gone_s: float = -math.inf  # last seen with every GPU idle (processes gone), data time

    def step_s(self) -> float:
        return float(np.median(self.per_step_s)) if len(self.per_step_s) >= 3 else math.nan

    def slots(self, ranks: I64) -> I64:
        """Column index of each rank, adding the ranks not seen before."""
        new = np.setdiff1d(ranks, self.rank)
        if new.size:
            merged = np.union1d(self.rank, new)
            old = np.searchsorted(merged, self.rank)
            for col, fill in (("last_ts", np.nan), ("last_step", -1), ("node", -1),
                              ("gpu", -1)):
                grown = np.full(merged.size, fill, dtype=getattr(self, col).dtype)
                grown[old] = getattr(self, col)
                setattr(self, col, grown)
            self.rank = merged
        return np.searchsorted(self.rank, ranks)

    def where(self, rank: int) -> tuple[int, int]:
        """(node, local GPU) of a rank's newest record; (-1, -1) if unknown."""
        i = int(np.searchsorted(self.rank, rank))
        if i < self.rank.size and self.rank[i] == rank:
            return int(self.node[i]), int(self.gpu[i])
        return -1, -1


class HangDetector(Detector):
    """Hung ranks and stalled jobs.

    Args:
        stall_k: a job is stalled after this many of its step times without a record ...
        stall_floor_s: ... and at least this long (checkpoint saves stall every rank too).
        hang_k: with evidence weighing two or more, the rank is named after this
            many step times without a record ...
        hang_floor_s: ... and at least this long (never later than the stall).
        give_up_s: a job silent this long has ended; it is no longer reported.
        activity_margin_pct: a rank's GPU utilisation (or tensor activity, in
            percent) at least this many points from its peers' median ...
        activity_ratio: ... and by at least this fraction of the larger of the
            two singles it out.
        power_ratio: so does its GPU's power this fraction of the larger of its
            own and its peers' median apart (a GPU spinning in a collective reads
            100 % utilisation at a fraction of a computing GPU's power: the
            evidence where profiling fields are not collected).
        alive_util_pct: below this median utilisation the job's GPUs are idle:
            its processes are gone.
        hold_s: a Flight Recorder finding is kept at most this long without progress.

    The timeouts are configurable (:class:`~brownout.detect.hang_settings.HangTimeouts`).
    """

    name = "hangs"
    needs_metrics = False  # step records and Flight Recorder reports are enough

    def __init__(self, *, stall_k: float = HangTimeouts.stall_k,
                 stall_floor_s: float = HangTimeouts.stall_floor_s,
                 hang_k: float = HangTimeouts.hang_k,
                 hang_floor_s: float = HangTimeouts.hang_floor_s,
                 give_up_s: float = HangTimeouts.give_up_s,
                 activity_margin_pct: float = 15.0, activity_ratio: float = 0.6,
                 power_ratio: float = 0.4, alive_util_pct: float = 20.0,
                 hold_s: float = HangTimeouts.hold_s) -> None:
        self.stall_k = stall_k
        self.stall_floor_s = stall_floor_s
        self.hang_k = hang_k
        self.hang_floor_s = hang_floor_s
        self.give_up_s = give_up_s
        self.activity_margin_pct = activity_margin_pct
        self.activity_ratio = activity_ratio
        self.power_ratio = power_ratio
        self.alive_util_pct = alive_util_pct
        self.hold_s = hold_s

    def update(self, tick: Tick) -> list[Candidate]:
        if not hasattr(self, "jobs_"):
            self.jobs_: dict[str, _Job] = {}
            self.reports_: list[HangReport] = []
            self.xid_ = np.zeros(0)
            self.xid_at_ = np.zeros(0)
            self.named_: dict[str, tuple[float, tuple[int, list[str], int]]] = {}
            self.before_: dict[str, F64] = {}
            self.last_: dict[str, tuple[F64, F64, F64, F64]] = {}
        self._ingest(tick.steps)
        self._track_xids(tick)
        self._remember(tick)
        self.reports_.extend(tick.hangs)
        out = self._from_reports(tick)
        for name, job in sorted(self.jobs_.items()):
            out.extend(self._stall(tick, name, job))
        return out

    # step records --------------------------------------------------------------
    def _ingest(self, st: StepRecords) -> None:
        for j, name in enumerate(st.jobs):
            if len(st) and (st.job == j).all():
                self._ingest_job(self.jobs_.setdefault(name, _Job()), st)
                return
            mine = np.flatnonzero(st.job == j)
            if mine.size:
                self._ingest_job(self.jobs_.setdefault(name, _Job()), st.take(mine))

    @staticmethod
    def _ingest_job(job: _Job, st: StepRecords) -> None:
        """Newest record per rank; one robust seconds-per-step sample per batch.

        ``st`` is time-ordered (as the engine hands it), so a rank's first and
        last occurrences are its oldest and newest records of the batch.
        """
        rank = st.rank.astype(np.int64)
        ranks, first = np.unique(rank, return_index=True)
        _, back = np.unique(rank[::-1], return_index=True)
        last = rank.size - 1 - back
        slot = job.slots(ranks)
        prev_t, prev_s = job.last_ts[slot], job.last_step[slot]
        seen = np.isfinite(prev_t)
        t0 = np.where(seen, prev_t, st.ts[first])  # from the rank's previous record if any
        s0 = np.where(seen, prev_s, st.step[first])
        dstep = st.step[last] - s0
        ok = dstep > 0
        if ok.any():
            job.per_step_s.append(float(np.median((st.ts[last] - t0)[ok] / dstep[ok])))
        newer = ~(prev_t > st.ts[last])  # NaN (never seen) counts as older
        keep, at = slot[newer], last[newer]
        job.last_ts[keep], job.last_step[keep] = st.ts[at], st.step[at]
        job.node[keep], job.gpu[keep] = st.node[at], st.gpu[at]
        job.newest_s = max(job.newest_s, float(st.ts[-1]))

    @staticmethod
    def _gpu_ids(topo: Topology, job: _Job) -> I64:
        """Topology GPU id (-1 where unknown) of every rank of the job, in rank order."""
        if not topo.n_nodes:
            return np.full(job.rank.size, -1, np.int64)
        ok = (job.node >= 0) & (job.node < topo.n_nodes) & (job.gpu >= 0)
        node = np.where(ok, job.node, 0)
        ok &= job.gpu < np.diff(topo.gpu_offset)[node]
        return np.where(ok, topo.gpu_offset[node] + job.gpu, -1).astype(np.int64)

    @classmethod
    def _gpus(cls, topo: Topology, job: _Job) -> dict[int, int]:
        """rank -> topology GPU id (-1 where unknown) of every rank of the job."""
        return dict(zip(job.rank.tolist(), cls._gpu_ids(topo, job).tolist(), strict=True))

    def _track_xids(self, tick: Tick) -> None:
        """When (sample time) each GPU's last-Xid gauge last changed to a non-zero code."""
        value, when = tick.value("DCGM_FI_DEV_XID_ERRORS")
        if self.xid_.size != value.size:
            self.xid_ = np.zeros(value.size)
            self.xid_at_ = np.full(value.size, -math.inf)
        new = np.isfinite(value) & (value != 0) & (value != self.xid_)
        self.xid_at_[new] = when[new]
        self.xid_ = np.where(np.isfinite(value), value, self.xid_)

    def _remember(self, tick: Tick) -> None:
        """Each GPU's activity readings last sampled while its job was stepping: two of
        the job's steps before its newest record at least (a hung rank may be a step
        behind its peers, and its GPU departs from theirs from then on). The sample
        before the latest counts too: on a 30 s scrape with 13 s steps the latest one
        is rarely that old, and the readings kept would be from long before."""
        samples = {metric: self._two_samples(tick, metric) for metric, *_ in ACTIVITY}
        for job in self.jobs_.values():
            step_s = job.step_s()
            if not math.isfinite(step_s):
                continue
            g = self._gpu_ids(tick.topology, job)
            cutoff = job.newest_s - 2 * step_s
            for metric, (value, when, old_v, old_w) in samples.items():
                before = self.before_.setdefault(metric, np.full(value.size, np.nan))
                if before.size != value.size:
                    before = self.before_[metric] = np.full(value.size, np.nan)
                mine = g[(g >= 0) & (g < value.size)]
                for v, w in ((old_v, old_w), (value, when)):  # the newer one last
                    ok = mine[(w[mine] <= cutoff) & np.isfinite(v[mine])]
                    before[ok] = v[ok]

    def _two_samples(self, tick: Tick, metric: str) -> tuple[F64, F64, F64, F64]:
        """(value, time) of each GPU's latest sample of ``metric`` and of the one before."""
        value, when = tick.value(metric)
        last = self.last_.get(metric)
        if last is None or last[0].size != value.size:
            nan = np.full(value.size, np.nan)
            last = self.last_[metric] = (nan, nan.copy(), nan.copy(), nan.copy())
        cur_v, cur_w, old_v, old_w = last
        new = np.isfinite(when) & (when != cur_w)
        old_v[new], old_w[new] = cur_v[new], cur_w[new]
        cur_v[new], cur_w[new] = value[new], when[new]
        return value, when, old_v, old_w

    # Flight Recorder -----------------------------------------------------------
    def _from_reports(self, tick: Tick) -> list[Candidate]:
        keep: list[HangReport] = []
        out: list[Candidate] = []
        for rep in self.reports_:
            job_name, job = self._job_of(rep)
            t = rep.t_s if math.isfinite(rep.t_s) else tick.data_t_s
            resumed = job is not None and job.newest_s > t
            if not rep.stuck or resumed or tick.t_s - t > self.hold_s:
                continue
            keep.append(rep)
            out.extend(rank_hang(s, rep, self._place(tick.topology, job, s.rank), job_name)
                       for s in rep.stuck)
        self.reports_ = keep
        return out

    def _job_of(self, rep: HangReport) -> tuple[str, _Job | None]:
        """The job whose ranks the report's ranks are (the only one, or the exact match)."""
        need = {s.rank for s in rep.stuck}
        fits = [(n, j) for n, j in sorted(self.jobs_.items()) if need <= set(j.rank.tolist())]
        exact = [(n, j) for n, j in fits if set(j.rank.tolist()) == set(rep.ranks)]
        pick = exact or fits
        return pick[0] if len(pick) == 1 else ("", None)

    def _place(self, topo: Topology, job: _Job | None, rank: int) -> str:
        g = self._gpus(topo, job).get(rank, -1) if job is not None else -1
        return topo.gpu_name(g) if g >= 0 else f"rank{rank}"

    # stalls without dumps ------------------------------------------------------
    def _stall(self, tick: Tick, name: str, job: _Job) -> list[Candidate]:
        step_s = job.step_s()
        if not math.isfinite(step_s) or job.rank.size < 2:
            return []
        timeout_s = max(self.stall_k * step_s, self.stall_floor_s)
        soon_s = min(timeout_s, max(self.hang_k * step_s, self.hang_floor_s))
        # a job seen gone (crashed) that holds busy GPUs again is a new incarnation, silent
        # since it came back: where its ranks run now and what stopped it, no record says
        # (only a GPU error since then names a rank: see _since_restart)
        reborn = job.gone_s > job.newest_s
        since_s = job.gone_s if reborn else job.newest_s
        silent_s = steps_now_s(tick, name) - since_s
        if not soon_s < silent_s < self.give_up_s:
            return []
        gpus = self._gpus(tick.topology, job)
        # telemetry of the silence: sampled a scrape interval after it began at least
        # (an exporter serves values it collected up to an interval earlier)
        after_s = since_s + tick.interval_s
        state = self._alive(tick, gpus, after_s)
        if state == "gone":
            job.gone_s = max(job.gone_s, tick.data_t_s)
        if state != "alive":
            return []
        stalled = silent_s > timeout_s
        found = None if not self._heard_all(tick, gpus, after_s) else (
            self._since_restart(tick, gpus, since_s) if reborn
            else self._single_out(tick, job, step_s, gpus, after_s))
        culprit = self._keep_named(name, since_s, found)
        if not stalled and (culprit is None or culprit[2] < 2):
            return []
        ev = {"job": name, "silent_s": round(silent_s, 1), "step_s": round(step_s, 3),
              "timeout_s": round(timeout_s if stalled else soon_s, 1),
              "ranks": int(job.rank.size), **({"restarted": True} if reborn else {})}
        what = (f"{name} came back after its GPUs went idle (a restart) and reported no "
                f"step in {silent_s:.0f} s" if reborn else
                f"every rank of {name} stopped reporting steps {silent_s:.0f} s ago")
        out = [] if not stalled else [Candidate(
            "job_stalled", name, since_s, 0.8, "major", "investigate",
            f"{what} (timeout {timeout_s:.0f} s, {self.stall_k:g} x its {step_s:.2f} s step)",
            ev, notice=True, source=self.name)]
        if culprit is not None:
            rank, why, _ = culprit
            self.named_[name] = (since_s, culprit)
            out.append(self._step_hang(tick, job, rank, why, ev,
                                       onset_s=since_s if reborn else None))
        return out

    def _keep_named(self, name: str, since_s: float,
                    culprit: tuple[int, list[str], int] | None
                    ) -> tuple[int, list[str], int] | None:
        """The rank already named for this silence of the job stays the named one.

        One hang is one finding: evidence arriving later in the same silence
        (a GPU of the hung job failing, its processes dying one by one) may
        point at another rank, but it is a consequence of the hang, not its cause.
        """
        named = self.named_.get(name)
        if named is None or named[0] != since_s:
            return culprit
        if culprit is not None and culprit[0] == named[1][0]:
            return culprit  # the same rank, with the evidence seen now
        return named[1]

    def _heard_all(self, tick: Tick, gpus: dict[int, int], after_s: float) -> bool:
        """Every GPU of the job that reports has been sampled since ``after_s``: evidence
        from some GPUs only would name a rank before the others had their say (an
        exporter a scrape late, a node on a 60 s scrape)."""
        util = "DCGM_FI_DEV_GPU_UTIL"
        return (len(self._known(tick, gpus, util, 1.0, after_s))
                >= len(self._known(tick, gpus, util, 1.0)))

    def _single_out(self, tick: Tick, job: _Job, step_s: float, gpus: dict[int, int],
                    after_s: float) -> tuple[int, list[str], int] | None:
        """The rank the evidence names, with the reasons (see :func:`_strongest`).

        An Xid counts when its first sample falls around the job's last record
        (two steps and a scrape interval either side): one that came earlier
        or later did not stop the job, and a GPU whose Xid came later (a GPU
        failing while the job hangs) departs from its peers for that reason:
        its activity is no evidence either. GPU activity apart from the
        peers' is measured on every GPU of the job at once, on samples taken
        from ``after_s`` on, and weighs double.
        """
        why: dict[int, list[tuple[int, str]]] = {}
        top = int(job.last_step.max())
        behind = np.flatnonzero(job.last_step < top)
        if behind.size == 1:
            why.setdefault(int(job.rank[behind[0]]), []).append((1, (
                f"its last record is step {int(job.last_step[behind[0]])}, its peers reached "
                f"{top}")))
        slack = 2 * step_s + tick.interval_s
        later: set[int] = set()  # GPUs whose Xid came after the silence began: see above
        for r, g in gpus.items():
            if not 0 <= g < self.xid_at_.size or _informational(int(self.xid_[g])):
                continue
            if abs(self.xid_at_[g] - job.newest_s) <= slack:
                why.setdefault(r, []).append((1, f"Xid {int(self.xid_[g])} on its GPU"))
            elif self.xid_at_[g] > job.newest_s:
                later.add(r)
        for apart in self._apart(tick, gpus, after_s):
            odd = {r: text for r, text in apart.items() if r not in later}
            if len(odd) == 1:  # one rank apart from all its peers
                (r, text), = odd.items()
                why.setdefault(r, []).append((2, text))
        return _strongest(why)

    def _apart(self, tick: Tick, gpus: dict[int, int], after_s: float
               ) -> list[dict[int, str]]:
        """Per activity metric (utilisation, tensor activity, power), the ranks whose
        GPU reads apart from the job's median on samples taken from ``after_s`` on (those
        before say nothing of the silence), each with the words why. A GPU that was
        already apart on the same side while the job stepped, by half the margins (a
        power brake, a capped or slower GPU: its reading moves with noise around the
        full margin), departs from nothing: its difference is not the hang's; one
        that was below its peers and is above them now (a slow GPU whose kernel never
        ends while they spin) is evidence. Power counts
        only where tensor activity is not collected: it stands in for it (a GPU
        spinning in a collective draws less than a computing one), and where both
        are known a GPU's own clock cap or brake moves its power alone."""
        out: list[dict[int, str]] = []
        profiled = False
        for metric, label, scale, unit in ACTIVITY:
            floor, frac = ((0.0, self.power_ratio) if metric == POWER
                           else (self.activity_margin_pct, self.activity_ratio))
            known = self._known(tick, gpus, metric, scale, after_s)
            if len(known) < 3 or (metric == POWER and profiled):
                continue
            profiled |= metric == TENSOR
            peers = float(np.median(list(known.values())))
            was = self._before(gpus, metric, scale)
            was_peers = float(np.median(list(was.values()))) if len(was) >= 3 else math.nan
            out.append({r: f"its GPU {label} is {v:.0f}{unit} while its peers' median is "
                           f"{peers:.0f}{unit}" for r, v in known.items()
                        if _apart(v, peers, floor, frac)
                        and not _was_apart((v, peers), (was.get(r, math.nan), was_peers),
                                           floor, frac)})
        return out

    def _before(self, gpus: dict[int, int], metric: str, scale: float) -> dict[int, float]:
        """Readings per rank sampled while the job stepped (see :meth:`_remember`)."""
        before = self.before_.get(metric, np.zeros(0))
        return {r: float(before[g]) * scale for r, g in gpus.items()
                if 0 <= g < before.size and math.isfinite(before[g])}

    def _since_restart(self, tick: Tick, gpus: dict[int, int], since_s: float
                       ) -> tuple[int, list[str], int] | None:
        """The rank named in a job that came back and hung before its first record.

        No record says where its ranks run now; they are taken where they ran
        before (a restart from checkpoint usually gets the same allocation). A
        GPU of that placement that posted an Xid since the job came back, and
        whose activity is apart from the job's median, names its rank: the Xid
        says the GPU, not a move, is why it differs (a GPU left out of the new
        placement idles too, but posts nothing new). The job's median is
        robust to the few GPUs left out.
        """
        why: dict[int, list[tuple[int, str]]] = {}
        fresh = {r: g for r, g in gpus.items()
                 if 0 <= g < self.xid_at_.size and self.xid_at_[g] > since_s
                 and not _informational(int(self.xid_[g]))}
        odd = self._apart(tick, gpus, since_s + tick.interval_s) if fresh else []
        for r, g in fresh.items():
            apart = [(2, ranks[r]) for ranks in odd if r in ranks]
            if apart:
                why[r] = [(1, f"Xid {int(self.xid_[g])} on its GPU since the job came back "
                              "(placed where it ran before the restart)"), *apart]
        return _strongest(why)

    @staticmethod
    def _known(tick: Tick, gpus: dict[int, int], metric: str, scale: float,
               since_s: float = -math.inf) -> dict[int, float]:
        """Fresh readings per rank, of samples taken after ``since_s`` only."""
        value, ok = tick.fresh(metric)
        when = tick.value(metric)[1]
        return {r: float(value[g]) * scale for r, g in gpus.items()
                if 0 <= g < value.size and ok[g] and when[g] > since_s}

    def _alive(self, tick: Tick, gpus: dict[int, int], since_s: float) -> str:
        """``gone`` when every GPU of the job is idle (its processes are gone) as far as
        telemetry taken during the silence says; ``unknown`` while the job's GPUs have
        telemetry but none sampled since ``since_s`` (a job that crashed still reads
        busy in the scrape before); else ``alive`` (busy, or no telemetry of them)."""
        util = "DCGM_FI_DEV_GPU_UTIL"
        known = self._known(tick, gpus, util, 1.0, since_s)
        if len(known) < 3:
            return "unknown" if len(self._known(tick, gpus, util, 1.0)) >= 3 else "alive"
        idle = float(np.median(list(known.values()))) < self.alive_util_pct
        return "gone" if idle else "alive"

    def _step_hang(self, tick: Tick, job: _Job, rank: int, why: list[str],
                   ev: dict[str, Any], *, onset_s: float | None = None) -> Candidate:
        """The ``rank_hang`` of ``rank``; its onset is the rank's last record unless
        given (a job that came back hung since it came back)."""
        name = ev["job"]
        g = self._gpus(tick.topology, job).get(rank, -1)
        comp = tick.topology.gpu_name(g) if g >= 0 else f"rank{rank}"
        if onset_s is None:
            onset_s = float(job.last_ts[np.searchsorted(job.rank, rank)])
        return Candidate(
            "rank_hang", comp, onset_s,
            min(0.95, 0.6 + 0.15 * (len(why) - 1)), "critical", "restart_job",
            f"{name} hung: rank {rank} on {comp} holds it ({'; '.join(why)})",
            {**ev, "rank": rank, "evidence": why, "from": "step records"},
            source=self.name, component_type="" if g >= 0 else "rank")


@cache
def _informational(xid: int) -> bool:
    """An Xid NVIDIA's catalogue says to ignore, now and on investigation (a memory
    remapping event, a test message): it does not stop a GPU's work."""
    entry = catalogue().get(xid)
    return entry is not None and entry.immediate == entry.investigatory == "IGNORE"


def _apart(mine: float, peers: float, points: float, frac: float) -> bool:
    """At least ``points`` and ``frac`` of the larger of the two apart (False where
    either is unknown)."""
    gap = abs(mine - peers)
    return gap >= points and gap >= frac * max(mine, peers)


def _was_apart(now: tuple[float, float], was: tuple[float, float], points: float,
               frac: float) -> bool:
    """Whether a reading now apart from its peers' (``now``: mine, peers') was already
    on the same side of them while the job stepped (``was``), by at least half of
    ``points`` and half of ``frac`` of the larger of the two (False where unknown)."""
    gap = (was[0] - was[1]) * math.copysign(1.0, now[0] - now[1])
    return gap >= points / 2 and gap >= frac / 2 * max(was)


def _strongest(why: dict[int, list[tuple[int, str]]]) -> tuple[int, list[str], int] | None:
    """The rank whose evidence weighs strictly more than any other's, with its reasons
    and that weight."""
    ranked = sorted(((sum(w for w, _ in ev), r) for r, ev in why.items()), reverse=True)
    if not ranked or (len(ranked) > 1 and ranked[1][0] == ranked[0][0]):
        return None
    weight, rank = ranked[0]
    return rank, [text for _, text in why[rank]], weight


def steps_now_s(tick: Tick, job: str) -> float:
    """The time a job's step silence is judged at: the time its records are known
    complete (:attr:`Tick.steps_until_s`, unless some of them wait for a later
    tick), else the data time. Without telemetry the data time it stays: other
    data arriving is then the only sign that the job, not the feed, stopped, and
    nothing tells a hung job from one that ended."""
    if (math.isnan(tick.steps_until_s) or not tick.has_metrics
            or job in tick.steps_pending):
        return tick.data_t_s
    return max(tick.steps_until_s, tick.data_t_s)
