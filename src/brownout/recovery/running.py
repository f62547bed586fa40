"""The goodput ledger kept live, at a bounded cost, from step records as they arrive.

:func:`~brownout.recovery.ledger.build_ledger` reads a whole log at once.
The live controller instead gets step records in batches from whatever
feeds it (the simulator, pushed records, tailed step files) and must not
re-read a day of records every refresh. :class:`RunningLedger` does the
per-record work once per record:

- on :meth:`~RunningLedger.add`, each record gets its rank's restart count
  (``epoch``) from the rank's previous record, kept per rank (the same rule
  as :func:`~brownout.recovery.instances.rank_epochs`); identical repeated
  lines are dropped, and a record older than its rank's previous one is
  counted as late and dropped (a rank's records arrive in order from the
  hook and from a rank's step file);
- records wait until their step instance is settled: the job's newest record
  is ``settle_s`` later than the instance's end, or the job has sent nothing
  for ``settle_s`` of controller time. A settled instance is summarised into
  one row (end, median start, slowest compute, slowest healthy compute, its
  stages' median computes) and its records are let go. A record of an
  instance already settled is counted as late and dropped;
- :meth:`~RunningLedger.ledger` runs the ledger's attribution on the settled
  rows in the window (``window_s``): a cost per refresh in instances, not
  records.

On records fed in time order, the result equals ``build_ledger`` on the same
records (a test checks it to 1e-9); it lags the newest record by
``settle_s``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from brownout.findings import Finding
from brownout.recovery.findings_map import job_findings
from brownout.recovery.groups import dense_ids, group_count, group_max, group_median, group_min
from brownout.recovery.instances import DUPLICATE_TOL_S, Instances, repeats
from brownout.recovery.ledger import JobLedger, Ledger, LedgerConfig, job_ledger
from brownout.telemetry.steps import StepRecords
from brownout.topology.model import Topology

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

ROW_COLUMNS = ("step", "epoch", "end_s", "dur_s", "cmax_s", "chealthy_s", "first_s", "ranks")


@dataclass(frozen=True)
class RunningSettings:
    """Settings of the live ledger.

    Attributes:
        settle_s: an instance is summarised once the job's newest record is
            this much later than its end (or the job has been silent this
            long on the controller clock). Records of it arriving later are
            counted as late.
        window_s: instances ending more than this before the job's newest
            record leave the ledger.
        ledger: the attribution settings.
    """

    settle_s: float = 30.0
    window_s: float = 24 * 3600.0
    ledger: LedgerConfig = field(default_factory=LedgerConfig)


@dataclass(frozen=True)
class _Pending:
    """Records accepted but not yet summarised (one job), as columns."""

    ts: F64
    step: I64
    epoch: I64
    stage: I64
    compute_s: F64
    step_s: F64

    @classmethod
    def empty(cls) -> _Pending:
        f, i = np.zeros(0), np.zeros(0, np.int64)
        return cls(f, i, i, i, f, f)

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def take(self, idx: npt.NDArray[np.intp] | B) -> _Pending:
        return _Pending(self.ts[idx], self.step[idx], self.epoch[idx], self.stage[idx],
                        self.compute_s[idx], self.step_s[idx])

    @staticmethod
    def join(parts: list[_Pending]) -> _Pending:
        parts = [p for p in parts if len(p)]
        if len(parts) <= 1:
            return parts[0] if parts else _Pending.empty()
        return _Pending(*(np.concatenate([getattr(p, c) for p in parts])
                          for c in ("ts", "step", "epoch", "stage", "compute_s", "step_s")))


class _RankState:
    """Per-rank last step, last timestamp and restart count of one job (sorted by rank)."""

    def __init__(self) -> None:
        self.rank = np.zeros(0, np.int64)
        self.step = np.zeros(0, np.int64)
        self.ts = np.zeros(0)
        self.epoch = np.zeros(0, np.int64)

    def index(self, rank: I64) -> I64:
        """Positions of ``rank`` in the state, adding unseen ranks."""
        n = self.rank.shape[0]
        if n and self.rank[0] == 0 and self.rank[-1] == n - 1:  # ranks 0..n-1: no search
            lo, hi = int(rank.min()), int(rank.max())
            if lo >= 0 and hi < n:
                return rank
        new = np.setdiff1d(rank, self.rank)
        if new.shape[0]:
            merged = np.concatenate([self.rank, new])
            order = np.argsort(merged, kind="stable")
            old = order < self.rank.shape[0]
            self.rank = merged[order]
            self.step = _spread(self.step, old, order, 0)
            self.ts = _spread(self.ts, old, order, np.nan)
            self.epoch = _spread(self.epoch, old, order, 0)
        return np.searchsorted(self.rank, rank).astype(np.int64)


def _spread(values: npt.NDArray[Any], old: B, order: I64, fill: float) -> npt.NDArray[Any]:
    out = np.full(order.shape[0], fill, dtype=values.dtype)
    out[old] = values[order[old]]
    return out


class _JobStream:
    """One job: rank states, pending records and settled instance rows."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ranks = _RankState()
        self.chunks: list[_Pending] = []
        self.pending = _Pending.empty()
        self.rows: dict[str, npt.NDArray[Any]] = {
            c: np.zeros(0, np.int64 if c in ("step", "epoch", "ranks") else np.float64)
            for c in ROW_COLUMNS}
        self.row_id = np.zeros(0, np.int64)  # uid of each settled row
        self.stage_rows = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
        self.next_uid = 0
        self.settled_step: dict[int, int] = {}  # epoch -> highest settled step
        self.newest_s = -np.inf
        self.last_add_s = -np.inf
        self.nodes: set[str] = set()
        self.late = 0
        self.duplicates = 0
        self.version = 0

    # intake -------------------------------------------------------------------------
    def add(self, rec: StepRecords, now_s: float) -> None:
        ts, step, stage = rec.ts, rec.step.astype(np.int64), rec.stage.astype(np.int64)
        compute_s, step_s = rec.compute_s, rec.step_s
        pos = self.ranks.index(rec.rank.astype(np.int64))
        late = ts < self.ranks.ts[pos] - DUPLICATE_TOL_S  # NaN (unseen rank) compares False
        self.late += int(late.sum())
        keep = np.flatnonzero(~late)
        ts, step, pos, stage = ts[keep], step[keep], pos[keep], stage[keep]
        compute_s, step_s = compute_s[keep], step_s[keep]
        epoch, dup = self._epochs(pos, step, ts)
        ok = ~dup & ~self._settled(epoch, step)
        self.duplicates += int(dup.sum())
        self.late += int((~dup & ~ok).sum())
        if ok.any():
            self.chunks.append(_Pending(ts[ok], step[ok], epoch[ok], stage[ok], compute_s[ok],
                                        step_s[ok]))
            self.newest_s = max(self.newest_s, float(ts[ok].max()))
        self.last_add_s = now_s

    def _epochs(self, pos: I64, step: I64, ts: F64) -> tuple[I64, B]:
        """Restart count and duplicate mask of each record, continuing each rank's state."""
        if ts.shape[0] < 2 or bool(np.all(ts[1:] >= ts[:-1])):  # feeds hand records in time order
            order = np.argsort(pos, kind="stable")
        else:
            order = np.lexsort((ts, pos))
        p, s, t = pos[order], step[order], ts[order]
        first = np.concatenate(([True], p[1:] != p[:-1])) if p.shape[0] else np.zeros(0, bool)
        st = self.ranks
        prev_s = np.where(first, st.step[p], np.concatenate(([0], s[:-1])))
        prev_t = np.where(first, st.ts[p], np.concatenate(([0.0], t[:-1])))
        has_prev = ~first | ~np.isnan(st.ts[p])
        dup = has_prev & (s == prev_s) & (np.abs(t - prev_t) <= DUPLICATE_TOL_S)
        back = has_prev & ~dup & (s <= prev_s)
        cs = np.cumsum(back)
        start = np.maximum.accumulate(np.where(first, np.arange(p.shape[0]), 0))
        epoch_sorted = st.epoch[p] + cs - cs[start] + back[start]
        last = np.concatenate((p[1:] != p[:-1], [True])) if p.shape[0] else first
        st.step[p[last]], st.ts[p[last]] = s[last], t[last]
        st.epoch[p[last]] = epoch_sorted[last]
        epoch, dup_out = np.empty_like(epoch_sorted), np.empty_like(dup)
        epoch[order], dup_out[order] = epoch_sorted, dup
        return epoch.astype(np.int64), dup_out

    def _settled(self, epoch: I64, step: I64) -> B:
        """Records whose instance was already summarised (they came too late)."""
        out = np.zeros(epoch.shape[0], dtype=bool)
        for e in np.unique(epoch).tolist():
            done = self.settled_step.get(int(e))
            if done is not None:
                out |= (epoch == e) & (step <= done)
        return out

    # settling ---------------------------------------------------------------------------
    def settle(self, now_s: float, cfg: RunningSettings) -> None:
        """Summarise the instances that are complete; let their records go."""
        self.pending = _Pending.join([self.pending, *self.chunks])
        self.chunks = []
        pend = self.pending
        if not len(pend):
            return
        cutoff = self.newest_s - cfg.settle_s
        if now_s - self.last_add_s >= cfg.settle_s:
            cutoff = np.inf  # the job went quiet: nothing more is coming for these
        inst, n = dense_ids(pend.epoch, pend.step)
        done = group_max(inst, pend.ts, n) <= cutoff
        if not done.any():
            return
        mine = done[inst]
        self._summarise(pend.take(mine), cfg.ledger.max_spread)
        self.pending = pend.take(~mine)
        self._trim(cfg.window_s)
        self.version += 1

    def _summarise(self, p: _Pending, max_spread: float) -> None:
        inst, n = dense_ids(p.epoch, p.step)
        end = group_max(inst, p.ts, n)
        grp, m = dense_ids(inst, p.stage)
        c_med = group_median(grp, p.compute_s, m)
        within = p.compute_s <= c_med[grp] * (1.0 + max_spread)
        cmax = group_max(inst, p.compute_s, n)
        chealthy = group_max(inst, np.where(within, p.compute_s, -np.inf), n, fill=0.0)
        new = {"step": group_max(inst, p.step.astype(np.float64), n).astype(np.int64),
               "epoch": group_max(inst, p.epoch.astype(np.float64), n).astype(np.int64),
               "end_s": end, "dur_s": end - group_median(inst, p.ts - p.step_s, n),
               "cmax_s": cmax, "chealthy_s": np.where(np.isfinite(chealthy), chealthy, cmax),
               "first_s": group_min(inst, p.ts - p.step_s, n), "ranks": group_count(inst, n)}
        uid = self.next_uid + np.arange(n, dtype=np.int64)
        self.next_uid += n
        g_inst = group_max(grp, inst.astype(np.float64), m).astype(np.int64)
        g_stage = group_max(grp, p.stage.astype(np.float64), m).astype(np.int64)
        self.rows = {c: np.concatenate([self.rows[c], new[c]]) for c in ROW_COLUMNS}
        self.row_id = np.concatenate([self.row_id, uid])
        old = self.stage_rows
        self.stage_rows = (np.concatenate([old[0], uid[g_inst]]),
                           np.concatenate([old[1], g_stage]), np.concatenate([old[2], c_med]))
        for e, s in zip(new["epoch"].tolist(), new["step"].tolist(), strict=True):
            self.settled_step[e] = max(self.settled_step.get(e, s), s)

    def _trim(self, window_s: float) -> None:
        keep = self.rows["end_s"] >= self.newest_s - window_s
        if keep.all():
            return
        self.rows = {c: v[keep] for c, v in self.rows.items()}
        self.row_id = self.row_id[keep]
        uid, stage, c_med = self.stage_rows
        kept = np.isin(uid, self.row_id)
        self.stage_rows = (uid[kept], stage[kept], c_med[kept])

    # the ledger -------------------------------------------------------------------------
    def instances(self) -> Instances:
        """The settled instances in the window, in order of completion."""
        r = self.rows
        order = np.argsort(r["end_s"], kind="stable")
        common = self._common()[order]
        step = r["step"][order]
        return Instances(
            step=step, epoch=r["epoch"][order], end_s=r["end_s"][order],
            dur_s=r["dur_s"][order], common_s=common, cmax_s=r["cmax_s"][order],
            chealthy_s=r["chealthy_s"][order],
            coll_s=np.maximum(r["dur_s"] - r["cmax_s"], 0.0)[order],
            ranks=r["ranks"][order], repeat=repeats(step),
            start_s=float(r["first_s"].min()) if step.shape[0] else 0.0,
            node_ids=np.zeros(0, np.int64))

    def _common(self) -> F64:
        """Per settled row: median over its stages of (stage median - the stage's usual)."""
        uid, stage, c_med = self.stage_rows
        n = self.row_id.shape[0]
        if not n:
            return np.zeros(0)
        st_ids, n_st = dense_ids(stage)
        base = group_median(st_ids, c_med, n_st)[st_ids]
        row = np.searchsorted(self.row_id, uid)
        return group_median(row.astype(np.int64), c_med - base, n, fill=0.0)


