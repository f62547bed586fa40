"""The goodput figures every evaluation run reports, from its ledger's totals."""

from __future__ import annotations


class RunFigures:
    """ETTR, availability and goodput of a run holding ``wall_s``, ``productive_s``,
    ``gpus`` and ``lost_s`` (seconds lost per cause, ``restart`` among them)."""

    wall_s: float
    productive_s: float
    gpus: int
    lost_s: dict[str, float]

    @property
    def ettr(self) -> float:
        """Effective training time ratio: productive over wall time."""
        return self.productive_s / self.wall_s

    @property
    def availability(self) -> float:
        """What an availability dashboard says: wall time not spent restarting."""
        return 1.0 - self.lost_s["restart"] / self.wall_s

    @property
    def goodput_gpu_h(self) -> float:
        """Productive GPU-hours."""
        return self.productive_s * self.gpus / 3600.0
