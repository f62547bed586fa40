"""A rank that hangs inside a step, and what that does to its job (``rank_hang``).

At the fault's onset the job stops in mid-step: no rank writes another step
record, yet the scheduler still says "running". The peers' GPUs spin in the
collective (busy, but their tensor pipes do no useful work); the hung rank's
GPU either keeps computing (a kernel that never ends) or idles (its process
stopped, or a device-side error, which also posts an Xid). The hang holds
the incarnation of the job that was running at the onset: a restart (by the
controller, or the NCCL watchdog killing the job ``watchdog_s`` after the
onset) brings the job back from its checkpoint, healthy.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from brownout.sim.effects import Effects
from brownout.sim.faults import HANG_BUSY, Fault
from brownout.sim.jobs import Job

#: compute multiplier that makes a spinning GPU's tensor activity near zero
SPIN_MULT = 25.0
#: a hang whose onset fell while its job was down strikes this long after the job is back
DEFER_S = 120.0


def hang_of(job: Job, faults: list[Fault], run_since_s: float, t_s: float) -> Fault | None:
    """The ``rank_hang`` holding this incarnation of ``job`` at ``t_s``, if any."""
    gpus = set(job.gpus.tolist())
    held = [f for f in faults if f.kind == "rank_hang" and f.index in gpus and f.active(t_s)
            and f.onset_s >= run_since_s]
    return min(held, key=lambda f: f.onset_s) if held else None


def hang_demand(job: Job, fault: Fault, e: Effects, demand: np.ndarray) -> None:
    """Utilisation of a hung job's GPUs: the peers spin, the hung rank per its variant."""
    e.gpu_compute_mult[job.gpus] *= SPIN_MULT
    g = fault.index
    e.gpu_compute_mult[g] /= SPIN_MULT
    demand[g] = 1.0 if e.gpu_hung[g] == HANG_BUSY else 0.0


def defer(faults: list[Fault], job: Job, at_s: float, struck: set[int]) -> None:
    """Hangs whose onset fell while ``job`` was down (restarting, pending) strike its
    incarnation starting at ``at_s`` instead, ``DEFER_S`` in; the truth moves with them."""
    gpus = set(job.gpus.tolist())
    for i, f in enumerate(faults):
        if (f.kind == "rank_hang" and i not in struck and f.index in gpus and f.active(at_s)
                and f.end_s is not None):
            onset = at_s + DEFER_S
            faults[i] = dataclasses.replace(f, onset_s=round(onset, 3),
                                            end_s=round(onset + f.end_s - f.onset_s, 3))


def ended(faults: list[Fault], t0_s: float, dt_s: float) -> list[Fault]:
    """``rank_hang`` faults whose watchdog fires in ``(t0_s, t0_s + dt_s]``."""
    return [f for f in faults if f.kind == "rank_hang" and f.end_s is not None
            and t0_s < f.end_s <= t0_s + dt_s]
