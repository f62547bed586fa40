"""Step logs that keep every Nth step: how many steps each logged instance stands for.

A job may log only every Nth step (``telemetry.md`` §4 allows any subset of
steps, in increasing order within a run). Between two logged steps ``k`` and
``k + N`` the job ran N steps; only the last is measured. The ledger weighs
each instance by the steps it stands for (:func:`step_weights`) and counts
the time before it as the work of its unlogged steps, up to what N steps at
the job's own step time explain (:mod:`brownout.recovery.ledger`).

N is inferred per job from the step-number deltas between consecutive
instances of one run (the median positive delta: a few dropped lines do not
move it). A log of every step has N = 1 and every weight 1: the ledger is
then exactly what it is for such logs.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

MAX_STRIDES = 4  # a delta beyond this many strides stands for no more steps than that


def same_run(epoch: I64) -> B:
    """Per instance (in order of completion): the previous instance is of the same run."""
    return np.concatenate(([False], epoch[1:] == epoch[:-1])) if epoch.shape[0] else \
        np.zeros(0, dtype=bool)


def log_stride(step: I64, epoch: I64) -> int:
    """The job's logging stride N: the median positive step delta within a run (1 if none)."""
    delta = np.diff(step)[same_run(epoch)[1:]] if step.shape[0] > 1 else np.zeros(0, np.int64)
    delta = delta[delta > 0]
    return max(int(np.median(delta)), 1) if delta.shape[0] else 1


def step_weights(step: I64, epoch: I64) -> I64:
    """Steps each instance stands for (in order of completion).

    All 1 when the stride is 1. Otherwise, within a run, the step delta from
    the previous instance (at least 1, at most :data:`MAX_STRIDES` strides);
    the job's first instance stands for itself (wall time starts at its
    start); the first instance after a restart stands for one stride (the
    run resumed after a checkpoint, which a job that logs every Nth step
    takes on that grid).
    """
    n = step.shape[0]
    stride = log_stride(step, epoch)
    if n == 0 or stride == 1:  # every step logged (a dropped line stays a gap, as it was)
        return np.ones(n, dtype=np.int64)
    delta = np.concatenate(([1], np.diff(step)))
    w = np.where(same_run(epoch), np.clip(delta, 1, MAX_STRIDES * stride), stride)
    w[0] = 1
    return w.astype(np.int64)
