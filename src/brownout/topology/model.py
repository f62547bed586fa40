"""The physical cluster: nodes, GPUs, NICs, racks, cooling domains, switches.

:class:`Topology` is immutable and carries vectorised indexes (numpy arrays)
from every GPU and NIC to its node, rack, cooling domain and switch, so that
detectors group and compare thousands of components without Python loops.
Component identifiers follow spec/topology.md (``n0007/gpu3``, ``n0007/mlx5_3``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from brownout.topology.component import ComponentRef

NODE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z")
SWITCH_TIERS = ("leaf", "spine", "core")

IntArray = npt.NDArray[np.int32]


@dataclass(frozen=True)
class NicSpec:
    """One host NIC: its device name, the GPU it serves (if any) and its switch."""

    device: str
    gpu: int | None
    switch: str


@dataclass(frozen=True)
class NodeSpec:
    """One host as the topology file describes it (defaults already applied)."""

    name: str
    rack: str
    cooling: str
    leaf: str
    gpus: int
    gpu_model: str
    nics: tuple[NicSpec, ...]
    nvlink_domain: str | None = None  # rack-scale NVLink domain (GB200 NVL72); None: in-node only


@dataclass(frozen=True)
class SwitchSpec:
    """One switch; ``tier`` is ``leaf``, ``spine`` or ``core``."""

    name: str
    tier: str
    uplinks: tuple[str, ...] = ()


def _interned(names: list[str]) -> tuple[tuple[str, ...], IntArray]:
    """Unique names in first-seen order, and each input's index into them."""
    order: dict[str, int] = {}
    idx = np.fromiter((order.setdefault(n, len(order)) for n in names), np.int32, len(names))
    return tuple(order), idx


