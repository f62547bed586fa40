"""Synchronous data-parallel jobs, their per-rank step records, and a scheduler.

Each step every rank computes (its time scaled by its GPU's intrinsic speed,
clock throttling, GPU faults and its host), then joins the gradient all-reduce;
nobody leaves the collective before the slowest rank arrives, so a slow rank
shows as high ``compute_s`` and its peers as high ``comm_s``. A rank behind a
slow link (degraded NIC, congested leaf) spends longer in the collective
itself: its collective time is 60% set by its own links and 40% by the ring's
slowest link, so everyone slows and the ranks behind the hotspot slow most. Every
``checkpoint_every_steps`` steps all ranks stall alike while a checkpoint is
written. A crash (fail-stop fault, application error) loses the steps since
the last checkpoint; after ``restart_s`` the job is placed again, without
nodes that are down or drained, and recomputes from the checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from brownout.sim.fabric import allreduce_s, nic_bytes_per_step
from brownout.sim.scenario import JobSpec
from brownout.topology.model import Topology

__all__ = ["Job", "JobSpec", "StepInputs", "StepLog", "advance", "crash", "place", "set_static"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

STEP_NOISE_SIGMA = 0.012  # sequence-length imbalance: moves the slowest rank around
COMM_NOISE_SIGMA = 0.03
# Share of a rank's collective time set by its own links (the rest: by the ring's slowest)
OWN_LINK_SHARE = 0.6


@dataclass
class Job:
    """Mutable state of one job during a run."""

    spec: JobSpec
    index: int
    spread: float
    status: str = "pending"  # waiting | pending | running | restarting | done
    nodes: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    gpus: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    rank_node: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    static: F64 = field(default_factory=lambda: np.zeros(0))
    stage: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    stage_mult: F64 = field(default_factory=lambda: np.zeros(0))
    step: int = 1
    last_ckpt: int = 0
    next_start_s: float = 0.0
    resume_at_s: float = 0.0
    ar_s: float = 0.0
    nic_bytes: float = 0.0
    crashes: int = 0
    step_s: float = 0.0


@dataclass
class StepLog:
    """Step records accumulated in column chunks (concatenated on demand)."""

    chunks: list[tuple[F64, I64, I64, I64, I64, I64, F64, F64, I64]] = field(
        default_factory=list)

    def add(self, ts: F64, job: Job, compute: F64, comm: F64) -> None:
        """One step of ``job``: every rank's finish time, compute and comm seconds."""
        n = len(ts)
        self.chunks.append((ts, np.full(n, job.index, np.int64), np.full(n, job.step, np.int64),
                            np.arange(n, dtype=np.int64), job.rank_node, job.gpus, compute,
                            comm, job.stage if job.spec.stages > 1 else np.full(n, -1)))

    def columns(self) -> tuple[F64, I64, I64, I64, I64, I64, F64, F64, I64]:
        """(ts, job, step, rank, node, global gpu, compute_s, comm_s, stage), time-ordered."""
        if not self.chunks:
            z, zi = np.zeros(0), np.zeros(0, np.int64)
            return z, zi, zi, zi, zi, zi, z, z, zi
        cols = [np.concatenate([c[i] for c in self.chunks]) for i in range(9)]
        order = np.argsort(cols[0], kind="stable")
        ts, job, step, rank, node, gpu, comp, comm, stage = (c[order] for c in cols)
        return ts, job, step, rank, node, gpu, comp, comm, stage


def place(job: Job, topo: Topology, usable: B, prefer: I64) -> bool:
    """Give ``job`` its nodes: the preferred ones still usable, then the lowest free.

    ``usable`` marks nodes that are up, undrained and unallocated. Returns
    False if too few are free; the caller marks the chosen nodes allocated.
    """
    keep = [int(n) for n in prefer if usable[n]]
    rest = [int(n) for n in np.flatnonzero(usable) if int(n) not in set(keep)]
    chosen = (keep + rest)[: job.spec.nodes]
    if len(chosen) < job.spec.nodes:
        return False
    nodes = np.array(sorted(chosen), dtype=np.int64)
    counts = np.array([topo.nodes[n].gpus for n in nodes])
    job.nodes = nodes
    job.rank_node = np.repeat(nodes, counts)
    job.gpus = np.concatenate([np.arange(topo.gpu_offset[n], topo.gpu_offset[n + 1])
                               for n in nodes]).astype(np.int64)
    gpn = int(counts.max())
    job.ar_s = allreduce_s(job.spec.allreduce_gb, len(nodes), gpn)
    job.nic_bytes = nic_bytes_per_step(job.spec.allreduce_gb, len(nodes), gpn)
    return True


def set_static(job: Job, gpu_speed: F64) -> None:
    """Per-rank static speed factors: the GPUs' intrinsic speeds spread to ``spread``."""
    u = gpu_speed[job.gpus]
    span = float(u.max() - u.min()) or 1.0
    job.static = 1.0 + job.spread * (u - u.min()) / span
    r, stages = len(job.gpus), job.spec.stages
    job.stage = np.arange(r, dtype=np.int64) * stages // r
    job.stage_mult = np.where(job.stage == stages - 1, 1.0 + job.spec.stage_extra, 1.0)


@dataclass(frozen=True)
class StepInputs:
    """Per-tick conditions a step depends on.

    Attributes:
        gpu_mult: compute-time multiplier per GPU (clocks, GPU faults).
        node_mult: compute-time multiplier per node (host stragglers).
        link_slow: collective slowdown per GPU (1 / its path's bandwidth factor).
    """

    gpu_mult: F64
    node_mult: F64
    link_slow: F64


def advance(job: Job, until_s: float, inp: StepInputs, rng: np.random.Generator,
            log: StepLog) -> int:
    """Emit every step of a running job that completes by ``until_s``; returns how many."""
    done = 0
    spec = job.spec
    while job.status == "running":
        r = len(job.gpus)
        compute = (spec.compute_s * job.static * job.stage_mult
                   * rng.lognormal(0.0, STEP_NOISE_SIGMA, r)
                   * inp.gpu_mult[job.gpus] * inp.node_mult[job.rank_node])
        if job.step % spec.checkpoint_every_steps == 0:
            compute = compute + spec.checkpoint_stall_s
        slow = inp.link_slow[job.gpus] if len(job.nodes) > 1 else np.ones(r)
        share = OWN_LINK_SHARE * slow + (1 - OWN_LINK_SHARE) * slow.max()
        coll = job.ar_s * share * rng.lognormal(0.0, COMM_NOISE_SIGMA, r)
        ts = job.next_start_s + compute.max() + coll
        end = float(ts.max())
        if end > until_s:
            break
        comm = ts - job.next_start_s - compute
        log.add(ts, job, compute, comm)
        job.step_s = end - job.next_start_s
        job.next_start_s = end
        if job.step % spec.checkpoint_every_steps == 0:
            job.last_ckpt = job.step
        job.step += 1
        done += 1
    return done


def crash(job: Job, at_s: float, restart_s: float, allocated: B) -> None:
    """Stop a running job at ``at_s``: release its nodes, roll back to its checkpoint."""
    if job.status != "running":
        return
    allocated[job.nodes] = False
    job.status = "restarting"
    job.resume_at_s = at_s + restart_s
    job.step = job.last_ckpt + 1
    job.crashes += 1
