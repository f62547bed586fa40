"""``brownout import-topology`` end to end (files in, topology file out)."""

from __future__ import annotations

from pathlib import Path

import pytest

from brownout.cli.main import main
from brownout.topology.loader import load_topology

FIX = Path(__file__).parent.parent / "fixtures"


def test_slurm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "t.yaml"
    code = main(["import-topology", "--from", "slurm",
                 "--topology-conf", str(FIX / "scontrol" / "topology_23.11_gpu.conf"),
                 "--scontrol-nodes", str(FIX / "scontrol" / "scontrol_show_nodes_23.11_gpu.txt"),
                 "--rack-feature", "rack", "--out", str(out), "--name", "hpc"])
    cap = capsys.readouterr()
    assert code == 0
    assert "wrote" in cap.out and "9 nodes, 64 GPUs" in cap.out
    assert "cpu001" in cap.err and "gpu009" in cap.err
    topo = load_topology(out)
    assert topo.name == "hpc" and topo.n_gpus == 64


def test_k8s(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "t.yaml"
    code = main(["import-topology", "--from", "k8s", "--out", str(out),
                 "--nodes-json", str(FIX / "k8s_nodes" / "nodes_topograph_onprem.json"),
                 "--cooling-label", "example.com/cdu"])
    assert code == 0
    topo = load_topology(out)
    assert {n.cooling for n in topo.nodes} == {"cdu-a", "cdu-b"}
    assert "cpu-worker-01" in capsys.readouterr().err


def test_crux(tmp_path: Path) -> None:
    csv = tmp_path / "topo.csv"
    csv.write_text("ip,DSW,PSW,ASW\n" + "".join(
        f"{i:02x}{'ab' * 31},d1,p{i % 2},a{i % 4}\n" for i in range(1, 9)))
    out = tmp_path / "t.yaml"
    assert main(["import-topology", "--from", "crux", "--csv", str(csv), "--gpus", "4",
                 "--out", str(out)]) == 0
    assert load_topology(out).n_gpus == 32


@pytest.mark.parametrize(("args", "needs"), [
    (["--from", "slurm"], "--topology-conf"),
    (["--from", "k8s"], "--nodes-json"),
    (["--from", "crux"], "--csv"),
])
def test_missing_input_flag_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      args: list[str], needs: str) -> None:
    out = tmp_path / "t.yaml"
    assert main(["import-topology", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert needs in err and err.count("\n") == 1
    assert not out.exists()


def test_bad_file_is_exit_2_and_nothing_written(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "nodes.txt"
    bad.write_text("NodeName=a Gres=gpu:h100:x:y\n")
    out = tmp_path / "t.yaml"
    code = main(["import-topology", "--from", "slurm", "--out", str(out),
                 "--topology-conf", str(FIX / "scontrol" / "topology_22.05_real.conf"),
                 "--scontrol-nodes", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and f"{bad}:1:" in err and "Traceback" not in err
    assert not out.exists()
