"""A JSON HTTP API on an ephemeral 127.0.0.1 port, for stand-ins of real APIs in tests.

The stand-in is any object with ``answer(request) -> (status, body)``; this
module only does the HTTP: it parses the request (method, path, query,
content type, JSON body), serves the answer as JSON (with ``Retry-After``
on a 429, as API servers send it), and runs the server in a thread for the
length of a ``with`` block.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlparse


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str
    body: Any


class Answers(Protocol):
    def answer(self, req: Request) -> tuple[int, Any]: ...


class _Handler(BaseHTTPRequestHandler):
    api: Answers

    def _serve(self) -> None:
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        req = Request(self.command, url.path, parse_qs(url.query),
                      self.headers.get("Content-Type", ""), json.loads(raw) if raw else None)
        status, body = self.api.answer(req)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 429:
            self.send_header("Retry-After", "10")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = _serve  # noqa: N815 - http.server dispatches on these names

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return


class JsonApiServer:
    """Context manager: ``api`` served on an ephemeral 127.0.0.1 port (``url``)."""

    def __init__(self, api: Answers) -> None:
        handler = type("Handler", (_Handler,), {"api": api})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)

    def __enter__(self) -> JsonApiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()
