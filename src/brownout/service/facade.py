"""The controller as the service drives it (the read side is :mod:`brownout.views`).

The real wiring is :class:`brownout.service.live.LiveController`; an in-memory
fake for tests ships in :mod:`brownout.service.fake`.
"""

from __future__ import annotations

from typing import Protocol

from brownout.views.model import ControllerState, ControllerView


class ControllerFacade(ControllerView, Protocol):
    """The controller as the service drives it.

    Only :meth:`state` may be called from any thread; one thread (the runner's)
    calls everything else.
    """

    def tick(self, now_s: float) -> ControllerState:
        """Ingest, detect, decide and act up to ``now_s``; return the new snapshot."""
        ...

    def approve(self, key: str, now_s: float) -> str:
        """Approve an action awaiting approval; returns its status afterwards.

        Raises:
            KeyError: no action has this key.
        """
        ...

    def reject(self, key: str, now_s: float) -> str:
        """Reject an action awaiting approval; returns its status afterwards.

        Raises:
            KeyError: no action has this key.
        """
        ...

    def close(self) -> None:
        """Release files and sockets."""
        ...
