"""Build a topology from Kubernetes node labels (``kubectl get nodes -o json``).

Where a node sits is read from labels that operators and cloud providers
already set. For each role (leaf switch, spine switch, rack, cooling domain)
a list of label keys is tried in order and the first one present wins; every
list can be replaced. The defaults follow published conventions:

- NVIDIA Topograph: ``network.topology.nvidia.com/leaf``, ``.../spine``
  (its newer releases: ``fabric.topograph.run/tier-0``, ``tier-1``; tier 0 is
  the switch nearest the node).
- Amazon EKS: ``topology.k8s.aws/network-node-layer-1..3`` (layer 3 is the
  bottom, nearest the instance; layer 2 above it).
- Google GKE: ``cloud.google.com/gce-topology-subblock`` (a sub-block shares
  the lowest-latency fabric) under ``cloud.google.com/gce-topology-block``.
- Racks: the Kueue topology-aware-scheduling examples' ``cloud.provider.com/
  topology-rack`` and a plain ``topology.kubernetes.io/rack``.
- Rack-scale NVLink domains (GB200/GB300 NVL72): Topograph's
  ``network.topology.nvidia.com/accelerator`` (newer releases:
  ``accelerator.topograph.run/domain``), then the GPU operator's
  ``nvidia.com/gpu.clique``, whose value ``<ClusterUUID>.<CliqueID>`` names an
  NVLink partition inside the physical domain ``<ClusterUUID>``: the domain is
  kept (a switch fault hits the whole rack, whatever its partitions).

GPU count: ``status.capacity["nvidia.com/gpu"]`` (the device plugin), else
the GPU feature discovery label ``nvidia.com/gpu.count``; the model is
``nvidia.com/gpu.product`` with dashes turned back into spaces
(``NVIDIA-H100-80GB-HBM3`` -> ``NVIDIA H100 80GB HBM3``, NVML's name).
Rack defaults to the NVLink domain (an NVL72 rack is one), else the leaf, and
cooling to the rack when no label names them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brownout.errors import ParseError, TopologyError
from brownout.topology.loader import DEFAULT_GPU_MODEL, from_dict
from brownout.topology.model import Topology

GPU_RESOURCE = "nvidia.com/gpu"
GPU_COUNT_LABEL = "nvidia.com/gpu.count"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
CLIQUE_LABEL = "nvidia.com/gpu.clique"


@dataclass(frozen=True)
class LabelKeys:
    """Which node labels name each role; the first key present on a node wins.

    Attributes:
        leaf: the switch the node's NICs attach to (required on every node).
        spine: the switch above the leaf (optional).
        rack: the node's rack (optional; default: the leaf).
        cooling: the node's cooling domain (optional; default: the rack).
        nvlink: the node's rack-scale NVLink domain (optional; none when absent).
    """

    leaf: tuple[str, ...] = (
        "network.topology.nvidia.com/leaf", "fabric.topograph.run/tier-0",
        "topology.k8s.aws/network-node-layer-3", "cloud.google.com/gce-topology-subblock",
    )
    spine: tuple[str, ...] = (
        "network.topology.nvidia.com/spine", "fabric.topograph.run/tier-1",
        "topology.k8s.aws/network-node-layer-2", "cloud.google.com/gce-topology-block",
    )
    rack: tuple[str, ...] = ("topology.kubernetes.io/rack", "cloud.provider.com/topology-rack")
    cooling: tuple[str, ...] = ()
    nvlink: tuple[str, ...] = (
        "network.topology.nvidia.com/accelerator", "accelerator.topograph.run/domain",
        CLIQUE_LABEL,
    )


@dataclass(frozen=True)
class K8sNode:
    """The parts of one Kubernetes Node object that the importer uses."""

    name: str
    labels: Mapping[str, str]
    gpus: int
    gpu_model: str


@dataclass(frozen=True)
class K8sImport:
    """Result of :func:`import_k8s_nodes`: the topology and the nodes left out."""

    topology: Topology
    skipped_no_gpu: tuple[str, ...] = field(default=())


def _gpu_count(item: Mapping[str, Any], labels: Mapping[str, str]) -> int:
    status: Mapping[str, Any] = item.get("status") or {}
    for block in ("capacity", "allocatable"):
        section: Mapping[str, Any] = status.get(block) or {}
        value = section.get(GPU_RESOURCE)
        if value is not None:
            return int(str(value))
    return int(labels.get(GPU_COUNT_LABEL, "0"))


def _product(labels: Mapping[str, str]) -> str:
    product = labels.get(GPU_PRODUCT_LABEL, "")
    # GFD writes e.g. NVIDIA-H100-80GB-HBM3 or NVIDIA-H100-80GB-HBM3-SHARED (time-slicing)
    product = product.removesuffix("-SHARED")
    return product.replace("-", " ") if product else DEFAULT_GPU_MODEL


def parse_node_list(data: Any, where: str) -> list[K8sNode]:
    """Nodes of a parsed ``kubectl get nodes -o json`` document (a List or one Node)."""
    if isinstance(data, Mapping) and data.get("kind") == "Node":
        data = {"items": [data]}
    items = data.get("items") if isinstance(data, Mapping) else None
    if not isinstance(items, list):
        raise ParseError(where, 0, "expected a NodeList with 'items' (kubectl get nodes -o json)")
    out: list[K8sNode] = []
    for i, item in enumerate(items):
        meta = item.get("metadata") if isinstance(item, Mapping) else None
        if not isinstance(meta, Mapping) or not isinstance(meta.get("name"), str) \
                or not meta["name"]:
            raise ParseError(where, 0, f"items[{i}] has no metadata.name")
        name = str(meta["name"])
        raw = meta.get("labels") or {}
        if not isinstance(raw, Mapping):
            raise ParseError(where, 0, f"items[{i}] ({name}): metadata.labels must be a mapping")
        labels = {str(k): str(v) for k, v in raw.items()}
        try:
            gpus = _gpu_count(item, labels)
        except ValueError as exc:
            raise ParseError(where, 0, f"items[{i}] ({name}): GPU count is not an integer "
                             f"({exc})") from exc
        out.append(K8sNode(name, labels, gpus, _product(labels)))
    return out


def read_node_list(path: str | Path) -> list[K8sNode]:
    """Read the JSON file written by ``kubectl get nodes -o json``."""
    where = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ParseError(where, 0, f"cannot be read ({exc})") from exc
    except ValueError as exc:
        raise ParseError(where, 0, f"not valid JSON ({str(exc).split(':')[0]})") from exc
    return parse_node_list(data, where)


def _first(labels: Mapping[str, str], keys: Sequence[str]) -> str:
    for key in keys:
        value = labels.get(key)
        if value:
            return value
    return ""


def _nvlink_domain(labels: Mapping[str, str], keys: Sequence[str]) -> str:
    """The node's NVLink domain; of a GPU clique ``<ClusterUUID>.<CliqueID>``, the ClusterUUID."""
    for key in keys:
        value = labels.get(key)
        if value:
            return value.split(".", 1)[0] if key == CLIQUE_LABEL else value
    return ""


