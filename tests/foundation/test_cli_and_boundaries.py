"""CLI error contract and the import boundaries of the core."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from brownout.cli.main import main
from brownout.topology.generate import generate_topology
from brownout.topology.loader import write_topology

from .conftest import om_line


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "t.yaml"
    bad.write_text("version: 1\nname: x\nnodes: []\nswitches: []\n")
    code = main(["ingest", "--topology", str(bad), "--metrics", str(tmp_path),
                 "--store", str(tmp_path / "s.db"), "--name", "r"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "t.yaml: nodes: must be a non-empty list" in err
    assert "Traceback" not in err


def test_unknown_flag_is_exit_2(capsys) -> None:
    assert main(["ingest", "--bogus"]) == 2
    assert "no such option" in capsys.readouterr().err.lower()


def test_ingest_then_reread(tmp_path: Path, capsys) -> None:
    topo = generate_topology(2)
    write_topology(topo, tmp_path / "t.yaml")
    rec = tmp_path / "m"
    rec.mkdir()
    (rec / "a.om").write_text(om_line("DCGM_FI_DEV_GPU_TEMP", "n0001", 0, "41", "1") +
                              om_line("DCGM_FI_DEV_GPU_TEMP", "n0009", 0, "41", "1") + "# EOF\n")
    code = main(["ingest", "--topology", str(tmp_path / "t.yaml"), "--metrics", str(rec),
                 "--store", str(tmp_path / "s.db"), "--name", "r"])
    out = capsys.readouterr()
    assert code == 0 and "stored 1 samples" in out.out
    assert "1 node(s) not in the topology, ignored: n0009" in out.err


def test_core_does_not_import_edge_dependencies() -> None:
    code = ("import sys, brownout.topology, brownout.telemetry.frame, brownout.telemetry.parse, "
            "brownout.telemetry.steps, brownout.findings\n"
            "import importlib.util\n"
            "for mod in ('brownout.detect', 'brownout.policy', 'brownout.recovery'):\n"
            "    if importlib.util.find_spec(mod):\n"
            "        __import__(mod)\n"
            "bad = [m for m in ('httpx', 'fastapi', 'starlette', 'kubernetes', 'pynvml', 'dask',"
            " 'distributed', 'duckdb') if m in sys.modules]\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""