@dataclass(frozen=True)
class Topology:
    """A validated cluster description with vectorised indexes.

    Build it with :func:`brownout.topology.loader.load_topology` or
    :meth:`Topology.build`; the constructor trusts its input.
    """

    name: str
    nodes: tuple[NodeSpec, ...]
    switches: tuple[SwitchSpec, ...]
    node_index: dict[str, int] = field(repr=False)
    switch_index: dict[str, int] = field(repr=False)
    racks: tuple[str, ...] = field(repr=False)
    cooling_domains: tuple[str, ...] = field(repr=False)
    node_rack: IntArray = field(repr=False)
    node_cooling: IntArray = field(repr=False)
    node_leaf: IntArray = field(repr=False)
    gpu_offset: IntArray = field(repr=False)
    gpu_node: IntArray = field(repr=False)
    gpu_local: IntArray = field(repr=False)
    nic_node: IntArray = field(repr=False)
    nic_gpu: IntArray = field(repr=False)
    nic_switch: IntArray = field(repr=False)
    nic_device: tuple[str, ...] = field(repr=False)
    nic_index: dict[tuple[int, str], int] = field(repr=False)
    nvlink_domains: tuple[str, ...] = field(default=(), repr=False)
    node_nvlink: IntArray = field(default_factory=lambda: np.zeros(0, np.int32), repr=False)

    @classmethod
    def build(
        cls, name: str, nodes: tuple[NodeSpec, ...], switches: tuple[SwitchSpec, ...]
    ) -> Topology:
        """Derive every index from already-validated nodes and switches."""
        node_index = {n.name: i for i, n in enumerate(nodes)}
        switch_index = {s.name: i for i, s in enumerate(switches)}
        racks, node_rack = _interned([n.rack for n in nodes])
        cooling, node_cooling = _interned([n.cooling for n in nodes])
        counts = np.array([n.gpus for n in nodes], dtype=np.int32)
        offset = np.zeros(len(nodes) + 1, dtype=np.int32)
        np.cumsum(counts, out=offset[1:])
        gpu_node = np.repeat(np.arange(len(nodes), dtype=np.int32), counts)
        gpu_local = (np.arange(int(offset[-1]), dtype=np.int32) - offset[gpu_node]).astype(np.int32)
        nic_rows = [(i, nic) for i, n in enumerate(nodes) for nic in n.nics]
        nvlink_domains = tuple(dict.fromkeys(n.nvlink_domain for n in nodes if n.nvlink_domain))
        nvl_index = {d: k for k, d in enumerate(nvlink_domains)}
        return cls(
            name=name, nodes=nodes, switches=switches,
            node_index=node_index, switch_index=switch_index,
            racks=racks, cooling_domains=cooling,
            node_rack=node_rack, node_cooling=node_cooling,
            node_leaf=np.array([switch_index[n.leaf] for n in nodes], dtype=np.int32),
            gpu_offset=offset, gpu_node=gpu_node, gpu_local=gpu_local,
            nic_node=np.array([i for i, _ in nic_rows], dtype=np.int32),
            nic_gpu=np.array([-1 if c.gpu is None else c.gpu for _, c in nic_rows], np.int32),
            nic_switch=np.array([switch_index[c.switch] for _, c in nic_rows], dtype=np.int32),
            nic_device=tuple(c.device for _, c in nic_rows),
            nic_index={(i, c.device): k for k, (i, c) in enumerate(nic_rows)},
            nvlink_domains=nvlink_domains,
            node_nvlink=np.array([nvl_index.get(n.nvlink_domain or "", -1) for n in nodes],
                                 dtype=np.int32),
        )

    # sizes ---------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def n_gpus(self) -> int:
        return int(self.gpu_offset[-1])

    @property
    def n_nics(self) -> int:
        return len(self.nic_device)

    # lookups -------------------------------------------------------------
    def gpu_id(self, node: str | int, gpu: int) -> int:
        """Global GPU index of GPU ``gpu`` on ``node``; -1 if there is none."""
        i = self.node_index.get(node, -1) if isinstance(node, str) else node
        if i < 0 or not 0 <= gpu < self.nodes[i].gpus:
            return -1
        return int(self.gpu_offset[i]) + gpu

    def gpu_name(self, gpu_id: int) -> str:
        """Component identifier ``<node>/gpu<i>`` of a global GPU index."""
        return f"{self.nodes[self.gpu_node[gpu_id]].name}/gpu{self.gpu_local[gpu_id]}"

    def nic_name(self, nic_id: int) -> str:
        """Component identifier ``<node>/<device>`` of a global NIC index."""
        return f"{self.nodes[self.nic_node[nic_id]].name}/{self.nic_device[nic_id]}"

    def gpu_rack(self) -> IntArray:
        """Rack index of every GPU."""
        return self.node_rack[self.gpu_node]

    def gpu_cooling(self) -> IntArray:
        """Cooling-domain index of every GPU."""
        return self.node_cooling[self.gpu_node]

    def gpu_nvlink(self) -> IntArray:
        """NVLink-domain index of every GPU; -1 where NVLink stays inside the node."""
        return self.node_nvlink[self.gpu_node]

    def gpu_leaf(self) -> IntArray:
        """Leaf-switch index (of the node) of every GPU."""
        return self.node_leaf[self.gpu_node]

    def nodes_under(self, switch: str) -> list[str]:
        """Names of nodes with at least one NIC on ``switch``."""
        s = self.switch_index[switch]
        return sorted({self.nodes[i].name for i in np.unique(self.nic_node[self.nic_switch == s])})

    def component_type(self, component: str) -> str | None:
        """Which kind of component an identifier names, or None if unknown."""
        ref = ComponentRef.parse(component)
        if ref.on_node:
            i = self.node_index.get(ref.host)
            if i is None:
                return None
            if ref.gpu is not None:
                return "gpu" if ref.gpu < self.nodes[i].gpus else None
            return "nic" if (i, ref.part) in self.nic_index else None
        for kind, names in (("node", self.node_index), ("switch", self.switch_index),
                            ("cooling", self.cooling_domains), ("rack", self.racks),
                            ("nvlink_domain", self.nvlink_domains)):
            if component in names:
                return kind
        return "cluster" if component == self.name else None
