"""``brownout watch --prometheus``: a Prometheus that goes down and comes back.

The live controller reads through the real PrometheusSource, whose HTTP calls
go to an in-memory fake Prometheus (httpx.MockTransport). While it answers
503 the controller keeps ticking and says the source is degraded; when it is
back, the samples of the outage are read too (nothing lost).
"""

from __future__ import annotations

import io
import math
from typing import Any

import httpx

from brownout.executors.dryrun import DryRunExecutor
from brownout.policy.config import PolicyConfig
from brownout.policy.journal import Journal
from brownout.service.feeds import SourceFeed
from brownout.service.live import LiveController
from brownout.service.metrics import render_metrics
from brownout.telemetry.series import SeriesRegistry
from brownout.telemetry.sources.prometheus import PrometheusSource
from brownout.topology.generate import generate_topology

T0 = 1_764_000_000.0


class FakePrometheus:
    """Answers query_range for DCGM_FI_DEV_GPU_TEMP of every GPU; other metrics empty."""

    def __init__(self, topo: Any) -> None:
        self.topo = topo
        self.down = False
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.down:
            return httpx.Response(503, text="unavailable")
        q = request.url.params
        if q["query"] != "DCGM_FI_DEV_GPU_TEMP":
            return httpx.Response(200, json={"status": "success", "data": {"result": []}})
        start, end, step = float(q["start"]), float(q["end"]), float(q["step"].rstrip("s"))
        n = round((end - start) / step) + 1
        grid = [start + k * step for k in range(n)]
        result = [{"metric": {"__name__": "DCGM_FI_DEV_GPU_TEMP", "gpu": str(g.local),
                              "Hostname": g.node},
                   "values": [[t, str(40 + g.local)] for t in grid]}
                  for g in self._gpus()]
        return httpx.Response(200, json={"status": "success",
                                         "data": {"resultType": "matrix", "result": result}})

    def _gpus(self) -> list[Any]:
        class G:
            def __init__(self, node: str, local: int) -> None:
                self.node, self.local = node, local
        return [G(n.name, i) for n in self.topo.nodes for i in range(n.gpus)]


def test_prometheus_outage_is_reported_and_nothing_is_lost() -> None:
    topo = generate_topology(2, gpus_per_node=4)
    prom = FakePrometheus(topo)
    source = PrometheusSource("http://prometheus.test:9090", SeriesRegistry(topo), T0,
                              step_s=15.0, retries=2, sleep=lambda s: None,
                              transport=httpx.MockTransport(prom))
    ctl = LiveController(topo, SourceFeed(source, "prometheus"),
                         DryRunExecutor(out=io.StringIO()), Journal(":memory:", "dry-run"),
                         PolicyConfig(), start_s=T0)
    try:
        ctl.tick(T0 + 30)
        first = ctl.state().health.samples_total
        assert first == topo.n_gpus * 3 and not ctl.state().health.degraded
        prom.down = True
        for k in range(2, 6):
            ctl.tick(T0 + 30 * k)
        h = ctl.state().health
        assert h.ticks == 5 and h.samples_total == first
        assert h.degraded and "prometheus" in h.degraded[0] and "503" in h.degraded[0]
        assert "brownout_source_degraded 1" in render_metrics(ctl.state())
        prom.down = False
        ctl.tick(T0 + 180)
        h = ctl.state().health
        assert not h.degraded
        assert h.samples_total == topo.n_gpus * (180 // 15 + 1)  # the outage's samples too
        temps = ctl.state().fleet.gpu_temp_c
        assert all(math.isfinite(t) for t in temps) and temps[1] == 41.0
    finally:
        ctl.close()
