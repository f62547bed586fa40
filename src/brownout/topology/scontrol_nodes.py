"""Read Slurm's node list (``scontrol show nodes``) and merge it into a topology.

Slurm's ``topology.conf`` says which leaf switch each node hangs off but not
how many GPUs it has; ``scontrol show nodes`` says that (``Gres=gpu:h100:8``)
and more. :func:`parse_scontrol_nodes` reads the real text output (multi-line
records separated by blank lines, or ``--oneliner`` records, one per line) and
the ``--json`` output; :func:`import_slurm_cluster` combines it with
``topology.conf`` into one validated :class:`~brownout.topology.model.Topology`.

Values may contain spaces (``OS=Linux 6.1 #1 SMP``, ``Reason=...``): a value
runs until the next ``Key=`` token, and ``Reason=`` always runs to the end of
its line, as ``scontrol`` prints it last on its own line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brownout.errors import ParseError
from brownout.topology.loader import from_dict, to_dict
from brownout.topology.model import Topology
from brownout.topology.slurm_conf import import_slurm_topology

# A key token: start of line or whitespace, then a CamelCase key, then '='.
_KEY_RE = re.compile(r"(?:^|(?<=\s))([A-Za-z][A-Za-z0-9_]*)=")
# Keys whose value runs to the end of the line (free text that may hold "x=y").
_TO_EOL = frozenset({"Reason", "Comment", "Extra"})
# One gres entry: name[:type][:count][(S:0-1)] (count defaults to 1)
_GRES_RE = re.compile(r"^(?P<name>[^:(]+)(?::(?P<type>[^:(]+))?(?::(?P<count>\d+))?(?:\(.*\))?$")


@dataclass(frozen=True)
class SlurmNode:
    """One node of ``scontrol show nodes``.

    Attributes:
        name: ``NodeName``.
        gpus: GPUs from ``Gres`` (sum over ``gpu`` entries; 0 when none).
        gpu_type: the gres type of the first ``gpu`` entry (``h100``), or "".
        state: ``State`` as printed (``IDLE+DRAIN``).
        features: ``AvailableFeatures`` (empty for ``(null)``).
        partitions: ``Partitions``.
        fields: every ``Key=value`` of the record, as printed.
    """

    name: str
    gpus: int
    gpu_type: str
    state: str
    features: tuple[str, ...]
    partitions: tuple[str, ...]
    fields: Mapping[str, str]


def parse_gres(gres: str) -> tuple[int, str]:
    """GPU count and type of a ``Gres`` string (``gpu:h100:8(S:0-1),nic:2``).

    Raises:
        ValueError: for an entry that does not follow ``name[:type][:count]``.
    """
    total, first_type = 0, ""
    for entry in _split_gres(gres):
        m = _GRES_RE.match(entry)
        if m is None:
            raise ValueError(f"gres entry {entry!r} is not name[:type][:count]")
        if m["name"] != "gpu":
            continue
        gtype, count = m["type"] or "", m["count"]
        if count is None and gtype.isdigit():  # gpu:8 -> no type, count 8
            gtype, count = "", gtype
        total += int(count) if count is not None else 1
        first_type = first_type or gtype
    return total, first_type


def _split_gres(gres: str) -> list[str]:
    """Split on commas outside parentheses (``gpu:a:2(S:0,1),gpu:b:2``)."""
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in gres.strip():
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [e.strip() for e in out if e.strip() and e.strip() != "(null)"]


def _line_fields(line: str) -> dict[str, str]:
    keys = list(_KEY_RE.finditer(line))
    out: dict[str, str] = {}
    for i, m in enumerate(keys):
        key = m.group(1)
        end = len(line) if key in _TO_EOL or i + 1 == len(keys) else keys[i + 1].start()
        out[key] = line[m.end():end].strip()
        if key in _TO_EOL:
            break
    return out


def _records(text: str) -> list[tuple[int, list[str]]]:
    """Group lines into records: each starts at a line beginning with NodeName=."""
    records: list[tuple[int, list[str]]] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("NodeName="):
            records.append((n, [line]))
        elif records:
            records[-1][1].append(line)
        elif not line.startswith("No nodes"):
            raise ParseError("", n, "text before the first NodeName= record")
    return records


def _node(fields: dict[str, str], where: str, lineno: int) -> SlurmNode:
    name = fields.get("NodeName", "")
    if not name:
        raise ParseError(where, lineno, "empty NodeName")
    try:
        gpus, gtype = parse_gres(fields.get("Gres", ""))
    except ValueError as exc:
        raise ParseError(where, lineno, f"node {name}: {exc}") from exc
    return SlurmNode(name=name, gpus=gpus, gpu_type=gtype, state=fields.get("State", ""),
                     features=_list(fields.get("AvailableFeatures", "")),
                     partitions=_list(fields.get("Partitions", "")), fields=fields)


def _list(value: str) -> tuple[str, ...]:
    if value in ("", "(null)"):
        return ()
    return tuple(v for v in value.split(",") if v)


def parse_scontrol_nodes(text: str, where: str = "<scontrol>") -> list[SlurmNode]:
    """Parse ``scontrol show nodes`` output (text, ``--oneliner`` or ``--json``).

    Raises:
        brownout.errors.ParseError: naming the line (or entry) that is wrong.
    """
    if text.lstrip().startswith("{"):
        return _parse_json(text, where)
    try:
        records = _records(text)
    except ParseError as exc:
        raise ParseError(where, exc.line, exc.problem) from exc
    nodes: list[SlurmNode] = []
    seen: set[str] = set()
    for lineno, lines in records:
        fields: dict[str, str] = {}
        for line in lines:
            fields.update(_line_fields(line))
        node = _node(fields, where, lineno)
        if node.name in seen:
            raise ParseError(where, lineno, f"node {node.name} listed twice")
        seen.add(node.name)
        nodes.append(node)
    return nodes


def _parse_json(text: str, where: str) -> list[SlurmNode]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ParseError(where, 0, f"not valid JSON ({str(exc).split(':')[0]})") from exc
    raw = doc.get("nodes") if isinstance(doc, dict) else None
    if not isinstance(raw, list):
        raise ParseError(where, 0, "JSON output has no 'nodes' list")
    out = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ParseError(where, 0, f"nodes[{i}] has no name")
        state = entry.get("state", "")
        fields = {"NodeName": entry["name"], "Gres": str(entry.get("gres") or ""),
                  "State": "+".join(state) if isinstance(state, list) else str(state),
                  "AvailableFeatures": _json_list(entry.get("features")),
                  "Partitions": _json_list(entry.get("partitions"))}
        out.append(_node(fields, f"{where} nodes[{i}]", 0))
    return out


def _json_list(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value or "")


def gpu_model_of(gres_type: str) -> str:
    """The topology's ``gpu_model`` for a gres type (``h100`` -> ``NVIDIA H100``).

    Slurm's gres type is a site-chosen short name, not NVML's product name; it
    is kept recognisable so that nodes of one model are grouped together.
    """
    return f"NVIDIA {gres_type.upper()}"


def read_scontrol_nodes(path: str | Path) -> list[SlurmNode]:
    """Read a file holding ``scontrol show nodes`` output."""
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ParseError(where, 0, f"cannot be read ({exc})") from exc
    return parse_scontrol_nodes(text, where)


def feature_lookup(nodes: list[SlurmNode], prefix: str) -> Callable[[str, str], str]:
    """A ``(node, leaf) -> name`` picking the node's first feature starting with ``prefix``.

    Nodes without such a feature fall back to the leaf (as the plain importer does).
    """
    by_name = {n.name: n for n in nodes}

    def lookup(node: str, leaf: str) -> str:
        entry = by_name.get(node)
        hits = [f for f in entry.features if f.startswith(prefix)] if entry else []
        return hits[0] if hits else leaf

    return lookup


@dataclass(frozen=True)
class SlurmImport:
    """Result of :func:`import_slurm_cluster`.

    Attributes:
        topology: the validated topology.
        not_in_tree: nodes of the node list that ``topology.conf`` does not place
            (left out: Slurm's tree plugin cannot schedule across them either).
        not_listed: nodes of ``topology.conf`` absent from the node list (kept,
            with the default GPU count).
    """

    topology: Topology
    not_in_tree: tuple[str, ...]
    not_listed: tuple[str, ...]


def import_slurm_cluster(topology_conf: str | Path | Sequence[str | Path],
                         nodes: list[SlurmNode] | None = None, *,
                         cluster: str = "slurm", gpus: int = 8, rack_feature: str = "",
                         cooling_feature: str = "") -> SlurmImport:
    """``topology.conf`` plus (optionally) the node list -> one topology.

    Args:
        topology_conf: ``topology.conf`` (tree or block plugin) or saved ``scontrol show
            topology`` output, or several of them (see :mod:`brownout.topology.slurm_conf`).
        nodes: parsed ``scontrol show nodes``; GPU counts come from ``Gres``.
        cluster: cluster name.
        gpus: GPUs of nodes the node list does not describe.
        rack_feature, cooling_feature: a node feature prefix (``rack``) whose
            first matching feature names the node's rack / cooling domain;
            empty: the leaf, as :func:`import_slurm_topology` does.
    """
    nodes = nodes or []
    base = import_slurm_topology(
        topology_conf, cluster=cluster, gpus=gpus,
        rack_of=feature_lookup(nodes, rack_feature) if rack_feature else None,
        cooling_of=feature_lookup(nodes, cooling_feature) if cooling_feature else None)
    if not nodes:
        return SlurmImport(base, (), ())
    doc = to_dict(base)
    by_name = {n.name: n for n in nodes}
    for entry in doc["nodes"]:
        listed = by_name.get(entry["name"])
        if listed is not None:
            entry["gpus"] = listed.gpus
            entry.pop("nics", None)  # default NICs follow the GPU count
            if listed.gpu_type:
                entry["gpu_model"] = gpu_model_of(listed.gpu_type)
    placed = {e["name"] for e in doc["nodes"]}
    where = topology_conf if isinstance(topology_conf, str | Path) else ", ".join(
        map(str, topology_conf))
    topo = from_dict(doc, str(where))
    return SlurmImport(topo, tuple(sorted(set(by_name) - placed)),
                       tuple(sorted(placed - set(by_name))))

