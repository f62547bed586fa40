"""Rack-scale NVLink fleets (GB200/GB300 NVL72) built from the generated layouts.

An NVL72 rack is 18 compute trays of 4 GPUs in one NVLink domain, liquid
cooled per rack, its trays' scale-out NICs under the rack's leaf. Each tray is
one node of the topology (spec/topology.md: ``nvlink_domain`` per node).
"""

from __future__ import annotations

from dataclasses import replace

from brownout.topology.generate import generate_topology
from brownout.topology.model import Topology

NVL72_TRAYS = 18
NVL72_GPUS_PER_TRAY = 4


def rack_scale_topology(n_racks: int, *, trays_per_rack: int = NVL72_TRAYS,
                        gpus_per_tray: int = NVL72_GPUS_PER_TRAY, name: str = "nvl72",
                        gpu_model: str = "NVIDIA GB200") -> Topology:
    """``n_racks`` racks, each one NVLink domain ``nvl01``... and one cooling loop."""
    base = generate_topology(n_racks * trays_per_rack, name=name, gpus_per_node=gpus_per_tray,
                             nodes_per_rack=trays_per_rack, racks_per_cooling=1,
                             gpu_model=gpu_model)
    nodes = tuple(replace(n, nvlink_domain=f"nvl{n.rack[1:]}") for n in base.nodes)
    return Topology.build(name, nodes, base.switches)
