"""A rank that hangs inside a step, and what that does to its job (``rank_hang``).

At the fault's onset the job stops in mid-step: no rank writes another step
record, yet the scheduler still says "running". The peers' GPUs spin in the
collective (busy, but their tensor pipes do no useful work); the hung rank's
GPU either keeps computing (a kernel that never ends) or idles (its process
stopped, or a device-side error, which also posts an Xid). The hang holds
the incarnation of the job that was running at the onset: a restart (by the
controller, or the NCCL watchdog killing the job ``watchdog_s`` after the
onset) brings the job back from its checkpoint, healthy.

Spinning is not computing: the peers' GPUs read 100 % utilisation but draw
only a small fraction of their dynamic power (:data:`SPIN_POWER`), so they
cool towards their idle temperature while the hung job holds them.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from brownout.sim.effects import Effects
from brownout.sim.faults import HANG_BUSY, Fault
from brownout.sim.jobs import Job

#: compute multiplier that makes a spinning GPU's tensor activity near zero
SPIN_MULT = 25.0
#: fraction of its dynamic power a GPU spinning in a collective draws, drawn per hang.
#: NCCL's kernels poll a flag in memory: utilisation reads 100 % (a kernel is resident)
#: while the SMs do little. Reported hangs: H100s at ~100 W of 700 W at 100 %
#: utilisation, against 500-690 W while training (NVIDIA-NeMo/Speech issue 9291, filed
#: as NVIDIA/NeMo); V100s at 65-76 W of 300 W at 100 % (pytorch/pytorch issue 22671);
#: "utilization pegged at 100 % ... the power consumption of all of them is at idle"
#: (Theano/libgpuarray issue 387); "100 % occupied, although the temperature remained
#: low" (cupy/cupy issue 3557). That is 0-15 % of the dynamic power over idle; the
#: range goes to 20 % to be conservative (peers nearer a computing GPU's power are
#: harder to tell from it).
SPIN_POWER = (0.02, 0.20)
#: a hang whose onset fell while its job was down strikes this long after the job is back
DEFER_S = 120.0


def hang_of(job: Job, faults: list[Fault], run_since_s: float, t_s: float) -> Fault | None:
    """The ``rank_hang`` holding this incarnation of ``job`` at ``t_s``, if any."""
    gpus = set(job.gpus.tolist())
    held = [f for f in faults if f.kind == "rank_hang" and f.index in gpus and f.active(t_s)
            and f.onset_s >= run_since_s]
    return min(held, key=lambda f: f.onset_s) if held else None


def hang_demand(job: Job, fault: Fault, e: Effects, demand: np.ndarray) -> None:
    """Utilisation and power of a hung job's GPUs: the peers spin (busy, little tensor
    work, a small fraction of their dynamic power), the hung rank per its variant
    (computing at full power, or idle)."""
    spin = spin_power(fault)
    e.gpu_compute_mult[job.gpus] *= SPIN_MULT
    e.dyn_w_mult[job.gpus] *= spin
    g = fault.index
    e.gpu_compute_mult[g] /= SPIN_MULT
    e.dyn_w_mult[g] /= spin
    demand[g] = 1.0 if e.gpu_hung[g] == HANG_BUSY else 0.0


def spin_power(fault: Fault) -> float:
    """The fraction of dynamic power the hang's spinning peers draw (:data:`SPIN_POWER`).

    Drawn from the fault itself (its GPU and onset), not from the run's random
    stream: the same seed gives the same run, and every other draw stays where
    it was without this one.
    """
    rng = np.random.default_rng([fault.index, round(fault.onset_s * 1000.0)])
    return float(rng.uniform(*SPIN_POWER))


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
