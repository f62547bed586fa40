"""Topology loading, validation, indexes and importers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from brownout.errors import TopologyError
from brownout.topology import load_topology, write_topology
from brownout.topology.crux import import_crux
from brownout.topology.generate import generate_topology
from brownout.topology.hostlist import compress as compress_hostlist
from brownout.topology.hostlist import expand as expand_hostlist
from brownout.topology.loader import from_dict, to_dict
from brownout.topology.slurm_conf import import_slurm_topology

FIX = Path(__file__).parent.parent / "fixtures" / "topology"

SPEC_EXAMPLE = """
version: 1
name: demo
defaults:
  gpus: 8
  gpu_model: NVIDIA H100 80GB HBM3
nodes:
  - name: n0001
    rack: r01
    cooling: cdu01
    leaf: leaf01
    gpus: 8
    nics:
      - {device: mlx5_0, gpu: 0, switch: leaf01-rail0}
  - {name: n0002, rack: r01, cooling: cdu01, leaf: leaf01}
switches:
  - {name: leaf01, tier: leaf, uplinks: [spine01, spine02]}
  - {name: leaf01-rail0, tier: leaf, uplinks: [spine01]}
  - {name: spine01, tier: spine}
  - {name: spine02, tier: spine}
"""


def _doc() -> dict:
    return yaml.safe_load(SPEC_EXAMPLE)


def test_spec_example_loads_with_indexes(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(SPEC_EXAMPLE)
    topo = load_topology(path)
    assert topo.n_nodes == 2 and topo.n_gpus == 16
    assert topo.n_nics == 1 + 8  # explicit single NIC, then the default one-per-GPU
    assert topo.nic_name(0) == "n0001/mlx5_0"
    assert topo.switches[topo.nic_switch[0]].name == "leaf01-rail0"
    assert topo.gpu_name(topo.gpu_id("n0002", 3)) == "n0002/gpu3"
    assert topo.gpu_id("n0002", 8) == -1
    assert list(topo.gpu_node[:9]) == [0] * 8 + [1]
    assert topo.component_type("n0002/mlx5_7") == "nic"
    assert topo.component_type("cdu01") == "cooling"
    assert topo.component_type("demo") == "cluster"
    assert topo.component_type("n0001/gpu9") is None


@pytest.mark.parametrize(("mutate", "entry", "rule"), [
    (lambda d: d.update(version=2), "version", "must be 1"),
    (lambda d: d["nodes"][1].pop("rack"), "nodes[1]", "'rack' is required"),
    (lambda d: d["nodes"][1].update(name="bad name"), "nodes[1] (bad name)", "must match"),
    (lambda d: d["nodes"].append(dict(d["nodes"][1])), "nodes[2] (n0002)", "unique"),
    (lambda d: d["nodes"][1].update(leaf="leaf99"), "nodes[1] (n0002)", "leaf99"),
    (lambda d: d["switches"][2].update(tier="top"), "switches[2] (spine01)", "tier"),
    (lambda d: d["switches"][0]["uplinks"].append("x"), "switch leaf01", "uplink 'x'"),
    (lambda d: d["nodes"][0]["nics"][0].update(gpu=8), "nodes[0] (n0001) nics[0]", "'gpu'"),
    (lambda d: d["nodes"][1].update(gpus=-1), "nodes[1] (n0002)", "'gpus'"),
])
def test_broken_rules_refuse_whole_file_naming_entry_and_rule(mutate, entry, rule) -> None:
    doc = _doc()
    mutate(doc)
    with pytest.raises(TopologyError) as err:
        from_dict(doc, "cluster.yaml")
    assert err.value.path == "cluster.yaml"
    assert err.value.entry == entry
    assert rule in err.value.rule
    assert str(err.value).startswith(f"cluster.yaml: {entry}: ")


def test_unreadable_and_non_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="cannot be read"):
        load_topology(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [unclosed")
    with pytest.raises(TopologyError, match="not valid YAML"):
        load_topology(bad)


@pytest.mark.parametrize("layout", ["tor", "rail"])
def test_generated_topologies_round_trip(tmp_path: Path, layout: str) -> None:
    topo = generate_topology(40, layout=layout)
    write_topology(topo, tmp_path / "t.yaml")
    again = load_topology(tmp_path / "t.yaml")
    assert to_dict(again) == to_dict(topo)
    assert np.array_equal(again.nic_switch, topo.nic_switch)
    assert again.n_gpus == 320


def test_rail_layout_puts_nic_i_of_a_group_on_rail_leaf_i() -> None:
    topo = generate_topology(32, layout="rail", nodes_per_rail_group=16)
    for nic in range(topo.n_nics):
        node, gpu = int(topo.nic_node[nic]), int(topo.nic_gpu[nic])
        group = node // 16 + 1
        assert topo.switches[topo.nic_switch[nic]].name == f"g{group:02d}-rail{gpu}"
    assert len(topo.nodes_under("g02-rail5")) == 16


def test_tor_layout_shares_one_leaf_per_rack() -> None:
    topo = generate_topology(16, layout="tor", nodes_per_rack=4)
    leaves = topo.node_leaf
    assert len(set(leaves.tolist())) == 4
    assert (topo.node_rack == leaves - leaves.min()).all()


@pytest.mark.parametrize(("expr", "names"), [
    ("n[001-003]", ["n001", "n002", "n003"]),
    ("n[1-2,10],x", ["n1", "n2", "n10", "x"]),
    ("a[1-2]b[3-4]", ["a1b3", "a1b4", "a2b3", "a2b4"]),
])
def test_hostlist_expand(expr: str, names: list[str]) -> None:
    assert expand_hostlist(expr) == names


def test_hostlist_compress_round_trips() -> None:
    names = [f"gpu{i:03d}" for i in (1, 2, 3, 7, 9, 10)] + ["login"]
    assert sorted(expand_hostlist(compress_hostlist(names))) == sorted(names)


@pytest.mark.parametrize("bad", ["n[1-", "n]1[", "n[a-b]", "n[5-1]"])
def test_hostlist_errors_are_input_errors(bad: str) -> None:
    from brownout.errors import InputError

    with pytest.raises(InputError, match="hostlist"):
        expand_hostlist(bad)


def test_slurm_topology_conf_import() -> None:
    topo = import_slurm_topology(FIX / "topology.conf", cluster="c1")
    assert [n.name for n in topo.nodes] == [
        "gpu001", "gpu002", "gpu003", "gpu004", "gpu005", "gpu006", "gpu-x1"]
    assert topo.nodes[5].leaf == "leaf1"
    tiers = {s.name: s.tier for s in topo.switches}
    assert tiers == {"leaf0": "leaf", "leaf1": "leaf", "spine0": "spine"}
    assert topo.switches[0].uplinks == ("spine0",)


def test_slurm_topology_conf_errors(tmp_path: Path) -> None:
    conf = tmp_path / "topology.conf"
    conf.write_text("SwitchName=s0 Nodes=a[1-2]\nSwitchName=s1 Nodes=a[2-3]\n")
    with pytest.raises(TopologyError, match="a2 already attached to s0"):
        import_slurm_topology(conf)
    conf.write_text("SwitchName=s0 Nodez=a1\n")
    with pytest.raises(TopologyError, match="line 1"):
        import_slurm_topology(conf)


def test_crux_import_is_a_three_tier_clos_at_scale() -> None:
    topo = import_crux(FIX / "crux_topo.csv")
    assert topo.n_nodes == 847 and topo.n_gpus == 847 * 8
    tiers = [s.tier for s in topo.switches]
    assert tiers.count("leaf") == 48 and tiers.count("spine") == 3 and tiers.count("core") == 1
    multi = [s for s in topo.switches if s.tier == "leaf" and len(s.uplinks) > 1]
    assert multi, "some ASWs uplink to several PSWs in the real data"
    assert sum(len(topo.nodes_under(s.name)) for s in topo.switches if s.tier == "leaf") == 847


def test_crux_bad_header(tmp_path: Path) -> None:
    bad = tmp_path / "topo.csv"
    bad.write_text("ip,X\n1,2\n")
    with pytest.raises(TopologyError, match="header"):
        import_crux(bad)
