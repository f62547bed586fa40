"""Live sources: exporter scrapes and the Prometheus HTTP API (httpx transports)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import httpx
import numpy as np
import pytest

from brownout.clock import ManualClock
from brownout.errors import SourceError
from brownout.telemetry.metrics import metric_id
from brownout.telemetry.sources.prometheus import PrometheusSource
from brownout.telemetry.sources.scrape import ScrapeSource

from .conftest import om_line


def _exporter(body_by_host: dict[str, str]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host not in body_by_host:
            return httpx.Response(503, text="exporter down")
        return httpx.Response(200, text=body_by_host[host])
    return httpx.MockTransport(handle)


def test_scrape_stamps_untimed_samples_with_the_injected_clock(registry) -> None:
    body = om_line("DCGM_FI_DEV_GPU_TEMP", "n0001", 0, "55", "").replace(" \n", "\n")
    clock = ManualClock(1_700_000_000.0)
    src = ScrapeSource(["http://n0001:9400/metrics", "http://n0002:9400/metrics"], registry,
                       clock, transport=_exporter({"n0001": body}))
    frame = src.fetch(clock.now())
    assert frame.t_s.tolist() == [1_700_000_000.0] and frame.value.tolist() == [55.0]
    assert "http://n0002:9400/metrics" in src.last_errors  # one target down is not fatal
    src.close()


def test_scrape_all_targets_down_is_a_clear_error(registry) -> None:
    src = ScrapeSource(["http://n0001:9400/metrics"], registry, ManualClock(1.0),
                       transport=_exporter({}))
    with pytest.raises(SourceError, match=r"every scrape target failed.*503"):
        src.fetch(1.0)
    src.close()


class FakePrometheus:
    """Answers query_range like Prometheus: a matrix per family, values as strings."""

    def __init__(self, fail_first: int = 0) -> None:
        self.calls: list[dict[str, list[str]]] = []
        self.fail_first = fail_first

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/query_range"
        q = parse_qs(request.url.query.decode())
        self.calls.append(q)
        if len(self.calls) <= self.fail_first:
            return httpx.Response(503, text="overloaded")
        start, end, step = float(q["start"][0]), float(q["end"][0]), float(q["step"][0].rstrip("s"))
        grid = np.arange(start, end + step / 2, step)
        result = []
        if q["query"][0] == "DCGM_FI_DEV_GPU_TEMP":
            for gpu in range(2):
                values = [[float(t), "NaN" if t == grid[0] and gpu else str(40 + gpu)]
                          for t in grid]
                result.append({"metric": {"__name__": "DCGM_FI_DEV_GPU_TEMP", "gpu": str(gpu),
                                          "Hostname": "n0003", "job": "dcgm"},
                               "values": values})
        body = {"status": "success", "data": {"resultType": "matrix", "result": result}}
        return httpx.Response(200, text=json.dumps(body))


def test_prometheus_one_query_per_family_per_chunk(registry) -> None:
    fake = FakePrometheus()
    src = PrometheusSource("http://prom:9090", registry, 1000.0, step_s=15, chunk_s=300,
                           families=("DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE"),
                           transport=httpx.MockTransport(fake), sleep=lambda _s: None)
    frame = src.fetch(1000.0 + 899)
    assert len(fake.calls) == 3 * 2  # 900 s in 300 s chunks, two families
    t, _, v = frame.metric(metric_id("DCGM_FI_DEV_GPU_TEMP"))
    assert np.all(np.diff(np.unique(t)) == 15) and t.min() == 1000.0 and t.max() <= 1899
    assert src.problems.dropped_nonfinite == 3  # the fake answers NaN once per chunk
    assert set(v.tolist()) == {40.0, 41.0}
    assert len(np.unique(t)) == 60  # no point read twice across chunk borders
    again = src.fetch(1000.0 + 899)
    assert len(again) == 0


def test_prometheus_retries_then_reports_down(registry) -> None:
    fake = FakePrometheus(fail_first=2)
    slept: list[float] = []
    src = PrometheusSource("http://prom:9090", registry, 0.0, step_s=15, chunk_s=60,
                           families=("DCGM_FI_DEV_GPU_TEMP",), retries=3,
                           transport=httpx.MockTransport(fake), sleep=slept.append)
    assert len(src.fetch(45.0)) == 8 - 1  # recovered after two 503s; one NaN dropped
    assert slept == [0.5, 1.0]

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    down = PrometheusSource("http://127.0.0.1:1", registry, 0.0, retries=2,
                            families=("DCGM_FI_DEV_GPU_TEMP",),
                            transport=httpx.MockTransport(refuse), sleep=lambda _s: None)
    with pytest.raises(SourceError, match=r"127\.0\.0\.1:1 is unavailable after 2 attempts"):
        down.fetch(100.0)


def test_prometheus_failure_mid_fetch_loses_nothing(registry) -> None:
    fake = FakePrometheus()
    down = {"on": False}

    def handle(request: httpx.Request) -> httpx.Response:
        start = float(parse_qs(request.url.query.decode())["start"][0])
        if down["on"] and start > 1000.0:  # the second chunk onwards fails
            return httpx.Response(503, text="down")
        return fake(request)

    src = PrometheusSource("http://prom:9090", registry, 1000.0, step_s=15, chunk_s=300,
                           families=("DCGM_FI_DEV_GPU_TEMP",), retries=2,
                           transport=httpx.MockTransport(handle), sleep=lambda _s: None)
    down["on"] = True
    with pytest.raises(SourceError):
        src.fetch(1000.0 + 899)
    down["on"] = False
    frame = src.fetch(1000.0 + 899)
    t, _, _ = frame.metric(metric_id("DCGM_FI_DEV_GPU_TEMP"))
    assert t.min() == 1000.0 and len(np.unique(t)) == 60  # the first chunk is read again


def test_prometheus_chunks_read_before_a_failure_are_kept_not_read_again(registry) -> None:
    fake = FakePrometheus()
    down = {"on": True}

    def handle(request: httpx.Request) -> httpx.Response:
        start = float(parse_qs(request.url.query.decode())["start"][0])
        if down["on"] and start > 1300.0:  # the third chunk fails
            return httpx.Response(503, text="down")
        return fake(request)

    src = PrometheusSource("http://prom:9090", registry, 1000.0, step_s=15, chunk_s=300,
                           families=("DCGM_FI_DEV_GPU_TEMP",), retries=2,
                           transport=httpx.MockTransport(handle), sleep=lambda _s: None)
    with pytest.raises(SourceError):
        src.fetch(1000.0 + 899)
    down["on"] = False
    frame = src.fetch(1000.0 + 899)
    t, _, _ = frame.metric(metric_id("DCGM_FI_DEV_GPU_TEMP"))
    starts = [float(q["start"][0]) for q in fake.calls]
    assert starts.count(1000.0) == 1 and starts.count(1300.0) == 1  # kept, not asked again
    assert len(t) == 2 * 60 - 3 and len(np.unique(t)) == 60  # every point once (3 NaN dropped)
    assert len(src.fetch(1000.0 + 899)) == 0
