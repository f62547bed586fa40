"""Step logs, the DuckDB store and counter rates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from brownout.errors import InputError, ParseError
from brownout.findings import Finding
from brownout.store import Store
from brownout.telemetry.frame import Frame
from brownout.telemetry.problems import Problems
from brownout.telemetry.series import SeriesRegistry
from brownout.telemetry.sources.files import read_recording
from brownout.telemetry.steps import read_steps

from .conftest import om_line


def _row(**kw) -> str:
    base = {"ts": 1764000012.84, "job": "llm", "step": 1, "rank": 0, "node": "n0001", "gpu": 0,
            "compute_s": 9.1, "comm_s": 0.9}
    base.update(kw)
    return json.dumps(base) + "\n"


def test_step_log_columns_order_and_bad_lines(tmp_path: Path, topo) -> None:
    path = tmp_path / "steps.jsonl"
    path.write_text(_row(ts=20.0, rank=1) + _row(ts=10.0, stage=2, extra="ignored")
                    + "{not json\n" + _row(compute_s=-1) + _row(node="n0042", ts=30.0)
                    + _row(ts=float("nan")).replace("NaN", "NaN") + "\n")
    problems = Problems()
    steps = read_steps(path, topo, problems)
    assert steps.ts.tolist() == [10.0, 20.0, 30.0]
    assert steps.stage.tolist() == [2, -1, -1]
    assert steps.node.tolist() == [0, 0, -1]
    assert steps.jobs == ("llm",)
    assert problems.malformed_count == 3
    assert problems.malformed_lines[0].startswith(f"{path}:3: not valid JSON")
    assert dict(problems.unknown_nodes) == {"n0042": 1}
    with pytest.raises(ParseError, match=r"steps\.jsonl:3"):
        read_steps(path, topo, strict=True)


def test_store_round_trip_and_rekey(tmp_path: Path, topo) -> None:
    rec = tmp_path / "r.om"
    rec.write_text("".join(om_line("DCGM_FI_DEV_POWER_USAGE", f"n000{1 + i % 4}", i % 8,
                                   str(300 + i), str(1_700_000_000 + i)) for i in range(50))
                   + "# EOF\n")
    frame, problems = read_recording([rec], SeriesRegistry(topo))
    store = Store(tmp_path / "db.duckdb")
    store.save_recording("r1", topo.name, frame, problems.as_dict())
    store.close()
    store = Store(tmp_path / "db.duckdb")  # survives reopening
    assert store.recordings()[0]["n_samples"] == 50
    again = store.load_recording("r1")
    assert np.array_equal(again.value, frame.value) and np.array_equal(again.t_s, frame.t_s)
    other = SeriesRegistry(topo)
    other.id_for("DCGM_FI_DEV_GPU_TEMP", {"Hostname": "n0004", "gpu": "7"})  # shifts the ids
    rekeyed = store.load_recording("r1", other)
    assert np.array_equal(rekeyed.value, frame.value)
    assert not np.array_equal(rekeyed.series, frame.series)
    with pytest.raises(InputError, match="no recording named 'zz'"):
        store.load_recording("zz")


def test_store_failed_import_leaves_nothing(tmp_path: Path, topo) -> None:
    store = Store(tmp_path / "db.duckdb")
    broken = Frame(np.zeros(2), np.zeros(3, np.int32), np.zeros(2),
                   SeriesRegistry(topo).table())  # ragged columns: the insert fails
    with pytest.raises(Exception):  # noqa: B017 - any DuckDB/numpy error will do
        store.save_recording("bad", topo.name, broken)
    assert store.recordings() == []


def test_store_findings_lifecycle(tmp_path: Path) -> None:
    store = Store()
    f = Finding("f-1", "gpu_degraded", "n0001/gpu3", "gpu", 10.0, 70.0, 0.9, "major", "slow")
    store.upsert_finding(f)
    store.upsert_finding(f, resolved_at=500.0)
    assert store.findings("gpu_degraded") == [f]


def test_detect_counts_and_reports_counter_resets(tmp_path: Path, topo, capsys) -> None:
    from brownout.cli.main import main
    from brownout.topology.loader import write_topology

    lines = "".join(
        f'node_infiniband_port_transmit_wait_total{{device="mlx5_0",port="1",'
        f'instance="n0001:9100"}} {v} {1_700_000_000 + 30 * i}\n'
        for i, v in enumerate([10, 20, 30, 2, 12, 40, 1]))  # two resets
    gauge = om_line("DCGM_FI_DEV_GPU_TEMP", "n0001", 0, "40", "1700000000") + om_line(
        "DCGM_FI_DEV_GPU_TEMP", "n0001", 0, "30", "1700000030")  # a gauge going down is fine
    (tmp_path / "r.om").write_text(lines + gauge + "# EOF\n")
    write_topology(topo, tmp_path / "t.yaml")
    code = main(["detect", "--topology", str(tmp_path / "t.yaml"), "--metrics",
                 str(tmp_path / "r.om"), "--out", str(tmp_path / "f.json"), "--quiet"])
    assert code == 0
    assert "2 counter resets" in capsys.readouterr().err
    notices = json.loads((tmp_path / "f.json").read_text())["notices"]
    assert [n["evidence"]["counter_resets"] for n in notices
            if n["kind"] == "exporter_restart"] == [2]


def test_findings_with_nan_evidence_are_written_as_null(tmp_path: Path) -> None:
    from brownout.findings import FindingsFile, read_findings, write_findings

    f = Finding("f-1", "gpu_degraded", "n0001/gpu3", "gpu", 10.0, 70.0, 0.9, "major", "slow",
                {"peer_clock_mhz": float("nan"), "series": [1.0, float("inf")],
                 "n": np.float64(2.5)})
    write_findings(FindingsFile("c", (f,)), tmp_path / "f.json")
    back = read_findings(tmp_path / "f.json").findings[0]
    assert back.evidence == {"peer_clock_mhz": None, "series": [1.0, None], "n": 2.5}
