"""The jobs the live controller follows, from the step records it ingests.

:class:`JobTracker` keeps, per job, the ranks seen, the records taken and the
latest record (its step and time), updated once per tick from the tick's new
records with a few numpy passes. :class:`JobView` is what the dashboard and
the API show.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from brownout.telemetry.steps import StepRecords


@dataclass(frozen=True)
class JobView:
    """One followed job.

    Attributes:
        job: the job's name.
        ranks: distinct ranks seen.
        records: step records taken.
        last_step: the step of the newest record (it goes back after a restart).
        last_ts_s: when the newest record's step finished (unix seconds).
        step_s: median step time of the newest records (seconds).
    """

    job: str
    ranks: int
    records: int
    last_step: int
    last_ts_s: float
    step_s: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class JobTracker:
    """Accumulates :class:`JobView` figures tick by tick."""

    def __init__(self) -> None:
        self._ranks: dict[str, npt.NDArray[np.int32]] = {}
        self._views: dict[str, JobView] = {}

    def update(self, steps: StepRecords | None) -> None:
        """Fold in a batch of new records."""
        if steps is None or not len(steps):
            return
        for j, name in enumerate(steps.jobs):
            idx = np.flatnonzero(steps.job == j)
            if len(idx):
                self._update_job(name, steps, idx)

    def _update_job(self, name: str, steps: StepRecords, idx: npt.NDArray[np.intp]) -> None:
        ranks = np.union1d(self._ranks.get(name, np.zeros(0, np.int32)), steps.rank[idx])
        self._ranks[name] = ranks
        newest = int(idx[np.argmax(steps.ts[idx])])
        old = self._views.get(name)
        if old is not None and old.last_ts_s > steps.ts[newest]:  # a late batch
            self._views[name] = JobView(name, len(ranks), old.records + len(idx),
                                        old.last_step, old.last_ts_s, old.step_s)
            return
        last = idx[steps.step[idx] == steps.step[newest]]
        step_s = float(np.median(steps.compute_s[last] + steps.comm_s[last]))
        self._views[name] = JobView(name, len(ranks), (old.records if old else 0) + len(idx),
                                    int(steps.step[newest]), float(steps.ts[newest]), step_s)

    def views(self) -> tuple[JobView, ...]:
        """The followed jobs, by name."""
        return tuple(self._views[k] for k in sorted(self._views))
