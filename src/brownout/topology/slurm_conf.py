"""Import Slurm's topology (tree and block plugins) into the topology format.

Read, in any mix (several files are merged):

- ``topology.conf`` of the tree plugin: ``SwitchName=s0 Nodes=n[001-032]``
  lines make leaves, ``SwitchName=s9 Switches=s[0-3]`` lines the switches
  above them (``spine`` for a two-level tree, ``core`` above that);
- ``topology.conf`` of the block plugin: ``BlockName=b1 Nodes=n[001-018]``
  lines and ``BlockSizes=18,36``, how GB200/GB300 NVL72 racks are described
  to Slurm: each block is a rack-scale NVLink domain (``nvlink_domain``);
- the saved output of ``scontrol show topology`` for either plugin
  (``SwitchName=s0 Level=0 LinkSpeed=1 Nodes=...``, where a switch above the
  leaves lists every node below it, or nothing; ``BlockName=b1 BlockIndex=0
  Nodes=... BlockSize=18`` and ``AggregatedBlock=...`` lines, which are unions
  of base blocks and are skipped).

Slurm does not know racks or cooling domains: a node of a block gets the
block as its rack and cooling domain (an NVL72 rack is one liquid-cooled
NVLink domain), any other node its leaf; callers may pass a mapping to
override them. A node in a block but in no tree hangs off a leaf named after
its block.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brownout.errors import InputError, TopologyError
from brownout.topology.hostlist import expand as expand_hostlist
from brownout.topology.loader import from_dict
from brownout.topology.model import Topology

_KV_RE = re.compile(r"(\w+)=(\S*)")
_TREE_KEYS = {"switchname", "nodes", "switches", "linkspeed", "level"}
_BLOCK_KEYS = {"blockname", "aggregatedblock", "nodes", "blockindex", "blocksize"}
TIERS = ("leaf", "spine", "core")


@dataclass
class SlurmTopology:
    """What Slurm's topology text says (tree switches and blocks), before building.

    Attributes:
        switches: name -> (directly attached nodes, child switches, ``Level`` or None).
        blocks: block name -> its nodes (base blocks only).
        block_sizes: ``BlockSizes`` (empty when not given).
    """

    switches: dict[str, tuple[list[str], list[str], int | None]] = field(default_factory=dict)
    blocks: dict[str, list[str]] = field(default_factory=dict)
    block_sizes: tuple[int, ...] = ()


def _fields(line: str, where: str, n: int) -> dict[str, str]:
    fields = {k.lower(): v for k, v in _KV_RE.findall(line)}
    if "switchname" in fields:
        known = _TREE_KEYS
    elif "blockname" in fields or "aggregatedblock" in fields:
        known = _BLOCK_KEYS
    elif "blocksizes" in fields:
        known = {"blocksizes"}
    else:
        raise TopologyError(where, f"line {n}", "missing SwitchName= or BlockName=")
    unknown = set(fields) - known
    if unknown:
        raise TopologyError(where, f"line {n}", f"unknown key(s) {sorted(unknown)}")
    return fields


def _hosts(value: str, where: str, label: str) -> list[str]:
    try:
        return expand_hostlist(value)
    except InputError as exc:
        raise TopologyError(where, label, str(exc)) from exc


def _int(value: str, where: str, label: str, key: str) -> int:
    if not value.isdigit():
        raise TopologyError(where, label, f"{key}={value!r} is not a whole number")
    return int(value)


def parse_slurm_topology(text: str, where: str = "<topology>",
                         into: SlurmTopology | None = None) -> SlurmTopology:
    """Parse one topology.conf or ``scontrol show topology`` text (added to ``into``).

    Raises:
        TopologyError: naming the file, the line and what is wrong.
    """
    out = into if into is not None else SlurmTopology()
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        f = _fields(line, where, n)
        if "blocksizes" in f:
            out.block_sizes = tuple(_int(s, where, f"line {n}", "BlockSizes")
                                    for s in f["blocksizes"].split(",") if s)
        elif "switchname" in f:
            _switch_line(out, f, where, n)
        elif "blockname" in f:
            name = f["blockname"]
            if name in out.blocks:
                raise TopologyError(where, f"line {n} ({name})", "block defined twice")
            out.blocks[name] = _hosts(f.get("nodes", ""), where, f"line {n} ({name})")
        # AggregatedBlock= lines are unions of base blocks: nothing new
    return out


def _switch_line(out: SlurmTopology, f: dict[str, str], where: str, n: int) -> None:
    name = f["switchname"]
    label = f"line {n} ({name})"
    if name in out.switches:
        raise TopologyError(where, label, "switch defined twice")
    level = _int(f["level"], where, label, "Level") if "level" in f else None
    nodes = _hosts(f.get("nodes", ""), where, label)
    if level:  # scontrol lists every node below an upper switch: not attached to it
        nodes = []
    out.switches[name] = (nodes, _hosts(f.get("switches", ""), where, label), level)


def read_slurm_topology(paths: str | Path | Sequence[str | Path]) -> tuple[SlurmTopology, str]:
    """Parse one or more files into one :class:`SlurmTopology`; also returns their names."""
    files = [paths] if isinstance(paths, str | Path) else list(paths)
    out = SlurmTopology()
    for path in files:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TopologyError(str(path), "file", f"cannot be read ({exc})") from exc
        parse_slurm_topology(text, str(path), out)
    return out, ", ".join(map(str, files))


def _tiers(switches: dict[str, tuple[list[str], list[str], int | None]]) -> dict[str, str]:
    """Tier of every switch: by ``Level`` where scontrol printed it, else by depth."""
    if switches and all(lvl is not None for _, _, lvl in switches.values()):
        return {name: TIERS[min(lvl or 0, 2)] for name, (_, _, lvl) in switches.items()}
    parent: dict[str, str] = {c: name for name, sw in switches.items() for c in sw[1]}
    depth = {name: 0 for name, sw in switches.items() if sw[0]}
    for leaf in list(depth):
        level, cur = 0, leaf
        while cur in parent and level < 16:
            cur, level = parent[cur], level + 1
            depth[cur] = max(depth.get(cur, 0), level)
    return {name: TIERS[min(depth.get(name, 1), 2)] for name in switches}


Lookup = Callable[[str, str], str]


def build_topology(st: SlurmTopology, where: str, *, cluster: str = "slurm", gpus: int = 8,
                   rack_of: Lookup | None = None, cooling_of: Lookup | None = None
                   ) -> Topology:
    """A validated :class:`Topology` from parsed Slurm topology (see the module docstring)."""
    leaf_of = _leaf_of(st, where)
    block_of = _block_of(st, where)
    switches: list[dict[str, Any]] = _switch_docs(st)
    for block in dict.fromkeys(b for node, b in block_of.items() if node not in leaf_of):
        if block in st.switches:
            raise TopologyError(where, f"block {block}", "has nodes in no switch and shares "
                                "its name with a switch")
        switches.append({"name": block, "tier": "leaf"})
    entries: list[dict[str, Any]] = []
    for node in [*leaf_of, *(n for n in block_of if n not in leaf_of)]:
        block = block_of.get(node, "")
        place = block or leaf_of[node]
        entries.append({"name": node, "leaf": leaf_of.get(node, block), "gpus": gpus,
                        "rack": rack_of(node, place) if rack_of else place,
                        "cooling": cooling_of(node, place) if cooling_of else place,
                        **({"nvlink_domain": block} if block else {})})
    if not entries:
        raise TopologyError(where, "file", "no node in any switch or block")
    return from_dict({"version": 1, "name": cluster, "nodes": entries, "switches": switches},
                     where)


def _leaf_of(st: SlurmTopology, where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for leaf, (nodes, _, _) in st.switches.items():
        for node in nodes:
            if node in out:
                raise TopologyError(where, f"switch {leaf}",
                                    f"node {node} already attached to {out[node]}")
            out[node] = leaf
    return out


def _block_of(st: SlurmTopology, where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for block, nodes in st.blocks.items():
        for node in nodes:
            if node in out:
                raise TopologyError(where, f"block {block}",
                                    f"node {node} already in block {out[node]}")
            out[node] = block
    return out


def _switch_docs(st: SlurmTopology) -> list[dict[str, Any]]:
    tiers = _tiers(st.switches)
    parent = {c: n for n, sw in st.switches.items() for c in sw[1]}
    return [{"name": n, "tier": tiers[n], **({"uplinks": [parent[n]]} if n in parent else {})}
            for n in st.switches]


def import_slurm_topology(
    path: str | Path | Sequence[str | Path], *, cluster: str = "slurm", gpus: int = 8,
    rack_of: Lookup | None = None, cooling_of: Lookup | None = None,
) -> Topology:
    """Read Slurm topology files and build a validated :class:`Topology`.

    Args:
        path: a topology.conf (tree or block plugin) or saved ``scontrol show
            topology`` output, or several of them (e.g. one of each plugin).
        cluster: cluster name for the topology.
        gpus: GPUs per node.
        rack_of, cooling_of: ``(node, block or leaf) -> name`` overrides.
    """
    st, where = read_slurm_topology(path)
    return build_topology(st, where, cluster=cluster, gpus=gpus, rack_of=rack_of,
                          cooling_of=cooling_of)
