"""The service fixtures (fake controller, runner, real uvicorn on loopback), shared."""

from tests.service.conftest import client, fake, runner, serve

__all__ = ["client", "fake", "runner", "serve"]
