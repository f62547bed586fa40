"""An in-memory NVML shaped like ``pynvml`` (nvidia-ml-py), shipped for tests.

Same function names, constants and return shapes as the real module: ints for
temperatures and clocks, milliwatts for power, structure-like objects for
utilisation (``.gpu``), PCI info (``.busId`` as bytes), violation status
(``.violationTime`` in ns), field values (``.fieldId``, ``.nvmlReturn``,
``.valueType``, ``.value.<member>``) and events (``.device``, ``.eventType``,
``.eventData``); errors are ``NVMLError`` with the numeric ``.value`` of
nvml.h. Each GPU can declare functions it does not support or that fail.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_SM = 1
NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
NVML_VOLATILE_ECC = 0
NVML_PERF_POLICY_POWER = 0
NVML_PERF_POLICY_THERMAL = 1
NVML_GPM_METRICS_GET_VERSION = 1
NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_UNKNOWN = 999
NVML_VALUE_TYPE_DOUBLE = 0
NVML_VALUE_TYPE_UNSIGNED_LONG_LONG = 3
nvmlEventTypeXidCriticalError = 0x8  # noqa: N816 - pynvml's name

_MESSAGES = {3: "Not Supported", 4: "Insufficient Permissions", 9: "Driver Not Loaded",
             10: "Timeout", 12: "NVML Shared Library Not Found", 13: "Function Not Found",
             15: "GPU is lost", 999: "Unknown Error"}


class NVMLError(Exception):
    """pynvml's error: ``.value`` is the nvml.h return code."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return _MESSAGES.get(self.value, f"NVML Error with code {self.value}")


@dataclass
class FakeGpu:
    """One GPU's readings (units as NVML returns them) and its quirks.

    Attributes:
        unsupported: pynvml function names that raise NOT_SUPPORTED on this GPU.
        failing: pynvml function name -> error code raised on every call.
        unsupported_fields: NVML field ids answered with NOT_SUPPORTED.
    """

    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    bus_id: str = "00000000:18:00.0"
    minor: int = 0
    temp_c: int = 34
    mem_temp_c: int = 41
    power_mw: int = 71234
    sm_clock_mhz: int = 1980
    util_pct: int = 0
    clock_events: int = 0x1
    ecc_sbe: int = 0
    ecc_dbe: int = 0
    remapped: tuple[int, int, int, int] = (0, 0, 0, 0)
    pcie_replay: int = 0
    nvlink_crc: int = 0
    thermal_ns: int = 0
    power_ns: int = 0
    tensor_pct: float = 0.0
    unsupported: set[str] = field(default_factory=set)
    failing: dict[str, int] = field(default_factory=dict)
    unsupported_fields: set[int] = field(default_factory=set)


def h100_node(n: int = 8) -> list[FakeGpu]:
    """``n`` H100s with distinct UUIDs and PCI addresses, as on an HGX board."""
    buses = ("18", "2A", "3A", "5D", "9A", "AB", "BA", "DB")
    return [FakeGpu(uuid=f"GPU-{i:08x}-5a1e-4c3b-9d2f-00000000{i:04x}",
                    bus_id=f"00000000:{buses[i % 8]}:00.0", minor=i, temp_c=33 + i,
                    mem_temp_c=40 + i) for i in range(n)]


@dataclass(frozen=True)
class _Handle:
    index: int


