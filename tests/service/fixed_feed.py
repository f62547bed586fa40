"""What the test feeds of a fixed step log (no telemetry) have in common."""

from __future__ import annotations


class FixedLogFeed:
    """The Feed methods a fixed step log answers alike; subclasses pull and give the
    watermark."""

    name = "steps"

    def steps_until_s(self, now_s: float) -> float:
        return float("nan")  # a fixed log: nothing is known beyond the watermark

    def degraded(self) -> tuple[str, ...]:
        return ()

    def finished(self) -> bool:
        return False

    def close(self) -> None:
        """Nothing to release."""
