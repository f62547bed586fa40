"""Render a host sample as dcgm-exporter writes ``/metrics`` (Prometheus text 0.0.4).

Names, ``# HELP`` texts, types and labels are dcgm-exporter's (spec/telemetry.md
§1): ``gpu``, ``UUID``, ``pci_bus_id``, ``device``, ``modelName``,
``Hostname``, ``DCGM_FI_DRIVER_VERSION``. No timestamps, as dcgm-exporter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from brownout.agent.nvml import GpuInfo
from brownout.telemetry.metrics import BY_NAME

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# metric -> HELP text (dcgm-exporter's etc/default-counters.csv and dcp-metrics-included.csv)
HELP: dict[str, str] = {
    "DCGM_FI_DEV_SM_CLOCK": "SM clock frequency (in MHz).",
    "DCGM_FI_DEV_MEMORY_TEMP": "Memory temperature (in C).",
    "DCGM_FI_DEV_GPU_TEMP": "GPU temperature (in C).",
    "DCGM_FI_DEV_POWER_USAGE": "Power draw (in W).",
    "DCGM_FI_DEV_PCIE_REPLAY_COUNTER": "Total number of PCIe retries.",
    "DCGM_FI_DEV_GPU_UTIL": "GPU utilization (in %).",
    "DCGM_FI_DEV_CLOCKS_EVENT_REASONS": "Current clock event reasons (bitmask of NVML reasons).",
    "DCGM_FI_DEV_XID_ERRORS": "Value of the last XID error encountered.",
    "DCGM_FI_DEV_POWER_VIOLATION": "Throttling duration due to power constraints (in ns).",
    "DCGM_FI_DEV_THERMAL_VIOLATION": "Throttling duration due to thermal constraints (in ns).",
    "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL": "Total number of single-bit volatile ECC errors.",
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": "Total number of double-bit volatile ECC errors.",
    "DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL":
        "Total number of NVLink flow-control CRC errors.",
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS": "Number of remapped rows for uncorrectable errors",
    "DCGM_FI_DEV_ROW_REMAP_FAILURE": "Whether remapping of rows has failed",
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": "Ratio of cycles the tensor (HMMA) pipe is active.",
}
ORDER = tuple(HELP)


@dataclass(frozen=True)
class HostSample:
    """One collection of every GPU of a host.

    Attributes:
        t_s: when it was taken (unix seconds, injected clock).
        hostname: the node name (must equal the topology's node name).
        driver_version: NVIDIA driver version.
        gpus: identity of each GPU.
        values: per GPU, metric name -> value (absent metrics were unsupported).
        agent: the agent's own counters (name -> value).
    """

    t_s: float
    hostname: str
    driver_version: str
    gpus: Sequence[GpuInfo]
    values: Sequence[Mapping[str, float]]
    agent: Mapping[str, float]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(gpu: GpuInfo, hostname: str, driver: str) -> str:
    pairs = (("gpu", str(gpu.index)), ("UUID", gpu.uuid), ("pci_bus_id", gpu.pci_bus_id),
             ("device", gpu.device), ("modelName", gpu.model), ("Hostname", hostname),
             ("DCGM_FI_DRIVER_VERSION", driver))
    return ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)


def format_value(value: float) -> str:
    """Integers without a decimal point, other values as Python writes them."""
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def render(sample: HostSample) -> str:
    """The ``/metrics`` text of one host sample."""
    labels = [_labels(g, sample.hostname, sample.driver_version) for g in sample.gpus]
    lines: list[str] = []
    for metric in ORDER:
        rows = [f"{metric}{{{lab}}} {format_value(vals[metric])}"
                for lab, vals in zip(labels, sample.values, strict=True) if metric in vals]
        if rows:
            lines += [f"# HELP {metric} {HELP[metric]}", f"# TYPE {metric} {BY_NAME[metric].kind}"]
            lines += rows
    host = f'Hostname="{_escape(sample.hostname)}"'
    for name, value in sorted(sample.agent.items()):
        kind = "counter" if name.endswith("_total") else "gauge"
        lines += [f"# TYPE {name} {kind}", f"{name}{{{host}}} {format_value(value)}"]
    return "\n".join(lines) + "\n"
