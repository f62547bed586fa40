"""Serve the app with uvicorn: in the foreground (CLI) or in a thread (tests, benchmarks)."""

from __future__ import annotations

import ipaddress
import threading
import time
from typing import Any

import uvicorn

from brownout.errors import InputError
from brownout.service.app import Backend, create_app
from brownout.service.intake import StepIntake

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str) -> list[str] | None:
    """``Host`` headers to accept: loopback names when bound to loopback (DNS-rebinding guard)."""
    if is_loopback(host):
        return ["127.0.0.1", "localhost", "[::1]", "::1"]
    return None


class HttpServer:
    """uvicorn around one ASGI app; access log off (nothing about requests is logged).

    Args:
        app: the ASGI app.
        host: address to bind.
        port: TCP port (0 picks a free one).
    """

    def __init__(self, app: Any, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
        self.host, self.port = host, port
        config = uvicorn.Config(app, host=host, port=port, access_log=False,
                                log_level="warning", lifespan="off", timeout_keep_alive=30)
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def bound_port(self) -> int:
        """The port actually bound (after start)."""
        for srv in getattr(self.server, "servers", []):
            for sock in srv.sockets:
                return int(sock.getsockname()[1])
        return self.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.bound_port}/"

    def run(self) -> None:
        """Serve in this thread until interrupted (Ctrl-C) or :meth:`stop`."""
        self.server.run()

    def start(self, timeout_s: float = 15.0) -> str:
        """Serve in a background thread; returns the URL once listening.

        Raises:
            InputError: the server could not bind (port in use) in time.
        """
        self._thread = threading.Thread(target=self.server.run, name="brownout-http",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise InputError(f"cannot serve on {self.host}:{self.port}"
                                 " (is the port in use?)")
            time.sleep(0.02)
        return self.url

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10.0)


def service(backend: Backend, token: str, host: str = DEFAULT_HOST,
            port: int = DEFAULT_PORT, *, intake: StepIntake | None = None,
            ingest_token: str | None = None) -> HttpServer:
    """The brownout app served on ``host:port``: reads open and ``Host`` checked on loopback.

    Args:
        backend: the controller runner.
        token: bearer token for mutating requests.
        host: address to bind (loopback unless told otherwise).
        port: TCP port (0 picks a free one).
        intake: the step intake behind ``POST /api/steps`` (None: no such route).
        ingest_token: the token that may only push steps.
    """
    app = create_app(backend, token, allowed_hosts=allowed_hosts(host),
                     open_reads=is_loopback(host), intake=intake, ingest_token=ingest_token)
    return HttpServer(app, host, port)
