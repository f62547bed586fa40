"""Which findings concern a job: those naming one of its nodes, GPUs or NICs,
or (with a topology) a switch or cooling domain above one of its nodes."""

from __future__ import annotations

from collections.abc import Sequence

from brownout.findings import Finding
from brownout.topology.component import host_of
from brownout.topology.model import Topology


def job_findings(findings: Sequence[Finding], nodes: set[str],
                 topology: Topology | None) -> list[Finding]:
    """The findings whose component touches ``nodes``."""
    return [f for f in findings if _touches(f, nodes, topology)]


def _touches(f: Finding, nodes: set[str], topology: Topology | None) -> bool:
    node = host_of(f.component)
    if f.component_type in ("gpu", "nic", "node"):
        return node in nodes
    if topology is None:
        return False
    if f.component_type == "switch" and f.component in topology.switch_index:
        return bool(nodes.intersection(topology.nodes_under(f.component)))
    if f.component_type == "cooling" and f.component in topology.cooling_domains:
        d = topology.cooling_domains.index(f.component)
        return any(topology.nodes[i].name in nodes
                   for i in range(topology.n_nodes) if topology.node_cooling[i] == d)
    return False
