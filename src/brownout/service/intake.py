"""The step intake: pushed and tailed step records into the live controller (telemetry.md §5).

:class:`StepIntake` sits between the producers (HTTP handlers of
``POST /api/steps``, the ``--steps-dir`` follower) and the one controller
thread. A batch is parsed and checked outside any lock
(:func:`~brownout.telemetry.step_lines.parse_step_lines`), then, under the
lock, its records are deduplicated and queued all together, or, when the
queue has no room for them, not at all (:class:`IntakeFullError`, ``429`` for a
push): a batch is never half-applied. The controller drains the queue on each
tick. Counters (accepted, rejected by reason, duplicates, refused batches,
drops reported by clients) and the queue's depth and lag are read by
``/metrics``.

Thread-safe; no web framework here.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from brownout.errors import BrownoutError
from brownout.service.dedupe import SeenKeys, record_keys
from brownout.telemetry.step_lines import (
    REASONS,
    LineError,
    ParsedLines,
    concat_records,
    parse_step_lines,
)
from brownout.telemetry.steps import StepRecords

MAX_BODY_BYTES = 8 << 20  # spec/telemetry.md §5
DEFAULT_CAPACITY_RECORDS = 1_000_000


class IntakeFullError(BrownoutError):
    """The intake queue has no room for a batch: nothing of it was taken; retry later.

    Args:
        retry_after_s: when to try again.
    """

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(f"the step intake is full; retry in {retry_after_s:g} s")


@dataclass(frozen=True)
class IntakeAnswer:
    """What became of one batch.

    Attributes:
        accepted: lines taken (``duplicates`` of them were already known and count once).
        rejected: lines refused.
        duplicates: accepted lines whose record had been taken before.
        errors: the first refused lines with line number and reason.
    """

    accepted: int
    rejected: int
    duplicates: int = 0
    errors: tuple[LineError, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "rejected": self.rejected,
                "duplicates": self.duplicates, "errors": [e.to_json() for e in self.errors]}


@dataclass(frozen=True)
class IntakeStats:
    """The intake's figures for ``/metrics`` (totals since start).

    Attributes:
        accepted_total: records taken (new ones; duplicates are not counted here).
        duplicate_total: records that had been taken before.
        rejected_total: refused lines by reason.
        refused_batches_total: batches turned away because the queue was full.
        client_dropped_total: records the clients (training hooks) report they dropped.
        queue_records: records waiting for the controller.
        capacity_records: the queue's bound.
        lag_s: wall seconds the oldest queued record has waited (0 when empty).
        last_wait_s: wall seconds the oldest record of the last drain had waited.
    """

    accepted_total: int = 0
    duplicate_total: int = 0
    rejected_total: Mapping[str, int] = field(default_factory=dict)
    refused_batches_total: int = 0
    client_dropped_total: int = 0
    queue_records: int = 0
    capacity_records: int = DEFAULT_CAPACITY_RECORDS
    lag_s: float = 0.0
    last_wait_s: float = 0.0


class StepIntake:
    """A bounded, deduplicating queue of step records.

    Args:
        node_index: topology node name -> index (records of other nodes are refused).
        capacity_records: queued records at most.
        retry_after_s: what a full intake tells producers to wait.
        clock: a monotonic clock in seconds (injected; ``time.monotonic``).
        seen: the duplicate filter (default: the last four million records).
    """

    def __init__(self, node_index: Mapping[str, int], *,
                 capacity_records: int = DEFAULT_CAPACITY_RECORDS, retry_after_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, seen: SeenKeys | None = None
                 ) -> None:
        if capacity_records < 1:
            raise ValueError("capacity_records must be at least 1")
        self.node_index = dict(node_index)
        self.capacity_records = capacity_records
        self.retry_after_s = retry_after_s
        self.clock = clock
        self._seen = seen or SeenKeys()
        self._lock = threading.Lock()
        self._queue: deque[tuple[float, StepRecords]] = deque()
        self._depth = 0
        self._job_ids: dict[str, int] = {}
        self._accepted = 0
        self._duplicates = 0
        self._rejected = dict.fromkeys(REASONS, 0)
        self._refused = 0
        self._client_dropped = 0
        self._last_wait_s = 0.0

    def submit(self, body: bytes, *, first_line: int = 1, client_dropped: int = 0,
               max_errors: int = 20) -> IntakeAnswer:
        """Parse, check, deduplicate and queue one batch of NDJSON lines.

        Args:
            body: whole NDJSON lines.
            first_line: number of the body's first line (a file's offset in lines).
            client_dropped: records the sender says it dropped since its last report.
            max_errors: rejected lines listed in the answer.

        Raises:
            IntakeFullError: no room for the batch's records; nothing was taken.
        """
        parsed = parse_step_lines(body, self.node_index, first_line=first_line,
                                  max_errors=max_errors)
        return self._queue_parsed(parsed, max(0, int(client_dropped)))

    def _queue_parsed(self, parsed: ParsedLines, client_dropped: int) -> IntakeAnswer:
        recs = parsed.records
        with self._lock:
            ids = np.array([self._job_ids.setdefault(j, len(self._job_ids)) for j in recs.jobs],
                           dtype=np.int64)
            keys = record_keys(recs, ids)
            fresh = self._seen.fresh(keys)
            n_new = int(fresh.sum())
            if n_new and self._depth + n_new > self.capacity_records:
                self._refused += 1
                raise IntakeFullError(self.retry_after_s)
            if n_new:
                self._seen.add(keys[fresh])
                new = recs if n_new == len(recs) else recs.take(np.flatnonzero(fresh))
                self._queue.append((self.clock(), new))
                self._depth += n_new
            self._accepted += n_new
            self._duplicates += len(recs) - n_new
            for reason, n in parsed.rejected.items():
                self._rejected[reason] = self._rejected.get(reason, 0) + n
            self._client_dropped += client_dropped
        return IntakeAnswer(len(recs), parsed.n_rejected, len(recs) - n_new, parsed.errors)

    def drain(self) -> StepRecords | None:
        """Everything queued, as one time-ordered batch (None when empty)."""
        with self._lock:
            if not self._queue:
                return None
            parts = list(self._queue)
            self._queue.clear()
            self._depth = 0
            self._last_wait_s = max(0.0, self.clock() - parts[0][0])
        return concat_records([p for _, p in parts])

    def stats(self) -> IntakeStats:
        """The counters and the queue as they stand."""
        with self._lock:
            lag = max(0.0, self.clock() - self._queue[0][0]) if self._queue else 0.0
            return IntakeStats(self._accepted, self._duplicates, dict(self._rejected),
                               self._refused, self._client_dropped, self._depth,
                               self.capacity_records, lag, self._last_wait_s)
