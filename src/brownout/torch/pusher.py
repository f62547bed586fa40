"""Push step records to a running controller (``POST /api/steps``), never blocking a step.

:meth:`StepPusher.write` (called from the training loop) turns the record
into one JSON line and appends it to a bounded queue: no I/O, no lock, no
wait. A background thread sends the queue in batches over one kept-alive HTTP
connection (standard library ``http.client``; nothing to install):

- ``202``: delivered; lines the controller refused (unknown node, say) are
  counted in :attr:`StepPusher.rejected`;
- ``429``, ``5xx`` or no connection (the controller is down or restarting):
  the batch is kept and sent again after ``Retry-After`` or a growing backoff;
  meanwhile records queue up to ``capacity_records``, and beyond that new
  ones are dropped and counted (:attr:`StepPusher.dropped`); the count is
  sent in the ``Brownout-Dropped-Records`` header of the next push that gets
  through, so the controller's ``/metrics`` shows it;
- any other answer (a wrong token, say) cannot get better by retrying: the
  batch is counted in :attr:`StepPusher.failed` and :attr:`last_error` says why.

A batch the controller took but whose answer was lost is sent again; the
controller counts a record pushed twice once.
"""

from __future__ import annotations

import atexit
import http.client
import json
import threading
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from brownout.errors import InputError
from brownout.torch.identity import PushSettings

DROPPED_HEADER = "Brownout-Dropped-Records"
_OK, _RETRY, _REFUSED = "ok", "retry", "refused"


class StepPusher:
    """Sends step records to ``settings.url`` from a background thread.

    Args:
        settings: the controller's URL and the ingest token.
        capacity_records: records kept while the controller cannot be reached.
        batch_records: records per push at most.
        interval_s: seconds between pushes when the queue is short.
        timeout_s: connect and answer timeout of one push.
        max_backoff_s: longest wait between tries while the controller is down.
    """

    def __init__(self, settings: PushSettings, *, capacity_records: int = 100_000,
                 batch_records: int = 2000, interval_s: float = 0.5, timeout_s: float = 10.0,
                 max_backoff_s: float = 30.0) -> None:
        parts = urlsplit(settings.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"cannot push to {settings.url!r}: not an http(s) URL")
        self.url = settings.url
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, parts.port
        base = parts.path.rstrip("/")
        self._path = base if base.endswith("/api/steps") else base + "/api/steps"
        self._auth = f"Bearer {settings.token}"
        self.capacity_records = capacity_records
        self.batch_records = batch_records
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.max_backoff_s = max_backoff_s
        self.sent = 0  # records the controller took
        self.rejected = 0  # lines the controller refused (bad record, unknown node)
        self.dropped = 0  # records dropped because the queue was full (or left at close)
        self.failed = 0  # records of batches refused for good (wrong token, say)
        self.last_error = ""
        self._reported = 0  # drops already told to the controller
        self._queue: deque[str] = deque()
        self._inflight: list[str] = []
        self._failures = 0
        self._conn: http.client.HTTPConnection | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="brownout-step-pusher",
                                        daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # -- the training thread's side ----------------------------------------------------------
    def write(self, record: dict[str, Any]) -> None:
        """Queue one record (never blocks; drops and counts it when the queue is full)."""
        if len(self._queue) >= self.capacity_records:
            self.dropped += 1
            return
        self._queue.append(json.dumps(record, separators=(",", ":")))
        if len(self._queue) >= self.batch_records:
            self._wake.set()

    @property
    def pending(self) -> int:
        """Records not delivered yet."""
        return len(self._queue) + len(self._inflight)

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Push what is queued now, waiting up to ``timeout_s``; True when all was delivered."""
        deadline = time.monotonic() + timeout_s
        while self.pending and self._thread.is_alive() and time.monotonic() < deadline:
            self._wake.set()
            time.sleep(0.01)
        return not self.pending

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what can be delivered within ``timeout_s``, then stop (safe to call twice)."""
        if self._stop.is_set():
            return
        self.flush(timeout_s)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)
        self.dropped += self.pending  # never delivered
        self._queue.clear()
        self._inflight = []
        atexit.unregister(self.close)

    # -- the sender thread ---------------------------------------------------------------------
    def _run(self) -> None:
        delay = self.interval_s
        while not self._stop.is_set():
            self._wake.wait(delay)
            self._wake.clear()
            delay = self._drain()
        self._disconnect()

    def _drain(self) -> float:
        """Send batches until the queue is empty (next wait: the interval) or a try fails."""
        while not self._stop.is_set():
            if not self._inflight:
                n = min(self.batch_records, len(self._queue))
                self._inflight = [self._queue.popleft() for _ in range(n)]
            if not self._inflight:
                return self.interval_s
            outcome, wait_s = self._post(self._inflight)
            if outcome == _RETRY:
                self._failures += 1
                backoff = min(self.max_backoff_s, 0.25 * float(2 ** min(self._failures, 10)))
                return max(wait_s, backoff)
            if outcome == _REFUSED:
                self.failed += len(self._inflight)
            self._inflight = []
            self._failures = 0
        return self.interval_s

    def _post(self, lines: list[str]) -> tuple[str, float]:
        body = ("\n".join(lines) + "\n").encode()
        report = self.dropped - self._reported
        headers = {"Content-Type": "application/x-ndjson", "Authorization": self._auth}
        if report:
            headers[DROPPED_HEADER] = str(report)
        try:
            conn = self._conn or self._connect()
            conn.request("POST", self._path, body, headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self._disconnect()
            self.last_error = f"{self.url}: {exc}"
            return _RETRY, 0.0
        return self._outcome(resp, data, len(lines), report)

    def _outcome(self, resp: http.client.HTTPResponse, data: bytes, n: int,
                 report: int) -> tuple[str, float]:
        status = resp.status
        if status == 202:
            try:
                answer = json.loads(data)
                rejected = int(answer.get("rejected", 0))
            except (ValueError, AttributeError, TypeError):
                rejected = 0
            self.sent += n - rejected
            self.rejected += rejected
            self._reported += report
            self.last_error = ""
            return _OK, 0.0
        self.last_error = f"{self.url}: HTTP {status}: {data[:200].decode(errors='replace')}"
        if status == 429 or status >= 500:
            return _RETRY, _retry_after(resp.getheader("Retry-After"))
        return _REFUSED, 0.0

    def _connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._scheme == "https" else \
            http.client.HTTPConnection
        self._conn = cls(self._host, self._port, timeout=self.timeout_s)
        return self._conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _retry_after(value: str | None) -> float:
    try:
        return min(300.0, max(0.0, float(value))) if value else 0.0
    except ValueError:
        return 0.0
