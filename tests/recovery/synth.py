"""Synthetic step logs with a known loss decomposition (for ledger tests).

A synchronous job: every rank's step ends when the slowest rank's compute is
done plus the collective. Ground truth per cause is computed by removing the
cause (same noise), so it is exact for the generator's physics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from brownout.telemetry.steps import StepRecords, build_steps


@dataclass(frozen=True)
class JobSpec:
    """Knobs of one synthetic job (times in seconds; steps are instance indexes)."""

    name: str = "llm"
    n_nodes: int = 4
    gpus: int = 8
    stages: int = 1
    compute_s: float = 8.0
    coll_s: float = 1.0
    spread: float = 0.07              # static healthy spread between ranks
    noise: float = 0.004              # per-rank per-step relative noise
    steps: int = 400                  # distinct steps to finish
    ckpt_every: int = 50
    ckpt_stall_s: float = 20.0
    straggler: tuple[int, int, float] | None = (100, 160, 1.5)   # instances [a, b), factor
    congestion: tuple[int, int, float] | None = (200, 260, 2.5)  # instances [a, b), coll factor
    uniform: tuple[int, int, float] | None = None  # every rank's compute x factor
    crash_after: int | None = 320     # crash after this step completes (first time)
    restart_gap_s: float = 600.0
    t0_s: float = 1_764_000_000.0


@dataclass
class Synth:
    """A generated log and its true decomposition."""

    rows: list[dict[str, Any]]
    truth: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    healthy_s: float = 0.0


def generate(spec: JobSpec, rng: np.random.Generator) -> Synth:
    """Rows of a step log (shuffled) and the true loss per cause."""
    n_ranks = spec.n_nodes * spec.gpus
    stage = np.arange(n_ranks) * spec.stages // n_ranks
    base = spec.compute_s * (1 + 0.12 * stage) * (1 + rng.uniform(0, spec.spread, n_ranks))
    seq = _step_sequence(spec)
    truth = dict.fromkeys(("checkpoint", "rework", "restart", "straggler", "congestion"), 0.0)
    rows: list[dict[str, Any]] = []
    t = spec.t0_s
    healthy_durs = []
    slow_rank = int(rng.integers(n_ranks))
    for k, (step, epoch, gap) in enumerate(seq):
        t += gap
        truth["restart"] += gap
        comp = base * (1 + spec.noise * rng.standard_normal(n_ranks))
        coll = spec.coll_s * (1 + 0.01 * rng.standard_normal())
        ckpt = spec.ckpt_stall_s if spec.ckpt_every and step % spec.ckpt_every == 0 else 0.0
        slowed = comp.copy()
        if spec.uniform and spec.uniform[0] <= k < spec.uniform[1]:
            slowed *= spec.uniform[2]
            truth["uniform"] = truth.get("uniform", 0.0) + slowed.max() - comp.max()
            comp = slowed.copy()
        if spec.straggler and spec.straggler[0] <= k < spec.straggler[1]:
            slowed[slow_rank] *= spec.straggler[2]
        coll_now = coll
        if spec.congestion and spec.congestion[0] <= k < spec.congestion[1]:
            coll_now = coll * spec.congestion[2]
        dur = slowed.max() + ckpt + coll_now
        truth["checkpoint"] += ckpt
        truth["straggler"] += slowed.max() - comp.max()
        truth["congestion"] += coll_now - coll
        healthy_durs.append(comp.max() + coll)
        c = slowed + ckpt
        t += dur
        jitter = rng.uniform(0, 0.002, n_ranks)
        for r in range(n_ranks):
            rows.append({"ts": t + jitter[r], "job": spec.name, "step": step, "rank": r,
                         "node": f"n{r // spec.gpus + 1:04d}", "gpu": r % spec.gpus,
                         "compute_s": float(c[r]), "comm_s": float(dur - c[r]),
                         "stage": int(stage[r])})
        del epoch
    healthy = float(np.median(healthy_durs))
    truth["rework"] = healthy * (len(seq) - spec.steps)
    order = rng.permutation(len(rows))
    wall = t + 0.002 - (spec.t0_s)
    return Synth([rows[i] for i in order], truth, wall, healthy)


def _step_sequence(spec: JobSpec) -> list[tuple[int, int, float]]:
    """(step, epoch, gap before it) for every instance, in time order."""
    seq: list[tuple[int, int, float]] = []
    crash = spec.crash_after
    step, epoch, gap = 1, 0, 0.0
    while step <= spec.steps:
        seq.append((step, epoch, gap))
        gap = 0.0
        if crash is not None and epoch == 0 and step == crash:
            last_ckpt = (step // spec.ckpt_every) * spec.ckpt_every if spec.ckpt_every else 0
            step, epoch, gap = last_ckpt + 1, 1, spec.restart_gap_s
            continue
        step += 1
    return seq


def records(s: Synth) -> StepRecords:
    return build_steps(s.rows)
