"""A tiny local HTTP server that misbehaves like an overloaded Prometheus.

It answers the first ``fail_first`` requests with ``status`` (503 by
default, or every request when ``fail_first`` is None), delays every answer
by ``delay_s``, and otherwise forwards the request to ``upstream`` (a real
Prometheus) or answers an empty success. Loopback only; ``close()`` ends it.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

EMPTY = b'{"status":"success","data":{"resultType":"matrix","result":[]}}'


class FlakyServer:
    """Fails, then (optionally) proxies; counts every request it sees."""

    def __init__(self, upstream: str | None = None, *, fail_first: int | None = None,
                 status: int = 503, delay_s: float = 0.0) -> None:
        self.upstream, self.fail_first, self.status = upstream, fail_first, status
        self.delay_s = delay_s
        self.requests = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _should_fail(self) -> bool:
        with self._lock:
            self.requests += 1
            fail = self.fail_first is None or self.requests <= self.fail_first
            self.failed += int(fail)
            return fail

    def answer(self, path: str) -> tuple[int, bytes]:
        """Status and body for one GET of ``path``."""
        time.sleep(self.delay_s)
        if self._should_fail():
            return self.status, b"overloaded"
        if self.upstream is None:
            return 200, EMPTY
        resp = httpx.get(self.upstream + path, timeout=10.0)
        return resp.status_code, resp.content

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = outer.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
                return

        return Handler

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
