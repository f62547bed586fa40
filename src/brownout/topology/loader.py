"""Load, validate and write topology files (spec/topology.md, version 1).

Every rule of the spec is checked before anything is built; the first broken
rule refuses the whole file with the file, the entry and the rule named.
Importers build the same plain dict and pass it through :func:`from_dict`, so
one validator guards every way a topology enters brownout.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from brownout.atomic import atomic_write_text
from brownout.errors import InputError, TopologyError
from brownout.topology.model import (
    NODE_NAME_RE,
    SWITCH_TIERS,
    NicSpec,
    NodeSpec,
    SwitchSpec,
    Topology,
)
from brownout.yamldoc import read_yaml

REQUIRED_NODE_FIELDS = ("name", "rack", "cooling", "leaf")
DEFAULT_GPU_MODEL = "NVIDIA H100 80GB HBM3"


def load_topology(path: str | Path) -> Topology:
    """Read and validate a topology YAML file."""
    where = str(path)
    try:
        data = read_yaml(path)
    except InputError as exc:  # keep the topology's own error class (file, entry, rule)
        problem = str(exc).removeprefix(f"{where}: ")
        raise TopologyError(where, "file", problem) from exc
    return from_dict(data, where)


def from_dict(data: Any, where: str = "<topology>") -> Topology:
    """Validate a parsed topology document and build the :class:`Topology`."""
    if not isinstance(data, Mapping):
        raise TopologyError(where, "document", "must be a mapping with version, name, nodes")
    if data.get("version") != 1:
        raise TopologyError(where, "version", f"must be 1, got {data.get('version')!r}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise TopologyError(where, "name", "must be a non-empty string")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise TopologyError(where, "defaults", "must be a mapping")
    switches = _switches(data.get("switches"), where)
    nodes = _nodes(data.get("nodes"), defaults, where)
    _check_references(nodes, switches, where)
    return Topology.build(name, nodes, switches)


def _switches(raw: Any, where: str) -> tuple[SwitchSpec, ...]:
    if not isinstance(raw, list):
        raise TopologyError(where, "switches", "must be a list")
    out: list[SwitchSpec] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        label = f"switches[{i}]"
        if not isinstance(entry, Mapping):
            raise TopologyError(where, label, "must be a mapping")
        name, tier = entry.get("name"), entry.get("tier")
        if not isinstance(name, str) or not name:
            raise TopologyError(where, label, "switch name must be a non-empty string")
        label = f"{label} ({name})"
        if name in seen:
            raise TopologyError(where, label, "switch names must be unique")
        if tier not in SWITCH_TIERS:
            raise TopologyError(where, label, f"tier must be one of {', '.join(SWITCH_TIERS)}")
        uplinks = entry.get("uplinks") or []
        if not isinstance(uplinks, list) or not all(isinstance(u, str) for u in uplinks):
            raise TopologyError(where, label, "uplinks must be a list of switch names")
        seen.add(name)
        out.append(SwitchSpec(name=name, tier=str(tier), uplinks=tuple(uplinks)))
    return tuple(out)


def _nodes(raw: Any, defaults: Mapping[str, Any], where: str) -> tuple[NodeSpec, ...]:
    if not isinstance(raw, list) or not raw:
        raise TopologyError(where, "nodes", "must be a non-empty list")
    out: list[NodeSpec] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        if not isinstance(entry, Mapping):
            raise TopologyError(where, f"nodes[{i}]", "must be a mapping")
        node = _node({**defaults, **entry}, f"nodes[{i}]", where)
        if node.name in seen:
            raise TopologyError(where, f"nodes[{i}] ({node.name})", "node names must be unique")
        seen.add(node.name)
        out.append(node)
    return tuple(out)


def _node(merged: Mapping[str, Any], label: str, where: str) -> NodeSpec:
    for key in REQUIRED_NODE_FIELDS:
        value = merged.get(key)
        if not isinstance(value, str) or not value:
            raise TopologyError(where, label, f"'{key}' is required and must be a string")
    name = str(merged["name"])
    label = f"{label} ({name})"
    if not NODE_NAME_RE.match(name):
        raise TopologyError(where, label, "node name must match [A-Za-z0-9][A-Za-z0-9._-]{0,62}")
    gpus = merged.get("gpus", 8)
    if isinstance(gpus, bool) or not isinstance(gpus, int) or not 0 <= gpus <= 64:
        raise TopologyError(where, label, "'gpus' must be an integer from 0 to 64")
    leaf = str(merged["leaf"])
    nvlink = merged.get("nvlink_domain")
    if nvlink is not None and (not isinstance(nvlink, str) or not nvlink):
        raise TopologyError(where, label, "'nvlink_domain' must be a non-empty string")
    nics = _nics(merged.get("nics"), gpus, leaf, label, where)
    return NodeSpec(name=name, rack=str(merged["rack"]), cooling=str(merged["cooling"]),
                    leaf=leaf, gpus=gpus, gpu_model=str(merged.get("gpu_model", DEFAULT_GPU_MODEL)),
                    nics=nics, nvlink_domain=nvlink)


def _nics(raw: Any, gpus: int, leaf: str, label: str, where: str) -> tuple[NicSpec, ...]:
    if raw is None:
        return tuple(NicSpec(device=f"mlx5_{i}", gpu=i, switch=leaf) for i in range(gpus))
    if not isinstance(raw, list):
        raise TopologyError(where, label, "'nics' must be a list")
    out: list[NicSpec] = []
    for j, nic in enumerate(raw):
        sub = f"{label} nics[{j}]"
        if not isinstance(nic, Mapping) or not isinstance(nic.get("device"), str):
            raise TopologyError(where, sub, "a NIC needs a 'device' name")
        gpu = nic.get("gpu")
        if gpu is not None and (not isinstance(gpu, int) or not 0 <= gpu < max(gpus, 1)):
            raise TopologyError(where, sub, f"'gpu' must be an index from 0 to {gpus - 1}")
        switch = nic.get("switch", leaf)
        if not isinstance(switch, str):
            raise TopologyError(where, sub, "'switch' must be a switch name")
        out.append(NicSpec(device=nic["device"], gpu=gpu, switch=switch))
    if len({n.device for n in out}) != len(out):
        raise TopologyError(where, label, "NIC device names must be unique within a node")
    return tuple(out)


def _check_references(
    nodes: tuple[NodeSpec, ...], switches: tuple[SwitchSpec, ...], where: str
) -> None:
    known = {s.name for s in switches}
    for i, node in enumerate(nodes):
        for ref in (node.leaf, *(n.switch for n in node.nics)):
            if ref not in known:
                raise TopologyError(where, f"nodes[{i}] ({node.name})",
                                    f"switch '{ref}' is not listed under switches")
    for s in switches:
        for up in s.uplinks:
            if up not in known:
                raise TopologyError(where, f"switch {s.name}",
                                    f"uplink '{up}' is not listed under switches")


def to_dict(topo: Topology) -> dict[str, Any]:
    """The plain document of a topology, as :func:`from_dict` reads it."""
    nodes = []
    for n in topo.nodes:
        entry: dict[str, Any] = {"name": n.name, "rack": n.rack, "cooling": n.cooling,
                                 "leaf": n.leaf, "gpus": n.gpus, "gpu_model": n.gpu_model}
        if n.nvlink_domain:
            entry["nvlink_domain"] = n.nvlink_domain
        default_nics = tuple(NicSpec(f"mlx5_{i}", i, n.leaf) for i in range(n.gpus))
        if n.nics != default_nics:
            entry["nics"] = [{"device": c.device, "gpu": c.gpu, "switch": c.switch}
                             for c in n.nics]
        nodes.append(entry)
    switches = [{"name": s.name, "tier": s.tier, **({"uplinks": list(s.uplinks)}
                                                     if s.uplinks else {})}
                for s in topo.switches]
    return {"version": 1, "name": topo.name, "nodes": nodes, "switches": switches}


def write_topology(topo: Topology, path: str | Path) -> None:
    """Write a topology file atomically (complete or absent)."""
    text = yaml.safe_dump(to_dict(topo), sort_keys=False, default_flow_style=None, width=120)
    atomic_write_text(path, text)

