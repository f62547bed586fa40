"""Xid events from NVML, on a thread: the last Xid of each GPU, as DCGM reports it.

``DCGM_FI_DEV_XID_ERRORS`` is the value of the *last* Xid seen on a GPU (0
before any), not a count. The watcher registers every GPU for
``nvmlEventTypeXidCriticalError`` and blocks in ``nvmlEventSetWait`` with a
short timeout so that :meth:`XidWatcher.stop` returns promptly. A GPU whose
driver cannot deliver the events is left out (its Xid gauge is omitted).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from brownout.clock import Clock

XID_CRITICAL_EVENT = 0x8  # nvmlEventTypeXidCriticalError


@dataclass(frozen=True)
class XidEvent:
    """One Xid: which GPU, which code, when (unix seconds, injected clock)."""

    uuid: str
    xid: int
    t_s: float


class XidWatcher:
    """Collects Xid critical-error events of the host's GPUs.

    Args:
        nvml: the ``pynvml`` module (or a fake).
        handles: NVML handle of each GPU by UUID.
        clock: tells when an event arrived.
        wait_ms: how long one ``nvmlEventSetWait`` blocks (bounds stop latency).
    """

    def __init__(self, nvml: Any, handles: Mapping[str, Any], clock: Clock,
                 wait_ms: int = 500) -> None:
        self.nvml = nvml
        self.handles = dict(handles)
        self.clock = clock
        self.wait_ms = wait_ms
        self.errors = 0
        self.events: list[XidEvent] = []
        self._last: dict[str, int] = {}
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._set: Any = None

    def start(self) -> None:
        """Register the GPUs and start the thread (no thread when none can deliver)."""
        nv = self.nvml
        kind = getattr(nv, "nvmlEventTypeXidCriticalError", XID_CRITICAL_EVENT)
        try:
            self._set = nv.nvmlEventSetCreate()
        except nv.NVMLError:
            self.errors += 1
            return
        for uuid, handle in self.handles.items():
            try:
                nv.nvmlDeviceRegisterEvents(handle, kind, self._set)
            except nv.NVMLError:
                continue  # not supported on this GPU: its gauge is left out
            self._last[uuid] = 0
        if self._last:
            self._thread = threading.Thread(target=self._run, name="brownout-xid", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        nv = self.nvml
        timeout = getattr(nv, "NVML_ERROR_TIMEOUT", 10)
        while not self._stop.is_set():
            try:
                data = nv.nvmlEventSetWait(self._set, self.wait_ms)
            except nv.NVMLError as exc:
                if exc.value != timeout:
                    self.errors += 1
                    self._stop.wait(self.wait_ms / 1000.0)  # do not spin on a broken set
                continue
            self._record(data)

    def _record(self, data: Any) -> None:
        nv = self.nvml
        if not int(data.eventType) & XID_CRITICAL_EVENT:
            return
        try:
            uuid = nv.nvmlDeviceGetUUID(data.device)
        except nv.NVMLError:
            self.errors += 1
            return
        uuid = uuid.decode() if isinstance(uuid, bytes) else str(uuid)
        event = XidEvent(uuid, int(data.eventData), self.clock.now())
        with self._lock:
            self._last[uuid] = event.xid
            self._counts[uuid] += 1
            self.events.append(event)
            del self.events[:-256]  # keep the recent ones only

    def last_xid(self) -> dict[str, int]:
        """Last Xid of each watched GPU by UUID (0: none since the agent started)."""
        with self._lock:
            return dict(self._last)

    def stop(self) -> None:
        """Stop the thread and free the event set."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5 * self.wait_ms / 1000.0 + 1.0)
            self._thread = None
        if self._set is not None:
            try:
                self.nvml.nvmlEventSetFree(self._set)
            except self.nvml.NVMLError:
                self.errors += 1
            self._set = None
