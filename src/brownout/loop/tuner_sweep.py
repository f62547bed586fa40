"""Tuned checkpoint interval versus the best fixed interval, by brute force.

On a coarse scenario with fail-stops only, the brownout policy runs once with
the online Young/Daly tuner and once per fixed interval of a log-spaced grid,
all on the same seeds (common random numbers: every variant sees the same
failures). Overhead is what the interval controls: checkpoint stalls plus
rework, as a share of wall time, averaged over seeds. The tuner passes when
its overhead is within ``tolerance`` (relative) of the best fixed interval's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from brownout.loop.coarse_eval import RunResult, run_policy
from brownout.loop.costs import EvalScenario


@dataclass(frozen=True)
class SweepResult:
    """Tuner against sweep."""

    tuned_interval_s: float
    tuned_overhead: float
    best_interval_s: float
    best_overhead: float
    grid_s: tuple[float, ...]
    grid_overhead: tuple[float, ...]

    @property
    def relative_gap(self) -> float:
        """Tuned overhead over the best fixed one, minus one."""
        return self.tuned_overhead / self.best_overhead - 1.0

    def to_json(self) -> dict[str, float]:
        return {"tuned_interval_s": round(self.tuned_interval_s, 1),
                "tuned_overhead": round(self.tuned_overhead, 5),
                "best_fixed_interval_s": round(self.best_interval_s, 1),
                "best_fixed_overhead": round(self.best_overhead, 5),
                "relative_gap": round(self.relative_gap, 4)}


def overhead(r: RunResult) -> float:
    """Checkpoint stalls plus rework over wall time."""
    return (r.lost_s["checkpoint"] + r.lost_s["rework"]) / r.wall_s


def sweep(es: EvalScenario, seeds: Sequence[int], grid_s: Sequence[float] | None = None,
          sync: bool = True) -> SweepResult:
    """Run the tuner and every fixed interval of ``grid_s`` on ``seeds``."""
    grid = tuple(grid_s) if grid_s is not None else tuple(np.geomspace(100, 4800, 31).tolist())
    tuned = [run_policy(es, "brownout", s, fail_slow=False, sync=sync) for s in seeds]
    fixed = [float(np.mean([overhead(run_policy(es, "brownout", s, interval_s=g,
                                                fail_slow=False, sync=sync)) for s in seeds]))
             for g in grid]
    best = int(np.argmin(fixed))
    return SweepResult(float(np.mean([r.mean_interval_s for r in tuned])),
                       float(np.mean([overhead(r) for r in tuned])), grid[best], fixed[best],
                       grid, tuple(fixed))
