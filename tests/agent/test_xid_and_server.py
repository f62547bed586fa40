"""Xid watcher thread, the /metrics server and push, on the fake NVML."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import pytest

from brownout.agent.agent import NodeAgent, make_server, push_text, pusher
from brownout.agent.fake import FakeNvml, h100_node
from brownout.agent.nvml import NvmlReader
from brownout.agent.xid import XidWatcher
from brownout.clock import ManualClock
from brownout.errors import SourceError

from .helpers import read_back


def _wait_for(cond: Any, timeout_s: float = 5.0) -> None:
    end = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture
def node() -> Iterator[tuple[FakeNvml, NodeAgent, XidWatcher]]:
    gpus = h100_node(4)
    gpus[2].unsupported = {"nvmlDeviceRegisterEvents"}
    nv = FakeNvml(gpus)
    reader = NvmlReader(nv)
    reader.open()
    clock = ManualClock(1_764_000_000.0)
    xid = XidWatcher(nv, reader.handles, clock, wait_ms=20)
    xid.start()
    yield nv, NodeAgent(reader, "n0001", clock, xid), xid
    xid.stop()
    reader.close()


def test_last_xid_per_gpu(node: tuple[FakeNvml, NodeAgent, XidWatcher]) -> None:
    nv, agent, xid = node
    got = read_back(agent.collect() and agent.text(), gpus=4)
    assert {g for (m, g) in got if m == "DCGM_FI_DEV_XID_ERRORS"} == {0, 1, 3}  # gpu2: no events
    assert all(v == 0 for (m, _), v in got.items() if m == "DCGM_FI_DEV_XID_ERRORS")
    nv.inject_xid(3, 48)
    nv.inject_xid(3, 79)
    nv.inject_xid(1, 13)
    _wait_for(lambda: len(xid.events) == 3)
    got = read_back(agent.collect() and agent.text(), gpus=4)
    assert got[("DCGM_FI_DEV_XID_ERRORS", 3)] == 79  # the last one, not a count
    assert got[("DCGM_FI_DEV_XID_ERRORS", 1)] == 13
    assert got[("DCGM_FI_DEV_XID_ERRORS", 0)] == 0
    assert xid.events[0].t_s == 1_764_000_000.0  # injected clock


def test_stop_is_prompt_and_frees_the_set(node: tuple[FakeNvml, NodeAgent, XidWatcher]) -> None:
    nv, _, xid = node
    t0 = time.monotonic()
    xid.stop()
    assert time.monotonic() - t0 < 1.0
    assert nv.freed_sets == 1


def test_metrics_endpoint(node: tuple[FakeNvml, NodeAgent, XidWatcher]) -> None:
    _, agent, _ = node
    server = make_server(agent, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with httpx.Client(timeout=5) as client:
            resp = client.get(f"{base}/metrics")
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
            assert read_back(resp.text, gpus=4)[("DCGM_FI_DEV_GPU_TEMP", 3)] == 36
            assert client.get(f"{base}/other").status_code == 404
    finally:
        server.shutdown()
        server.server_close()


def test_run_loop_collects_until_stopped(node: tuple[FakeNvml, NodeAgent, XidWatcher]) -> None:
    _, agent, _ = node
    stop = threading.Event()
    seen: list[str] = []
    loop = threading.Thread(target=agent.run, args=(stop, 0.01, seen.append), daemon=True)
    loop.start()
    _wait_for(lambda: len(seen) >= 3)
    stop.set()
    loop.join(timeout=2)
    assert not loop.is_alive()
    assert agent.collections >= 3


class _Sink(BaseHTTPRequestHandler):
    bodies: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Sink.bodies.append((self.headers["Content-Type"], body))
        self.send_response(200 if "fail" not in self.path else 500)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        pass


def test_push(node: tuple[FakeNvml, NodeAgent, XidWatcher]) -> None:
    _, agent, _ = node
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{sink.server_address[1]}/metrics/job/brownout/instance/n0001"
    try:
        push_text(url, agent.text())
        ctype, body = _Sink.bodies[-1]
        assert ctype.startswith("text/plain; version=0.0.4")
        assert read_back(body.decode(), gpus=4)[("DCGM_FI_DEV_SM_CLOCK", 0)] == 1980
        with pytest.raises(SourceError, match="answered 500"):
            push_text(url + "/fail", "x 1\n")
        warnings: list[str] = []
        push = pusher(agent, url + "/fail", warnings.append)
        push("x 1\n")  # never raises: counted and warned
        assert agent.push_failures == 1 and "answered 500" in warnings[0]
    finally:
        sink.shutdown()
        sink.server_close()
    with pytest.raises(SourceError, match="cannot push"):
        push_text(url, "x 1\n", timeout_s=1)
