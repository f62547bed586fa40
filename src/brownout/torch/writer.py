"""Buffered, append-only JSON Lines writer for the step-time log (spec/telemetry.md §4).

Lines are kept in memory and written every ``flush_every`` records, at
:meth:`StepLogWriter.close` and at interpreter exit. Each flush is one
``write(2)`` of whole lines on a file opened with ``O_APPEND``, so several
ranks may share one file on a local filesystem without tearing lines; one
file per rank (a ``{rank}`` placeholder in the path) is the safe choice on
network filesystems.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
from pathlib import Path
from typing import Any


class StepLogWriter:
    """Appends step records to a JSON Lines file.

    Args:
        path: the log file; created with its directory if absent.
        flush_every: records kept in memory between writes.
    """

    def __init__(self, path: str | Path, flush_every: int = 50) -> None:
        if flush_every < 1:
            raise ValueError("flush_every must be at least 1")
        self.path = Path(path)
        self.flush_every = flush_every
        self.written = 0
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        atexit.register(self.close)

    def write(self, record: dict[str, Any]) -> None:
        """Queue one record; writes when ``flush_every`` are queued."""
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock:
            self._lines.append(line)
            full = len(self._lines) >= self.flush_every
        if full:
            self.flush()

    def flush(self) -> None:
        """Write every queued record now (one append of whole lines)."""
        with self._lock:
            if not self._lines or self._fd is None:
                return
            data = "".join(self._lines).encode()
            self._lines.clear()
            view = memoryview(data)
            while view:  # a regular file takes it in one go; loop for safety
                view = view[os.write(self._fd, view):]
            self.written += data.count(b"\n")

    def close(self) -> None:
        """Flush and close (safe to call twice; also runs at exit)."""
        self.flush()
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        atexit.unregister(self.close)
