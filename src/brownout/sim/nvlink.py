"""Rack-scale NVLink (GB200 NVL72) in the twin: topology, collectives, counters, faults.

A GB200 NVL72 rack is one NVLink domain: 18 compute trays of 4 GPUs, every
GPU with 18 NVLink 5 links, one to each of the 18 NVLink switch chips of the
rack's 9 switch trays (1.8 TB/s per GPU both ways, 130 TB/s for the rack);
the rack is liquid-cooled by its own loop and each GPU has its own
400 Gb/s NIC to the scale-out fabric. Sources in docs/calibration.md.

The model (only for topologies with ``nvlink_domain``; other clusters are
untouched, and no random number is drawn for them):

- A job's gradient all-reduce is hierarchical: a reduce-scatter/all-gather
  over NVLink among its GPUs of one domain (MNNVL bus bandwidth, about
  800 GB/s), then, when it spans domains, a ring over the scale-out NICs
  of each GPU's shard.
- A GPU's collective slows with the worse of its NVLink bandwidth factor and
  its NIC path, weighted by the share of the collective each carries.
- ``DCGM_FI_PROF_NVLINK_TX_BYTES``/``RX_BYTES`` report what each GPU's links
  carry, per second, over the scrape: the job's NVLink bytes per step
  (its all-reduce share, plus tensor-parallel traffic at a quarter of the
  links' peak while it computes) over its step time, times the GPU's link
  bandwidth factor (a simplification: the twin lets a GPU with links down
  move fewer bytes rather than shift its share onto peers), with a little
  sampling noise. Idle GPUs carry none.
- NVLink faults add CRC flit errors, replays and link recoveries at their
  rates; ``nvswitch_fault`` does so on every GPU of its domain at once.
- Confounder ``nvlink_phase``: a job's NVLink traffic drops for a while
  (another parallelism phase), with no errors and no slowdown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from brownout.sim.fabric import ALPHA_S, NIC_BUSBW_GBPS
from brownout.topology.model import NicSpec, NodeSpec, SwitchSpec, Topology

if TYPE_CHECKING:
    from brownout.sim.effects import Effects
    from brownout.sim.jobs import Job

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

GPUS_PER_TRAY = 4
TRAYS_PER_DOMAIN = 18
LINKS_PER_GPU = 18  # one to each NVLink switch chip (9 switch trays x 2 chips)
GPU_NVLINK_BIDIR_GBPS = 1800.0  # NVLink 5, per GPU, both directions
MNNVL_BUSBW_GBPS = 800.0  # nccl-tests all-reduce bus bandwidth over multi-node NVLink
BW_NOISE_SIGMA = 0.03
TP_LINK_UTIL = 0.25  # tensor-parallel traffic while computing, share of one direction's peak
GB200_MODEL = "NVIDIA GB200"
NVLINK_COUNTERS = ("nvlink", "nvlink_replay", "nvlink_recovery")


def nvl72_topology(n_nodes: int, *, name: str = "sim", n_spines: int = 2) -> Topology:
    """GB200 NVL72 racks: trays ``n0001``... of 4 GPUs, 18 per rack.

    Each rack ``rNN`` is one NVLink domain ``nvlNN``, one cooling loop
    ``cduNN`` (per-rack liquid cooling) and one leaf ``leafNN`` taking every
    GPU's NIC; leaves uplink to every spine.
    """
    spines = tuple(f"spine{i + 1:02d}" for i in range(n_spines))
    nodes = []
    for i in range(n_nodes):
        r = f"{i // TRAYS_PER_DOMAIN + 1:02d}"
        nics = tuple(NicSpec(f"mlx5_{g}", g, f"leaf{r}") for g in range(GPUS_PER_TRAY))
        nodes.append(NodeSpec(f"n{i + 1:04d}", f"r{r}", f"cdu{r}", f"leaf{r}", GPUS_PER_TRAY,
                              GB200_MODEL, nics, nvlink_domain=f"nvl{r}"))
    leaves = dict.fromkeys(n.leaf for n in nodes)
    switches = tuple(SwitchSpec(leaf, "leaf", spines) for leaf in leaves)
    switches += tuple(SwitchSpec(s, "spine") for s in spines)
    return Topology.build(name, tuple(nodes), switches)


class PhaseEvent(Protocol):
    """What :func:`phase_mult` reads of a confounder event (``sim/confounders.py``)."""

    @property
    def kind(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def at_s(self) -> float: ...
    @property
    def until_s(self) -> float: ...
    @property
    def value(self) -> float: ...


@dataclass(frozen=True)
class JobPlan:
    """How one placed job uses NVLink and the scale-out fabric.

    Attributes:
        ar_s: seconds of its gradient all-reduce when healthy.
        nvlink_share: fraction of that spent on NVLink (the rest on NICs).
        nvlink_bytes: bytes each GPU sends over NVLink per step.
        nic_bytes: bytes each NIC sends per step.
    """

    ar_s: float
    nvlink_share: float
    nvlink_bytes: float
    nic_bytes: float


def plan_job(size_gb: float, gpus_per_domain: int, n_domains: int) -> JobPlan:
    """Hierarchical all-reduce of ``size_gb`` per rank over NVLink, then the NICs."""
    g = max(2, gpus_per_domain)
    nv_s = 2 * (g - 1) * ALPHA_S + size_gb * 2 * (g - 1) / g / MNNVL_BUSBW_GBPS
    shard = size_gb / g
    ib_s = 0.0
    if n_domains > 1:
        ib_s = (2 * (n_domains - 1) * ALPHA_S
                + shard * 2 * (n_domains - 1) / n_domains / NIC_BUSBW_GBPS)
    nic_bytes = shard * 1e9 * 2 * (n_domains - 1) / n_domains if n_domains > 1 else 0.0
    return JobPlan(nv_s + ib_s, nv_s / (nv_s + ib_s), size_gb * 1e9 * 2 * (g - 1) / g,
                   nic_bytes)


@dataclass
class NvlinkFabric:
    """Per-GPU NVLink state of a cluster with NVLink domains.

    Attributes:
        share: per GPU, the NVLink share of its job's collective (0 when idle).
        bytes_per_step: per GPU, NVLink bytes its job moves per step.
        tx_bps, rx_bps: the gauges as last scraped (bytes per second; NaN = absent).
    """

    topo: Topology
    share: F64 = field(init=False)
    bytes_per_step: F64 = field(init=False)
    tx_bps: F64 = field(init=False)
    rx_bps: F64 = field(init=False)

    def __post_init__(self) -> None:
        n = self.topo.n_gpus
        self.share, self.bytes_per_step = np.zeros(n), np.zeros(n)
        absent = np.full(n, np.nan) if not self.enabled else np.zeros(n)
        self.tx_bps, self.rx_bps = absent.copy(), absent.copy()

    @property
    def enabled(self) -> bool:
        """Whether the cluster has rack-scale NVLink domains at all."""
        return bool(self.topo.nvlink_domains)

    def place(self, job: Job) -> None:
        """Set a freshly placed job's collective cost and NVLink traffic."""
        dom = self.topo.gpu_nvlink()[job.gpus]
        if not self.enabled or (dom < 0).any():
            return
        _, counts = np.unique(dom, return_counts=True)
        plan = plan_job(job.spec.allreduce_gb, int(counts.min()), len(counts))
        job.ar_s, job.nic_bytes = plan.ar_s, plan.nic_bytes
        self.share[job.gpus] = plan.nvlink_share
        self.bytes_per_step[job.gpus] = plan.nvlink_bytes

    def link_slow(self, nic_slow: F64, e: Effects) -> F64:
        """Collective slowdown per GPU: its NVLink and NIC paths by their shares."""
        if not self.enabled:
            return nic_slow
        nv_slow = 1.0 / np.maximum(e.nvlink_bw, 0.05)
        out: F64 = self.share * nv_slow + (1.0 - self.share) * nic_slow
        return np.where(self.share > 0, out, nic_slow)

    def tick(self, e: Effects, jobs: list[Job], events: Sequence[PhaseEvent],
             counters: dict[str, F64], *, t_s: float, dt_s: float,
             rng: np.random.Generator) -> None:
        """Advance the error counters and the bandwidth gauges by one tick."""
        n = self.topo.n_gpus
        if self.enabled or e.nvlink_err.any():  # in-node NVLink errs too (no draw otherwise)
            for k, name in enumerate(NVLINK_COUNTERS):
                counters[name] += rng.poisson(e.nvlink_err[k] * dt_s, n)
        if not self.enabled:
            return
        rate = np.zeros(n)
        for job in jobs:
            if job.status == "running" and job.step_s > 0:
                mult = phase_mult(events, job.spec.name, t_s)
                tp = TP_LINK_UTIL * GPU_NVLINK_BIDIR_GBPS / 2 * 1e9 * job.spec.compute_s
                rate[job.gpus] = (self.bytes_per_step[job.gpus] + tp) / job.step_s * mult
        rate *= e.nvlink_bw * rng.lognormal(0.0, BW_NOISE_SIGMA, n)
        self.tx_bps = np.round(rate)
        self.rx_bps = np.round(rate * rng.uniform(0.99, 1.01, n))


