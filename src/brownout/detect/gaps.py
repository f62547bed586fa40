"""Telemetry gaps: a node's series stop while its ranks keep stepping.

A node whose GPU series (or, without GPU series, NIC series) have all been
silent for ``stale_intervals`` scrape intervals (and at least ``min_stale_s``,
longer than an exporter restart) while other nodes still report, and whose
ranks kept writing step records meanwhile, is a ``telemetry_loss``: a blind
spot, never a reason to touch hardware. Without a step log the silence alone
is reported (what else a silent node does is unknown). When most nodes go
silent at once the scrape itself failed: one notice, no findings.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from brownout.detect.api import Candidate, Detector
from brownout.detect.tick import Tick

F64 = npt.NDArray[np.float64]


class TelemetryGapDetector(Detector):
    """Nodes that went silent while alive.

    Args:
        stale_intervals: silence of this many scrape intervals ...
        min_stale_s: ... and at least this long makes a node silent.
        outage_fraction: more silent nodes than this fraction is a scrape outage.
    """

    name = "gaps"

    def __init__(self, *, stale_intervals: float = 4.0, min_stale_s: float = 120.0,
                 outage_fraction: float = 0.3) -> None:
        self.stale_intervals = stale_intervals
        self.min_stale_s = min_stale_s
        self.outage_fraction = outage_fraction

    def update(self, tick: Tick) -> list[Candidate]:
        topo = tick.topology
        if not hasattr(self, "stepped_"):
            self.stepped_ = np.full(topo.n_nodes, np.nan)
            self.node_job_ = np.full(topo.n_nodes, -1, dtype=np.int64)
            self.job_stepped_: dict[str, float] = {}
        self._steps(tick)
        seen = self._node_last_seen(tick)
        stale_s = max(self.min_stale_s, self.stale_intervals * tick.interval_s)
        age = tick.t_s - seen
        silent = np.isfinite(seen) & (age > stale_s)
        if silent.sum() > max(1, self.outage_fraction * np.isfinite(seen).sum()):
            return [Candidate(
                "telemetry_outage", tick.cluster, tick.data_t_s, 0.9, "major", "fix_telemetry",
                f"{int(silent.sum())} nodes silent at once: the scrape or the store failed",
                {"silent_nodes": int(silent.sum())}, notice=True, source=self.name)]
        if tick.has_steps:
            silent &= self._alive(tick, stale_s)
        out = []
        for n in np.flatnonzero(silent):
            name = topo.nodes[int(n)].name
            ev = {"silent_s": round(float(age[n]), 1), "last_sample_at": float(seen[n])}
            if tick.has_steps:
                ev["last_step_record_at"] = float(self.stepped_[n])
            out.append(Candidate(
                "telemetry_loss", name, float(seen[n]), 0.9 if tick.has_steps else 0.6,
                "minor", "fix_telemetry",
                f"no telemetry from {name} for {age[n]:.0f} s"
                + (" while its ranks keep stepping" if tick.has_steps else ""),
                ev, source=self.name))
        return out

    def _steps(self, tick: Tick) -> None:
        st = tick.steps
        ok = st.node >= 0
        if not ok.any():
            return
        np.fmax.at(self.stepped_, st.node[ok], st.ts[ok])
        for j, name in enumerate(st.jobs):
            mine = ok & (st.job == j)
            if mine.any():
                self.job_stepped_[name] = max(self.job_stepped_.get(name, -np.inf),
                                              float(st.ts[mine].max()))
                self.job_ids_ = getattr(self, "job_ids_", {})
                jid = self.job_ids_.setdefault(name, len(self.job_ids_))
                self.node_job_[np.unique(st.node[mine])] = jid

    def _alive(self, tick: Tick, stale_s: float) -> npt.NDArray[np.bool_]:
        """Nodes whose ranks kept stepping, or stopped only when their whole job did."""
        recent = tick.t_s - self.stepped_ <= stale_s / 2
        names = {i: n for n, i in getattr(self, "job_ids_", {}).items()}
        job_last = np.array([self.job_stepped_.get(names.get(int(j), ""), np.nan)
                             for j in self.node_job_])
        with_job = job_last - self.stepped_ <= 60.0
        out: npt.NDArray[np.bool_] = recent | with_job
        return out

    @staticmethod
    def _node_last_seen(tick: Tick) -> F64:
        topo = tick.topology
        gpu = np.full(topo.n_nodes, np.nan)
        g_seen = tick.gpu_last_seen()
        ok = np.isfinite(g_seen)
        if ok.any():
            np.fmax.at(gpu, topo.gpu_node[ok], g_seen[ok])
        nic = np.full(topo.n_nodes, np.nan)
        k_seen = tick.nic_last_seen()
        ok = np.isfinite(k_seen)
        if ok.any():
            np.fmax.at(nic, topo.nic_node[ok], k_seen[ok])
        return np.where(np.isfinite(gpu), gpu, nic)
