"""Slurm node list (``scontrol show nodes``) parsing and the Slurm importer."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brownout.errors import ParseError, TopologyError
from brownout.topology.scontrol_nodes import (
    import_slurm_cluster,
    parse_gres,
    parse_scontrol_nodes,
    read_scontrol_nodes,
)

FIX = Path(__file__).parent.parent / "fixtures" / "scontrol"


def test_real_22_05_capture() -> None:
    nodes = read_scontrol_nodes(FIX / "scontrol_show_node_22.05_real.txt")
    assert [n.name for n in nodes] == ["n0001", "n0002", "n0050", "n0060"]
    assert all(n.gpus == 8 and n.gpu_type == "h100" for n in nodes)
    assert nodes[1].state == "IDLE+DRAIN"
    assert nodes[1].fields["Reason"].startswith("brownout[drain_node:n0002:abc123] gpu_failed")
    assert nodes[0].fields["OS"] == "Linux 6.18.44-fc-v669 #1 SMP PREEMPT_DYNAMIC @0"
    assert nodes[0].partitions == ("gpu",)
    assert nodes[0].features == ()  # (null)


def test_23_11_layout_values_with_spaces_and_equals() -> None:
    nodes = read_scontrol_nodes(FIX / "scontrol_show_nodes_23.11_gpu.txt")
    by = {n.name: n for n in nodes}
    assert len(nodes) == 9
    assert by["gpu001"].gpus == 8 and by["gpu007"].gpus == 4 and by["cpu001"].gpus == 0
    assert by["gpu007"].gpu_type == "a100"
    assert by["gpu003"].fields["Reason"] == (
        "GPU 5 XID 79 fell off the bus; nhc check=gpu_health [root@2026-11-20T03:14:07]")
    assert by["gpu001"].fields["CfgTRES"] == "cpu=104,mem=1900000M,billing=104,gres/gpu=8"
    assert by["gpu006"].fields["AllocTRES"] == ""
    assert by["gpu004"].features == ("h100", "rack02", "cdu01")


def test_oneliner_equals_multiline() -> None:
    multi = read_scontrol_nodes(FIX / "scontrol_show_nodes_23.11_gpu.txt")
    one = read_scontrol_nodes(FIX / "scontrol_show_nodes_23.11_oneliner.txt")
    assert [(n.name, n.gpus, n.state, n.features) for n in one] == \
        [(n.name, n.gpus, n.state, n.features) for n in multi]
    assert one[2].fields["Reason"] == multi[2].fields["Reason"]


@pytest.mark.parametrize(("gres", "want"), [
    ("gpu:h100:8(S:0-1)", (8, "h100")),
    ("gpu:8", (8, "")),
    ("gpu", (1, "")),
    ("gpu:a100:2(S:0),gpu:v100:2(S:1)", (4, "a100")),
    ("gpu:h100:4(S:0,1),nic:2", (4, "h100")),
    ("nic:2", (0, "")),
    ("(null)", (0, "")),
    ("", (0, "")),
])
def test_parse_gres(gres: str, want: tuple[int, str]) -> None:
    assert parse_gres(gres) == want


@given(st.lists(st.tuples(st.sampled_from(["h100", "a100", "l40s"]), st.integers(1, 16)),
                min_size=1, max_size=4))
def test_gres_counts_add_up(entries: list[tuple[str, int]]) -> None:
    gres = ",".join(f"gpu:{t}:{c}(S:0-1)" for t, c in entries)
    assert parse_gres(gres) == (sum(c for _, c in entries), entries[0][0])


def test_json_output(tmp_path: Path) -> None:
    doc = ('{"nodes": [{"name": "g1", "gres": "gpu:h100:8(S:0-1)", "state": ["IDLE", "DRAIN"],'
           ' "features": ["rack1"], "partitions": ["gpu"]}], "meta": {}}')
    (tmp_path / "n.json").write_text(doc)
    (node,) = read_scontrol_nodes(tmp_path / "n.json")
    assert (node.name, node.gpus, node.state, node.features) == ("g1", 8, "IDLE+DRAIN", ("rack1",))


@pytest.mark.parametrize(("text", "problem"), [
    ("Arch=x86_64\nNodeName=a Gres=gpu:1\n", "text before the first NodeName="),
    ("NodeName=a Gres=gpu:1\nNodeName=a Gres=gpu:1\n", "listed twice"),
    ("NodeName=a Gres=gpu:h100:x:y\n", r"not name\[:type\]\[:count\]"),
    ('{"nodes": [{"gres": "gpu:1"}]}', "has no name"),
])
def test_bad_input_names_the_problem(text: str, problem: str) -> None:
    with pytest.raises(ParseError, match=problem) as info:
        parse_scontrol_nodes(text, "nodes.txt")
    assert str(info.value).startswith("nodes.txt")


def test_import_combines_tree_and_gres() -> None:
    nodes = read_scontrol_nodes(FIX / "scontrol_show_nodes_23.11_gpu.txt")
    res = import_slurm_cluster(FIX / "topology_23.11_gpu.conf", nodes, cluster="c", gpus=2,
                               rack_feature="rack", cooling_feature="cdu")
    topo = res.topology
    by = {n.name: n for n in topo.nodes}
    assert res.not_in_tree == ("cpu001",)
    assert res.not_listed == ("gpu009",)
    assert by["gpu001"].gpus == 8 and by["gpu008"].gpus == 4 and by["gpu009"].gpus == 2
    assert by["gpu008"].gpu_model == "NVIDIA A100" and by["gpu001"].gpu_model == "NVIDIA H100"
    assert by["gpu003"].rack == "rack02" and by["gpu003"].cooling == "cdu01"
    assert by["gpu009"].rack == "leaf02"  # no feature: the leaf
    assert topo.n_gpus == 6 * 8 + 2 * 4 + 2
    assert len(by["gpu008"].nics) == 4  # default NICs follow the GPU count
    assert topo.nodes_under("leaf01") == ["gpu001", "gpu002", "gpu003", "gpu004"]


def test_import_without_node_list_is_the_plain_tree() -> None:
    res = import_slurm_cluster(FIX / "topology_22.05_real.conf", None, gpus=4)
    assert {n.gpus for n in res.topology.nodes} == {4}
    assert res.not_in_tree == () and res.not_listed == ()


def test_too_many_gpus_is_refused(tmp_path: Path) -> None:
    (tmp_path / "t.conf").write_text("SwitchName=s1 Nodes=a\n")
    nodes = parse_scontrol_nodes("NodeName=a Gres=gpu:h100:99\n")
    with pytest.raises(TopologyError, match="'gpus' must be an integer from 0 to 64"):
        import_slurm_cluster(tmp_path / "t.conf", nodes)
