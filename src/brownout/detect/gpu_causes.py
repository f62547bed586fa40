"""Whether a GPU's own telemetry explains a slow rank on it, remembered over time.

A rank that computes slowly on a GPU whose telemetry looks healthy points at
its host (CPU, data loader, PCIe). But "looks healthy" must hold for the
whole time the rank was slow, not only at the tick the step detector
decides: a GPU at its thermal limit oscillates (the firmware holds it there
by dropping the clock for moments, so one scrape shows full clock and the
next a throttled one), a GPU whose job crashed idles with healthy-looking
clocks while the rank's slow records are still being judged, and a thermal
finding can lapse for a few minutes while its GPU stays hot.

:class:`GpuSlowCauses` keeps, per GPU, the time of the latest sample that
showed a cause of slow compute:

- its SM clock below ``clock_frac`` of its node's median (power cap, clock
  cap, thermal slowdown: whatever the reason, a slower clock is slower
  compute);
- a thermal, hardware-slowdown or power-brake clock-event reason bit
  (``SW_POWER_CAP`` alone is not: a GPU at its power limit at full clock is
  not slow, and one that the cap slows shows it in its clock);
- a temperature within ``limit_margin_c`` of its model's maximum operating
  temperature (the throttle point: scrapes can miss the moments it throttles);
- an error counter rising beyond its floor (ECC corrections, row remaps, PCIe
  replays, NVLink CRC: the GPU detector's ``ERROR_RATES``): retried and
  corrected work is slow work at full clock.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from brownout.detect.gpu_health import ERROR_RATES
from brownout.detect.robust import group_median
from brownout.detect.tick import Tick
from brownout.telemetry.metrics import HW_POWER_BRAKE, HW_SLOWDOWN, HW_THERMAL, SW_THERMAL
from brownout.topology.gpu_models import gpu_limits
from brownout.topology.model import Topology

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
CAUSE_BITS = HW_SLOWDOWN | HW_POWER_BRAKE | HW_THERMAL | SW_THERMAL


class GpuSlowCauses:
    """Per GPU: when its telemetry last showed a cause of slow compute; whether it
    reports now (``seen``) and ever did (``ever_seen``).

    Args:
        clock_frac: an SM clock below this fraction of its node's median is a cause.
        limit_margin_c: a temperature within this of the model's maximum
            operating temperature is a cause.
        max_age_intervals: samples older than this many scrape intervals are
            not current (the GPU is not seen now).
    """

    def __init__(self, *, clock_frac: float = 0.97, limit_margin_c: float = 1.0,
                 max_age_intervals: float = 5.0) -> None:
        self.clock_frac = clock_frac
        self.limit_margin_c = limit_margin_c
        self.max_age_intervals = max_age_intervals
        self.cause_t = np.zeros(0)
        self.seen = np.zeros(0, dtype=bool)
        self.ever_seen = np.zeros(0, dtype=bool)
        self._limit_c = np.zeros(0)
        self._topology: Topology | None = None

    def observe(self, tick: Tick) -> None:
        """Take this tick's latest samples (call every tick, with or without steps)."""
        topo = tick.topology
        if self._topology is not topo:
            self._topology = topo
            self._limit_c = gpu_limits(topo).max_operating_c
            if self.cause_t.shape[0] != topo.n_gpus:
                self.cause_t = np.full(topo.n_gpus, -np.inf)
                self.ever_seen = np.zeros(topo.n_gpus, dtype=bool)
        age = self.max_age_intervals * tick.interval_s
        clock, seen = tick.fresh("DCGM_FI_DEV_SM_CLOCK", age)
        bits, _ = tick.fresh("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", age)
        temp, _ = tick.fresh("DCGM_FI_DEV_GPU_TEMP", age)
        _, when = tick.value("DCGM_FI_DEV_SM_CLOCK")
        node_med = group_median(clock, topo.gpu_node.astype(np.int64), topo.n_nodes)[0]
        slow_clock = np.nan_to_num(clock, nan=np.inf) < self.clock_frac * np.nan_to_num(
            node_med[topo.gpu_node])
        flagged = (np.nan_to_num(bits).astype(np.int64) & CAUSE_BITS) != 0
        at_limit = np.nan_to_num(temp) >= self._limit_c - self.limit_margin_c
        cause = seen & (slow_clock | flagged | at_limit | self._errors(tick))
        self.cause_t = np.where(cause, np.fmax(self.cause_t, when), self.cause_t)
        self.seen = seen
        self.ever_seen = self.ever_seen | seen

    @staticmethod
    def _errors(tick: Tick) -> B:
        """Error counters rising beyond their floors (ECC, row remaps, PCIe replays,
        NVLink CRC): a GPU retrying or correcting its work computes slowly at full clock."""
        err = np.zeros(tick.topology.n_gpus, dtype=bool)
        for name, floor, _ in ERROR_RATES:
            rate, when = tick.rate(name)
            err |= (tick.t_s - when <= 3.5 * tick.interval_s) & (np.nan_to_num(rate) > floor)
        return err

    def clear_since(self, gpus: npt.NDArray[np.int64], t_s: F64) -> B:
        """Per GPU of ``gpus``: seen now, and no cause shown at or after ``t_s``."""
        if not self.seen.size:
            return np.zeros(gpus.shape[0], dtype=bool)
        ok: B = self.seen[gpus] & (self.cause_t[gpus] < t_s)
        return ok
