"""``brownout agent``: the NVML node agent (dcgm-exporter-compatible ``/metrics``).

Serves ``http://BIND:PORT/metrics`` (default 127.0.0.1:9400, dcgm-exporter's
port), or with ``--push URL`` POSTs the text every interval, or with
``--once`` prints one collection and exits. Without nvidia-ml-py, a driver or
a GPU it prints one line and exits 2.
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import click

from brownout.errors import InputError


def _warn(message: str) -> None:
    click.echo(f"brownout: warning: {message}", err=True)


@click.command("agent")
@click.option("--port", default=9400, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the /metrics endpoint.")
@click.option("--bind", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 for Prometheus on another host).")
@click.option("--interval", "interval_s", default=15.0, show_default=True,
              type=click.FloatRange(min=0.1), help="Seconds between collections.")
@click.option("--push", "push_url", default=None,
              help="POST the metrics text to this URL every interval instead of serving.")
@click.option("--hostname", default=None,
              help="Node name for the Hostname label (default: this host's name; must "
                   "match the topology).")
@click.option("--once", is_flag=True, help="Collect once, print the /metrics text, exit.")
@click.option("--no-xid", is_flag=True, help="Do not watch Xid events.")
def command(port: int, bind: str, interval_s: float, push_url: str | None,  # noqa: PLR0917
            hostname: str | None, once: bool, no_xid: bool) -> int:
    """Read the GPUs through NVML and serve dcgm-exporter-compatible /metrics."""
    from brownout.agent import load_nvml
    from brownout.agent.agent import NodeAgent
    from brownout.agent.nvml import NvmlReader
    from brownout.agent.xid import XidWatcher
    from brownout.clock import WallClock

    if once and push_url:
        raise InputError("--once and --push exclude each other")
    reader = NvmlReader(load_nvml())
    reader.open()
    clock = WallClock()
    xid = None if once or no_xid else XidWatcher(reader.nvml, reader.handles, clock)
    agent = NodeAgent(reader, hostname or socket.gethostname(), clock, xid)
    try:
        if once:
            agent.collect()
            click.echo(agent.text(), nl=False)
            return 0
        if xid is not None:
            xid.start()
        return _serve(agent, bind, port, interval_s, push_url)
    finally:
        if xid is not None:
            xid.stop()
        reader.close()


@contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """Ctrl-C and SIGTERM (systemd, Kubernetes) both stop the agent cleanly, even when
    its parent started it with SIGINT ignored (Python then leaves it ignored)."""
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _serve(agent: object, bind: str, port: int, interval_s: float,
           push_url: str | None) -> int:
    from brownout.agent.agent import NodeAgent, make_server, pusher

    assert isinstance(agent, NodeAgent)
    stop = threading.Event()
    if push_url:
        click.echo(f"brownout agent: {len(agent.reader.gpus)} GPU(s), pushing to {push_url} "
                   f"every {interval_s:g} s", err=True)
        try:
            with _stopped_by_signals():
                agent.run(stop, interval_s, pusher(agent, push_url, _warn))
        except KeyboardInterrupt:
            stop.set()
        return 0
    try:
        server = make_server(agent, bind, port)
    except OSError as exc:
        raise InputError(f"cannot listen on {bind}:{port} ({exc.strerror or exc})") from exc
    loop = threading.Thread(target=agent.run, args=(stop, interval_s), daemon=True)
    loop.start()
    click.echo(f"brownout agent: {len(agent.reader.gpus)} GPU(s), serving "
               f"http://{bind}:{server.server_address[1]}/metrics", err=True)
    try:
        with _stopped_by_signals():
            server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
        loop.join(timeout=interval_s + 5)
    return 0
