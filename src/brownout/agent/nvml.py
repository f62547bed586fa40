"""Read one host's GPUs through NVML (the official ``nvidia-ml-py``, module ``pynvml``).

The NVML module is passed in (``NvmlReader(pynvml)``), never imported here,
so tests run against :mod:`brownout.agent.fake` and the core never loads
NVML. NVML errors are translated at this boundary:

- starting NVML without a driver or GPU raises
  :class:`~brownout.errors.SourceError` with one clear line;
- a reading the GPU does not support (``NVML_ERROR_NOT_SUPPORTED``, a
  function the driver lacks, no permission) leaves that metric out, for good;
- any other error while reading leaves the metric out of this sample and is
  counted in :attr:`NvmlReader.errors`; it never stops the agent.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from brownout.errors import SourceError

# NVML field ids (nvml.h), read in one nvmlDeviceGetFieldValues call
FI_DEV_MEMORY_TEMP = 82
FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL = 38
_FIELDS = {FI_DEV_MEMORY_TEMP: "DCGM_FI_DEV_MEMORY_TEMP",
           FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL:
               "DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL"}
# nvmlValueType_t -> member of the nvmlValue_t union
_VALUE_MEMBER = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal",
                 6: "usVal"}
GPM_METRIC_ANY_TENSOR_UTIL = 5  # NVML_GPM_METRIC_ANY_TENSOR_UTIL, percent


@dataclass(frozen=True)
class GpuInfo:
    """Identity of one GPU, as dcgm-exporter labels it.

    Attributes:
        index: NVML index (dcgm-exporter's ``gpu`` label).
        uuid: ``GPU-...``.
        pci_bus_id: ``00000000:1B:00.0``.
        device: ``nvidia<minor>``.
        model: product name, e.g. ``NVIDIA H100 80GB HBM3``.
    """

    index: int
    uuid: str
    pci_bus_id: str
    device: str
    model: str


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlReader:
    """Samples every GPU of the host.

    Args:
        nvml: the ``pynvml`` module, or a fake with the same names.
    """

    def __init__(self, nvml: Any) -> None:
        self.nvml = nvml
        self.errors: Counter[str] = Counter()
        self.gpus: tuple[GpuInfo, ...] = ()
        self.driver_version = ""
        self._handles: list[Any] = []
        self._unsupported: set[tuple[int, str]] = set()
        self._gpm: dict[int, Any] = {}
        self._omit = {getattr(nvml, n) for n in (
            "NVML_ERROR_NOT_SUPPORTED", "NVML_ERROR_FUNCTION_NOT_FOUND",
            "NVML_ERROR_NO_PERMISSION") if hasattr(nvml, n)}

    # -- lifecycle ---------------------------------------------------------------------------
    def open(self) -> None:
        """Start NVML and list the GPUs.

        Raises:
            SourceError: no driver, no GPU, or NVML refused to start.
        """
        nv = self.nvml
        try:
            nv.nvmlInit()
            count = int(nv.nvmlDeviceGetCount())
            self.driver_version = _text(nv.nvmlSystemGetDriverVersion())
            self._handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            self.gpus = tuple(self._info(i, h) for i, h in enumerate(self._handles))
        except nv.NVMLError as exc:
            with contextlib.suppress(nv.NVMLError):
                nv.nvmlShutdown()
            raise SourceError(f"NVML cannot start: {_why(nv, exc)}") from exc
        if not self._handles:
            self.close()
            raise SourceError("NVML found no NVIDIA GPU on this host")
        self._gpm = {i: _GpmTensor(nv, h) for i, h in enumerate(self._handles)}

    def _info(self, index: int, handle: Any) -> GpuInfo:
        nv = self.nvml
        pci = nv.nvmlDeviceGetPciInfo(handle)
        try:
            minor = int(nv.nvmlDeviceGetMinorNumber(handle))
        except nv.NVMLError:
            minor = index
        return GpuInfo(index=index, uuid=_text(nv.nvmlDeviceGetUUID(handle)),
                       pci_bus_id=_text(pci.busId), device=f"nvidia{minor}",
                       model=_text(nv.nvmlDeviceGetName(handle)))

    def close(self) -> None:
        """Free GPM samples and shut NVML down (errors ignored: we are leaving)."""
        for gpm in self._gpm.values():
            gpm.close()
        self._gpm = {}
        with contextlib.suppress(self.nvml.NVMLError):
            self.nvml.nvmlShutdown()

    @property
    def handles(self) -> Mapping[str, Any]:
        """NVML handle of each GPU by UUID (for the Xid watcher)."""
        return {g.uuid: h for g, h in zip(self.gpus, self._handles, strict=True)}

    # -- sampling ----------------------------------------------------------------------------
    def read(self) -> list[dict[str, float]]:
        """One sample per GPU: metric name -> value, unsupported metrics left out."""
        return [self._read_gpu(i, h) for i, h in enumerate(self._handles)]

    def _read_gpu(self, i: int, h: Any) -> dict[str, float]:
        nv = self.nvml
        out: dict[str, float] = {}
        calls: list[tuple[str, Callable[[], float]]] = [
            ("DCGM_FI_DEV_GPU_TEMP", lambda: nv.nvmlDeviceGetTemperature(
                h, nv.NVML_TEMPERATURE_GPU)),
            ("DCGM_FI_DEV_POWER_USAGE", lambda: nv.nvmlDeviceGetPowerUsage(h) / 1000.0),
            ("DCGM_FI_DEV_SM_CLOCK", lambda: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM)),
            ("DCGM_FI_DEV_GPU_UTIL", lambda: nv.nvmlDeviceGetUtilizationRates(h).gpu),
            ("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", lambda: self._clock_events(h)),
            ("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", lambda: nv.nvmlDeviceGetTotalEccErrors(
                h, nv.NVML_MEMORY_ERROR_TYPE_CORRECTED, nv.NVML_VOLATILE_ECC)),
            ("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", lambda: nv.nvmlDeviceGetTotalEccErrors(
                h, nv.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nv.NVML_VOLATILE_ECC)),
            ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", lambda: nv.nvmlDeviceGetPcieReplayCounter(h)),
            ("DCGM_FI_DEV_THERMAL_VIOLATION", lambda: nv.nvmlDeviceGetViolationStatus(
                h, nv.NVML_PERF_POLICY_THERMAL).violationTime),
            ("DCGM_FI_DEV_POWER_VIOLATION", lambda: nv.nvmlDeviceGetViolationStatus(
                h, nv.NVML_PERF_POLICY_POWER).violationTime),
        ]
        for metric, fn in calls:
            self._put(out, i, metric, fn)
        self._put_remap(out, i, h)
        self._put_fields(out, i, h)
        self._put(out, i, "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", self._gpm[i].ratio)
        return out

    def _guard(self, i: int, key: str, fn: Callable[[], Any]) -> Any:
        """``fn()``, or None when GPU ``i`` cannot answer ``key`` (now or for good)."""
        if (i, key) in self._unsupported:
            return None
        try:
            return fn()
        except self.nvml.NVMLError as exc:
            if exc.value in self._omit:
                self._unsupported.add((i, key))
            else:
                self.errors[key] += 1
            return None

    def _put(self, out: dict[str, float], i: int, metric: str,
             fn: Callable[[], float | None]) -> None:
        value = self._guard(i, metric, fn)
        if value is not None:
            out[metric] = float(value)

    def _clock_events(self, h: Any) -> int:
        nv = self.nvml
        fn = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None)
        if fn is not None:
            try:
                return int(fn(h))
            except nv.NVMLError as exc:
                if exc.value != getattr(nv, "NVML_ERROR_FUNCTION_NOT_FOUND", -1):
                    raise
        return int(nv.nvmlDeviceGetCurrentClocksThrottleReasons(h))  # drivers before r535

    def _put_remap(self, out: dict[str, float], i: int, h: Any) -> None:
        rows = self._guard(i, "remapped_rows", lambda: self.nvml.nvmlDeviceGetRemappedRows(h))
        if rows is not None:
            _corr, unc, _pending, failure = rows
            out["DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS"] = float(unc)
            out["DCGM_FI_DEV_ROW_REMAP_FAILURE"] = float(failure)

    def _put_fields(self, out: dict[str, float], i: int, h: Any) -> None:
        wanted = [f for f, m in _FIELDS.items() if (i, m) not in self._unsupported]
        if not wanted:
            return
        values = self._guard(i, "field_values",
                             lambda: self.nvml.nvmlDeviceGetFieldValues(h, wanted)) or []
        for fv in values:
            metric = _FIELDS.get(int(fv.fieldId))
            if metric is None:
                continue
            ret = int(fv.nvmlReturn)
            if ret in self._omit:
                self._unsupported.add((i, metric))
            member = _VALUE_MEMBER.get(int(fv.valueType))
            if ret == 0 and member is not None:
                out[metric] = float(getattr(fv.value, member))


class _GpmTensor:
    """Tensor-pipe activity from two GPM samples (Hopper and later); None elsewhere."""

    def __init__(self, nvml: Any, handle: Any) -> None:
        self.nvml, self.handle = nvml, handle
        self.samples: list[Any] = []
        self.prev_ok = False
        try:
            ok = bool(nvml.nvmlGpmQueryDeviceSupport(handle).isSupportedDevice)
            if ok:
                self.samples = [nvml.nvmlGpmSampleAlloc(), nvml.nvmlGpmSampleAlloc()]
        except (AttributeError, nvml.NVMLError):
            self.samples = []

    def ratio(self) -> float | None:
        """Tensor activity 0-1 since the previous call (None on the first call)."""
        if not self.samples:
            return None
        nv = self.nvml
        prev, cur = self.samples
        nv.nvmlGpmSampleGet(self.handle, cur)
        self.samples = [cur, prev]
        if not self.prev_ok:
            self.prev_ok = True
            return None
        mg = nv.c_nvmlGpmMetricsGet_t()
        mg.version = nv.NVML_GPM_METRICS_GET_VERSION
        mg.numMetrics = 1
        mg.sample1, mg.sample2 = prev, cur
        mg.metrics[0].metricId = GPM_METRIC_ANY_TENSOR_UTIL
        nv.nvmlGpmMetricsGet(mg)
        if int(mg.metrics[0].nvmlReturn) != 0:
            return None
        return float(mg.metrics[0].value) / 100.0

    def close(self) -> None:
        for s in self.samples:
            with contextlib.suppress(self.nvml.NVMLError):
                self.nvml.nvmlGpmSampleFree(s)
        self.samples = []


def _why(nv: Any, exc: Any) -> str:
    """One line on why NVML would not start."""
    code = getattr(exc, "value", None)
    if code == getattr(nv, "NVML_ERROR_LIBRARY_NOT_FOUND", None):
        return "the NVIDIA driver library (libnvidia-ml.so.1) is not installed on this host"
    if code == getattr(nv, "NVML_ERROR_DRIVER_NOT_LOADED", None):
        return "the NVIDIA kernel driver is not loaded (no GPU, or the driver failed)"
    if code == getattr(nv, "NVML_ERROR_NO_PERMISSION", None):
        return "no permission to open the GPU devices (/dev/nvidia*)"
    return f"{exc} (NVML error {code})"