class RunningLedger:
    """The goodput ledger of every job, fed batch by batch.

    Args:
        topology: names the records' node indexes (None: the records' own
            ``node_names``) and relates switch and cooling findings to jobs.
        settings: settle time, window and attribution settings.
    """

    def __init__(self, topology: Topology | None = None,
                 settings: RunningSettings | None = None) -> None:
        self.topology = topology
        self.settings = settings or RunningSettings()
        self._jobs: dict[str, _JobStream] = {}
        self._cache: dict[str, tuple[tuple[int, tuple[str, ...]], JobLedger]] = {}

    def add(self, steps: StepRecords, now_s: float) -> None:
        """Accept a batch of records (any jobs, any order within the batch)."""
        if not len(steps):
            return
        order = np.argsort(steps.job, kind="stable")
        bounds = np.flatnonzero(np.diff(steps.job[order])) + 1
        for idx in np.split(order, bounds):
            rec = steps.take(idx)
            name = steps.jobs[int(rec.job[0])]
            job = self._jobs.setdefault(name, _JobStream(name))
            job.add(rec, now_s)
            job.nodes.update(self._names(rec))

    def _names(self, rec: StepRecords) -> set[str]:
        ids = np.unique(rec.node[rec.node >= 0]).tolist()
        if self.topology is not None:
            return {self.topology.nodes[i].name for i in ids if i < self.topology.n_nodes}
        return {rec.node_names[i] for i in ids if i < len(rec.node_names)}

    def settle(self, now_s: float) -> None:
        """Summarise every instance that is complete (see :class:`RunningSettings`)."""
        for job in self._jobs.values():
            job.settle(now_s, self.settings)

    def flush(self) -> None:
        """Summarise everything pending (the feed has ended)."""
        for job in self._jobs.values():
            job.settle(np.inf, self.settings)

    def ledger(self, now_s: float, findings: Sequence[Finding] = ()) -> Ledger:
        """Settle what is complete, then the ledger of every job with settled steps."""
        self.settle(now_s)
        out: dict[str, JobLedger] = {}
        for name, job in self._jobs.items():
            if not job.row_id.shape[0]:
                continue
            mine = job_findings(findings, job.nodes, self.topology)
            key = (job.version, tuple(sorted(f.id for f in mine)))
            hit = self._cache.get(name)
            if hit is None or hit[0] != key:
                ranks = int(job.ranks.rank.shape[0])
                hit = (key, job_ledger(name, job.instances(), ranks, mine,
                                       config=self.settings.ledger))
                self._cache[name] = hit
            out[name] = hit[1]
        return Ledger(jobs=dict(sorted(out.items())))

    def counts(self) -> dict[str, dict[str, int]]:
        """Per job: records pending, records dropped as late, duplicates dropped."""
        return {name: {"pending": len(j.pending) + sum(len(c) for c in j.chunks), "late": j.late,
                       "duplicates": j.duplicates}
                for name, j in self._jobs.items()}
