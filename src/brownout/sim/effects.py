"""Per-tick effect arrays that faults and confounders write and the engine reads.

Every tick the engine resets an :class:`Effects` to "healthy", lets each active
fault and confounder modify it (a handful of Python calls, each vectorised),
and then advances physics, fabric and jobs from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from brownout.topology.model import Topology

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@dataclass
class Effects:
    """What is wrong right now, as arrays over GPUs, nodes, NICs, switches, domains.

    Rates are events per second. ``xid_events`` and ``crashes`` hold the
    discrete events that start inside the current tick.
    """

    gpu_cap: F64
    gpu_reasons: I64
    gpu_rth_mult: F64
    gpu_dead: B
    gpu_gone: B
    gpu_compute_mult: F64
    gpu_sbe_rate: F64
    gpu_dbe_rate: F64
    gpu_remap_rate: F64
    gpu_pcie_rate: F64
    gpu_remap_failure: B
    node_compute_mult: F64
    node_silent: B
    domain_inlet_add: F64
    nic_bw: F64
    nic_rate_frac: F64
    nic_symbol_rate: F64
    nic_rxerr_rate: F64
    nic_recovery_rate: F64
    nic_down_rate: F64
    switch_congestion: F64
    switch_wait_mult: F64
    dyn_w_mult: F64  # per GPU dynamic power factor (a GPU spinning in a collective)
    nvlink_bw: F64  # per GPU NVLink bandwidth factor (sim/nvlink.py)
    nvlink_err: F64  # (crc, replay, recovery) rates per GPU, events per second
    gpu_hung: I64 = field(default_factory=lambda: np.zeros(0, np.int64))  # HANG_* per GPU
    xid_events: list[tuple[int, int, float]] = field(default_factory=list)
    crashes: list[tuple[str, float]] = field(default_factory=list)
    counter_resets: list[tuple[int, float]] = field(default_factory=list)

    @classmethod
    def healthy(cls, topo: Topology) -> Effects:
        g, n, k = topo.n_gpus, topo.n_nodes, topo.n_nics
        s, d = len(topo.switches), len(topo.cooling_domains)
        return cls(
            gpu_cap=np.ones(g), gpu_reasons=np.zeros(g, np.int64), gpu_rth_mult=np.ones(g),
            gpu_dead=np.zeros(g, bool), gpu_gone=np.zeros(g, bool),
            gpu_compute_mult=np.ones(g), gpu_sbe_rate=np.zeros(g), gpu_dbe_rate=np.zeros(g),
            gpu_remap_rate=np.zeros(g), gpu_pcie_rate=np.zeros(g),
            gpu_remap_failure=np.zeros(g, bool), node_compute_mult=np.ones(n),
            node_silent=np.zeros(n, bool), domain_inlet_add=np.zeros(d),
            nic_bw=np.ones(k), nic_rate_frac=np.ones(k), nic_symbol_rate=np.zeros(k),
            nic_rxerr_rate=np.zeros(k), nic_recovery_rate=np.zeros(k),
            nic_down_rate=np.zeros(k), switch_congestion=np.ones(s),
            switch_wait_mult=np.ones(s), dyn_w_mult=np.ones(g),
            nvlink_bw=np.ones(g), nvlink_err=np.zeros((3, g)),
            gpu_hung=np.zeros(g, np.int64),
        )

    def reset(self) -> None:
        """Back to healthy, in place (no allocation on the hot path)."""
        for name in ("gpu_cap", "gpu_rth_mult", "gpu_compute_mult", "node_compute_mult",
                     "nic_bw", "nic_rate_frac", "switch_congestion", "switch_wait_mult",
                     "nvlink_bw", "dyn_w_mult"):
            getattr(self, name).fill(1.0)
        for name in ("gpu_reasons", "gpu_dead", "gpu_gone", "gpu_sbe_rate", "gpu_dbe_rate",
                     "gpu_remap_rate", "gpu_pcie_rate", "gpu_remap_failure", "node_silent",
                     "domain_inlet_add", "nic_symbol_rate", "nic_rxerr_rate",
                     "nic_recovery_rate", "nic_down_rate", "nvlink_err",
                     "gpu_hung"):
            getattr(self, name).fill(0)
        self.xid_events.clear()
        self.crashes.clear()
        self.counter_resets.clear()
