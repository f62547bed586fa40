"""The network: collective cost and the counters NICs and switches report.

Collectives use the alpha-beta ring model: an all-reduce of ``S`` bytes over
``n`` ranks takes ``2 (n-1) alpha + S * 2 (n-1) / n / busbw``. The bus
bandwidth is NVLink's (~480 GB/s, nccl-tests on an 8-GPU H100 node) within a
node, and across nodes the sum over the node's 400 Gb/s NICs of ~47 GB/s each
(the nccl-tests bus bandwidth of one 400G NIC), limited by NVLink. The slowest
link of the ring sets everyone's pace.

Switch ports: a leaf has one port per attached NIC (1..k, in topology order)
followed by one uplink per spine; a spine has one port per leaf below it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from brownout.topology.model import Topology

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]

NVLINK_BUSBW_GBPS = 480.0
NIC_BUSBW_GBPS = 47.0
NIC_RATE_BYTES_PER_S = 50e9  # 400 Gb/s as node_exporter reports it
ALPHA_S = 8e-6
WAIT_TICKS_PER_BYTE = 2e-6
CONGESTION_WAIT_GAIN = 40.0


def bus_bandwidth_gbps(n_nodes: int, gpus_per_node: int, link_factor: float = 1.0) -> float:
    """Effective all-reduce bus bandwidth (GB/s) of a ring over whole nodes."""
    if n_nodes <= 1:
        return NVLINK_BUSBW_GBPS
    return min(NVLINK_BUSBW_GBPS, gpus_per_node * NIC_BUSBW_GBPS * link_factor)


def allreduce_s(size_gb: float, n_nodes: int, gpus_per_node: int,
                link_factor: float = 1.0) -> float:
    """Seconds for a ring all-reduce of ``size_gb`` gigabytes per rank."""
    n = max(2, n_nodes * gpus_per_node)
    busbw = bus_bandwidth_gbps(n_nodes, gpus_per_node, link_factor)
    return 2 * (n - 1) * ALPHA_S + size_gb * 2 * (n - 1) / n / busbw


def nic_bytes_per_step(size_gb: float, n_nodes: int, gpus_per_node: int) -> float:
    """Bytes one NIC sends (and receives) per all-reduce of a multi-node job."""
    if n_nodes <= 1:
        return 0.0
    return size_gb * 1e9 * 2 * (n_nodes - 1) / n_nodes / gpus_per_node


@dataclass(frozen=True)
class PortMap:
    """Every switch port: its switch, port number, and what it connects to.

    Attributes:
        switch: switch index per port.
        number: port number on its switch (from 1).
        nic: NIC index for a leaf downlink, -1 otherwise.
        peer: the other switch for inter-switch links, -1 for downlinks.
    """

    switch: I32
    number: I32
    nic: I32
    peer: I32

    def __len__(self) -> int:
        return int(self.switch.shape[0])


def build_port_map(topo: Topology) -> PortMap:
    """Ports of every switch in the topology (see module docstring)."""
    rows: list[tuple[int, int, int, int]] = []
    spines_of = {s.name: s for s in topo.switches}
    below: dict[int, list[int]] = {}
    for si, sw in enumerate(topo.switches):
        nics = np.flatnonzero(topo.nic_switch == si)
        rows.extend((si, k + 1, int(n), -1) for k, n in enumerate(nics))
        for k, up in enumerate(sw.uplinks):
            if up in spines_of:
                ui = topo.switch_index[up]
                rows.append((si, len(nics) + k + 1, -1, ui))
                below.setdefault(ui, []).append(si)
    for ui, leaves in below.items():
        rows.extend((ui, k + 1, -1, leaf) for k, leaf in enumerate(leaves))
    arr = np.array(rows, dtype=np.int32).reshape(-1, 4)
    return PortMap(arr[:, 0].copy(), arr[:, 1].copy(), arr[:, 2].copy(), arr[:, 3].copy())


def gpu_nic(topo: Topology) -> I32:
    """The NIC each GPU's inter-node traffic leaves through (-1: none of its own)."""
    out = np.full(topo.n_gpus, -1, np.int32)
    own = topo.nic_gpu >= 0
    gpus = topo.gpu_offset[topo.nic_node[own]] + topo.nic_gpu[own]
    valid = topo.nic_gpu[own] < np.diff(topo.gpu_offset)[topo.nic_node[own]]
    out[gpus[valid]] = np.flatnonzero(own)[valid]
    return out


def gpu_link_factor(topo: Topology, nic_of_gpu: I32, nic_bw: F64,
                    switch_congestion: F64) -> F64:
    """Per GPU: the relative bandwidth of its own path (1.0 = healthy).

    A NIC's bandwidth is its own health divided by the congestion of its
    switch; a GPU without a NIC of its own uses its node's worst NIC.
    """
    per_nic = nic_bw / switch_congestion[topo.nic_switch]
    worst = np.ones(topo.n_nodes)
    np.minimum.at(worst, topo.nic_node, per_nic)
    return np.where(nic_of_gpu >= 0, per_nic[np.maximum(nic_of_gpu, 0)],
                    worst[topo.gpu_node])
