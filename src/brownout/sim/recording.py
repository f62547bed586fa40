"""Scraped telemetry held in memory: one value array per metric per scrape.

The engine calls :meth:`Recording.add` at every scrape with arrays over GPUs,
NICs and switch ports (NaN where a series is absent: telemetry loss, a GPU
fallen off the bus). Timestamps are per exporter: each node's dcgm-exporter
and node_exporter and each switch's exporter are scraped at their own phase
within the interval, with a little jitter, as Prometheus spreads real scrapes.

:meth:`Recording.frame` turns everything into a :class:`~brownout.telemetry.frame.Frame`
keyed by a :class:`~brownout.telemetry.series.SeriesRegistry`, the same
currency the file reader produces, without writing any text.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from brownout.sim.labels import SimLabels
from brownout.telemetry.frame import Frame
from brownout.telemetry.series import IGNORED, SeriesRegistry

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]

GPU_METRICS = (
    "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_MEMORY_TEMP", "DCGM_FI_DEV_POWER_USAGE",
    "DCGM_FI_DEV_SM_CLOCK", "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_CLOCKS_EVENT_REASONS",
    "DCGM_FI_DEV_XID_ERRORS", "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "DCGM_FI_DEV_ROW_REMAP_FAILURE",
    "DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL",
    "DCGM_FI_DEV_THERMAL_VIOLATION", "DCGM_FI_DEV_POWER_VIOLATION",
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL",
    "DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL", "DCGM_FI_PROF_NVLINK_TX_BYTES",
    "DCGM_FI_PROF_NVLINK_RX_BYTES",
)
NIC_METRICS = (
    "node_infiniband_port_data_transmitted_bytes_total",
    "node_infiniband_port_data_received_bytes_total",
    "node_infiniband_port_transmit_wait_total", "node_infiniband_port_errors_received_total",
    "node_infiniband_symbol_error_total", "node_infiniband_link_error_recovery_total",
    "node_infiniband_link_downed_total", "node_infiniband_state_id",
    "node_infiniband_rate_bytes_per_second",
)
PORT_METRICS = (
    "infiniband_switch_port_transmit_wait_total",
    "infiniband_switch_port_transmit_data_bytes_total",
)
FLOAT_METRICS = {"DCGM_FI_DEV_POWER_USAGE": 3, "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": 4}


@dataclass
class Recording:
    """Scrapes in time order.

    Attributes:
        t_s: tick time of each scrape.
        gpu, nic, port: per metric, one array per scrape.
        gpu_ts, nic_ts, port_ts: per scrape, sample timestamps per node
            (dcgm-exporter), per node (node_exporter), per switch.
    """

    t_s: list[float] = field(default_factory=list)
    gpu: dict[str, list[F64]] = field(default_factory=lambda: {m: [] for m in GPU_METRICS})
    nic: dict[str, list[F64]] = field(default_factory=lambda: {m: [] for m in NIC_METRICS})
    port: dict[str, list[F64]] = field(default_factory=lambda: {m: [] for m in PORT_METRICS})
    gpu_ts: list[F64] = field(default_factory=list)
    nic_ts: list[F64] = field(default_factory=list)
    port_ts: list[F64] = field(default_factory=list)
    _ids: weakref.WeakKeyDictionary[SeriesRegistry, dict[str, I32]] = field(
        default_factory=weakref.WeakKeyDictionary, repr=False)

    def __len__(self) -> int:
        return len(self.t_s)

    def add(self, t_s: float, gpu: dict[str, F64], nic: dict[str, F64], port: dict[str, F64],
            stamps: tuple[F64, F64, F64]) -> None:
        """Append one scrape (arrays are copied)."""
        self.t_s.append(t_s)
        for src, dst in ((gpu, self.gpu), (nic, self.nic), (port, self.port)):
            for name, arr in src.items():
                dst[name].append(np.array(arr, dtype=np.float64))
        self.gpu_ts.append(stamps[0].copy())
        self.nic_ts.append(stamps[1].copy())
        self.port_ts.append(stamps[2].copy())

    def matrix(self, group: str, name: str, start: int = 0) -> F64:
        """(scrapes, entities) array of one metric from scrape ``start`` on."""
        rows = {"gpu": self.gpu, "nic": self.nic, "port": self.port}[group][name][start:]
        return np.vstack(rows) if rows else np.zeros((0, 0))

    def stamps(self, group: str, start: int = 0) -> F64:
        rows = {"gpu": self.gpu_ts, "nic": self.nic_ts, "port": self.port_ts}[group][start:]
        return np.vstack(rows) if rows else np.zeros((0, 0))

    def frame(self, registry: SeriesRegistry, labels: SimLabels, start: int = 0) -> Frame:
        """Every sample from scrape ``start`` on as a time-ordered Frame."""
        parts: list[tuple[F64, I32, F64]] = []
        if len(self.t_s) > start:
            groups = (("gpu", GPU_METRICS, labels.gpu_node),
                      ("nic", NIC_METRICS, labels.nic_node),
                      ("port", PORT_METRICS, labels.port_switch))
            for group, names, owner in groups:
                ts = self.stamps(group, start)[:, owner]
                for name in names:
                    ids = self._series_ids(registry, labels, group, name)
                    parts.append(_flat(ts, ids, self.matrix(group, name, start)))
        if not parts:
            return Frame.empty(registry.table())
        t = np.concatenate([p[0] for p in parts])
        s = np.concatenate([p[1] for p in parts])
        v = np.concatenate([p[2] for p in parts])
        return Frame.from_unsorted(t, s, v, registry.table())


    def _series_ids(self, registry: SeriesRegistry, labels: SimLabels, group: str,
                    name: str) -> I32:
        """Series id of every entity for one metric (cached per registry)."""
        cache = self._ids.setdefault(registry, {})
        ids = cache.get(name)
        if ids is None:
            ids = np.array([registry.id_for(name, lab) for lab in labels.dicts(group)],
                           dtype=np.int32)
            cache[name] = ids
        return ids


def _flat(ts: F64, ids: I32, values: F64) -> tuple[F64, I32, F64]:
    """Present samples (not NaN, known series) of one metric as flat arrays."""
    sid = np.broadcast_to(ids, values.shape)
    keep = ~np.isnan(values) & (sid != IGNORED)
    return ts[keep], sid[keep].astype(np.int32), values[keep]
