"""Checkpoint interval tuner (Young/Daly) with an online interruption rate.

The optimum interval between checkpoints, for a save cost ``C`` and a mean
time between interruptions ``M`` (Young 1974; Daly 2006, first order):
``tau = sqrt(2*C*M) - C``. ``M`` comes from :class:`FailureRateModel` (the
job's own nodes and the fleet prior) and ``C`` from measured saves. The plan
is written atomically as a small JSON file that the training hook reads.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from brownout.atomic import atomic_write_text
from brownout.clock import Clock
from brownout.errors import ParseError
from brownout.recovery.rates import FailureRateModel

PLAN_FORMAT = "brownout.checkpoint_plan"
FORMULAS = ("young_daly", "daly")


def young_daly_interval_s(save_cost_s: float, mtbi_s: float) -> float:
    """First-order optimum ``sqrt(2*C*M) - C`` (``M`` when ``C >= 2*M``, as Daly advises)."""
    c, m = save_cost_s, mtbi_s
    if c >= 2 * m:
        return m
    return max(math.sqrt(2 * c * m) - c, c * 1e-3)


def daly_interval_s(save_cost_s: float, mtbi_s: float) -> float:
    """Daly's higher-order optimum, better when ``C`` is not small against ``M``."""
    c, m = save_cost_s, mtbi_s
    if c >= 2 * m:
        return m
    root = math.sqrt(2 * c * m)
    return max(root * (1 + math.sqrt(c / (2 * m)) / 3 + c / (18 * m)) - c, c * 1e-3)


def expected_overhead(interval_s: float, save_cost_s: float, mtbi_s: float,
                      restart_s: float = 0.0) -> float:
    """Expected wall time per unit of useful work, minus one, with exponential
    interruptions (Daly 2006, eq. 13): saves, rework and restarts together."""
    m = mtbi_s
    segment = m * math.exp(restart_s / m) * math.expm1((interval_s + save_cost_s) / m)
    return segment / interval_s - 1.0


def first_order_overhead(interval_s: float, save_cost_s: float, mtbi_s: float) -> float:
    """``C/tau + (tau + C)/(2M)``: save cost plus half an interval of rework per failure."""
    return save_cost_s / interval_s + (interval_s + save_cost_s) / (2 * mtbi_s)


@dataclass(frozen=True)
class TunerConfig:
    """Tuner settings.

    Attributes:
        default_save_cost_s: save cost before any save was measured.
        save_window: saves whose median is the current cost.
        min_interval_s, max_interval_s: bounds of the advice.
        formula: ``young_daly`` (first order) or ``daly`` (higher order).
    """

    default_save_cost_s: float = 60.0
    save_window: int = 5
    min_interval_s: float = 60.0
    max_interval_s: float = 24 * 3600.0
    formula: str = "young_daly"


@dataclass(frozen=True)
class CheckpointPlan:
    """What the training hook reads: when to checkpoint next, and why."""

    issued_at_s: float
    next_checkpoint_s: float
    interval_s: float
    save_cost_s: float
    mtbi_s: float
    nodes: int
    formula: str

    def to_json(self) -> dict[str, Any]:
        return {"format": PLAN_FORMAT, "version": 1, **asdict(self)}


class CheckpointTuner:
    """Tells one job when to checkpoint next.

    Args:
        rates: the interruption-rate model (shared across jobs of a fleet).
        clock: time source.
        nodes: the job's nodes now.
        config: settings.
    """

    def __init__(self, rates: FailureRateModel, clock: Clock, nodes: Sequence[str],
                 config: TunerConfig | None = None) -> None:
        self.rates = rates
        self.clock = clock
        self.config = config or TunerConfig()
        if self.config.formula not in FORMULAS:
            raise ValueError(f"formula must be one of {FORMULAS}")
        self._saves: deque[float] = deque(maxlen=self.config.save_window)
        self.nodes: tuple[str, ...] = ()
        self.set_nodes(nodes)

    def set_nodes(self, nodes: Sequence[str]) -> None:
        """The job's nodes changed (it grew, shrank or moved)."""
        self.nodes = tuple(nodes)
        self.rates.track(self.nodes)

    def observe_save(self, cost_s: float) -> None:
        """A checkpoint save took ``cost_s`` seconds of stall."""
        if not math.isfinite(cost_s) or cost_s < 0:
            raise ValueError(f"save cost must be a finite, non-negative number, not {cost_s}")
        self._saves.append(cost_s)

    @property
    def save_cost_s(self) -> float:
        """Current save cost: median of the recent measured saves."""
        return statistics.median(self._saves) if self._saves else self.config.default_save_cost_s

    def mtbi_s(self) -> float:
        """The job's current mean time between interruptions."""
        return self.rates.job_mtbi_s(self.nodes)

    def interval_s(self) -> float:
        """Advised interval between checkpoints (compute time, seconds)."""
        c, m = self.save_cost_s, self.mtbi_s()
        fn = young_daly_interval_s if self.config.formula == "young_daly" else daly_interval_s
        tau = fn(c, m) if math.isfinite(m) else self.config.max_interval_s
        return min(max(tau, self.config.min_interval_s), self.config.max_interval_s)

    def plan(self, last_checkpoint_s: float | None = None) -> CheckpointPlan:
        """The plan now; the next checkpoint is one interval after the last one."""
        now = self.clock.now()
        tau = self.interval_s()
        last = now if last_checkpoint_s is None else last_checkpoint_s
        return CheckpointPlan(issued_at_s=now, next_checkpoint_s=max(last + tau, now),
                              interval_s=tau, save_cost_s=self.save_cost_s,
                              mtbi_s=self.mtbi_s(), nodes=len(self.nodes),
                              formula=self.config.formula)

    def write_plan(self, path: str | Path, last_checkpoint_s: float | None = None
                   ) -> CheckpointPlan:
        """Write the plan atomically (the hook never sees half a file)."""
        plan = self.plan(last_checkpoint_s)
        atomic_write_text(path, json.dumps(plan.to_json(), allow_nan=False) + "\n")
        return plan


def read_plan(path: str | Path) -> CheckpointPlan:
    """Read a plan file (what the training hook does).

    Raises:
        ParseError: unreadable or not a checkpoint plan.
    """
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ParseError(str(path), 0, f"cannot read checkpoint plan ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("format") != PLAN_FORMAT:
        raise ParseError(str(path), 0, f"not a checkpoint plan (format must be '{PLAN_FORMAT}')")
    try:
        return CheckpointPlan(**{k: raw[k] for k in CheckpointPlan.__dataclass_fields__})
    except KeyError as exc:
        raise ParseError(str(path), 0, f"checkpoint plan lacks {exc}") from exc
