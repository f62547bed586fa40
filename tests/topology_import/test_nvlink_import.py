"""NVLink domains from Slurm (block plugin, scontrol show topology) and Kubernetes labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from brownout.cli.main import main
from brownout.errors import TopologyError
from brownout.topology.k8s_labels import LabelKeys, import_k8s_nodes, read_node_list
from brownout.topology.loader import load_topology
from brownout.topology.slurm_conf import import_slurm_topology, parse_slurm_topology

FIX = Path(__file__).parent.parent / "fixtures"
SLURM = FIX / "slurm_topology"


def _domains(topo: object) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for n in topo.nodes:  # type: ignore[attr-defined]
        out.setdefault(n.nvlink_domain, set()).add(n.name)
    return out


def test_block_plugin_file_makes_one_nvlink_domain_per_block() -> None:
    topo = import_slurm_topology(SLURM / "topology_block_nvl72.conf", gpus=4)
    assert topo.n_nodes == 72 and topo.n_gpus == 288
    assert topo.nvlink_domains == ("block001", "block002", "block003", "block004")
    doms = _domains(topo)
    assert doms["block001"] == {f"node{i}" for i in range(1101, 1119)}
    # no tree: each rack-scale domain is its rack, its cooling loop, and a leaf of its own
    n = topo.nodes[0]
    assert (n.rack, n.cooling, n.leaf) == ("block001",) * 3


def test_tree_and_block_files_merge() -> None:
    topo = import_slurm_topology([SLURM / "topology_tree_nvl72.conf",
                                  SLURM / "topology_block_nvl72.conf"], gpus=4)
    by = {n.name: n for n in topo.nodes}
    assert by["node2205"].leaf == "leaf-2-2" and by["node2205"].nvlink_domain == "block004"
    assert by["node2205"].rack == "block004"
    tiers = {s.name: (s.tier, s.uplinks) for s in topo.switches}
    assert tiers["leaf-1-2"] == ("leaf", ("spine-1",))
    assert tiers["spine-2"] == ("spine", ("core",)) and tiers["core"] == ("core", ())


@pytest.mark.parametrize("tree", ["topology_tree_nvl72.conf", "scontrol_show_topology_tree.txt"])
@pytest.mark.parametrize("block", ["topology_block_nvl72.conf",
                                   "scontrol_show_topology_block.txt"])
def test_scontrol_show_topology_output_reads_like_the_files(tree: str, block: str) -> None:
    want = import_slurm_topology([SLURM / "topology_tree_nvl72.conf",
                                  SLURM / "topology_block_nvl72.conf"], gpus=4)
    got = import_slurm_topology([SLURM / tree, SLURM / block], gpus=4)
    assert got.nodes == want.nodes
    assert {(s.name, s.tier, s.uplinks) for s in got.switches} == {
        (s.name, s.tier, s.uplinks) for s in want.switches}


def test_scontrol_tree_with_empty_nodes_on_upper_switches() -> None:
    text = ("SwitchName=leaf1 Level=0 LinkSpeed=1 Nodes=gb[01-18]\n"
            "SwitchName=leaf2 Level=0 LinkSpeed=1 Nodes=gb[19-36]\n"
            "SwitchName=spine1 Level=1 LinkSpeed=1 Nodes= Switches=leaf[1-2]\n")
    st = parse_slurm_topology(text, "scontrol.txt")
    assert st.switches["spine1"] == ([], ["leaf1", "leaf2"], 1)
    assert st.switches["leaf2"][0][-1] == "gb36"


def test_aggregated_blocks_are_not_domains() -> None:
    st = parse_slurm_topology((SLURM / "scontrol_show_topology_block.txt").read_text())
    assert list(st.blocks) == ["block001", "block002", "block003", "block004"]


@pytest.mark.parametrize(("text", "words"), [
    ("BlockName=b1 Nodes=a[1-2]\nBlockName=b2 Nodes=a[2-3]\n", "a2 already in block b1"),
    ("BlockName=b1 Nodes=a1\nBlockName=b1 Nodes=a2\n", "line 2 (b1): block defined twice"),
    ("BlockName=b1 Nodes=a1 Colour=red\n", "line 1: unknown key(s) ['colour']"),
    ("Nodes=a1\n", "line 1: missing SwitchName= or BlockName="),
    ("SwitchName=s0 Level=x Nodes=a1\n", "Level='x' is not a whole number"),
    ("BlockSizes=18,abc\n", "BlockSizes='abc'"),
])
def test_bad_slurm_topology_names_file_and_line(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "topology.conf"
    path.write_text(text)
    with pytest.raises(TopologyError) as info:
        import_slurm_topology(path)
    assert "topology.conf" in str(info.value) and words in str(info.value)


def test_k8s_accelerator_and_clique_labels() -> None:
    res = import_k8s_nodes(read_node_list(FIX / "k8s_nodes" / "nodes_gb200_nvl72.json"))
    topo = res.topology
    assert topo.n_nodes == 36 and topo.n_gpus == 144
    doms = _domains(topo)
    # rack 1: Topograph's accelerator label wins; rack 2: the clique's ClusterUUID, one domain
    # although Fabric Manager split it into two partitions
    assert set(doms) == {"nvl-1-1", "7f1c2d4e-3b5a-4c8d-9e6f-0a1b2c3d4e5f"}
    assert all(len(v) == 18 for v in doms.values())
    by = {n.name: n for n in topo.nodes}
    assert by["gb200-r01-t03"].rack == "nvl-1-1" and by["gb200-r02-t10"].leaf == "ib-leaf-02"
    assert by["gb200-r01-t01"].gpu_model == "NVIDIA GB200"


def test_k8s_nvlink_label_can_be_chosen() -> None:
    nodes = read_node_list(FIX / "k8s_nodes" / "nodes_gb200_nvl72.json")
    topo = import_k8s_nodes(nodes, keys=LabelKeys(nvlink=("nvidia.com/gpu.clique",))).topology
    assert topo.nvlink_domains == ("2b8e4f3c-9a6d-4f1e-8c2b-5d7a1e9f3c60",
                                   "7f1c2d4e-3b5a-4c8d-9e6f-0a1b2c3d4e5f")
    plain = import_k8s_nodes(read_node_list(FIX / "k8s_nodes" / "nodes_topograph_onprem.json"))
    assert plain.topology.nvlink_domains == ()


def test_cli_imports_block_and_scontrol_topology(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "topo.yaml"
    assert main(["import-topology", "--from", "slurm", "--out", str(out), "--gpus", "4",
                 "--topology-conf", str(SLURM / "scontrol_show_topology_tree.txt"),
                 "--topology-conf", str(SLURM / "scontrol_show_topology_block.txt")]) == 0
    assert "4 NVLink domains" in capsys.readouterr().out
    topo = load_topology(out)
    assert len(topo.nvlink_domains) == 4 and "block003" in topo.nvlink_domains
