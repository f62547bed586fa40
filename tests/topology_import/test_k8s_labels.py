"""Kubernetes node labels -> topology."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from brownout.errors import ParseError, TopologyError
from brownout.topology.k8s_labels import (
    LabelKeys,
    import_k8s_nodes,
    parse_node_list,
    read_node_list,
)

FIX = Path(__file__).parent.parent / "fixtures" / "k8s_nodes"


def _node(name: str, labels: dict[str, str], gpus: str | None = "8") -> dict[str, object]:
    status = {"capacity": {"nvidia.com/gpu": gpus}} if gpus is not None else {}
    return {"kind": "Node", "metadata": {"name": name, "labels": labels}, "status": status}


def test_topograph_labels_on_prem() -> None:
    nodes = read_node_list(FIX / "nodes_topograph_onprem.json")
    keys = LabelKeys(cooling=("example.com/cdu",))
    res = import_k8s_nodes(nodes, cluster="onprem", keys=keys)
    topo = res.topology
    assert res.skipped_no_gpu == ("cpu-worker-01",)
    assert topo.n_nodes == 6 and topo.n_gpus == 48
    by = {n.name: n for n in topo.nodes}
    assert by["dgx-h100-001"].leaf == "ib-leaf-01" and by["dgx-h100-006"].leaf == "ib-leaf-02"
    assert by["dgx-h100-003"].rack == "r02" and by["dgx-h100-005"].cooling == "cdu-b"
    assert by["dgx-h100-001"].gpu_model == "NVIDIA H100 80GB HBM3"
    tiers = {s.name: (s.tier, s.uplinks) for s in topo.switches}
    assert tiers == {"ib-leaf-01": ("leaf", ("ib-spine-01",)),
                     "ib-leaf-02": ("leaf", ("ib-spine-01",)), "ib-spine-01": ("spine", ())}


def test_eks_layers() -> None:
    res = import_k8s_nodes(read_node_list(FIX / "nodes_eks_p5.json"))
    topo = res.topology
    leaves = [s for s in topo.switches if s.tier == "leaf"]
    assert sorted(s.name for s in leaves) == ["nn-09e8d7c6b5a493821", "nn-0c1f5e1d0a2b3c4d5"]
    assert all(s.uplinks == ("nn-7a8b9c0d1e2f3a4b5",) for s in leaves)
    assert len(topo.nodes_under("nn-0c1f5e1d0a2b3c4d5")) == 2
    # no rack label: rack is the leaf, cooling the rack
    assert all(n.rack == n.leaf == n.cooling for n in topo.nodes)


def test_gke_subblocks_and_capacity_only() -> None:
    res = import_k8s_nodes(read_node_list(FIX / "nodes_gke_a3u.json"), cluster="gke")
    topo = res.topology
    assert topo.n_gpus == 32
    assert {n.leaf for n in topo.nodes} == {"b1c2d3-sb01", "b1c2d3-sb02"}
    assert {s.name: s.tier for s in topo.switches}["b1c2d3"] == "spine"


def test_custom_leaf_label_replaces_defaults() -> None:
    nodes = read_node_list(FIX / "nodes_eks_p5.json")
    res = import_k8s_nodes(nodes, keys=LabelKeys(leaf=("topology.kubernetes.io/zone",),
                                                 spine=()))
    assert {n.leaf for n in res.topology.nodes} == {"us-east-2b"}
    assert [s.tier for s in res.topology.switches] == ["leaf"]


def test_missing_leaf_label_is_named() -> None:
    nodes = parse_node_list(_node("g1", {"nvidia.com/gpu.count": "8"}), "x.json")
    with pytest.raises(TopologyError, match=r"node g1: no leaf label .*--leaf-label"):
        import_k8s_nodes(nodes, where="x.json")


def test_gpu_count_label_when_no_capacity() -> None:
    doc = _node("g1", {"nvidia.com/gpu.count": "4", "network.topology.nvidia.com/leaf": "l1",
                       "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB-SHARED"}, gpus=None)
    (node,) = parse_node_list(doc, "x")
    assert node.gpus == 4 and node.gpu_model == "NVIDIA A100 SXM4 80GB"


def test_leaf_spine_name_clash_is_refused() -> None:
    items = [_node("a", {"network.topology.nvidia.com/leaf": "s1",
                         "network.topology.nvidia.com/spine": "s2"}),
             _node("b", {"network.topology.nvidia.com/leaf": "s2"})]
    nodes = parse_node_list({"items": items}, "x")
    with pytest.raises(TopologyError, match="both a leaf and a spine"):
        import_k8s_nodes(nodes)


def test_no_gpu_nodes_at_all() -> None:
    nodes = parse_node_list({"items": [_node("c", {"kubernetes.io/hostname": "c"}, gpus=None)]},
                            "x")
    with pytest.raises(TopologyError, match="no node with GPUs"):
        import_k8s_nodes(nodes)
    kept = import_k8s_nodes(nodes, include_cpu_nodes=True,
                            keys=LabelKeys(leaf=("kubernetes.io/hostname",)))
    assert kept.topology.n_gpus == 0


@pytest.mark.parametrize(("doc", "problem"), [
    ({"kind": "List"}, "expected a NodeList"),
    ({"items": [{"metadata": {}}]}, r"items\[0\] has no metadata.name"),
    ({"items": [_node("g", {}, gpus="eight")]}, "GPU count is not an integer"),
])
def test_bad_documents(doc: object, problem: str) -> None:
    with pytest.raises(ParseError, match=problem):
        parse_node_list(doc, "x.json")


def test_unreadable_json(tmp_path: Path) -> None:
    (tmp_path / "n.json").write_text("{not json")
    with pytest.raises(ParseError, match=r"n\.json: not valid JSON"):
        read_node_list(tmp_path / "n.json")


def test_fixture_round_trips_through_json() -> None:
    raw = json.loads((FIX / "nodes_topograph_onprem.json").read_text())
    assert raw["kind"] == "List" and len(raw["items"]) == 7
