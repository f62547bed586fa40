"""Latest values and counter rates per series, updated tick by tick (vectorised).

:class:`TelemetryState` is what the engine learns from the samples it has
consumed: for every series its last value and time and, for counters, the
rate of increase over the samples of the latest tick. A counter that goes
down was reset (an exporter restart): the increase counts from zero, as
Prometheus' ``rate()`` does, and is never negative.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from brownout.telemetry.frame import Frame, SeriesTable
from brownout.telemetry.metrics import METRICS

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
IS_COUNTER = np.array([m.kind == "counter" for m in METRICS], dtype=bool)


class TelemetryState:
    """Per-series last value, last time and counter rate.

    Attributes:
        last_v, last_t: last value and its time per series (NaN if never seen).
        rate: per-second increase of counters over the latest tick with samples.
        counter_resets: decreases seen (each one read as a reset).
        interval_s: running estimate of the scrape interval.
    """

    def __init__(self) -> None:
        self.last_v: F64 = np.zeros(0)
        self.last_t: F64 = np.zeros(0)
        self.rate: F64 = np.zeros(0)
        self.counter_resets = 0
        self.interval_s = float("nan")
        self.table = SeriesTable.empty()
        self._is_counter = np.zeros(0, dtype=bool)
        self._by_metric: dict[int, I64] = {}
        self._counters: I64 | None = None

    def _grow(self, table: SeriesTable) -> None:
        n, old = len(table), self.last_v.shape[0]
        if n == old and (table is self.table or _same(table, self.table)):
            self.table = table
            return
        self.table = table
        self._by_metric = {}
        self._counters = None
        self._is_counter = IS_COUNTER[table.metric.astype(np.int64)] if n else np.zeros(0, bool)
        if n > old:
            pad = np.full(n - old, np.nan)
            self.last_v = np.concatenate([self.last_v, pad])
            self.last_t = np.concatenate([self.last_t, pad])
            self.rate = np.concatenate([self.rate, pad])

    def ingest(self, frame: Frame) -> None:
        """Consume the samples of one tick (time-ordered)."""
        self._grow(frame.table)
        if not len(frame):
            return
        s = frame.series.astype(np.int64)
        at = np.arange(s.shape[0])
        pos = np.full(len(self.table), -1, np.int64)
        pos[s] = at  # each series' last sample in the frame
        if (pos[s] == at).all():  # steady state: one sample per series, no sort needed
            self._update_interval(s, frame.t_s)
            self._single_rates(pos, frame.t_s, frame.value)
            self.last_v[s] = frame.value
            self.last_t[s] = frame.t_s
            return
        order = np.argsort(s, kind="stable")  # stable: time order kept within a series
        ss, ts, vs = s[order], frame.t_s[order], frame.value[order]
        change = ss[1:] != ss[:-1]
        first = np.concatenate([[True], change])
        last = np.concatenate([change, [True]])
        self._update_interval(ss[last], ts[last])
        self._counter_rates(ss, ts, vs, first)
        self.last_v[ss[last]] = vs[last]
        self.last_t[ss[last]] = ts[last]

    def _update_interval(self, sids: I64, t: F64) -> None:
        step = max(1, sids.shape[0] // 4096)  # a sample of series is plenty for a median
        dt = t[::step] - self.last_t[sids[::step]]
        dt = dt[np.isfinite(dt) & (dt > 0)]
        if dt.size:
            est = float(np.median(dt))
            self.interval_s = est if not np.isfinite(self.interval_s) else (
                0.8 * self.interval_s + 0.2 * est)

    def _single_rates(self, pos: I64, ts: F64, vs: F64) -> None:
        """Counter rates when every series has at most one sample in the frame
        (``pos``: its index there, -1 if none): the increase since its last value."""
        sid = self._counter_series()
        at = pos[sid]
        have = at >= 0
        sid, at = sid[have], at[have]
        v, t = vs[at], ts[at]
        delta = self._increase(v, v - self.last_v[sid])
        base_t = self.last_t[sid]
        span = t - np.where(np.isfinite(base_t), base_t, t)
        ok = span > 0
        self.rate[sid[ok]] = delta[ok] / span[ok]

    def _increase(self, v: F64, delta: F64) -> F64:
        """Increases of counters: a decrease is a reset (the increase counts from
        zero); a first sample ever has no increase known yet."""
        reset = delta < 0
        self.counter_resets += int(reset.sum())
        delta = np.where(reset, v, delta)
        delta[~np.isfinite(delta)] = 0.0
        return delta

    def _counter_series(self) -> I64:
        if self._counters is None:
            self._counters = np.flatnonzero(self._is_counter).astype(np.int64)
        return self._counters

    def _counter_rates(self, ss: I64, ts: F64, vs: F64, first: npt.NDArray[np.bool_]) -> None:
        cnt = self._is_counter[ss]
        if not cnt.any():
            return
        ss, ts, vs, first = ss[cnt], ts[cnt], vs[cnt], first[cnt]
        prev_v = np.empty_like(vs)
        prev_v[1:] = vs[:-1]
        prev_v[first] = self.last_v[ss[first]]
        delta = self._increase(vs, vs - prev_v)
        starts = np.flatnonzero(first)
        inc = np.add.reduceat(delta, starts)
        base_t = self.last_t[ss[starts]]
        start_t = np.where(np.isfinite(base_t), base_t, ts[starts])
        ends = np.concatenate([starts[1:], [ss.shape[0]]]) - 1
        span = ts[ends] - start_t
        ok = span > 0
        self.rate[ss[starts[ok]]] = inc[ok] / span[ok]

    # ------------------------------------------------------------- views
    def series_of(self, metric_id: int) -> I64:
        """Ids of every series of one metric (cached until the table grows)."""
        got = self._by_metric.get(metric_id)
        if got is None:
            got = np.flatnonzero(self.table.metric == metric_id).astype(np.int64)
            self._by_metric[metric_id] = got
        return got

    def series_of_entity(self, entity: int) -> I64:
        """Ids of every series of one entity (GPU, NIC), cached until the table grows."""
        key = -1 - entity  # beside the metric ids in the same cache
        got = self._by_metric.get(key)
        if got is None:
            got = np.flatnonzero(self.table.entity == entity).astype(np.int64)
            self._by_metric[key] = got
        return got

    def last_seen(self, entity: int, n: int) -> F64:
        """Latest sample time of any series per component of ``entity`` (NaN if never)."""
        sids = self.series_of_entity(entity)
        out = np.full(n, -np.inf)
        np.fmax.at(out, self.table.component[sids], self.last_t[sids])
        out[out == -np.inf] = np.nan
        return out

    def dense(self, metric_id: int, n: int) -> tuple[F64, F64, F64]:
        """(value, rate, last time) per component (GPU or NIC id), NaN where unseen."""
        sids = self.series_of(metric_id)
        value, rate, when = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        comp = self.table.component[sids]
        value[comp] = self.last_v[sids]
        when[comp] = self.last_t[sids]
        if self._is_counter[sids[:1]].any():
            rate[comp] = self.rate[sids]
        return value, rate, when


def _same(a: SeriesTable, b: SeriesTable) -> bool:
    """Whether two series tables list the same series (a copy of the registry's)."""
    return bool(np.array_equal(a.metric, b.metric) and np.array_equal(a.component, b.component)
                and np.array_equal(a.entity, b.entity) and np.array_equal(a.port, b.port))
