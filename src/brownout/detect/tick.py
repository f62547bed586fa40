"""What a detector sees at one tick: everything consumed up to ``t_s``, nothing after.

Dense per-component views (GPU or NIC id) of gauges and counter rates are
computed once per tick and shared by every detector.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from brownout.detect.collectives import HangReport
from brownout.detect.state import TelemetryState
from brownout.telemetry.frame import Frame
from brownout.telemetry.metrics import BY_NAME, Entity
from brownout.telemetry.steps import StepRecords
from brownout.topology.model import Topology

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
DEFAULT_INTERVAL_S = 30.0


@dataclass
class Tick:
    """One step of the engine.

    Attributes:
        t_s: the tick time; no data after it has been consumed.
        data_t_s: time of the latest sample or step record consumed so far.
        topology: the cluster.
        state: per-series latest values and rates (read only for detectors).
        frame: the samples that arrived during this tick.
        steps: the step records that arrived during this tick.
        has_metrics, has_steps: whether the run has these inputs at all.
        out_of_pool: per node, True when someone else drained it: its gauges
            and rates read as NaN (never a peer), its last-seen times stay.
        hangs: Flight Recorder reports that arrived during this tick.
        steps_until_s: step records are known complete up to this time (a live
            controller: its own now, records being pushed as they happen); NaN
            in a replay, where the data time is all that is known. Records of
            the jobs in ``steps_pending`` stamped after ``t_s`` wait for a
            later tick (only the jobs' names are told, never the records).
    """

    t_s: float
    data_t_s: float
    topology: Topology
    state: TelemetryState
    frame: Frame
    steps: StepRecords
    has_metrics: bool = True
    has_steps: bool = True
    cluster: str = ""
    out_of_pool: npt.NDArray[np.bool_] | None = None
    hangs: tuple[HangReport, ...] = ()
    steps_until_s: float = math.nan
    steps_pending: frozenset[str] = frozenset()
    _cache: dict[tuple[str, str], tuple[F64, F64]] = field(default_factory=dict, repr=False)
    _dense_cache: dict[str, tuple[F64, F64, F64]] = field(default_factory=dict, repr=False)
    _fresh_cache: dict[tuple[str, float | None], tuple[F64, npt.NDArray[np.bool_]]] = field(
        default_factory=dict, repr=False)

    @property
    def interval_s(self) -> float:
        """Estimated scrape interval (30 s until samples tell otherwise)."""
        iv = self.state.interval_s
        return iv if np.isfinite(iv) and iv > 0 else DEFAULT_INTERVAL_S

    def _n(self, name: str) -> int:
        ent = BY_NAME[name].entity
        return self.topology.n_gpus if ent is Entity.GPU else self.topology.n_nics

    def _dense(self, name: str) -> tuple[F64, F64, F64]:
        got = self._dense_cache.get(name)
        if got is None:
            got = self.state.dense(BY_NAME[name].id, self._n(name))
            if self.out_of_pool is not None and self.out_of_pool.any():
                got = self._without_pool(name, got)
            self._dense_cache[name] = got
        return got

    def _without_pool(self, name: str, got: tuple[F64, F64, F64]) -> tuple[F64, F64, F64]:
        """Values and rates of out-of-pool nodes' GPUs or NICs as NaN (times kept)."""
        assert self.out_of_pool is not None
        topo = self.topology
        owner = topo.gpu_node if BY_NAME[name].entity is Entity.GPU else topo.nic_node
        gone = self.out_of_pool[owner]
        value, rate, when = got
        return np.where(gone, np.nan, value), np.where(gone, np.nan, rate), when

    def value(self, name: str) -> tuple[F64, F64]:
        """(latest value, its time) per GPU or NIC of a gauge (NaN where never seen)."""
        value, _, when = self._dense(name)
        return value, when

    def rate(self, name: str) -> tuple[F64, F64]:
        """(per-second rate, time of last sample) per GPU or NIC of a counter."""
        _, rate, when = self._dense(name)
        return rate, when

    def fresh(self, name: str, max_age_s: float | None = None) -> tuple[F64, npt.NDArray[np.bool_]]:
        """Latest gauge values, with NaN where older than ``max_age_s`` (3 intervals).

        Computed once per tick, name and age (every detector asks for the same
        few gauges); the arrays are read-only, shared by the detectors.
        """
        got = self._fresh_cache.get((name, max_age_s))
        if got is None:
            v, t = self.value(name)
            ok = (self.t_s - t) <= (max_age_s if max_age_s is not None else 3.5 * self.interval_s)
            vals = np.where(ok, v, np.nan)
            vals.flags.writeable = False
            ok.flags.writeable = False
            got = self._fresh_cache[(name, max_age_s)] = (vals, ok)
        return got

    def switch_ports(self, name: str) -> tuple[I64, F64, F64]:
        """(switch index, rate, last time) of every port series of a switch counter."""
        sids = self.state.series_of(BY_NAME[name].id)
        return (self.state.table.component[sids].astype(np.int64), self.state.rate[sids],
                self.state.last_t[sids])

    def gpu_last_seen(self) -> F64:
        """Latest sample time of any metric per GPU (NaN if never seen)."""
        key = ("*gpu", "seen")
        if key not in self._cache:
            self._cache[key] = (self._last_seen(Entity.GPU, self.topology.n_gpus), np.zeros(0))
        return self._cache[key][0]

    def nic_last_seen(self) -> F64:
        """Latest sample time of any metric per NIC (NaN if never seen)."""
        key = ("*nic", "seen")
        if key not in self._cache:
            self._cache[key] = (self._last_seen(Entity.NIC, self.topology.n_nics), np.zeros(0))
        return self._cache[key][0]

    def _last_seen(self, entity: Entity, n: int) -> F64:
        return self.state.last_seen(int(entity), n)
