"""One worker thread owns the controller; everyone else reads snapshots.

The controller (engine, policy, SQLite journal, simulator) is not
thread-safe, so exactly one thread ever calls it: :class:`ControllerRunner`.
It ticks on a schedule and, between ticks, runs the commands that HTTP
handlers queue (approve, reject), answering each through a
:class:`~concurrent.futures.Future`. Readers get the latest immutable
:class:`~brownout.views.model.ControllerState` without taking any lock.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from brownout.clock import Clock
from brownout.service.facade import ControllerFacade
from brownout.views.model import ControllerState

log = logging.getLogger("brownout.service")


@dataclass(frozen=True)
class ScaledClock:
    """A clock that runs ``speed`` times faster than ``base`` from ``start_s`` on.

    Args:
        base: the real clock.
        start_s: the scaled clock's time at ``base_start_s``.
        base_start_s: the base clock's time when scaling began.
        speed: scaled seconds per base second.
    """

    base: Clock
    start_s: float
    base_start_s: float
    speed: float = 1.0

    def now(self) -> float:
        return self.start_s + (self.base.now() - self.base_start_s) * self.speed


Command = Callable[[ControllerFacade], Any]


class ControllerRunner:
    """Runs a controller in its own thread.

    Args:
        factory: builds the controller (called in the worker thread, so that
            thread-bound resources such as SQLite connections belong to it).
        clock: the controller clock; each tick advances the controller to ``clock.now()``.
        interval_s: wall seconds between ticks.
        on_tick: optional callback with each new snapshot (terminal progress).
    """

    def __init__(self, factory: Callable[[], ControllerFacade], clock: Clock,
                 interval_s: float = 1.0,
                 on_tick: Callable[[ControllerState], None] | None = None) -> None:
        self.clock = clock
        self.interval_s = interval_s
        self.on_tick = on_tick
        self._factory = factory
        self._commands: queue.Queue[tuple[Command, Future[Any]] | None] = queue.Queue()
        self._ctl: ControllerFacade | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self.tick_errors = 0
        self._thread = threading.Thread(target=self._run, name="brownout-controller",
                                        daemon=True)

    # lifecycle ---------------------------------------------------------------
    def start(self, timeout_s: float = 60.0) -> None:
        """Start the worker and wait until the controller is built.

        Raises:
            BaseException: whatever the factory raised.
            TimeoutError: the controller was not ready in time.
        """
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError("the controller did not start in time")
        if self._error is not None:
            raise self._error

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop ticking and close the controller."""
        self._stop.set()
        self._commands.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    # reading and commanding --------------------------------------------------
    def state(self) -> ControllerState:
        """The latest snapshot."""
        ctl = self._ctl
        if ctl is None:
            raise RuntimeError("the controller has not started")
        return ctl.state()

    def submit(self, command: Command) -> Future[Any]:
        """Run ``command(controller)`` in the worker thread; its result comes in the future."""
        fut: Future[Any] = Future()
        if self._stop.is_set():
            fut.set_exception(RuntimeError("the controller is stopping"))
        else:
            self._commands.put((command, fut))
        return fut

    def approve(self, key: str) -> Future[str]:
        return self.submit(lambda c: c.approve(key, self.clock.now()))

    def reject(self, key: str) -> Future[str]:
        return self.submit(lambda c: c.reject(key, self.clock.now()))

    # the worker ----------------------------------------------------------------
    def _run(self) -> None:
        try:
            ctl = self._factory()
            self._ctl = ctl
        except BaseException as exc:  # handed to start()'s caller
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop(ctl)
        finally:
            ctl.close()

    def _loop(self, ctl: ControllerFacade) -> None:
        next_tick = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() >= next_tick:  # ticks first: commands never starve them
                self._tick(ctl)
                next_tick = max(next_tick + self.interval_s, time.monotonic())
            try:
                item = self._commands.get(timeout=max(0.0, next_tick - time.monotonic()))
            except queue.Empty:
                continue
            if item is None:
                break
            self._command(ctl, *item)

    def _command(self, ctl: ControllerFacade, command: Command, fut: Future[Any]) -> None:
        try:
            fut.set_result(command(ctl))
        except Exception as exc:  # the caller's error, returned through the future
            fut.set_exception(exc)

    def _tick(self, ctl: ControllerFacade) -> None:
        try:
            st = ctl.tick(self.clock.now())
        except Exception:
            self.tick_errors += 1
            log.exception("controller tick failed; will try again")
            return
        if self.on_tick is not None:
            self.on_tick(st)
