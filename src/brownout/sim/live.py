"""Live mode: per-node ``/metrics`` endpoints a real Prometheus can scrape.

:class:`LiveCluster` advances a :class:`~brownout.sim.engine.Simulation` in
accelerated (``speed`` > 1) or real time in a background thread and serves, on
127.0.0.1, one endpoint per node (port ``port_base + i`` for node *i*, in
topology order) with that node's dcgm-exporter and node_exporter series in the
Prometheus text format 0.0.4 those exporters serve, and one more endpoint
(``port_base + n_nodes``) with the switch ports of infiniband_exporter. A node
whose telemetry is lost answers 503, so Prometheus marks the scrape failed and
its series go stale, exactly as with a dead exporter. Only the standard
library's threaded ``http.server`` is used.

Example::

    live = LiveCluster(load_scenario("mixed"), seed=1, speed=30.0)
    live.start(port_base=9400)      # returns; ``serve`` blocks instead
    print(live.prometheus_config())  # scrape_configs for prometheus.yml
    ...
    live.stop()

Series of a node carry ``Hostname`` (GPU side); for the NIC side, the config
sets each target's ``instance`` label to ``<node>:9100`` as a real deployment's
relabelling does, so brownout keys them to the right node.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from brownout.sim.engine import Simulation
from brownout.sim.openmetrics import value_strings
from brownout.sim.recording import GPU_METRICS, NIC_METRICS, PORT_METRICS
from brownout.sim.scenario import Scenario
from brownout.sim.snapshot import scrape
from brownout.telemetry.metrics import BY_NAME

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _block(name: str, labels: list[str], values: np.ndarray[Any, Any], stamp: str = ""
           ) -> list[str]:
    """One family in Prometheus text 0.0.4 (no timestamps, as exporters serve it).

    ``stamp`` (" <unix ms>", or "") is appended to every sample when the
    cluster serves simulated-time timestamps.
    """
    keep = ~np.isnan(values)
    if not keep.any():
        return []
    out = [f"# TYPE {name} {BY_NAME[name].kind}"]
    vals = value_strings(name, values[keep])
    out += [f"{name}{{{lab}}} {v}{stamp}" for lab, v in
            zip([lab for lab, k in zip(labels, keep.tolist(), strict=True) if k], vals,
                strict=True)]
    return out


class LiveCluster:
    """A simulated cluster served over HTTP while it runs.

    Args:
        scenario: what to simulate (fine mode).
        seed: overrides the scenario's seed.
        speed: simulated seconds per wall second (1.0 = real time).
        sleep: how to wait between ticks (injected for tests).
        timestamps: stamp every sample with the simulated time (unix ms), so a
            Prometheus scraping an accelerated cluster stores the samples at
            simulated instants instead of its own wall-clock scrape times
            (Prometheus honours exposition timestamps by default). Anchor the
            scenario's ``start_s`` within the last hour of wall time, or
            Prometheus rejects the samples as too old.
    """

    def __init__(self, scenario: Scenario, seed: int | None = None, speed: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep, timestamps: bool = False) -> None:
        self.sim = Simulation(scenario, seed)
        self.timestamps = timestamps
        self.speed = max(speed, 1e-6)
        self.lock = threading.Lock()
        self._sleep = sleep
        self._stop = threading.Event()
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []
        topo = self.sim.topology
        self._nic_labels = [f'device="{topo.nic_device[k]}",port="1"'
                            for k in range(topo.n_nics)]
        self.port_base = 0

    # ---------------------------------------------------------------- content
    def render_node(self, node: int) -> str | None:
        """Current exposition of one node, or None if its telemetry is lost."""
        with self.lock:
            sim = self.sim
            if sim.effects.node_silent[node]:
                return None
            gpu, nic, _ = scrape(sim, sim.effects.node_silent)
            stamp = self._stamp()
        topo = sim.topology
        gsl = slice(int(topo.gpu_offset[node]), int(topo.gpu_offset[node + 1]))
        nics = np.flatnonzero(topo.nic_node == node)
        lines: list[str] = []
        for m in GPU_METRICS:
            lines += _block(m, list(sim.labels.gpu_text[gsl]), gpu[m][gsl], stamp)
        for m in NIC_METRICS:
            lines += _block(m, [self._nic_labels[k] for k in nics], nic[m][nics], stamp)
        return "\n".join(lines) + "\n"

    def render_fabric(self) -> str:
        """Current exposition of every switch port."""
        with self.lock:
            _, _, port = scrape(self.sim, self.sim.effects.node_silent)
            stamp = self._stamp()
        lines: list[str] = []
        for m in PORT_METRICS:
            lines += _block(m, list(self.sim.labels.port_text), port[m], stamp)
        return "\n".join(lines) + "\n"

    def _stamp(self) -> str:
        """The sample-timestamp suffix: a space and simulated unix ms, or empty (under the lock)."""
        return f" {round(self.sim.now() * 1000)}" if self.timestamps else ""

    # ---------------------------------------------------------------- running
    def step(self) -> None:
        """Advance the simulation by one tick (thread-safe)."""
        with self.lock:
            if not self.sim.done():
                self.sim.tick()

    def _loop(self) -> None:
        while not self._stop.is_set() and not self.sim.done():
            self.step()
            self._sleep(self.sim.dt_s / self.speed)

    def start(self, port_base: int = 9400) -> None:
        """Open the endpoints and start the clock; returns at once."""
        self.sim.record = False
        self.port_base = port_base
        n = self.sim.topology.n_nodes
        for i in range(n + 1):
            render = functools.partial(self.render_node, i) if i < n else self.render_fabric
            server = ThreadingHTTPServer(("127.0.0.1", port_base + i), _handler(render))
            server.daemon_threads = True
            self._servers.append(server)
            self._spawn(server.serve_forever)
        self._spawn(self._loop)

    def _spawn(self, target: Callable[[], None]) -> None:
        t = threading.Thread(target=target, daemon=True)
        t.start()
        self._threads.append(t)

    def serve(self, port_base: int = 9400) -> None:
        """Open the endpoints and run until the scenario ends or :meth:`stop`."""
        self.start(port_base)
        self.wait()

    def wait(self) -> None:
        """Block until the scenario ends or :meth:`stop` is called."""
        while not self._stop.is_set() and not self.sim.done():
            self._stop.wait(0.5)

    def stop(self) -> None:
        """Stop the clock and close every endpoint."""
        self._stop.set()
        for s in self._servers:
            s.shutdown()
            s.server_close()
        self._servers.clear()

    def prometheus_config(self, interval_s: float = 30.0) -> str:
        """``scrape_configs`` for prometheus.yml covering every endpoint."""
        topo = self.sim.topology
        every = f"{max(round(interval_s / self.speed * 1000), 1)}ms"  # "0.5s" is no duration
        out = ["scrape_configs:", "  - job_name: brownout-sim-nodes",
               f"    scrape_interval: {every}", "    static_configs:"]
        for i, node in enumerate(topo.nodes):
            out += [f"      - targets: ['127.0.0.1:{self.port_base + i}']",
                    f"        labels: {{instance: '{node.name}:9100'}}"]
        out += ["  - job_name: brownout-sim-fabric",
                f"    scrape_interval: {every}", "    static_configs:",
                f"      - targets: ['127.0.0.1:{self.port_base + topo.n_nodes}']"]
        return "\n".join(out) + "\n"


def _handler(render: Callable[[], str | None]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = render()
            if body is None:
                self.send_error(503, "exporter unavailable")
                return
            data = body.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                return  # the scraper gave up (its scrape timeout): not our error

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            return

    return Handler
