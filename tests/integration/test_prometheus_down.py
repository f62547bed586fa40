"""Prometheus down, failing or slow: one clear error line and exit 2, or retries and success."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from brownout.cli.main import main
from brownout.topology.generate import generate_topology
from brownout.topology.loader import write_topology

from .flaky import FlakyServer
from .prom import free_port

T0 = 1_764_000_000.0
ATTEMPTS = 4  # read_range's default
BACKOFF_S = 0.5 + 1.0 + 2.0  # at least the sleeps between the attempts


@pytest.fixture
def topo_path(tmp_path: Path) -> Path:
    path = tmp_path / "topology.yaml"
    write_topology(generate_topology(2), path)
    return path


def _args(topo: Path, url: str, out: Path) -> list[str]:
    return ["detect", "--topology", str(topo), "--prometheus", url, "--start", f"{T0:.0f}",
            "--end", "2025-11-24T16:30:00Z", "--out", str(out), "-q"]


def test_closed_port_exits_2_with_one_line(topo_path: Path, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    out = tmp_path / "f.json"
    t0 = time.monotonic()
    cmd = [sys.executable, "-c", "from brownout.cli.main import run; run()"]
    proc = subprocess.run([*cmd, *_args(topo_path, url, out)],
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert url in lines[0] and f"after {ATTEMPTS} attempts" in lines[0]
    assert time.monotonic() - t0 >= BACKOFF_S  # it backed off before giving up
    assert not out.exists()  # no partial findings file


def test_always_failing_server_is_retried_then_exit_2(
        topo_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = 503
    flaky = FlakyServer(status=status)
    try:
        code = main(_args(topo_path, flaky.url, tmp_path / "f.json"))
    finally:
        flaky.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"HTTP {status}" in err[0]
    assert flaky.requests == ATTEMPTS  # retried, and stopped: no hammering of a sick server
    assert not (tmp_path / "f.json").exists()


def test_slow_server_that_recovers_is_read(topo_path: Path, tmp_path: Path) -> None:
    flaky = FlakyServer(fail_first=ATTEMPTS - 1, status=429, delay_s=0.05)  # rate limited
    try:
        code = main(_args(topo_path, flaky.url, tmp_path / "f.json"))
    finally:
        flaky.close()
    assert code == 0 and (tmp_path / "f.json").exists()
    assert flaky.failed == ATTEMPTS - 1 and flaky.requests > ATTEMPTS  # retried, then went on
