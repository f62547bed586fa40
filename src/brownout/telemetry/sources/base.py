"""The protocol every telemetry source follows."""

from __future__ import annotations

from typing import Protocol

from brownout.telemetry.frame import Frame
from brownout.telemetry.problems import Problems


class Source(Protocol):
    """Pulls telemetry incrementally.

    ``fetch(until_s)`` returns, in time order, the samples with timestamps up
    to ``until_s`` that earlier calls did not return. Replay sources answer
    from their recording; live sources scrape or query. ``problems`` gathers
    bad input met so far.
    """

    problems: Problems

    def fetch(self, until_s: float) -> Frame:
        """New samples with ``t_s <= until_s``."""
        ...
