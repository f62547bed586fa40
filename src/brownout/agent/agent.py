"""The node agent: collect on an interval, serve ``/metrics`` or push it.

:class:`NodeAgent` wires an :class:`~brownout.agent.nvml.NvmlReader` and an
optional :class:`~brownout.agent.xid.XidWatcher`; it collects every
``interval_s`` (as dcgm-exporter's collect interval) and keeps the latest
text, so a scrape never waits on NVML. :func:`make_server` serves it with the
standard library's threaded HTTP server; :func:`push_text` sends it to a URL
(a Prometheus Pushgateway or brownout's service) instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from brownout.agent.exposition import CONTENT_TYPE, HostSample, render
from brownout.agent.nvml import NvmlReader
from brownout.agent.xid import XidWatcher
from brownout.clock import Clock
from brownout.errors import SourceError


class NodeAgent:
    """Collects the host's GPU telemetry and keeps the latest ``/metrics`` text.

    Args:
        reader: an opened :class:`NvmlReader`.
        hostname: node name written in the ``Hostname`` label.
        clock: injected time.
        xid: a started :class:`XidWatcher`, or None to leave Xid out.
    """

    def __init__(self, reader: NvmlReader, hostname: str, clock: Clock,
                 xid: XidWatcher | None = None) -> None:
        self.reader = reader
        self.hostname = hostname
        self.clock = clock
        self.xid = xid
        self.collections = 0
        self.push_failures = 0
        self._lock = threading.Lock()
        self._text = ""
        self._sample: HostSample | None = None

    def collect(self) -> HostSample:
        """Read every GPU once; the result also becomes the served text."""
        values = self.reader.read()
        if self.xid is not None:
            last = self.xid.last_xid()
            for gpu, vals in zip(self.reader.gpus, values, strict=True):
                if gpu.uuid in last:
                    vals["DCGM_FI_DEV_XID_ERRORS"] = float(last[gpu.uuid])
        self.collections += 1
        errors = sum(self.reader.errors.values()) + (self.xid.errors if self.xid else 0)
        own = {"brownout_agent_collections_total": float(self.collections),
               "brownout_agent_nvml_errors_total": float(errors),
               "brownout_agent_push_failures_total": float(self.push_failures),
               "brownout_agent_last_collect_timestamp_seconds": self.clock.now()}
        sample = HostSample(self.clock.now(), self.hostname, self.reader.driver_version,
                            self.reader.gpus, values, own)
        text = render(sample)
        with self._lock:
            self._sample, self._text = sample, text
        return sample

    def text(self) -> str:
        """The latest ``/metrics`` text (collects first if nothing was collected yet)."""
        with self._lock:
            text = self._text
        return text or render(self.collect())

    def run(self, stop: threading.Event, interval_s: float,
            after: Callable[[str], None] | None = None) -> None:
        """Collect every ``interval_s`` until ``stop`` is set; ``after(text)`` each time."""
        while not stop.is_set():
            self.collect()
            if after is not None:
                after(self.text())
            stop.wait(interval_s)


def push_text(url: str, text: str, timeout_s: float = 10.0) -> None:
    """POST the text to ``url`` (Pushgateway: ``http://HOST:9091/metrics/job/brownout/instance/N``).

    Raises:
        SourceError: the receiver is unreachable or answers with an error status.
    """
    import httpx

    try:
        resp = httpx.post(url, content=text.encode(), timeout=timeout_s,
                          headers={"Content-Type": CONTENT_TYPE})
    except httpx.HTTPError as exc:
        raise SourceError(f"cannot push to {url}: {exc}") from exc
    if resp.status_code >= 300:
        raise SourceError(f"push to {url} answered {resp.status_code}: {resp.text[:200]}")


def pusher(agent: NodeAgent, url: str, warn: Callable[[str], None]) -> Callable[[str], None]:
    """An ``after`` callback for :meth:`NodeAgent.run` that pushes and never raises."""

    def push(text: str) -> None:
        try:
            push_text(url, text)
        except SourceError as exc:
            agent.push_failures += 1
            warn(str(exc))

    return push


def make_server(agent: NodeAgent, bind: str, port: int) -> ThreadingHTTPServer:
    """A threaded HTTP server answering ``GET /metrics`` with the agent's latest text."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, agent.text().encode(), CONTENT_TYPE)
            elif path in ("/", "/health"):
                self._answer(200, b"brownout agent: see /metrics\n", "text/plain")
            else:
                self._answer(404, b"not found\n", "text/plain")

        def _answer(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
            """Quiet: one line per scrape would flood the journal."""

    server = ThreadingHTTPServer((bind, port), Handler)
    server.daemon_threads = True
    return server
