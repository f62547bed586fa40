"""Faults of brownout's own environment: Prometheus down/slow/garbled, the disk full.

- Prometheus: a real HTTP server on 127.0.0.1 (the fake Prometheus of
  tests/service/test_prometheus_feed.py behind it) that is refused, slow past
  the client timeout, or answers garbage. The source gives up after bounded
  retries with one clear line, the live controller keeps ticking and says
  what is degraded (/api/health, /metrics), and once Prometheus is back the
  samples of the outage are read too. (503s: tests/service/test_prometheus_feed.py.)
- Disk full: a 1 MiB tmpfs (``mount -t tmpfs -o size=1m``, root only; the
  test is skipped otherwise) holds the store, the journal and the state dir.
- The controller killed -9 at random: tests/policy/test_kill.py (issue 5).
- Slurm controller down mid-batch: test_slurm_outage.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.service.test_prometheus_feed import FakePrometheus

from brownout.cli.main import main
from brownout.errors import SourceError
from brownout.executors.dryrun import DryRunExecutor
from brownout.policy.config import PolicyConfig
from brownout.policy.journal import Journal
from brownout.service import payloads
from brownout.service.feeds import SimulatorFeed, SourceFeed
from brownout.service.live import LiveController, LiveSettings
from brownout.service.metrics import render_metrics
from brownout.sim import Simulation
from brownout.sim.scenario import load_scenario
from brownout.telemetry.series import SeriesRegistry
from brownout.telemetry.sources.prometheus import PrometheusSource
from brownout.topology.generate import generate_topology

T0 = 1_764_000_000.0


class PromServer:
    """FakePrometheus on a real loopback port, with a mode: ok, slow, garbage, error."""

    def __init__(self, topo: Any, delay_s: float = 1.0) -> None:
        self.fake = FakePrometheus(topo)
        self.mode = "ok"
        self.delay_s = delay_s
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                if outer.mode == "slow":
                    time.sleep(outer.delay_s)
                body, status = outer.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the client gave up (timeout): fine
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str) -> tuple[bytes, int]:
        if self.mode == "garbage":
            return b"<html>proxy error</html>", 200
        if self.mode == "error":
            return json.dumps({"status": "error", "errorType": "bad_data",
                               "error": "query timed out"}).encode(), 422
        resp = self.fake(httpx.Request("GET", "http://x" + path))
        return resp.content, resp.status_code

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def prom() -> Iterator[PromServer]:
    srv = PromServer(generate_topology(2, gpus_per_node=4), delay_s=1.0)
    yield srv
    srv.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_prometheus_refused_fails_fast_with_one_line() -> None:
    topo = generate_topology(2, gpus_per_node=4)
    src = PrometheusSource(f"http://127.0.0.1:{_closed_port()}", SeriesRegistry(topo), T0,
                           retries=3, sleep=lambda s: None, timeout_s=2.0)
    t0 = time.monotonic()
    with pytest.raises(SourceError, match=r"unavailable after 3 attempts \(ConnectError"):
        src.fetch(T0 + 60)
    assert time.monotonic() - t0 < 5.0 and src.queries == 3
    src.close()


@pytest.mark.parametrize("mode", ["slow", "garbage", "error"])
def test_prometheus_bad_then_back_loses_nothing(prom: PromServer, mode: str) -> None:
    topo = prom.fake.topo
    src = PrometheusSource(prom.url, SeriesRegistry(topo), T0, step_s=15.0, retries=2,
                           timeout_s=0.3, sleep=lambda s: None)
    ctl = LiveController(topo, SourceFeed(src, "prometheus"), DryRunExecutor(out=io.StringIO()),
                         Journal(":memory:", "dry-run"), PolicyConfig(), start_s=T0)
    try:
        ctl.tick(T0 + 30)
        first = ctl.state().health.samples_total
        assert first == topo.n_gpus * 3
        prom.mode = mode
        t0 = time.monotonic()
        for k in (2, 3):
            ctl.tick(T0 + 30 * k)
        assert time.monotonic() - t0 < 2 * 2 * 0.3 + 3.0  # bounded: timeouts x retries
        h = payloads.health(ctl.state())
        assert h["status"] == "degraded" and h["ticks"] == 3
        assert any("prometheus" in d for d in h["degraded"])
        assert "brownout_source_degraded 1" in render_metrics(ctl.state())
        assert ctl.state().health.samples_total == first
        prom.mode = "ok"
        ctl.tick(T0 + 120)
        h = payloads.health(ctl.state())
        assert h["degraded"] == [] and h["status"] != "degraded"
        assert h["samples_total"] == topo.n_gpus * (120 // 15 + 1)  # the outage's too
    finally:
        ctl.close()


# ------------------------------------------------------------------ disk full
@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs filled to the last byte (root only); unmounted afterwards."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                       capture_output=True, text=True, timeout=10, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=10, check=False)


def _fill(mnt: Path) -> Path:
    filler = mnt / "filler"
    with filler.open("wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    try:
        with (mnt / "filler2").open("wb") as fh:  # the last partial page too
            fh.write(b"\0" * 4096)
            fh.flush()
    except OSError:
        pass
    return filler


def test_store_on_a_full_disk_is_one_clear_line_then_works(full_disk: Path,
                                                            capsys: pytest.CaptureFixture[str],
                                                            tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    sc = tmp_path / "s.yaml"
    sc.write_text("name: tiny\ndescription: tiny\nseed: 1\ncluster: {nodes: 4, layout: tor}\n"
                  "duration_min: 20\njobs:\n  - {name: llm, nodes: 4, compute_s: 6.0,"
                  " allreduce_gb: 10}\nfaults: []\nconfounders: []\n")
    assert main(["simulate", "--scenario", str(sc), "--out", str(rec), "--quiet"]) == 0
    store = full_disk / "b.duckdb"
    args = ["ingest", "--topology", str(rec / "topology.yaml"), "--metrics", str(rec / "metrics"),
            "--store", str(store), "--name", "r1"]
    filler = _fill(full_disk)
    capsys.readouterr()
    rc = main(args)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and "b.duckdb" in err and "space" in err.lower()
    assert "internal error" not in err
    filler.unlink()
    for p in full_disk.glob("b.duckdb*"):
        p.unlink()  # a half-created database file: remove it, as an operator would
    assert main(args) == 0
    from brownout.store import Store
    s = Store(store)
    assert [r["name"] for r in s.recordings()] == ["r1"] and s.recordings()[0]["n_samples"] > 0
    s.close()


SCENARIO = """\
name: disk-full
description: one GPU fails early on a small cluster
seed: {seed}
cluster: {{nodes: 4, layout: tor}}
duration_min: 12
jobs:
  - {{name: llm, nodes: 3, compute_s: 6.0, allreduce_gb: 10, checkpoint_every_steps: 50}}
