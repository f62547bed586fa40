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
  utilisation or tensor activity apart from the peers' median). Evidence
  that points at different ranks names nobody.

A hung job still holds its GPUs: peers spin in the collective. When GPU
telemetry shows every GPU of the job idle, its processes are gone (a crash,
a restart on its way, the end of the run): not a hang, nothing is said. A job
that steps again is no longer stalled; a silence longer than ``give_up_s`` is
taken for a job that ended.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from brownout.detect.api import Candidate, Detector
from brownout.detect.collectives import HangReport, StuckRank
from brownout.detect.tick import Tick
from brownout.telemetry.steps import StepRecords
from brownout.topology.model import Topology


@dataclass
class _Job:
    """What the detector knows of one job (internal, mutable)."""

    last_ts: dict[int, float] = field(default_factory=dict)  # rank -> newest record
    last_step: dict[int, int] = field(default_factory=dict)
    gpu: dict[int, tuple[int, int]] = field(default_factory=dict)  # rank -> (node, local gpu)
    per_step_s: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    newest_s: float = -math.inf

    def step_s(self) -> float:
        return float(np.median(self.per_step_s)) if len(self.per_step_s) >= 3 else math.nan


class HangDetector(Detector):
    """Hung ranks and stalled jobs.

    Args:
        stall_k: a job is stalled after this many of its step times without a record ...
        stall_floor_s: ... and at least this long (checkpoint saves stall every rank too).
        give_up_s: a job silent this long has ended; it is no longer reported.
        activity_margin_pct: a rank's GPU utilisation (or tensor activity, in
            percent) this far from its peers' median singles it out.
        alive_util_pct: below this median utilisation the job's GPUs are idle:
            its processes are gone.
        hold_s: a Flight Recorder finding is kept at most this long without progress.
    """

    name = "hangs"

    def __init__(self, *, stall_k: float = 10.0, stall_floor_s: float = 60.0,
                 give_up_s: float = 3600.0, activity_margin_pct: float = 40.0,
                 alive_util_pct: float = 20.0, hold_s: float = 1800.0) -> None:
        self.stall_k = stall_k
        self.stall_floor_s = stall_floor_s
        self.give_up_s = give_up_s
        self.activity_margin_pct = activity_margin_pct
        self.alive_util_pct = alive_util_pct
        self.hold_s = hold_s

    def update(self, tick: Tick) -> list[Candidate]:
        if not hasattr(self, "jobs_"):
            self.jobs_: dict[str, _Job] = {}
            self.reports_: list[HangReport] = []
            self.xid_ = np.zeros(0)
            self.xid_at_ = np.zeros(0)
        self._ingest(tick.steps)
        self._track_xids(tick)
        self.reports_.extend(tick.hangs)
        out = self._from_reports(tick)
        for name, job in sorted(self.jobs_.items()):
            out.extend(self._stall(tick, name, job))
        return out

    # step records --------------------------------------------------------------
    def _ingest(self, st: StepRecords) -> None:
        for j, name in enumerate(st.jobs):
            mine = np.flatnonzero(st.job == j)
            if mine.size:
                self._ingest_job(self.jobs_.setdefault(name, _Job()), st.take(mine))

    @staticmethod
    def _ingest_job(job: _Job, st: StepRecords) -> None:
        """Newest record per rank; one robust seconds-per-step sample per batch."""
        order = np.lexsort((st.ts, st.rank))
        rank, ts, step = st.rank[order], st.ts[order], st.step[order]
        node, gpu = st.node[order], st.gpu[order]
        same = rank[1:] == rank[:-1]
        dstep = step[1:] - step[:-1]
        per = list(((ts[1:] - ts[:-1]) / np.maximum(dstep, 1))[same & (dstep > 0)])
        for i in np.flatnonzero(np.r_[~same, True]):  # the newest record of each rank
            r, t, s = int(rank[i]), float(ts[i]), int(step[i])
            prev_t, prev_s = job.last_ts.get(r), job.last_step.get(r, -1)
            if prev_t is not None and s > prev_s and not same[i - 1:i].any():
                per.append((t - prev_t) / (s - prev_s))
            if prev_t is None or t >= prev_t:
                job.last_ts[r], job.last_step[r] = t, s
                job.gpu[r] = (int(node[i]), int(gpu[i]))
        if per:
            job.per_step_s.append(float(np.median(per)))
        job.newest_s = max(job.newest_s, float(ts.max()))

    def _gpu(self, topo: Topology, job: _Job, rank: int) -> int:
        node, gpu = job.gpu.get(rank, (-1, -1))
        return int(topo.gpu_id(node, gpu)) if node >= 0 else -1

    def _track_xids(self, tick: Tick) -> None:
        """When each GPU's last-Xid gauge last changed to a non-zero code."""
        value, _ = tick.value("DCGM_FI_DEV_XID_ERRORS")
        if self.xid_.size != value.size:
            self.xid_ = np.zeros(value.size)
            self.xid_at_ = np.full(value.size, -math.inf)
        new = np.isfinite(value) & (value != 0) & (value != self.xid_)
        self.xid_at_[new] = tick.data_t_s
        self.xid_ = np.where(np.isfinite(value), value, self.xid_)

    # Flight Recorder -----------------------------------------------------------
    def _from_reports(self, tick: Tick) -> list[Candidate]:
        keep: list[HangReport] = []
        out: list[Candidate] = []
        for rep in self.reports_:
            job_name, job = self._job_of(rep)
            t = rep.t_s if math.isfinite(rep.t_s) else tick.data_t_s
            resumed = job is not None and job.newest_s > t
            if resumed or tick.t_s - t > self.hold_s:
                continue
            keep.append(rep)
            out.extend(rank_hang(s, rep, self._place(tick.topology, job, s.rank), job_name)
                       for s in rep.stuck)
        self.reports_ = keep
        return out

    def _job_of(self, rep: HangReport) -> tuple[str, _Job | None]:
        """The job whose ranks the report's ranks are (the only one, or the exact match)."""
        need = {s.rank for s in rep.stuck}
        fits = [(n, j) for n, j in sorted(self.jobs_.items()) if need <= set(j.last_ts)]
        exact = [(n, j) for n, j in fits if set(j.last_ts) == set(rep.ranks)]
        pick = exact or fits
        return pick[0] if len(pick) == 1 else ("", None)

    def _place(self, topo: Topology, job: _Job | None, rank: int) -> str:
        g = self._gpu(topo, job, rank) if job is not None else -1
        return topo.gpu_name(g) if g >= 0 else f"rank{rank}"

    # stalls without dumps ------------------------------------------------------
    def _stall(self, tick: Tick, name: str, job: _Job) -> list[Candidate]:
        step_s = job.step_s()
        if not math.isfinite(step_s) or len(job.last_ts) < 2:
            return []
        timeout_s = max(self.stall_k * step_s, self.stall_floor_s)
        silent_s = tick.data_t_s - job.newest_s
        gpus = {r: self._gpu(tick.topology, job, r) for r in job.last_ts}
        if not timeout_s < silent_s < self.give_up_s or self._gone(tick, gpus):
            return []
        ev = {"job": name, "silent_s": round(silent_s, 1), "step_s": round(step_s, 3),
              "timeout_s": round(timeout_s, 1), "ranks": len(job.last_ts)}
        out = [Candidate(
            "job_stalled", name, job.newest_s, 0.8, "major", "investigate",
            f"every rank of {name} stopped reporting steps {silent_s:.0f} s ago "
            f"(timeout {timeout_s:.0f} s, {self.stall_k:g} x its {step_s:.2f} s step)",
            ev, notice=True, source=self.name)]
        culprit = self._single_out(tick, job, step_s, gpus)
        if culprit is not None:
            rank, why = culprit
            out.append(self._step_hang(tick, job, rank, why, ev))
        return out

    def _single_out(self, tick: Tick, job: _Job, step_s: float, gpus: dict[int, int]
                    ) -> tuple[int, list[str]] | None:
        """The one rank the evidence names, with the reasons; None if none or several."""
        why: dict[int, list[str]] = {}
        top = max(job.last_step.values())
        behind = [r for r, s in job.last_step.items() if s < top]
        if len(behind) == 1:
            why.setdefault(behind[0], []).append(
                f"its last record is step {job.last_step[behind[0]]}, its peers reached {top}")
        for r, g in gpus.items():
            if 0 <= g < self.xid_at_.size and self.xid_at_[g] >= job.newest_s - 2 * step_s:
                why.setdefault(r, []).append(f"Xid {int(self.xid_[g])} on its GPU")
        for metric, label, scale in (("DCGM_FI_DEV_GPU_UTIL", "utilisation", 1.0),
                                     ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "tensor activity",
                                      100.0)):
            odd = self._outlier(tick, gpus, metric, scale)
            if odd is not None:
                r, mine, peers = odd
                why.setdefault(r, []).append(
                    f"its GPU {label} is {mine:.0f}% while its peers' median is {peers:.0f}%")
        return next(iter(why.items())) if len(why) == 1 else None

    @staticmethod
    def _known(tick: Tick, gpus: dict[int, int], metric: str, scale: float
               ) -> dict[int, float]:
        value, ok = tick.fresh(metric)
        return {r: float(value[g]) * scale for r, g in gpus.items()
                if 0 <= g < value.size and ok[g]}

    def _outlier(self, tick: Tick, gpus: dict[int, int], metric: str, scale: float
                 ) -> tuple[int, float, float] | None:
        """The one rank whose GPU reads far from its peers' median, if exactly one does."""
        known = self._known(tick, gpus, metric, scale)
        if len(known) < 3:
            return None
        peers = float(np.median(list(known.values())))
        odd = [r for r, v in known.items() if abs(v - peers) >= self.activity_margin_pct]
        return (odd[0], known[odd[0]], peers) if len(odd) == 1 else None

    def _gone(self, tick: Tick, gpus: dict[int, int]) -> bool:
        """Every GPU of the job idle (its processes are gone), as far as telemetry says."""
        known = self._known(tick, gpus, "DCGM_FI_DEV_GPU_UTIL", 1.0)
        return len(known) >= 3 and float(np.median(list(known.values()))) < self.alive_util_pct

    def _step_hang(self, tick: Tick, job: _Job, rank: int, why: list[str],
                   ev: dict[str, Any]) -> Candidate:
        name = ev["job"]
        g = self._gpu(tick.topology, job, rank)
        comp = tick.topology.gpu_name(g) if g >= 0 else f"rank{rank}"
        return Candidate(
            "rank_hang", comp, job.last_ts[rank], min(0.95, 0.6 + 0.15 * (len(why) - 1)),
            "critical", "restart_job",
            f"{name} hung: rank {rank} on {comp} holds it ({'; '.join(why)})",
            {**ev, "rank": rank, "evidence": why, "from": "step records"},
            source=self.name, component_type="" if g >= 0 else "rank")


