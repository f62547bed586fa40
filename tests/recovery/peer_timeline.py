"""One training timeline told two ways: brownout step records and Google goodput log entries.

A synchronous job runs steps back to back; every ``ckpt_every`` steps it
saves a checkpoint inside the step (every rank blocks for ``ckpt_s``); after
step ``crash_after`` a node fails part-way into the next step; the job is
restarted ``recovery_s`` later, spends ``startup_s`` before its first step,
resumes from the last checkpoint and re-does the steps since. Optionally one
rank straggles for a window of steps.

- brownout sees what the training hook writes: one record per rank per
  completed step (``ts`` at its end, ``compute_s``, ``comm_s``);
- ``ml-goodput-measurement`` sees what its recorder and Orbax's checkpoint
  logger write: job start times, each step's start (the step in flight at
  the crash included), the restart's training preparation, each save's
  blocking time, the job end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

T0_S = 1_700_000_000.0  # in the past: the library reads its entries up to "now"


@dataclass(frozen=True)
class PeerSpec:
    """Knobs of one timeline (seconds; steps are numbers)."""

    ranks: int = 16
    compute_s: float = 6.0
    coll_s: float = 0.8
    noise: float = 0.005
    spread: float = 0.04
    steps: int = 200
    ckpt_every: int = 40
    ckpt_s: float = 20.0
    crash_after: int = 130
    crash_frac: float = 0.5
    recovery_s: float = 300.0
    startup_s: float = 40.0
    straggler: tuple[int, int, float] | None = None  # steps [a, b) of the first run, factor


@dataclass
class Timeline:
    """Both views of one run."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    entries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    truth: dict[str, float] = field(default_factory=dict)


def draw_spec(rng: np.random.Generator, straggler: bool = False) -> PeerSpec:
    """A timeline with every knob drawn at random."""
    every = int(rng.integers(15, 60))
    steps = int(rng.integers(150, 320))
    crash = int(rng.integers(every + 5, steps - 10))
    ckpt = crash - crash % every
    # a straggler among the steps the checkpoint keeps (on lost steps, see docs/goodput.md)
    first = int(rng.integers(1, max(ckpt - 10, 2))) if straggler else 0
    last = min(first + int(rng.integers(10, 25)), ckpt)
    return PeerSpec(
        ranks=int(rng.integers(4, 33)), compute_s=float(rng.uniform(2.0, 12.0)),
        coll_s=float(rng.uniform(0.2, 2.0)), noise=float(rng.uniform(0.002, 0.01)),
        spread=float(rng.uniform(0.0, 0.06)), steps=steps, ckpt_every=every,
        ckpt_s=float(rng.uniform(5.0, 60.0)), crash_after=crash,
        crash_frac=float(rng.uniform(0.05, 0.95)), recovery_s=float(rng.uniform(30.0, 1800.0)),
        startup_s=float(rng.uniform(5.0, 180.0)),
        straggler=(first, last, float(rng.uniform(1.3, 2.0))) if straggler else None)


def generate(spec: PeerSpec, rng: np.random.Generator) -> Timeline:
    """Rows for brownout and entries for the library, from one run of ``spec``."""
    out = Timeline(truth=dict.fromkeys(("checkpoint", "rework", "restart", "straggler"), 0.0))
    base = spec.compute_s * (1 + rng.uniform(0, spec.spread, spec.ranks))
    slow = int(rng.integers(spec.ranks))
    t = T0_S
    out.entries.append(("job_start", {"t": t}))
    ckpt = 0
    for step in range(1, spec.crash_after + 1):
        t, saved = _step(out, spec, rng, base, slow, step, t, first_run=True)
        ckpt = step if saved else ckpt
    out.entries.append(("step", {"step": spec.crash_after + 1, "t": t}))  # in flight at the crash
    crash = t + spec.crash_frac * (base.max() + spec.coll_s)
    restart = crash + spec.recovery_s
    out.entries.append(("job_start", {"t": restart}))
    out.entries.append(("prep", {"t": restart, "end": restart + spec.startup_s}))
    out.truth["restart"] = restart + spec.startup_s - t
    t = restart + spec.startup_s
    for step in range(ckpt + 1, spec.steps + 1):
        t, _ = _step(out, spec, rng, base, slow, step, t, first_run=False)
    out.entries.append(("job_end", {"t": t}))
    out.truth["rework_steps"] = float(spec.crash_after - ckpt)
    return out


def _step(out: Timeline, spec: PeerSpec, rng: np.random.Generator, base: np.ndarray,
          slow: int, step: int, t: float, first_run: bool) -> tuple[float, bool]:
    """Run one step from ``t``; return its end and whether it saved a checkpoint."""
    out.entries.append(("step", {"step": step, "t": t}))
    comp = base * (1 + spec.noise * rng.standard_normal(spec.ranks))
    fast = comp.max()
    s = spec.straggler
    if first_run and s is not None and s[0] <= step < s[1]:
        comp[slow] *= s[2]
        out.truth["straggler"] += comp.max() - fast
    saved = step % spec.ckpt_every == 0
    if saved:
        cm = comp.max()
        out.entries.append(("save", {"step": step, "t": t + cm, "dur": spec.ckpt_s}))
        comp += spec.ckpt_s
        out.truth["checkpoint"] += spec.ckpt_s
    coll = spec.coll_s * (1 + 0.01 * rng.standard_normal())
    end = t + comp.max() + coll
    jitter = rng.uniform(0, 0.002, spec.ranks)
    for r in range(spec.ranks):
        ts = end + jitter[r]
        out.rows.append({"ts": ts, "job": "llm", "step": step, "rank": r,
                         "node": f"n{r // 8 + 1:04d}", "gpu": r % 8,
                         "compute_s": float(comp[r]), "comm_s": float(ts - t - comp[r])})
    return end + 0.002, saved