def _placement(node: K8sNode, keys: LabelKeys, where: str) -> dict[str, Any]:
    leaf = _first(node.labels, keys.leaf)
    if not leaf:
        raise TopologyError(where, f"node {node.name}",
                            f"no leaf label (tried {', '.join(keys.leaf) or 'none'}); "
                            "name the label with --leaf-label")
    nvlink = _nvlink_domain(node.labels, keys.nvlink)
    rack = _first(node.labels, keys.rack) or nvlink or leaf
    cooling = _first(node.labels, keys.cooling) or rack
    return {"name": node.name, "leaf": leaf, "rack": rack, "cooling": cooling,
            "gpus": node.gpus, "gpu_model": node.gpu_model,
            "_spine": _first(node.labels, keys.spine),
            **({"nvlink_domain": nvlink} if nvlink else {})}


def _switches(placed: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    uplinks: dict[str, set[str]] = {}
    for p in placed:
        ups = uplinks.setdefault(p["leaf"], set())
        if p["_spine"]:
            ups.add(p["_spine"])
    spines = sorted({p["_spine"] for p in placed if p["_spine"]})
    clash = set(spines) & set(uplinks)
    if clash:
        raise TopologyError(where, f"switch {sorted(clash)[0]}",
                            "the same label value names both a leaf and a spine switch")
    return ([{"name": s, "tier": "leaf", **({"uplinks": sorted(u)} if u else {})}
             for s, u in sorted(uplinks.items())]
            + [{"name": s, "tier": "spine"} for s in spines])


def import_k8s_nodes(nodes: list[K8sNode], *, cluster: str = "k8s",
                     keys: LabelKeys | None = None, include_cpu_nodes: bool = False,
                     where: str = "<nodes>") -> K8sImport:
    """Build a validated topology from Kubernetes nodes.

    Args:
        nodes: parsed nodes (:func:`read_node_list`).
        cluster: cluster name.
        keys: label keys per role (default :class:`LabelKeys`).
        include_cpu_nodes: keep nodes without GPUs (default: leave them out).
        where: the input's name, for errors.
    """
    keys = keys or LabelKeys()
    keep = [n for n in nodes if include_cpu_nodes or n.gpus > 0]
    if not keep:
        raise TopologyError(where, "nodes", "no node with GPUs (nvidia.com/gpu capacity or "
                                           "nvidia.com/gpu.count label)")
    placed = [_placement(n, keys, where) for n in keep]
    switches = _switches(placed, where)
    for p in placed:
        del p["_spine"]
    topo = from_dict({"version": 1, "name": cluster, "nodes": placed, "switches": switches},
                     where)
    kept = {n.name for n in keep}
    skipped = tuple(sorted(n.name for n in nodes if n.name not in kept))
    return K8sImport(topo, skipped)
