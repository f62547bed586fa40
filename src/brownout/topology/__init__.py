"""Cluster topology: model, YAML loader, importers."""

from brownout.topology.loader import from_dict, load_topology, write_topology
from brownout.topology.model import NicSpec, NodeSpec, SwitchSpec, Topology

__all__ = [
    "NicSpec", "NodeSpec", "SwitchSpec", "Topology", "from_dict", "load_topology",
    "write_topology",
]
