"""Run the service in the foreground: controller thread, HTTP server, terminal progress.

Shared by ``brownout watch`` and ``brownout demo``: start the runner, serve the
app, print the URL (the token rides in the URL's fragment, which browsers
never send to a server, so it appears in no log), show progress, and stop
cleanly on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from brownout.service.runner import ControllerRunner
from brownout.service.server import is_loopback, service
from brownout.service.wiring import Plan
from brownout.views.model import ControllerState


@dataclass(frozen=True)
class RunOptions:
    """How to serve.

    Attributes:
        host, port: where to listen (port 0 picks a free one).
        token: the API token.
        open_browser: open the dashboard in the default browser.
        total_s: length of a finite run (a scenario), for the progress bar; None if endless.
        label: what the progress bar says.
        ingest_token: the token that may only push steps (``POST /api/steps``).
    """

    host: str
    port: int
    token: str
    open_browser: bool = False
    total_s: float | None = None
    label: str = "controller"
    ingest_token: str | None = None


def _summary(st: ControllerState) -> str:
    open_f = sum(1 for f in st.findings if f.open)
    waiting = sum(1 for a in st.actions if a.status == "awaiting_approval")
    breaker = "[red]OPEN[/]" if st.breaker.open else "closed"
    return (f"findings {open_f} open / {len(st.findings)}  actions {len(st.actions)}"
            f" ({waiting} awaiting approval)  breaker {breaker}")


def serve_forever(plan: Plan, opts: RunOptions, console: Console | None = None,
                  stop: threading.Event | None = None) -> int:
    """Serve until interrupted; returns the exit code (0).

    Args:
        plan: the controller to build and tick.
        opts: where and how to serve.
        console: where progress goes (stderr by default).
        stop: set it to stop (tests); SIGINT and SIGTERM set it too.
    """
    console = console or Console(stderr=True)
    stop = stop or threading.Event()
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                        TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                        console=console, transient=False)
    task = progress.add_task(opts.label, total=opts.total_s, info="starting…")
    start_s: list[float] = []

    def on_tick(st: ControllerState) -> None:
        if not start_s:
            start_s.append(st.health.started_s)
        done = st.health.now_s - start_s[0]
        progress.update(task, completed=done if opts.total_s else None, info=_summary(st))

    runner = ControllerRunner(plan.factory, plan.clock, plan.interval_s, on_tick)
    runner.start()
    server = service(runner, opts.token, opts.host, opts.port, intake=plan.intake,
                     ingest_token=opts.ingest_token)
    try:
        url = server.start()
        _announce(console, url, opts)
        with progress:
            _wait(stop)
    finally:
        server.stop()
        runner.stop()
    console.print("brownout: stopped")
    return 0


def _announce(console: Console, url: str, opts: RunOptions) -> None:
    console.print(f"[bold green]dashboard:[/] {url}#token={opts.token}", soft_wrap=True,
                  highlight=False)
    console.print(f"API: {url}api/  (OpenAPI: {url}openapi.json)  metrics: {url}metrics",
                  highlight=False)
    if not is_loopback(opts.host):
        console.print(f"[yellow]warning:[/] listening on {opts.host}, not loopback: every"
                      " request needs the token", highlight=False)
    if opts.open_browser and _has_display():
        threading.Thread(target=webbrowser.open, args=(f"{url}#token={opts.token}",),
                         daemon=True).start()


def _has_display() -> bool:
    """False on a headless Linux host (no X11 or Wayland): opening a browser would fail."""
    if not sys.platform.startswith("linux"):
        return True
    env = os.environ  # read once, here: whether a graphical session exists
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def _wait(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[signal.Signals, Callable[..., object] | int | None] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
    try:
        while not stop.wait(0.25):
            pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
