"""NvmlReader and NodeAgent against the fake NVML (shaped like pynvml)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brownout.agent.agent import NodeAgent
from brownout.agent.exposition import HostSample, render
from brownout.agent.fake import (
    NVML_ERROR_DRIVER_NOT_LOADED,
    NVML_ERROR_GPU_IS_LOST,
    NVML_ERROR_LIBRARY_NOT_FOUND,
    NVML_ERROR_NO_PERMISSION,
    FakeGpu,
    FakeNvml,
    h100_node,
)
from brownout.agent.nvml import GpuInfo, NvmlReader
from brownout.clock import ManualClock
from brownout.errors import SourceError
from brownout.telemetry.parse import sentinel_mask

from .helpers import read_back

ALL = {"DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_MEMORY_TEMP", "DCGM_FI_DEV_POWER_USAGE",
       "DCGM_FI_DEV_SM_CLOCK", "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_CLOCKS_EVENT_REASONS",
       "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
       "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "DCGM_FI_DEV_ROW_REMAP_FAILURE",
       "DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL",
       "DCGM_FI_DEV_THERMAL_VIOLATION", "DCGM_FI_DEV_POWER_VIOLATION"}


def _agent(nv: FakeNvml, host: str = "n0001") -> NodeAgent:
    reader = NvmlReader(nv)
    reader.open()
    return NodeAgent(reader, host, ManualClock(1_764_000_000.0))


def test_every_metric_round_trips_through_brownouts_parser() -> None:
    gpus = h100_node()
    gpus[2].power_mw, gpus[2].clock_events, gpus[2].thermal_ns = 612_345, 0x40 | 0x20, 7_000
    gpus[5].remapped, gpus[5].ecc_dbe, gpus[5].pcie_replay = (3, 2, 0, 1), 4, 17
    agent = _agent(FakeNvml(gpus))
    got = read_back(agent.text())
    assert {m for m, _ in got} == ALL  # tensor activity needs two samples
    assert {g for _, g in got} == set(range(8))
    assert got[("DCGM_FI_DEV_POWER_USAGE", 2)] == pytest.approx(612.345)
    assert got[("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", 2)] == 0x60
    assert got[("DCGM_FI_DEV_THERMAL_VIOLATION", 2)] == 7_000
    assert got[("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", 5)] == 2
    assert got[("DCGM_FI_DEV_ROW_REMAP_FAILURE", 5)] == 1
    assert got[("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", 5)] == 4
    assert got[("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", 5)] == 17
    for i, gpu in enumerate(gpus):
        assert got[("DCGM_FI_DEV_GPU_TEMP", i)] == gpu.temp_c
        assert got[("DCGM_FI_DEV_MEMORY_TEMP", i)] == gpu.mem_temp_c


def test_labels_are_dcgm_exporters() -> None:
    text = _agent(FakeNvml(h100_node(1)), host="n0007").text()
    line = next(x for x in text.splitlines() if x.startswith("DCGM_FI_DEV_GPU_TEMP{"))
    assert line == ('DCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-00000000-5a1e-4c3b-9d2f-000000000000",'
                    'pci_bus_id="00000000:18:00.0",device="nvidia0",'
                    'modelName="NVIDIA H100 80GB HBM3",Hostname="n0007",'
                    'DCGM_FI_DRIVER_VERSION="550.127.08"} 33')
    assert "# TYPE DCGM_FI_DEV_PCIE_REPLAY_COUNTER counter" in text
    assert "# TYPE DCGM_FI_DEV_GPU_TEMP gauge" in text


def test_unsupported_metric_is_omitted_and_not_asked_again() -> None:
    gpus = h100_node(2)
    gpus[1].unsupported = {"nvmlDeviceGetPcieReplayCounter", "nvmlDeviceGetRemappedRows"}
    gpus[1].unsupported_fields = {38}
    nv = FakeNvml(gpus)
    agent = _agent(nv)
    got = read_back(agent.text(), gpus=2)
    assert ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", 0) in got
    assert ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", 1) not in got
    assert ("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", 1) not in got
    assert ("DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL", 1) not in got
    assert ("DCGM_FI_DEV_MEMORY_TEMP", 1) in got
    assert agent.reader.errors.total() == 0
    before = nv.calls
    agent.collect()
    per_collect = nv.calls - before
    agent.collect()
    assert nv.calls - before == 2 * per_collect  # the unsupported calls are not retried


def test_transient_errors_are_counted_not_raised() -> None:
    gpus = h100_node(2)
    gpus[0].failing = {"nvmlDeviceGetPowerUsage": NVML_ERROR_GPU_IS_LOST}
    agent = _agent(FakeNvml(gpus))
    for _ in range(3):
        sample = agent.collect()
    assert "DCGM_FI_DEV_POWER_USAGE" not in sample.values[0]
    assert "DCGM_FI_DEV_POWER_USAGE" in sample.values[1]
    assert agent.reader.errors["DCGM_FI_DEV_POWER_USAGE"] == 3
    assert sample.agent["brownout_agent_nvml_errors_total"] == 3
    gpus[0].failing = {}
    assert "DCGM_FI_DEV_POWER_USAGE" in agent.collect().values[0]  # transient: asked again


def test_legacy_driver_falls_back_to_throttle_reasons() -> None:
    gpus = h100_node(1)
    gpus[0].clock_events = 0x8
    sample = _agent(FakeNvml(gpus, legacy=True)).collect()
    assert sample.values[0]["DCGM_FI_DEV_CLOCKS_EVENT_REASONS"] == 0x8


def test_tensor_activity_from_two_gpm_samples() -> None:
    gpus = [*h100_node(1), FakeGpu(name="NVIDIA A100-SXM4-80GB", uuid="GPU-a100", minor=1)]
    gpus[0].tensor_pct = 37.5
    agent = _agent(FakeNvml(gpus))
    first = agent.collect()
    assert "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE" not in first.values[0]
    second = agent.collect()
    assert second.values[0]["DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"] == pytest.approx(0.375)
    assert "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE" not in second.values[1]  # no GPM on A100


@pytest.mark.parametrize(("code", "words"), [
    (NVML_ERROR_LIBRARY_NOT_FOUND, r"libnvidia-ml\.so\.1\) is not installed"),
    (NVML_ERROR_DRIVER_NOT_LOADED, "kernel driver is not loaded"),
    (NVML_ERROR_NO_PERMISSION, "no permission"),
])
def test_no_driver_is_one_clear_source_error(code: int, words: str) -> None:
    with pytest.raises(SourceError, match=words) as info:
        NvmlReader(FakeNvml(init_error=code)).open()
    assert info.value.exit_code == 2


def test_no_gpu_is_a_source_error() -> None:
    nv = FakeNvml([])
    with pytest.raises(SourceError, match="no NVIDIA GPU"):
        NvmlReader(nv).open()
    assert not nv.initialised  # shut down again


_VALUES = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(sorted(ALL)), _VALUES), min_size=1,
                max_size=8))
def test_render_parse_round_trip(values: list[dict[str, float]]) -> None:
    gpus = [GpuInfo(i, f"GPU-{i}", f"00000000:{i:02X}:00.0", f"nvidia{i}", "NVIDIA H100")
            for i in range(len(values))]
    text = render(HostSample(0.0, "n0001", "550", gpus, values, {}))
    got = read_back(text)
    # DCGM's blank codes are not readings: brownout's parser drops them by design
    want = {(m, i): v for i, vals in enumerate(values) for m, v in vals.items()
            if not sentinel_mask(np.array([v]))[0]}
    assert got.keys() == want.keys()
    for key, v in want.items():
        assert got[key] == pytest.approx(v, rel=1e-12)


def test_failure_after_init_shuts_nvml_down() -> None:
    gpus = h100_node(2)
    gpus[1].failing = {"nvmlDeviceGetUUID": NVML_ERROR_GPU_IS_LOST}
    nv = FakeNvml(gpus)
    with pytest.raises(SourceError, match="GPU is lost"):
        NvmlReader(nv).open()
    assert not nv.initialised
