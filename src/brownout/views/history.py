"""A short rolling history of a few signals, for the evidence plot beside each finding.

After every controller tick the latest per-GPU temperature, SM clock and
utilisation, and per-node mean step communication time and sample count, are
written into fixed-size ring buffers (numpy, float32, vectorised). A finding's
plot is the signal that best shows its kind, for its component, over the
window the buffers hold.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from brownout.telemetry.frame import Frame
from brownout.telemetry.metrics import metric_id
from brownout.telemetry.steps import StepRecords
from brownout.topology.component import ComponentRef
from brownout.topology.model import Topology
from brownout.views.model import SeriesView

F32 = npt.NDArray[np.float32]

#: kind -> (signal, label, unit)
PLOTS: dict[str, tuple[str, str, str]] = {
    "gpu_overheating": ("temp", "GPU temperature", "degC"),
    "cooling_fault": ("temp", "mean GPU temperature of the domain", "degC"),
    "gpu_degraded": ("clock", "SM clock", "MHz"),
    "gpu_failed": ("util", "GPU utilisation", "%"),
    "host_straggler": ("util", "mean GPU utilisation of the node", "%"),
    "nic_degraded": ("comm", "mean comm time of the node's ranks", "s"),
    "switch_congestion": ("comm", "mean comm time of ranks beneath", "s"),
    "telemetry_loss": ("samples", "seconds since the node's last sample", "s"),
}


class SignalHistory:
    """Ring buffers of ``length`` ticks.

    Args:
        topology: the cluster.
        length: ticks kept.
    """

    def __init__(self, topology: Topology, length: int = 240) -> None:
        self.topology = topology
        self.length = length
        g, n = topology.n_gpus, topology.n_nodes
        self.t_s = np.full(length, np.nan)
        self.gpu = {k: np.full((length, g), np.nan, np.float32) for k in ("temp", "clock", "util")}
        self.node = {k: np.full((length, n), np.nan, np.float32) for k in ("comm", "samples")}
        self._ids = {"temp": metric_id("DCGM_FI_DEV_GPU_TEMP"),
                     "clock": metric_id("DCGM_FI_DEV_SM_CLOCK"),
                     "util": metric_id("DCGM_FI_DEV_GPU_UTIL")}
        self._i = 0
        self.latest_temp_c = np.full(g, np.nan)
        self._last_seen_s = np.full(n, -np.inf)

    def push(self, t_s: float, frame: Frame | None, steps: StepRecords | None) -> None:
        """Record one tick from the data that arrived in it (values carry forward)."""
        topo, row = self.topology, self._i % self.length
        self.t_s[row] = t_s
        prev = (self._i - 1) % self.length
        for key, mid in self._ids.items():
            values = self.gpu[key][prev].astype(np.float64) if self._i else np.full(
                topo.n_gpus, np.nan)
            if frame is not None and len(frame):
                new, _ = frame.latest(mid, topo.n_gpus)
                values = np.where(np.isfinite(new), new, values)
            self.gpu[key][row] = values
            if key == "temp":
                self.latest_temp_c = values
        if frame is not None and len(frame):
            node = frame.table.node[frame.series].astype(np.int64)
            ok = (node >= 0) & (node < topo.n_nodes)
            np.maximum.at(self._last_seen_s, node[ok], frame.t_s[ok])
        with np.errstate(invalid="ignore"):
            self.node["samples"][row] = np.where(np.isfinite(self._last_seen_s),
                                                 t_s - self._last_seen_s, np.nan)
        comm = np.full(topo.n_nodes, np.nan)
        if steps is not None and len(steps):
            ok = (steps.node >= 0) & (steps.node < topo.n_nodes)
            s = np.bincount(steps.node[ok], steps.comm_s[ok], minlength=topo.n_nodes)
            c = np.bincount(steps.node[ok], minlength=topo.n_nodes)
            with np.errstate(invalid="ignore", divide="ignore"):
                comm = np.where(c > 0, s / np.maximum(c, 1), np.nan)
        self.node["comm"][row] = comm
        self._i += 1

    def _order(self) -> npt.NDArray[np.int64]:
        n = min(self._i, self.length)
        start = self._i - n
        return (np.arange(start, self._i) % self.length).astype(np.int64)

    def series(self, kind: str, component: str) -> SeriesView | None:
        """The evidence plot of a finding of ``kind`` on ``component`` (None if unknown)."""
        plot = PLOTS.get(kind)
        if plot is None or self._i == 0:
            return None
        signal, label, unit = plot
        cols = self._columns(signal, component)
        if cols is None or cols.size == 0:
            return None
        rows = self._order()
        table = self.gpu[signal] if signal in self.gpu else self.node[signal]
        block = table[np.ix_(rows, cols)].astype(np.float64)
        with np.errstate(invalid="ignore"):
            counts = np.sum(np.isfinite(block), axis=1)
            sums = np.nansum(block, axis=1)
            values = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        return SeriesView(label, unit, tuple(float(t) for t in self.t_s[rows]),
                          tuple(float(v) for v in values))

    def _columns(self, signal: str, component: str) -> npt.NDArray[np.int64] | None:
        return component_indexes(self.topology, component, per_gpu=signal in self.gpu)


def component_indexes(topo: Topology, component: str, per_gpu: bool
                      ) -> npt.NDArray[np.int64] | None:
    """Global GPU indexes (``per_gpu``) or node indexes a component stands for.

    A GPU stands for itself (or its node); a node or NIC for its node's GPUs
    (or itself); a cooling domain or switch for the nodes under it. None when
    the topology does not know the component.
    """
    kind = topo.component_type(component)
    if kind is None:
        return None
    ref = ComponentRef.parse(component)
    node_name = ref.host
    if kind == "gpu":
        gid = topo.gpu_id(node_name, ref.gpu if ref.gpu is not None else -1)
        return np.array([gid if per_gpu else topo.node_index[node_name]], np.int64)
    if kind in ("node", "nic"):
        i = topo.node_index[node_name]
        return (np.arange(topo.gpu_offset[i], topo.gpu_offset[i + 1], dtype=np.int64)
                if per_gpu else np.array([i], np.int64))
    if kind == "cooling":
        nodes = np.flatnonzero(topo.node_cooling == topo.cooling_domains.index(component))
    elif kind == "switch":
        nodes = np.array([topo.node_index[n] for n in topo.nodes_under(component)], np.int64)
    else:
        return None
    if not per_gpu:
        return nodes.astype(np.int64)
    return np.flatnonzero(np.isin(topo.gpu_node, nodes)).astype(np.int64)
