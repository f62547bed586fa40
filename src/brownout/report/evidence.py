"""Evidence series of a finding, computed from a recording (vectorised).

The signal that best shows each kind (as on the dashboard): GPU temperature
for thermal kinds, SM clock for a degraded GPU, utilisation for a failed GPU
or a straggling host, ranks' communication time for NIC and switch faults,
samples received for telemetry loss. The faulty component is drawn against
the median of its peers, binned on a common time grid.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from brownout.findings import Finding
from brownout.telemetry.frame import Frame
from brownout.telemetry.metrics import metric_id
from brownout.telemetry.steps import StepRecords
from brownout.topology.model import Topology
from brownout.views.history import PLOTS, component_indexes

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
METRIC = {"temp": "DCGM_FI_DEV_GPU_TEMP", "clock": "DCGM_FI_DEV_SM_CLOCK",
          "util": "DCGM_FI_DEV_GPU_UTIL"}


def window_of(f: Finding, end_s: float, before_s: float = 900.0, after_s: float = 1200.0
              ) -> tuple[float, float]:
    """The plot window of a finding: before its onset to a while after detection."""
    resolved = f.resolved_at
    stop = resolved if resolved is not None else f.detected_at + after_s
    return f.onset - before_s, min(max(stop, f.detected_at + 60.0), end_s)


def _binned(t: F64, v: F64, edges: F64) -> F64:
    """Mean of ``v`` per time bin (NaN for empty bins)."""
    idx = np.searchsorted(edges, t, side="right") - 1
    ok = (idx >= 0) & (idx < edges.size - 1) & np.isfinite(v)
    n = edges.size - 1
    s = np.bincount(idx[ok], v[ok], minlength=n)[:n]
    c = np.bincount(idx[ok], minlength=n)[:n]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c > 0, s / np.maximum(c, 1), np.nan)


def evidence_series(f: Finding, topo: Topology, frame: Frame, steps: StepRecords,
                    bins: int = 60) -> tuple[str, str, F64, F64, F64] | None:
    """(label, unit, bin times, component values, peer median) for a finding, or None."""
    plot = PLOTS.get(f.kind)
    if plot is None:
        return None
    signal, label, unit = plot
    t0, t1 = window_of(f, max(frame.end_s if len(frame) else -np.inf,
                              float(steps.ts.max()) if len(steps) else -np.inf))
    if not t1 > t0:
        return None
    edges = np.linspace(t0, t1, bins + 1)
    mine = component_indexes(topo, f.component, per_gpu=signal in METRIC)
    if mine is None or mine.size == 0:
        return None
    if signal in METRIC:
        t, comp, v = frame.window(t0, t1).metric(metric_id(METRIC[signal]))
        own, peers = _own_and_peers(t, comp.astype(np.int64), v, mine, edges)
    elif signal == "comm":
        w = steps.window(t0, t1)
        own, peers = _own_and_peers(w.ts, w.node.astype(np.int64), w.comm_s, mine, edges)
    else:
        fw = frame.window(t0, t1)
        node = fw.table.node[fw.series].astype(np.int64)
        own, peers = _own_and_peers(fw.t_s, node, np.ones(len(fw)), mine, edges, count=True)
    centres = (edges[:-1] + edges[1:]) / 2
    if signal == "samples":  # a recording shows what arrived, not how stale it was
        label, unit = "samples received per node and bin", "samples"
    return label, unit, centres, own, peers


def _own_and_peers(t: F64, comp: I64, v: F64, mine: I64, edges: F64, *,
                   count: bool = False) -> tuple[F64, F64]:
    """The component's binned signal and its peers' (per-component) median."""
    is_mine = np.isin(comp, mine)
    if count:
        n = edges.size - 1
        idx = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, n - 1)
        own = np.bincount(idx[is_mine], minlength=n)[:n].astype(np.float64) / max(1, mine.size)
        others = np.unique(comp[~is_mine & (comp >= 0)])
        peers = (np.bincount(idx[~is_mine & (comp >= 0)], minlength=n)[:n]
                 / max(1, others.size)).astype(np.float64)
        return own, peers
    own = _binned(t[is_mine], v[is_mine], edges)
    rest = ~is_mine
    if not rest.any():
        return own, np.full(edges.size - 1, np.nan)
    # peer median over components, per bin: bin every peer sample, then median per bin
    idx = np.searchsorted(edges, t[rest], side="right") - 1
    vals = v[rest]
    ok = (idx >= 0) & (idx < edges.size - 1) & np.isfinite(vals)
    order = np.lexsort((vals[ok], idx[ok]))
    idx_s, val_s = idx[ok][order], vals[ok][order]
    peers = np.full(edges.size - 1, np.nan)
    if idx_s.size:
        starts = np.flatnonzero(np.r_[True, idx_s[1:] != idx_s[:-1]])
        ends = np.r_[starts[1:], idx_s.size]
        mid_lo, mid_hi = starts + (ends - starts - 1) // 2, starts + (ends - starts) // 2
        peers[idx_s[starts]] = (val_s[mid_lo] + val_s[mid_hi]) / 2
    return own, peers
