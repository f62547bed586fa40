"""Columnar telemetry: the one internal currency every detector consumes.

A :class:`Frame` holds samples as three parallel numpy arrays (``t_s``,
``series``, ``value``) ordered by time, plus a :class:`SeriesTable` that says
for each series id which metric it is and which topology component (global
GPU index, NIC index or switch index and port) it belongs to. No per-sample
Python objects exist anywhere on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from brownout.telemetry.metrics import METRICS, Entity

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
I16 = npt.NDArray[np.int16]
I8 = npt.NDArray[np.int8]


@dataclass(frozen=True)
class SeriesTable:
    """Per-series facts, indexed by series id.

    Attributes:
        metric: metric id (``brownout.telemetry.metrics``).
        entity: :class:`Entity` value.
        component: global GPU id, NIC id, or switch id, by entity.
        port: switch port number (-1 for GPU and NIC series).
        node: node index of GPU/NIC series, -1 for switch ports.
    """

    metric: I16
    entity: I8
    component: I32
    port: I32
    node: I32

    def __len__(self) -> int:
        return int(self.metric.shape[0])

    @classmethod
    def empty(cls) -> SeriesTable:
        return cls(np.zeros(0, np.int16), np.zeros(0, np.int8), np.zeros(0, np.int32),
                   np.zeros(0, np.int32), np.zeros(0, np.int32))


@dataclass(frozen=True)
class Frame:
    """Samples in time order, with the series table they refer to."""

    t_s: F64
    series: I32
    value: F64
    table: SeriesTable

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    @classmethod
    def empty(cls, table: SeriesTable | None = None) -> Frame:
        return cls(np.zeros(0), np.zeros(0, np.int32), np.zeros(0),
                   table if table is not None else SeriesTable.empty())

    @classmethod
    def from_unsorted(cls, t_s: F64, series: I32, value: F64, table: SeriesTable) -> Frame:
        """Build a frame, ordering samples by (time, series) and dropping exact duplicates."""
        # two stable sorts: radix on series, then timsort on time, which is
        # linear on the piecewise-ordered input that recordings and scrapes give
        order = np.argsort(series, kind="stable")
        order = order[np.argsort(t_s[order], kind="stable")]
        t, s, v = t_s[order], series[order], value[order]
        if t.size > 1:
            keep = np.ones(t.size, dtype=bool)
            keep[1:] = (t[1:] != t[:-1]) | (s[1:] != s[:-1])
            t, s, v = t[keep], s[keep], v[keep]
        return cls(np.ascontiguousarray(t), np.ascontiguousarray(s, dtype=np.int32),
                   np.ascontiguousarray(v), table)

    @property
    def start_s(self) -> float:
        return float(self.t_s[0]) if len(self) else float("nan")

    @property
    def end_s(self) -> float:
        return float(self.t_s[-1]) if len(self) else float("nan")

    def window(self, start_s: float, end_s: float) -> Frame:
        """Samples with ``start_s <= t < end_s`` (a view, no copy)."""
        lo, hi = np.searchsorted(self.t_s, [start_s, end_s], side="left")
        return Frame(self.t_s[lo:hi], self.series[lo:hi], self.value[lo:hi], self.table)

    def metric(self, metric_id: int) -> tuple[F64, I32, F64]:
        """(t_s, component, value) of every sample of one metric, in time order."""
        mask = self.table.metric[self.series] == metric_id
        return self.t_s[mask], self.table.component[self.series[mask]], self.value[mask]

    def latest(self, metric_id: int, n_components: int) -> tuple[F64, F64]:
        """Last value and its time per component of one metric; NaN where none."""
        t, comp, v = self.metric(metric_id)
        value = np.full(n_components, np.nan)
        when = np.full(n_components, np.nan)
        value[comp] = v  # later samples overwrite earlier: time order makes this "latest"
        when[comp] = t
        return value, when

    def series_of(self, entity: Entity) -> I32:
        """Ids of the series that describe ``entity``."""
        return np.flatnonzero(self.table.entity == int(entity)).astype(np.int32)


def concat(frames: list[Frame]) -> Frame:
    """Merge frames that share one series table into one time-ordered frame."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return Frame.empty()
    table = max((f.table for f in frames), key=len)
    return Frame.from_unsorted(
        np.concatenate([f.t_s for f in frames]),
        np.concatenate([f.series for f in frames]),
        np.concatenate([f.value for f in frames]),
        table,
    )


def metric_kind(metric_id: int) -> str:
    """``gauge`` or ``counter``."""
    return METRICS[metric_id].kind
