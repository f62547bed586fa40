"""Written files follow the real formats: strict OpenMetrics check, real parsers."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from brownout.findings import read_truth
from brownout.sim import run_scenario
from brownout.telemetry.metrics import BY_NAME
from brownout.telemetry.series import SeriesRegistry
from brownout.telemetry.sources.files import read_recording
from brownout.telemetry.steps import read_steps
from brownout.topology import load_topology

from .conftest import small

SAMPLE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_]\w*="[^"\\\n]*",?)*)\} '
                    r"(-?\d+(?:\.\d+)?) (\d+\.\d{3})\Z")


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    sc = small([{"kind": "telemetry_loss", "onset_min": [5, 6], "duration_min": [3, 4]},
                {"kind": "gpu_failed", "variant": "xid79", "onset_min": [8, 10]}],
               [{"kind": "exporter_restarts", "at_min": [12, 14]}], duration_min=15)
    run_scenario(sc, seed=4, out_dir=out, compress=False)
    return out


def _strict_check(text: str) -> int:
    """OpenMetrics rules the backfiller relies on; returns the number of samples."""
    lines = text.split("\n")
    assert lines[-1] == "" and lines[-2] == "# EOF"
    families: set[str] = set()
    current, om_type, last = "", "", {}
    samples = 0
    for line in lines[:-2]:
        if line.startswith("# TYPE "):
            _, _, name, om_type = line.split(" ")
            assert name not in families, f"family {name} interleaved"
            families.add(name)
            current, last = name, {}
            continue
        assert not line.startswith("#"), line
        m = SAMPLE.match(line)
        assert m, line
        name = m.group(1)
        assert name == (current + "_total" if om_type == "counter" else current)
        assert BY_NAME[name]
        series = m.group(2)
        ts = float(m.group(4))
        assert ts > last.get(series, 0.0), f"time goes back in {line}"
        last[series] = ts
        samples += 1
    return samples


def test_every_file_passes_the_strict_check_and_the_reference_parser(out_dir: Path) -> None:
    files = sorted((out_dir / "metrics").iterdir())
    assert len(files) == 6 + 1
    for f in files:
        text = f.read_text()
        assert _strict_check(text) > 0
        fams = list(text_string_to_metric_families(text))
        assert fams


def test_dcgm_and_node_exporter_labels(out_dir: Path) -> None:
    text = (out_dir / "metrics" / "n0002.om").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("DCGM_FI_DEV_GPU_TEMP{"))
    keys = re.findall(r'(\w+)="', line)
    assert keys == ["gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname",
                    "DCGM_FI_DRIVER_VERSION"]
    nic = next(ln for ln in text.splitlines() if ln.startswith("node_infiniband_state_id{"))
    assert 'instance="n0002:9100"' in nic and 'device="mlx5_' in nic and 'port="1"' in nic
    fab = (out_dir / "metrics" / "fabric.om").read_text()
    assert re.search(r'guid="0x[0-9a-f]{16}",port="\d+",switch="leaf01"', fab)


def test_the_project_reader_takes_it_strictly(out_dir: Path) -> None:
    topo = load_topology(out_dir / "topology.yaml")
    reg = SeriesRegistry(topo)
    frame, problems = read_recording([out_dir / "metrics"], reg, strict=True)
    assert len(frame) > 0
    assert not problems.unknown_nodes and not problems.malformed_count
    steps = read_steps(out_dir / "steps.jsonl", topo, strict=True)
    assert len(steps) > 0 and (steps.node >= 0).all()
    truth = read_truth(out_dir / "truth.jsonl")
    assert {t.kind for t in truth} == {"telemetry_loss", "gpu_failed"}
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["step_records"] == len(steps)


def test_in_memory_frame_matches_the_files(out_dir: Path, tmp_path: Path) -> None:
    sc = small(duration_min=5)
    res = run_scenario(sc, seed=9, out_dir=tmp_path)
    reg = SeriesRegistry(res.topology)
    mem = res.frame(reg)
    disk, _ = read_recording([tmp_path / "metrics"], reg, strict=True)
    assert len(mem) == len(disk)
    assert (mem.t_s == disk.t_s).all() or sorted(mem.t_s) == sorted(disk.t_s)
    assert abs(mem.value.sum() - disk.value.sum()) <= 1e-6 * abs(disk.value.sum())


def test_gzip_is_the_default(tmp_path: Path) -> None:
    run_scenario(small(duration_min=2), seed=1, out_dir=tmp_path)
    f = tmp_path / "metrics" / "n0001.om.gz"
    assert gzip.decompress(f.read_bytes()).endswith(b"# EOF\n")
