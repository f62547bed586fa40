"""Recorded files backfilled into a real Prometheus read back identically."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from brownout.telemetry.frame import Frame
from brownout.telemetry.series import SeriesRegistry
from brownout.telemetry.sources.files import read_recording
from brownout.telemetry.sources.prometheus import PrometheusSource
from brownout.topology.generate import generate_topology

from .prom import PROMTOOL, PrometheusServer, needs_prometheus

T0 = 1_764_000_000.0
SCRAPES = 40
INTERVAL_S = 15.0


def _recording(path: Path, rng: np.random.Generator) -> None:
    lines = ["# TYPE DCGM_FI_DEV_GPU_TEMP gauge", "# TYPE DCGM_FI_DEV_POWER_USAGE gauge",
             "# TYPE node_infiniband_port_transmit_wait_total counter"]
    temp, power, wait = [], [], []
    for k in range(SCRAPES):
        for node in ("n0001", "n0002"):
            ts = T0 + k * INTERVAL_S + round(float(rng.uniform(0, 0.9)), 3)  # scrape jitter
            for g in range(8):
                lab = f'gpu="{g}",UUID="GPU-{node}-{g}",modelName="NVIDIA H100",Hostname="{node}"'
                temp.append(f"DCGM_FI_DEV_GPU_TEMP{{{lab}}} {40 + rng.integers(0, 30)} {ts:.3f}")
                power.append(f"DCGM_FI_DEV_POWER_USAGE{{{lab}}} {rng.uniform(80, 700):.3f} "
                             f"{ts:.3f}")
            wait.append(f'node_infiniband_port_transmit_wait_total{{device="mlx5_0",port="1",'
                        f'instance="{node}:9100"}} {k * 1000 + (k % 7)} {ts:.3f}')
    # OpenMetrics wants each family's samples together
    path.write_text("\n".join([lines[0], *temp, lines[1], *power, lines[2], *wait, "# EOF"])
                    + "\n")


def _rows(frame: Frame) -> set[tuple[int, int, float, float]]:
    tab = frame.table
    return {(int(tab.metric[s]), int(tab.component[s]), round(float(t), 3), float(v))
            for t, s, v in zip(frame.t_s, frame.series, frame.value, strict=True)}


@needs_prometheus
def test_backfilled_recording_reads_back_identically(tmp_path: Path) -> None:
    rec = tmp_path / "rec.om"
    _recording(rec, np.random.default_rng())
    data = tmp_path / "tsdb"
    assert PROMTOOL is not None
    subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(rec), str(data)],
                   check=True, capture_output=True, timeout=120)
    topo = generate_topology(2)
    from_files, problems = read_recording([rec], SeriesRegistry(topo))
    assert problems.malformed_count == 0 and len(from_files) == SCRAPES * 2 * 17
    server = PrometheusServer(data, "global: {}\n")
    try:
        src = PrometheusSource(server.url, SeriesRegistry(topo), T0, step_s=INTERVAL_S,
                               chunk_s=120.0, raw=True)
        from_prom = src.fetch(T0 + SCRAPES * INTERVAL_S)
        src.close()
    finally:
        server.stop()
    assert _rows(from_prom) == _rows(from_files)
    grid_points = SCRAPES + 1
    chunks = int(np.ceil(grid_points / (120.0 / INTERVAL_S)))
    assert src.queries == len(src.families) * chunks  # per family per chunk, not per series
