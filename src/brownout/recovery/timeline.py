"""ETTR over time: cumulative productive time over elapsed wall time, per job.

For ``brownout evaluate``'s plot: at each step's end, the distinct steps
completed so far (a logged step stands for the steps since the previous one,
:mod:`brownout.recovery.stride`) times the job's healthy step time (from the
ledger), over the time since the job's first step began.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from brownout.recovery.instances import build_instances
from brownout.recovery.ledger import Ledger
from brownout.recovery.stride import step_weights
from brownout.telemetry.steps import StepRecords

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class EttrSeries:
    """Cumulative ETTR of one job at its step ends."""

    t_s: F64
    ettr: F64


def ettr_over_time(steps: StepRecords, ledger: Ledger, max_points: int = 500
                   ) -> dict[str, EttrSeries]:
    """Per job, cumulative ETTR sampled at up to ``max_points`` step ends."""
    out: dict[str, EttrSeries] = {}
    for j, name in enumerate(steps.jobs):
        if name not in ledger.jobs:
            continue
        inst = build_instances(steps.take(np.flatnonzero(steps.job == j)))
        if len(inst) == 0:
            continue
        covered = step_weights(inst.step, inst.epoch) * ~inst.repeat
        productive = np.cumsum(covered) * ledger.jobs[name].healthy_step_s
        elapsed = inst.end_s - inst.start_s
        ettr = np.clip(productive / np.where(elapsed > 0, elapsed, np.inf), 0.0, 1.0)
        pick = np.unique(np.linspace(0, len(inst) - 1, min(max_points, len(inst))).astype(int))
        out[name] = EttrSeries(inst.end_s[pick], ettr[pick])
    return out
