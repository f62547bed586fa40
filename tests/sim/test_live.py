"""Live mode: real HTTP endpoints in Prometheus text format."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from brownout.sim.live import LiveCluster

from .conftest import small


def _free_base(n: int) -> int:
    for base in range(20000, 60000, 97):
        socks = []
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
    raise RuntimeError("no free ports")


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as r:
        data: bytes = r.read()
    return data


def test_endpoints_serve_exporter_text_and_503_when_lost() -> None:
    sc = small([{"kind": "telemetry_loss", "components": ["n0002"], "onset_min": [0, 0]}],
               duration_min=10)
    live = LiveCluster(sc, seed=1, speed=1e6, sleep=lambda s: None)
    base = _free_base(live.sim.topology.n_nodes + 1)
    live.start(base)
    try:
        for _ in range(5):
            live.step()
        body = _get(f"http://127.0.0.1:{base}/metrics")
        fams = {f.name: f for f in text_string_to_metric_families(body.decode())}
        assert "DCGM_FI_DEV_GPU_TEMP" in fams
        temp = fams["DCGM_FI_DEV_GPU_TEMP"].samples[0]
        assert temp.labels["Hostname"] == "n0001" and temp.timestamp is None
        assert "node_infiniband_port_transmit_wait" in fams
        with pytest.raises(urllib.error.HTTPError) as info:
            _get(f"http://127.0.0.1:{base + 1}/metrics")
        assert info.value.code == 503
        info.value.close()
        fab = _get(f"http://127.0.0.1:{base + 6}/metrics")
        assert b"infiniband_switch_port_transmit_wait_total{" in fab
        assert f"127.0.0.1:{base}" in live.prometheus_config()
    finally:
        live.stop()
