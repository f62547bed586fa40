"""Counter rates: resets (exporter restarts) are never negative rates."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brownout.detect.state import TelemetryState
from brownout.telemetry.frame import Frame, SeriesTable
from brownout.telemetry.metrics import metric_id

SBE = metric_id("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL")
TEMP = metric_id("DCGM_FI_DEV_GPU_TEMP")


def table(metrics: list[int]) -> SeriesTable:
    n = len(metrics)
    return SeriesTable(np.array(metrics, np.int16), np.zeros(n, np.int8),
                       np.arange(n, dtype=np.int32), np.full(n, -1, np.int32),
                       np.zeros(n, np.int32))


def frame(t: list[float], s: list[int], v: list[float], tab: SeriesTable) -> Frame:
    return Frame.from_unsorted(np.array(t, float), np.array(s, np.int32), np.array(v, float), tab)


def test_rate_over_one_sample_per_tick_and_gauge_latest() -> None:
    tab = table([SBE, TEMP])
    st_ = TelemetryState()
    st_.ingest(frame([0, 0], [0, 1], [100, 50], tab))
    assert np.isnan(st_.rate[0])  # one sample: no rate yet
    st_.ingest(frame([30, 31], [0, 1], [160, 55], tab))
    assert st_.rate[0] == pytest.approx(2.0)
    assert st_.last_v[1] == 55
    assert st_.interval_s == pytest.approx(30.5)


def test_reset_counts_from_zero_never_negative() -> None:
    tab = table([SBE])
    st_ = TelemetryState()
    st_.ingest(frame([0], [0], [1000], tab))
    st_.ingest(frame([30], [0], [12], tab))  # exporter restarted: counter back near zero
    assert st_.rate[0] == pytest.approx(12 / 30)
    assert st_.counter_resets == 1


def test_several_samples_in_one_tick_with_reset_in_the_middle() -> None:
    tab = table([SBE, TEMP])
    st_ = TelemetryState()
    st_.ingest(frame([0], [0], [100], tab))
    st_.ingest(frame([10, 20, 30, 15], [0, 0, 0, 1], [110, 5, 8, 70], tab))
    # increases: +10, reset to 5 (counts 5), +3 -> 18 over 30 s
    assert st_.rate[0] == pytest.approx(18 / 30)
    assert st_.last_v[0] == 8
    assert st_.last_t[0] == 30


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=2, max_size=30),
       st.integers(1, 5))
def test_rates_never_negative(values: list[float], per_tick: int) -> None:
    tab = table([SBE])
    st_ = TelemetryState()
    for i in range(0, len(values), per_tick):
        chunk = values[i:i + per_tick]
        st_.ingest(frame([10.0 * (i + k) for k in range(len(chunk))], [0] * len(chunk),
                         chunk, tab))
        assert not st_.rate[0] < 0
