"""Generated clusters: top-of-rack or rail-optimised fabrics of any size.

Top-of-rack (``tor``): every NIC of a node attaches to its rack's leaf.
Rail-optimised (``rail``): nodes form groups; NIC *i* of every node in a
group attaches to rail leaf *i* of that group. Leaves uplink to every spine.
"""

from __future__ import annotations

from brownout.topology.model import NicSpec, NodeSpec, SwitchSpec, Topology

LAYOUTS = ("tor", "rail")


def generate_topology(
    n_nodes: int,
    *,
    layout: str = "tor",
    name: str = "sim",
    gpus_per_node: int = 8,
    nodes_per_rack: int = 4,
    racks_per_cooling: int = 4,
    nodes_per_rail_group: int = 16,
    n_spines: int = 2,
    gpu_model: str = "NVIDIA H100 80GB HBM3",
) -> Topology:
    """Build a cluster of ``n_nodes`` nodes named ``n0001``... .

    Racks are ``r01``..., cooling domains ``cdu01``... (``racks_per_cooling``
    racks each), spines ``spine01``...; ToR leaves are ``leaf01``... (one per
    rack), rail leaves ``g01-rail0``... (one per rail per group).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if n_nodes < 1:
        raise ValueError("a cluster needs at least one node")
    spines = tuple(f"spine{i + 1:02d}" for i in range(n_spines))
    nodes: list[NodeSpec] = []
    leaves: list[str] = []
    for i in range(n_nodes):
        rack_i = i // nodes_per_rack
        rack, cooling = f"r{rack_i + 1:02d}", f"cdu{rack_i // racks_per_cooling + 1:02d}"
        if layout == "tor":
            leaf = f"leaf{rack_i + 1:02d}"
            nics = tuple(NicSpec(f"mlx5_{g}", g, leaf) for g in range(gpus_per_node))
            wanted = [leaf]
        else:
            group = f"g{i // nodes_per_rail_group + 1:02d}"
            wanted = [f"{group}-rail{g}" for g in range(gpus_per_node)]
            leaf = wanted[0]
            nics = tuple(NicSpec(f"mlx5_{g}", g, wanted[g]) for g in range(gpus_per_node))
        leaves.extend(w for w in wanted if not leaves or w not in leaves[-gpus_per_node:])
        nodes.append(NodeSpec(f"n{i + 1:04d}", rack, cooling, leaf, gpus_per_node,
                              gpu_model, nics))
    switches = tuple(SwitchSpec(leaf, "leaf", spines) for leaf in dict.fromkeys(leaves))
    switches += tuple(SwitchSpec(s, "spine") for s in spines)
    return Topology.build(name, tuple(nodes), switches)
