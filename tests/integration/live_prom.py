"""A simulated cluster scraped by a real Prometheus, then read back through brownout.

The time problem, solved with exposition timestamps: the live cluster runs
``speed`` times faster than wall time and stamps every sample with its
simulated time (:class:`LiveCluster` ``timestamps=True``); Prometheus honours
them. The scenario's clock is anchored so that it ends about when the wall
clock does (``start_s = wall_now + wall_s - duration_s``): every sample lies in
the recent past, inside the hour the head block accepts, and simulated seconds
are real unix seconds in Prometheus. The scrape interval is the scenario's
(30 s simulated) divided by ``speed``, so Prometheus keeps about one sample per
simulated scrape, as the recorded files do; truth and findings then share one
time axis and score directly.

Every wait is bounded in time; only 127.0.0.1 is used.
"""

from __future__ import annotations

import dataclasses
import math
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from brownout.findings import TruthFault
from brownout.sim.live import LiveCluster
from brownout.sim.scenario import Scenario
from brownout.topology.loader import write_topology

from .prom import PrometheusServer

MAX_LAG_S = 3000.0  # Prometheus' head takes samples up to 1 h older than its newest


@dataclass(frozen=True)
class LiveRun:
    """What a live run left behind: where to query, over which range, and the truth."""

    url: str
    scenario: Scenario
    topology_path: Path
    start_s: float
    end_s: float
    truth: list[TruthFault]
    wall_s: float
    ticks: int


def free_base(n: int, tries: int = 50) -> int:
    """A port p with p..p+n-1 all free on 127.0.0.1 (bounded tries)."""
    for k in range(tries):
        base = 20000 + (k * 977 + int(time.monotonic_ns() // 1000) % 30000) % 38000
        socks: list[socket.socket] = []
        try:
            for i in range(n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", base + i))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no run of free ports on 127.0.0.1")


def anchored(scenario: Scenario, speed: float, now_s: float, max_lag_s: float = MAX_LAG_S
             ) -> Scenario:
    """``scenario`` with its clock ending about when a run at ``speed`` started now ends."""
    wall_s = scenario.duration_s / speed
    lag_s = scenario.duration_s - wall_s
    if lag_s > max_lag_s:
        raise ValueError(f"{scenario.name}: {scenario.duration_s:.0f} s at {speed:g}x starts "
                         f"{lag_s:.0f} s in the past; Prometheus would reject it as too old")
    return dataclasses.replace(scenario,
                               start_s=float(math.floor(now_s + wall_s - scenario.duration_s)))


def wait_for_scrapes(url: str, n_targets: int, timeout_s: float = 30.0) -> None:
    """Block until Prometheus has tried every target once (its discovery waits ~5 s)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        active = httpx.get(f"{url}/api/v1/targets", timeout=2.0).json()["data"]["activeTargets"]
        tried = [t for t in active if not t["lastScrape"].startswith("0001-")]
        if len(active) == n_targets and len(tried) == n_targets:
            return
        time.sleep(0.2)
    raise RuntimeError(f"Prometheus at {url} did not scrape its {n_targets} targets in time")


def prometheus_yaml(live: LiveCluster, interval_s: float, ooo_window_s: float = 0.0) -> str:
    """The live cluster's scrape configs, with a timeout that fits the short interval.

    ``ooo_window_s`` > 0 lets Prometheus take samples that much older than its
    newest (``out_of_order_time_window``), for scenarios longer than an hour.
    """
    timeout_ms = max(round(interval_s / live.speed * 1000), 1)  # may equal the interval
    storage = (f"storage:\n  tsdb:\n    out_of_order_time_window: {ooo_window_s:.0f}s\n"
               if ooo_window_s > 0 else "")
    return (f"global:\n  scrape_timeout: {timeout_ms}ms\n{storage}"
            + live.prometheus_config(interval_s))


def run_live(scenario: Scenario, seed: int, speed: float, tmp: Path,
             slack_s: float = 30.0, ooo_window_s: float = 0.0
             ) -> tuple[LiveRun, PrometheusServer]:
    """Run ``scenario`` live under a fresh Prometheus until it ends; return both.

    The caller stops the returned server. Raises RuntimeError if the run takes
    more than ``slack_s`` beyond its nominal wall time. ``ooo_window_s`` admits
    scenarios whose first samples lie more than ``MAX_LAG_S`` in the past.
    """
    max_lag_s = max(MAX_LAG_S, ooo_window_s - 600.0)
    anchored(scenario, speed, time.time(), max_lag_s)  # too long a scenario fails here
    probe = LiveCluster(scenario, seed, speed)  # only for its scrape configs
    base = free_base(probe.sim.topology.n_nodes + 1)
    probe.port_base = base
    (tmp / "tsdb").mkdir()
    server = PrometheusServer(tmp / "tsdb", prometheus_yaml(probe, scenario.scrape_interval_s,
                                                            ooo_window_s))
    try:
        wait_for_scrapes(server.url, probe.sim.topology.n_nodes + 1)
    except Exception:
        server.stop()
        raise
    sc = anchored(scenario, speed, time.time(), max_lag_s)  # Prometheus scrapes: clock starts
    live = LiveCluster(sc, seed, speed, timestamps=True)
    topo_path = tmp / "topology.yaml"
    write_topology(live.sim.topology, topo_path)
    try:
        live.start(base)
    except OSError:
        server.stop()
        raise
    t0 = time.monotonic()
    deadline = t0 + sc.duration_s / speed + slack_s
    try:
        while not live.sim.done():
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"live run of {sc.name} overran its {slack_s:.0f} s slack")
            time.sleep(0.2)
        time.sleep(3 * sc.scrape_interval_s / speed + 0.5)  # the last scrapes land
    finally:
        live.stop()
    return LiveRun(server.url, sc, topo_path, sc.start_s, live.sim.end_s, live.sim.truth(),
                   time.monotonic() - t0, live.sim.ticks), server
