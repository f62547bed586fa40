"""End to end: ``brownout watch --prometheus`` against a real Prometheus scraping the simulator.

``watch`` reads Prometheus on the wall clock, so here the simulated cluster
runs in real time (speed 1, samples stamped with simulated time = wall time)
and scrapes every 2 s. A GPU falls off the bus a few seconds in; the
controller, fed by PromQL alone, must name it within a bounded wait.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from brownout.sim.live import LiveCluster
from brownout.sim.scenario import scenario_from_dict
from brownout.topology.loader import write_topology

from .live_prom import anchored, free_base, prometheus_yaml, wait_for_scrapes
from .prom import PrometheusServer, free_port, needs_prometheus

INTERVAL_S = 2.0
WAIT_S = 75.0


def _config(path: Path, port: int) -> None:
    """Everything but the source URL and topology, which go on the command line."""
    path.write_text(
        f"source: {{interval_s: {INTERVAL_S}, delay_s: 2}}\n"
        "controller: {mode: dry-run, executor: dry-run, engine_tick_s: 2}\n"
        f"service: {{host: 127.0.0.1, port: {port}, state_dir: '{path.parent / 'state'}'}}\n")


def _findings(port: int) -> list[dict[str, object]]:
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/api/findings", timeout=2.0).json()
    except (httpx.HTTPError, ValueError):
        return []
    found = body.get("findings", [])
    return found if isinstance(found, list) else []


@needs_prometheus
@pytest.mark.slow
def test_watch_names_the_failed_gpu_from_prometheus(tmp_path: Path) -> None:
    sc = scenario_from_dict({
        "name": "prom-watch", "cluster": {"nodes": 2, "layout": "tor", "nodes_per_rack": 2},
        "duration_min": 3, "scrape_interval_s": INTERVAL_S, "tick_s": INTERVAL_S,
        "jobs": [{"name": "llm", "nodes": 2, "compute_s": 8.0, "allreduce_gb": 100}],
        "faults": [{"kind": "gpu_failed", "onset_min": [0.1, 0.15]}]})
    probe = LiveCluster(sc, speed=1.0)
    probe.port_base = free_base(probe.sim.topology.n_nodes + 1)
    (tmp_path / "tsdb").mkdir()
    server = PrometheusServer(tmp_path / "tsdb", prometheus_yaml(probe, INTERVAL_S))
    live = None
    watch = None
    log = (tmp_path / "watch.log").open("w")
    try:
        wait_for_scrapes(server.url, probe.sim.topology.n_nodes + 1)
        live = LiveCluster(anchored(sc, 1.0, time.time()), speed=1.0, timestamps=True)
        topo = tmp_path / "topology.yaml"
        write_topology(live.sim.topology, topo)
        live.start(probe.port_base)
        port = free_port()
        _config(tmp_path / "watch.yaml", port)
        watch = subprocess.Popen(
            [sys.executable, "-c", "from brownout.cli.main import run; run()", "watch",
             "--prometheus", server.url, "--topology", str(topo),
             "--config", str(tmp_path / "watch.yaml")], stdout=log, stderr=subprocess.STDOUT)
        truth = live.sim.truth()
        deadline = time.monotonic() + WAIT_S
        found: list[dict[str, object]] = []
        while time.monotonic() < deadline and watch.poll() is None:
            found = [f for f in _findings(port) if f.get("kind") == "gpu_failed"]
            if found:
                break
            time.sleep(1.0)
    finally:
        if watch is not None:
            watch.terminate()
            try:
                watch.wait(timeout=20)
            except subprocess.TimeoutExpired:
                watch.kill()
                watch.wait(timeout=20)
        if live is not None:
            live.stop()
        server.stop()
        log.close()
    assert len(truth) == 1
    assert found, (tmp_path / "watch.log").read_text()[-2000:]
    assert found[0]["component"] == truth[0].component
    onset = truth[0].onset
    assert onset <= float(found[0]["detected_at"]) <= onset + WAIT_S  # type: ignore[arg-type]
