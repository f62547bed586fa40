"""The feed of ``brownout watch`` on a real cluster: telemetry (optional) plus step records.

:class:`StepFeed` follows the :class:`~brownout.service.feeds.Feed` protocol.
On each pull it takes the telemetry source's new frame (when there is a
source: with steps alone, step-only detection is a supported mode), reads the
``--steps-dir`` files that grew, and drains the step intake that
``POST /api/steps`` fills.
"""

from __future__ import annotations

from brownout.service.feeds import Feed
from brownout.service.intake import StepIntake
from brownout.service.stepsdir import StepsDirFollower
from brownout.telemetry.frame import Frame
from brownout.telemetry.steps import StepRecords


class StepFeed:
    """Telemetry from ``telemetry`` (if any) and step records from the intake.

    Args:
        intake: the step intake (pushed records, and the follower's).
        telemetry: the telemetry feed, or None for step-only detection.
        follower: the ``--steps-dir`` follower, or None.
    """

    def __init__(self, intake: StepIntake, telemetry: Feed | None = None,
                 follower: StepsDirFollower | None = None) -> None:
        self.intake = intake
        self.telemetry = telemetry
        self.follower = follower
        parts = [telemetry.name] if telemetry is not None else []
        parts.append("steps" if follower is None else f"steps + {follower.root}")
        self.name = " + ".join(parts)
        self._until_s = float("-inf")

    def pull(self, until_s: float) -> tuple[Frame | None, StepRecords | None]:
        self._until_s = max(self._until_s, until_s)
        frame = None
        if self.telemetry is not None:
            frame, _ = self.telemetry.pull(until_s)
        if self.follower is not None:
            self.follower.poll()
        return frame, self.intake.drain()

    def watermark_s(self) -> float:
        if self.telemetry is not None:
            return min(self.telemetry.watermark_s(), self._until_s)
        return self._until_s

    def steps_until_s(self, now_s: float) -> float:
        """Now: records are pushed (and the steps directory read) as they happen, and
        every one that arrived so far was drained by :meth:`pull`."""
        return now_s

    def degraded(self) -> tuple[str, ...]:
        lines = list(self.telemetry.degraded()) if self.telemetry is not None else []
        if self.follower is not None:
            lines.extend(self.follower.degraded())
        return tuple(lines)

    def finished(self) -> bool:
        return False

    def close(self) -> None:
        if self.telemetry is not None:
            self.telemetry.close()
        if self.follower is not None:
            self.follower.close()
