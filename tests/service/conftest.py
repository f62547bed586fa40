"""Fixtures of the service tests: a fake controller behind a real runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from brownout.clock import ManualClock
from brownout.service.fake import FakeController
from brownout.service.runner import ControllerRunner
from brownout.topology.generate import generate_topology

START_S = 1_764_000_000.0


@pytest.fixture
def fake() -> FakeController:
    return FakeController(generate_topology(8, nodes_per_rack=4, racks_per_cooling=1),
                          start_s=START_S)


@pytest.fixture
def runner(fake: FakeController) -> Iterator[ControllerRunner]:
    r = ControllerRunner(lambda: fake, ManualClock(START_S), interval_s=0.05)
    r.start()
    yield r
    r.stop()


TOKEN = "t0ken-for-tests-only-0123456789abcdef"


@pytest.fixture
def serve() -> Iterator[Callable[..., httpx.Client]]:
    """Serve an app on a real uvicorn on 127.0.0.1 (free port); an httpx client to it."""
    from brownout.service.server import HttpServer

    servers: list[HttpServer] = []
    clients: list[httpx.Client] = []

    def start(app: Any) -> httpx.Client:
        srv = HttpServer(app, "127.0.0.1", 0)
        url = srv.start()
        servers.append(srv)
        clients.append(httpx.Client(base_url=url.rstrip("/"), timeout=10.0))
        return clients[-1]

    yield start
    for c in clients:
        c.close()
    for srv in servers:
        srv.stop()


@pytest.fixture
def client(runner: ControllerRunner, serve: Callable[..., httpx.Client]) -> httpx.Client:
    from brownout.service.app import create_app

    return serve(create_app(runner, TOKEN))
