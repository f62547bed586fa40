"""Import a Slurm ``topology.conf`` (tree plugin) into the topology format.

``SwitchName=s0 Nodes=n[001-032]`` lines make leaves; ``SwitchName=s9
Switches=s[0-3]`` lines make the switches above them (the top tier is
``spine`` for a two-level tree, ``core`` above that). Slurm does not know
racks or cooling domains: by default each node's rack and cooling domain are
its leaf's name, and callers may pass a mapping to override them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from brownout.errors import InputError, TopologyError
from brownout.topology.hostlist import expand as expand_hostlist
from brownout.topology.loader import from_dict
from brownout.topology.model import Topology

_KV_RE = re.compile(r"(\w+)=(\S+)")
_KNOWN_KEYS = {"switchname", "nodes", "switches", "linkspeed"}


def _parse_lines(text: str, where: str) -> dict[str, dict[str, list[str]]]:
    switches: dict[str, dict[str, list[str]]] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = {k.lower(): v for k, v in _KV_RE.findall(line)}
        unknown = set(fields) - _KNOWN_KEYS
        if "switchname" not in fields or unknown:
            what = f"unknown key(s) {sorted(unknown)}" if unknown else "missing SwitchName="
            raise TopologyError(where, f"line {n}", what)
        name = fields["switchname"]
        if name in switches:
            raise TopologyError(where, f"line {n} ({name})", "switch defined twice")
        try:
            switches[name] = {
                "nodes": expand_hostlist(fields.get("nodes", "")),
                "switches": expand_hostlist(fields.get("switches", "")),
            }
        except InputError as exc:
            raise TopologyError(where, f"line {n} ({name})", str(exc)) from exc
    return switches


def _tiers(switches: dict[str, dict[str, list[str]]]) -> dict[str, str]:
    parent: dict[str, str] = {}
    for name, sw in switches.items():
        for child in sw["switches"]:
            parent[child] = name
    depth = {name: 0 for name, sw in switches.items() if sw["nodes"]}
    for leaf in list(depth):
        level, cur = 0, leaf
        while cur in parent and level < 16:
            cur, level = parent[cur], level + 1
            depth[cur] = max(depth.get(cur, 0), level)
    names = ("leaf", "spine", "core")
    return {name: names[min(depth.get(name, 1), 2)] for name in switches}


def import_slurm_topology(
    path: str | Path, *, cluster: str = "slurm", gpus: int = 8,
    rack_of: Callable[[str, str], str] | None = None,
    cooling_of: Callable[[str, str], str] | None = None,
) -> Topology:
    """Read ``topology.conf`` and build a validated :class:`Topology`.

    Args:
        path: the topology.conf file.
        cluster: cluster name for the topology.
        gpus: GPUs per node.
        rack_of, cooling_of: ``(node, leaf) -> name`` overrides; default: the leaf.
    """
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TopologyError(where, "file", f"cannot be read ({exc})") from exc
    switches = _parse_lines(text, where)
    tiers = _tiers(switches)
    parent = {c: n for n, sw in switches.items() for c in sw["switches"]}
    nodes: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for leaf, sw in switches.items():
        for node in sw["nodes"]:
            if node in seen:
                raise TopologyError(where, f"switch {leaf}",
                                    f"node {node} already attached to {seen[node]}")
            seen[node] = leaf
            nodes.append({"name": node, "leaf": leaf, "gpus": gpus,
                          "rack": rack_of(node, leaf) if rack_of else leaf,
                          "cooling": cooling_of(node, leaf) if cooling_of else leaf})
    doc = {"version": 1, "name": cluster, "nodes": nodes,
           "switches": [{"name": n, "tier": tiers[n],
                         **({"uplinks": [parent[n]]} if n in parent else {})} for n in switches]}
    return from_dict(doc, where)
