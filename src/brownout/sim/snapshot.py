"""One scrape: the value of every exported series right now.

Values are shaped the way the exporters print them: temperatures, clocks,
utilisation and counters as integers, power in watts with decimals. A series
that the exporter would not return (the node's telemetry is lost, or the GPU
has fallen off the bus) is NaN.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from brownout.sim import hardware, physics
from brownout.sim.effects import Effects
from brownout.sim.nvlink import NvlinkFabric
from brownout.topology.model import Topology

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


class Scrapable(Protocol):
    """What a scrape reads of the simulated cluster (the engine's state, read-only)."""

    topology: Topology
    gpu: hardware.GpuState
    net: hardware.NetState
    effects: Effects
    model: physics.GpuModel
    nvlink: NvlinkFabric


def scrape(sim: Scrapable, silent: B) -> tuple[dict[str, F64], dict[str, F64], dict[str, F64]]:
    """GPU, NIC and switch-port samples of every series (NaN = absent)."""
    topo, st, e, model = sim.topology, sim.gpu, sim.effects, sim.model
    gpu = {
        "DCGM_FI_DEV_GPU_TEMP": np.round(st.temp_c),
        "DCGM_FI_DEV_MEMORY_TEMP": np.round(physics.memory_temp_c(st.temp_c, st.inlet_c)),
        "DCGM_FI_DEV_POWER_USAGE": np.round(st.power_w, 3),
        "DCGM_FI_DEV_SM_CLOCK": hardware.sm_clock_mhz(st, model),
        "DCGM_FI_DEV_GPU_UTIL": np.round(st.util * 100.0),
        "DCGM_FI_DEV_CLOCKS_EVENT_REASONS": st.reasons.astype(np.float64),
        "DCGM_FI_DEV_XID_ERRORS": st.xid.copy(),
        "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL": st.reported("sbe"),
        "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": st.reported("dbe"),
        "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS": st.reported("remap"),
        "DCGM_FI_DEV_ROW_REMAP_FAILURE": e.gpu_remap_failure.astype(np.float64),
        "DCGM_FI_DEV_PCIE_REPLAY_COUNTER": st.reported("pcie"),
        "DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL": st.reported("nvlink"),
        "DCGM_FI_DEV_THERMAL_VIOLATION": st.reported("thermal_ns"),
        "DCGM_FI_DEV_POWER_VIOLATION": st.reported("power_ns"),
        "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": np.round(hardware.tensor_active(st, model, e), 4),
        "DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL": st.reported("nvlink_replay"),
        "DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL": st.reported("nvlink_recovery"),
        "DCGM_FI_PROF_NVLINK_TX_BYTES": sim.nvlink.tx_bps.copy(),
        "DCGM_FI_PROF_NVLINK_RX_BYTES": sim.nvlink.rx_bps.copy(),
    }
    gone = silent[topo.gpu_node] | e.gpu_gone | st.shut_down
    for arr in gpu.values():
        arr[gone] = np.nan
    net = sim.net
    nic = {
        "node_infiniband_port_data_transmitted_bytes_total": np.floor(net.reported("tx")),
        "node_infiniband_port_data_received_bytes_total": np.floor(net.reported("rx")),
        "node_infiniband_port_transmit_wait_total": net.reported("wait"),
        "node_infiniband_port_errors_received_total": net.reported("rxerr"),
        "node_infiniband_symbol_error_total": net.reported("symbol"),
        "node_infiniband_link_error_recovery_total": net.reported("recovery"),
        "node_infiniband_link_downed_total": net.reported("downed"),
        "node_infiniband_state_id": net.nic_state.copy(),
        "node_infiniband_rate_bytes_per_second": net.nic_rate.copy(),
    }
    quiet = silent[topo.nic_node]
    for arr in nic.values():
        arr[quiet] = np.nan
    port = {
        "infiniband_switch_port_transmit_wait_total": net.port_wait.copy(),
        "infiniband_switch_port_transmit_data_bytes_total": np.floor(net.port_data),
    }
    return gpu, nic, port
