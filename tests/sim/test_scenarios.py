"""Scenario files: built-ins load, bad files are refused with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from brownout.errors import InputError
from brownout.findings import KINDS
from brownout.sim import list_scenarios, load_scenario


def test_at_least_twelve_builtins_cover_every_kind() -> None:
    names = list_scenarios()
    assert len(names) >= 12
    assert {"mixed", "healthy-noisy", "llama3-54d"} <= set(names)
    assert set(KINDS) <= set(names)
    for name in names:
        sc = load_scenario(name)
        assert sc.name == name
        if name in KINDS:
            assert {f.kind for f in sc.faults} == {name}


def test_healthy_noisy_has_no_faults_but_confounders() -> None:
    sc = load_scenario("healthy-noisy")
    assert sc.faults == ()
    assert len({c.kind for c in sc.confounders}) >= 5


def test_llama3_is_coarse_and_full_size() -> None:
    sc = load_scenario("llama3-54d")
    assert sc.mode == "coarse"
    assert sc.n_nodes * sc.gpus_per_node == 16384
    assert sc.duration_s == 54 * 86400


def test_user_file_with_ranges(tmp_path: Path) -> None:
    p = tmp_path / "mine.yaml"
    p.write_text("name: mine\ncluster: {nodes: 4}\nduration_min: 10\n"
                 "faults:\n  - {kind: host_straggler, onset_min: [1, 2],"
                 " magnitude: {slowdown: [1.3, 1.4]}}\n")
    sc = load_scenario(str(p))
    assert sc.faults[0].onset_s == (60.0, 120.0)
    assert sc.faults[0].magnitude["slowdown"] == (1.3, 1.4)


@pytest.mark.parametrize(("text", "words"), [
    ("cluster: {nodes: 4}\nfaults:\n  - {kind: gpu_melted}\n", "faults[0].kind"),
    ("cluster: {nodes: 4}\nfaults:\n  - {kind: gpu_failed, onset_min: [5, 1]}\n", "onset_min"),
    ("cluster: {nodes: 4, colour: blue}\n", "colour"),
    ("cluster: {nodes: 4}\njobs:\n  - {name: a, nodes: two}\n", "jobs[0].nodes"),
    ("cluster: [1, 2\n", "not valid YAML"),
    ("cluster: {nodes: 4}\nmode: turbo\n", "mode"),
])
def test_bad_files_name_the_problem(tmp_path: Path, text: str, words: str) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(InputError, match=r"bad\.yaml") as info:
        load_scenario(str(p))
    assert words in str(info.value)


def test_unknown_name_lists_builtins() -> None:
    with pytest.raises(InputError, match="mixed"):
        load_scenario("no-such-scenario")


def test_scenario_on_a_topology_file(tmp_path: Path) -> None:
    from brownout.sim import run_scenario
    from brownout.topology import write_topology
    from brownout.topology.generate import generate_topology

    write_topology(generate_topology(3, layout="rail", name="mine"), tmp_path / "topo.yaml")
    p = tmp_path / "s.yaml"
    p.write_text("cluster: {topology: topo.yaml}\nduration_min: 3\n"
                 "jobs: [{name: j, nodes: 2}]\nfaults: [{kind: nic_degraded, onset_min: 1}]\n")
    r = run_scenario(load_scenario(str(p)), seed=2)
    assert r.topology.name == "mine" and r.topology.n_nodes == 3
    assert r.truth[0].component.split("/")[0] in {"n0001", "n0002"}
