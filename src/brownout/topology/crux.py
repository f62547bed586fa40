"""Import the Alibaba Crux topology CSV (``ip,DSW,PSW,ASW``) as a 3-tier Clos.

Each row is a host (its IP blinded to a 64-hex-digit hash) under one ASW
(ToR, our ``leaf``), reaching the pod tier PSW (``spine``) and the DSW core
(``core``). An ASW listed with several PSWs uplinks to all of them. Node
names are ``h`` plus the first 12 hex digits of the hash (unique in the
dataset; a clash is refused). Racks are the ASW, cooling domains the PSW
group unless overridden. Source: alibaba/alibaba-lingjun-dataset-2023
(Apache-2.0), Cao et al., "Crux", SIGCOMM 2024.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Any

from brownout.errors import TopologyError
from brownout.topology.loader import from_dict
from brownout.topology.model import Topology

COLUMNS = ("ip", "DSW", "PSW", "ASW")


def _rows(path: Path, where: str) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if tuple(reader.fieldnames or ()) != COLUMNS:
                raise TopologyError(where, "header", f"must be {','.join(COLUMNS)}")
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TopologyError(where, "file", f"cannot be read ({exc})") from exc
    for n, row in enumerate(rows, 2):
        if not all(row.get(c) for c in COLUMNS):
            raise TopologyError(where, f"line {n}", "every column must be filled")
    return rows


def import_crux(path: str | Path, *, cluster: str = "crux", gpus: int = 8) -> Topology:
    """Read the Crux ``topo.csv`` into a validated :class:`Topology`."""
    where = str(path)
    rows = _rows(Path(path), where)
    asw_up: dict[str, set[str]] = defaultdict(set)
    psw_up: dict[str, set[str]] = defaultdict(set)
    nodes: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for n, row in enumerate(rows, 2):
        name = f"h{row['ip'][:12]}"
        if names.setdefault(name, row["ip"]) != row["ip"]:
            raise TopologyError(where, f"line {n}", f"host name {name} is not unique")
        leaf, psw, dsw = f"asw-{row['ASW']}", f"psw-{row['PSW']}", f"dsw-{row['DSW']}"
        asw_up[leaf].add(psw)
        psw_up[psw].add(dsw)
        nodes.append({"name": name, "leaf": leaf, "rack": leaf, "cooling": psw, "gpus": gpus})
    switches = [{"name": s, "tier": "leaf", "uplinks": sorted(u)} for s, u in asw_up.items()]
    switches += [{"name": s, "tier": "spine", "uplinks": sorted(u)} for s, u in psw_up.items()]
    switches += [{"name": s, "tier": "core"} for s in sorted({d for u in psw_up.values()
                                                               for d in u})]
    return from_dict({"version": 1, "name": cluster, "nodes": nodes, "switches": switches}, where)
