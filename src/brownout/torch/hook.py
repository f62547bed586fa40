"""Time each training step of one rank: compute versus collectives.

::

    timer = StepTimer.for_rank("logs/steps-{rank}.jsonl", job="llm-70b")
    for step, batch in enumerate(loader):
        with timer.step(step):
            loss = model(batch).sum()
            loss.backward()
            with timer.comm():
                dist.all_reduce(grad_buffer)
            optimizer.step()

``comm_s`` is the time spent inside :meth:`StepTimer.comm` blocks plus, with
DDP, the time the rank was blocked waiting for its gradient all-reduce
(:func:`brownout.torch.ddp.timed_comm_hook`): waiting for slower peers
included. ``compute_s`` is the rest of the step. A slow rank therefore shows
a high ``compute_s`` while its peers show a high ``comm_s``
(spec/telemetry.md §4). The cost per step is two clock reads per block and
one dict appended to a buffer; nothing here touches the GPU or synchronises
CUDA (wrap the collective so that its wait is inside the block).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from brownout.clock import Clock, WallClock
from brownout.torch.identity import RankIdentity, identity_from_env, push_settings_from_env
from brownout.torch.writer import StepLogWriter


class RecordSink(Protocol):
    """Where a rank's step records go: the JSON Lines file or the controller."""

    def write(self, record: dict[str, Any]) -> None: ...

    def flush(self) -> Any: ...

    def close(self) -> None: ...


class StepTimer:
    """Writes one step-log line per training step of this rank.

    Args:
        writer: where records go (:class:`StepLogWriter` or
            :class:`~brownout.torch.pusher.StepPusher`).
        identity: job, rank, node, GPU (and optional stage, dp_rank).
        clock: wall time for ``ts`` (injected).
        timer: a monotonic clock for durations (``time.perf_counter``).
    """

    def __init__(self, writer: RecordSink, identity: RankIdentity,
                 clock: Clock | None = None,
                 timer: Callable[[], float] = time.perf_counter) -> None:
        self.writer = writer
        self.identity = identity
        self.clock: Clock = clock or WallClock()
        self.timer = timer
        self.steps = 0
        self._step: int | None = None
        self._t0 = 0.0
        self._comm_s = 0.0
        self._lock = threading.Lock()
        self._launch = -1.0  # DDP: last bucket launched this step
        self._done = -1.0  # DDP: last bucket finished this step

    @classmethod
    def for_rank(cls, path: str | Path, job: str | None = None, *, flush_every: int = 50,
                 node: str | None = None, environ: Mapping[str, str] | None = None
                 ) -> StepTimer:
        """A timer for this process, identity and destination from the environment.

        With ``BROWNOUT_URL`` set, records are pushed to that controller
        (:class:`~brownout.torch.pusher.StepPusher`); otherwise they are written
        to ``path``, where ``{rank}`` becomes the rank (one file per rank).
        """
        ident = identity_from_env(job, environ, node=node)
        push = push_settings_from_env(environ)
        if push is not None:
            from brownout.torch.pusher import StepPusher

            return cls(StepPusher(push), ident)
        return cls(StepLogWriter(str(path).format(rank=ident.rank), flush_every), ident)

    # -- step API ----------------------------------------------------------------------------
    def begin(self, step: int) -> None:
        """Start timing ``step`` (callback style; :meth:`step` is the context manager)."""
        self._step = int(step)
        with self._lock:
            self._comm_s, self._launch, self._done = 0.0, -1.0, -1.0
        self._t0 = self.timer()

    def end(self) -> dict[str, Any] | None:
        """Finish the step begun last and queue its record (None if none was begun)."""
        if self._step is None:
            return None
        total_s = self.timer() - self._t0
        with self._lock:
            comm_s = self._comm_s + max(0.0, self._done - self._launch)
        comm_s = min(comm_s, total_s)
        ident = self.identity
        record: dict[str, Any] = {
            "ts": round(self.clock.now(), 6), "job": ident.job, "step": self._step,
            "rank": ident.rank, "node": ident.node, "gpu": ident.gpu,
            "compute_s": round(total_s - comm_s, 6), "comm_s": round(comm_s, 6)}
        if ident.stage is not None:
            record["stage"] = ident.stage
        if ident.dp_rank is not None:
            record["dp_rank"] = ident.dp_rank
        self.writer.write(record)
        self._step = None
        self.steps += 1
        return record

    @contextmanager
    def step(self, step: int) -> Iterator[StepTimer]:
        """Time one training step; the record is written when the block exits normally."""
        self.begin(step)
        yield self
        self.end()

    @contextmanager
    def comm(self) -> Iterator[None]:
        """Count the enclosed time as collective time (waiting for peers included)."""
        t0 = self.timer()
        try:
            yield
        finally:
            self.add_comm_s(self.timer() - t0)

    def add_comm_s(self, seconds: float) -> None:
        """Add collective time measured elsewhere."""
        with self._lock:
            self._comm_s += max(0.0, seconds)

    # -- DDP comm hook support (brownout.torch.ddp) --------------------------------------------
    def bucket_launched(self) -> None:
        """A gradient bucket's all-reduce was launched (backward reached it)."""
        t = self.timer()
        with self._lock:
            self._launch = max(self._launch, t)

    def bucket_done(self) -> None:
        """A gradient bucket's all-reduce finished."""
        t = self.timer()
        with self._lock:
            self._done = max(self._done, t)

    def close(self) -> None:
        """Flush the log (also done at exit)."""
        self.writer.close()