def phase_mult(events: Sequence[PhaseEvent], job: str, t_s: float) -> float:
    """Traffic multiplier of a job's ``nvlink_phase`` confounder at ``t_s`` (1 = none)."""
    mult = 1.0
    for ev in events:
        if ev.kind == "nvlink_phase" and ev.target == job and ev.at_s <= t_s < ev.until_s:
            mult *= ev.value
    return mult


# ------------------------------------------------------------------ faults
def degrade(e: Effects, gpus: I64 | int, m: Mapping[str, float]) -> None:
    """GPUs' links err (CRC flits, a replay per 4 of them, recoveries) and lose bandwidth.

    ``nvlink_degraded`` applies it to one GPU; ``nvswitch_fault`` (switch trays of a
    domain failing) to every GPU of the domain (:func:`domain_gpus`).
    """
    e.nvlink_bw[gpus] = np.minimum(e.nvlink_bw[gpus], m.get("bw_factor", 1.0))
    e.nvlink_err[0, gpus] += m.get("crc_per_min", 0.0) / 60.0
    e.nvlink_err[1, gpus] += m.get("crc_per_min", 0.0) / 240.0
    e.nvlink_err[2, gpus] += m.get("recoveries_per_hour", 0.0) / 3600.0


def domain_gpus(topo: Topology, domain: int) -> I64:
    """Global indices of the GPUs of NVLink domain ``domain``."""
    return np.flatnonzero(topo.gpu_nvlink() == domain).astype(np.int64)


def busy_domains(topo: Topology, busy_nodes: I64) -> I64:
    """NVLink domains with at least one busy node (where NVLink faults may land)."""
    dom = topo.node_nvlink[busy_nodes] if topo.node_nvlink.size else np.zeros(0, np.int32)
    return np.unique(dom[dom >= 0]).astype(np.int64)