class FakeNvml:
    """Use an instance where the ``pynvml`` module is expected.

    Args:
        gpus: the host's GPUs.
        driver: driver version string.
        init_error: an nvml.h code that ``nvmlInit`` raises (no driver, ...).
        legacy: an older driver without ``nvmlDeviceGetCurrentClocksEventReasons``.
    """

    NVMLError = NVMLError

    def __init__(self, gpus: list[FakeGpu] | None = None, driver: str = "550.127.08",
                 init_error: int | None = None, legacy: bool = False) -> None:
        self.gpus = gpus if gpus is not None else h100_node()
        self.driver = driver
        self.init_error = init_error
        self.legacy = legacy
        self.initialised = False
        self.calls = 0
        self.events: queue.Queue[SimpleNamespace] = queue.Queue()
        self.registered: set[int] = set()
        self.freed_sets = 0

    def __getattr__(self, name: str) -> Any:
        value = globals().get(name)
        if name.startswith(("NVML_", "nvmlEventType")) and value is not None:
            return value
        raise AttributeError(name)

    # -- helpers -----------------------------------------------------------------------------
    def _gpu(self, handle: _Handle, fn: str) -> FakeGpu:
        self.calls += 1
        if not self.initialised:
            raise NVMLError(NVML_ERROR_UNINITIALIZED)
        gpu = self.gpus[handle.index]
        if fn in gpu.unsupported:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        if fn in gpu.failing:
            raise NVMLError(gpu.failing[fn])
        return gpu

    def inject_xid(self, index: int, xid: int) -> None:
        """Deliver an Xid critical-error event for GPU ``index``."""
        self.events.put(SimpleNamespace(device=_Handle(index), eventType=0x8, eventData=xid,
                                        gpuInstanceId=0xFFFFFFFF, computeInstanceId=0xFFFFFFFF))

    # -- library -----------------------------------------------------------------------------
    def nvmlInit(self) -> None:  # noqa: N802 - pynvml's names from here on
        if self.init_error is not None:
            raise NVMLError(self.init_error)
        self.initialised = True

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.initialised = False

    def nvmlSystemGetDriverVersion(self) -> str:  # noqa: N802
        return self.driver

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:  # noqa: N802
        if not 0 <= index < len(self.gpus):
            raise NVMLError(2)
        return _Handle(index)

    # -- identity ----------------------------------------------------------------------------
    def nvmlDeviceGetUUID(self, h: _Handle) -> str:  # noqa: N802
        return self._gpu(h, "nvmlDeviceGetUUID").uuid

    def nvmlDeviceGetName(self, h: _Handle) -> str:  # noqa: N802
        return self._gpu(h, "nvmlDeviceGetName").name

    def nvmlDeviceGetMinorNumber(self, h: _Handle) -> int:  # noqa: N802
        return self._gpu(h, "nvmlDeviceGetMinorNumber").minor

    def nvmlDeviceGetPciInfo(self, h: _Handle) -> SimpleNamespace:  # noqa: N802
        bus = self._gpu(h, "nvmlDeviceGetPciInfo").bus_id
        return SimpleNamespace(busId=bus.encode(), busIdLegacy=bus.encode(), domain=0,
                               bus=int(bus.split(":")[1], 16), device=0, pciDeviceId=0x233010DE)

    # -- readings ----------------------------------------------------------------------------
    def nvmlDeviceGetTemperature(self, h: _Handle, sensor: int) -> int:  # noqa: N802
        return self._gpu(h, "nvmlDeviceGetTemperature").temp_c

    def nvmlDeviceGetPowerUsage(self, h: _Handle) -> int:  # noqa: N802
        return self._gpu(h, "nvmlDeviceGetPowerUsage").power_mw

    def nvmlDeviceGetClockInfo(self, h: _Handle, kind: int) -> int:  # noqa: N802
        return self._gpu(h, "nvmlDeviceGetClockInfo").sm_clock_mhz

    def nvmlDeviceGetUtilizationRates(self, h: _Handle) -> SimpleNamespace:  # noqa: N802
        return SimpleNamespace(gpu=self._gpu(h, "nvmlDeviceGetUtilizationRates").util_pct,
                               memory=0)

    def nvmlDeviceGetCurrentClocksEventReasons(self, h: _Handle) -> int:  # noqa: N802
        if self.legacy:
            raise NVMLError(NVML_ERROR_FUNCTION_NOT_FOUND)
        return self._gpu(h, "nvmlDeviceGetCurrentClocksEventReasons").clock_events

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, h: _Handle) -> int:  # noqa: N802
        return self._gpu(h, "nvmlDeviceGetCurrentClocksThrottleReasons").clock_events

    def nvmlDeviceGetTotalEccErrors(self, h: _Handle, error_type: int,  # noqa: N802
                                    counter_type: int) -> int:
        gpu = self._gpu(h, "nvmlDeviceGetTotalEccErrors")
        return gpu.ecc_dbe if error_type == NVML_MEMORY_ERROR_TYPE_UNCORRECTED else gpu.ecc_sbe

    def nvmlDeviceGetRemappedRows(self, h: _Handle) -> tuple[int, int, int, int]:  # noqa: N802
        return self._gpu(h, "nvmlDeviceGetRemappedRows").remapped

    def nvmlDeviceGetPcieReplayCounter(self, h: _Handle) -> int:  # noqa: N802
        return self._gpu(h, "nvmlDeviceGetPcieReplayCounter").pcie_replay

    def nvmlDeviceGetViolationStatus(self, h: _Handle, policy: int  # noqa: N802
                                     ) -> SimpleNamespace:
        gpu = self._gpu(h, "nvmlDeviceGetViolationStatus")
        ns = gpu.thermal_ns if policy == NVML_PERF_POLICY_THERMAL else gpu.power_ns
        return SimpleNamespace(referenceTime=1_764_000_000_000_000, violationTime=ns)

    def nvmlDeviceGetFieldValues(self, h: _Handle, field_ids: list[int]  # noqa: N802
                                 ) -> list[SimpleNamespace]:
        gpu = self._gpu(h, "nvmlDeviceGetFieldValues")
        known = {82: (NVML_VALUE_TYPE_UNSIGNED_LONG_LONG, gpu.mem_temp_c),
                 38: (NVML_VALUE_TYPE_UNSIGNED_LONG_LONG, gpu.nvlink_crc)}
        out = []
        for fid in field_ids:
            vtype, value = known.get(fid, (NVML_VALUE_TYPE_DOUBLE, 0))
            ret = NVML_ERROR_NOT_SUPPORTED if fid in gpu.unsupported_fields or fid not in known \
                else NVML_SUCCESS
            out.append(SimpleNamespace(fieldId=fid, scopeId=0, timestamp=0, latencyUsec=0,
                                       valueType=vtype, nvmlReturn=ret,
                                       value=SimpleNamespace(ullVal=value, dVal=float(value))))
        return out

    # -- GPM (tensor activity) ---------------------------------------------------------------
    def nvmlGpmQueryDeviceSupport(self, h: _Handle) -> SimpleNamespace:  # noqa: N802
        gpu = self._gpu(h, "nvmlGpmQueryDeviceSupport")
        return SimpleNamespace(version=1, isSupportedDevice=int(gpu.name.find("H100") >= 0))

    def nvmlGpmSampleAlloc(self) -> SimpleNamespace:  # noqa: N802
        return SimpleNamespace(tensor_pct=None)

    def nvmlGpmSampleFree(self, sample: SimpleNamespace) -> None:  # noqa: N802
        sample.tensor_pct = None

    def nvmlGpmSampleGet(self, h: _Handle, sample: SimpleNamespace  # noqa: N802
                         ) -> SimpleNamespace:
        sample.tensor_pct = self._gpu(h, "nvmlGpmSampleGet").tensor_pct
        return sample

    @staticmethod
    def c_nvmlGpmMetricsGet_t() -> SimpleNamespace:  # noqa: N802
        metrics = [SimpleNamespace(metricId=0, nvmlReturn=0, value=0.0) for _ in range(4)]
        return SimpleNamespace(version=0, numMetrics=0, sample1=None, sample2=None,
                               metrics=metrics)

    def nvmlGpmMetricsGet(self, mg: SimpleNamespace) -> SimpleNamespace:  # noqa: N802
        for m in mg.metrics[:mg.numMetrics]:
            m.value = float(mg.sample2.tensor_pct)
            m.nvmlReturn = NVML_SUCCESS
        return mg

    # -- events ------------------------------------------------------------------------------
    def nvmlEventSetCreate(self) -> object:  # noqa: N802
        return object()

    def nvmlDeviceRegisterEvents(self, h: _Handle, kinds: int, event_set: object  # noqa: N802
                                 ) -> None:
        self._gpu(h, "nvmlDeviceRegisterEvents")
        self.registered.add(h.index)

    def nvmlEventSetWait(self, event_set: object, timeout_ms: int  # noqa: N802
                         ) -> SimpleNamespace:
        try:
            return self.events.get(timeout=timeout_ms / 1000.0)
        except queue.Empty:
            raise NVMLError(NVML_ERROR_TIMEOUT) from None

    def nvmlEventSetFree(self, event_set: object) -> None:  # noqa: N802
        self.freed_sets += 1