def rank_hang(s: StuckRank, rep: HangReport, component: str, job: str = "") -> Candidate:
    """The ``rank_hang`` candidate of one stuck rank of a Flight Recorder report."""
    verb = {"never_joined": "never joined", "never_finished": "never finished",
            "no_dump": "wrote no dump for"}.get(s.how, s.how)
    waiting = ", ".join(str(r) for r in s.waiting_ranks) or "none"
    onset = s.onset_s if math.isfinite(s.onset_s) else rep.t_s
    return Candidate(
        "rank_hang", component, onset, 0.9 if s.how != "no_dump" else 0.7, "critical",
        "restart_job",
        f"rank {s.rank} {verb} {s.op or 'the collective'} #{s.collective_seq_id} of process "
        f"group {s.process_group} ({s.pg_desc}); ranks {waiting} wait in it",
        {"rank": s.rank, "process_group": s.process_group, "pg_desc": s.pg_desc,
         "collective_seq_id": s.collective_seq_id, "op": s.op,
         "waiting_ranks": list(s.waiting_ranks), "how": s.how, "hows": list(s.hows),
         "last_enqueued": s.enqueued, "last_completed": s.completed,
         "peers_completed": s.peers_completed, "lagging_groups": list(s.groups),
         "dumps": rep.source, **({"job": job} if job else {}), "from": "flight recorder"},
        source="hangs", component_type="" if "/" in component else "rank")


__all__ = ["HangDetector", "rank_hang"]


def report_candidates(rep: HangReport, steps: StepRecords | None,
                      topo: Topology | None) -> list[Candidate]:
    """``rank_hang`` candidates of one report, placed by a step log when one fits.

    The job is the one whose records hold every stuck rank (the one whose
    ranks are exactly the dumps' ranks when several do); a rank is placed at
    the node and GPU of its newest record.
    """
    det = HangDetector()
    det.jobs_ = {}
    steps = steps if steps is not None else StepRecords.empty()
    det._ingest(steps)  # the same bookkeeping as in a tick
    job_name, job = det._job_of(rep)
    names = [n.name for n in topo.nodes] if topo is not None else list(steps.node_names)
    out = []
    for s in rep.stuck:
        node, gpu = job.gpu.get(s.rank, (-1, -1)) if job is not None else (-1, -1)
        comp = f"{names[node]}/gpu{gpu}" if 0 <= node < len(names) else f"rank{s.rank}"
        out.append(rank_hang(s, rep, comp, job_name))
    return out
