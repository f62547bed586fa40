"""The metric catalogue of spec/telemetry.md: names, types, what they describe.

Each metric gets a small integer id used in frames. Aliases (dcgm-exporter's
old ``DCGM_FI_DEV_CLOCK_THROTTLE_REASONS``) map to the id of the current name.
Metrics not listed here are ignored without error.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Entity(IntEnum):
    """What a series describes."""

    GPU = 0
    NIC = 1
    SWITCH_PORT = 2


@dataclass(frozen=True)
class MetricDef:
    """One metric family: its name, id, ``gauge`` or ``counter``, and entity."""

    name: str
    id: int
    kind: str
    entity: Entity


_GPU_GAUGES = (
    "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_MEMORY_TEMP", "DCGM_FI_DEV_POWER_USAGE",
    "DCGM_FI_DEV_SM_CLOCK", "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_CLOCKS_EVENT_REASONS",
    "DCGM_FI_DEV_XID_ERRORS", "DCGM_FI_DEV_ROW_REMAP_FAILURE", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
)
_GPU_COUNTERS = (
    "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "DCGM_FI_DEV_PCIE_REPLAY_COUNTER",
    "DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL", "DCGM_FI_DEV_THERMAL_VIOLATION",
    "DCGM_FI_DEV_POWER_VIOLATION",
)
_NIC_GAUGES = ("node_infiniband_state_id", "node_infiniband_rate_bytes_per_second")
_NIC_COUNTERS = (
    "node_infiniband_port_data_transmitted_bytes_total",
    "node_infiniband_port_data_received_bytes_total",
    "node_infiniband_port_transmit_wait_total", "node_infiniband_port_errors_received_total",
    "node_infiniband_symbol_error_total", "node_infiniband_link_error_recovery_total",
    "node_infiniband_link_downed_total",
)
_SWITCH_COUNTERS = (
    "infiniband_switch_port_transmit_wait_total",
    "infiniband_switch_port_transmit_data_bytes_total",
)

_NVLINK = (  # rack-scale NVLink (spec/telemetry.md)
    ("DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL", "counter"),
    ("DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL", "counter"),
    ("DCGM_FI_PROF_NVLINK_TX_BYTES", "gauge"),
    ("DCGM_FI_PROF_NVLINK_RX_BYTES", "gauge"),
)


def _catalogue() -> tuple[MetricDef, ...]:
    groups = (
        (_GPU_GAUGES, "gauge", Entity.GPU), (_GPU_COUNTERS, "counter", Entity.GPU),
        (_NIC_GAUGES, "gauge", Entity.NIC), (_NIC_COUNTERS, "counter", Entity.NIC),
        (_SWITCH_COUNTERS, "counter", Entity.SWITCH_PORT),
    )
    defs = [(n, kind, ent) for names, kind, ent in groups for n in names]
    defs += [(n, kind, Entity.GPU) for n, kind in _NVLINK]  # appended: earlier ids stay put
    return tuple(MetricDef(n, i, kind, ent) for i, (n, kind, ent) in enumerate(defs))


METRICS: tuple[MetricDef, ...] = _catalogue()
ALIASES = {"DCGM_FI_DEV_CLOCK_THROTTLE_REASONS": "DCGM_FI_DEV_CLOCKS_EVENT_REASONS"}
BY_NAME: dict[str, MetricDef] = {
    **{m.name: m for m in METRICS},
    **{alias: next(m for m in METRICS if m.name == real) for alias, real in ALIASES.items()},
}


def metric_id(name: str) -> int:
    """Id of a catalogued metric (aliases resolve); KeyError if not catalogued."""
    return BY_NAME[name].id


# NVML clock-event reason bits (spec/telemetry.md)
SW_POWER_CAP = 0x4
HW_SLOWDOWN = 0x8
SW_THERMAL = 0x20
HW_THERMAL = 0x40
HW_POWER_BRAKE = 0x80