faults:
  - {{kind: gpu_failed, onset_min: 3}}
confounders: []
"""


@pytest.mark.parametrize("seed", [5, 6])
def test_controller_on_a_full_disk_keeps_detecting_and_says_so(full_disk: Path, tmp_path: Path,
                                                               seed: int) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(seed=seed))
    sim = Simulation(load_scenario(str(path)), seed)
    topo = sim.topology
    state = full_disk / "state"
    journal = Journal(full_disk / "journal.sqlite", "dry-run")
    ctl = LiveController(topo, SimulatorFeed(sim, SeriesRegistry(topo)),
                         DryRunExecutor(out=io.StringIO()), journal,
                         PolicyConfig(approval_mode="off"), start_s=sim.now(),
                         settings=LiveSettings(state_dir=state))
    filler = _fill(full_disk)
    t = sim.now()
    try:
        while not ctl.state().findings and t < sim.now() + 12 * 60:
            t += 15
            ctl.tick(t)
        st = ctl.state()
        assert st.findings, "the fault was not found while the disk was full"
        degraded = " | ".join(st.health.degraded)
        assert "cannot write the journal" in degraded and "paused" in degraded
        assert st.actions == ()  # nothing acted on without a journal entry
        filler.unlink()
        for _ in range(3):
            t += 15
            ctl.tick(t)
        st = ctl.state()
        assert st.health.degraded == ()
        keys = [a.key for a in st.actions]
        assert keys and len(keys) == len(set(keys))
        assert {a.status for a in st.actions} <= {"dry_run", "pending", "awaiting_approval"}
        written = json.loads((state / "findings.json").read_text())
        assert {f["id"] for f in written["findings"]} >= {f.finding.id for f in st.findings
                                                          if f.finding.detected_at < t - 30}
    finally:
        ctl.close()
