"""Fleet priors on per-node interruption rates, derived from public data.

Shipped numbers (derived once with :func:`derive_trace_prior`; the raw
traces are not part of the package):

- **StepFun** (InfiniteHBD-Trace, https://github.com/stepfun-ai/InfiniteHBD-Trace,
  commit 7aacdc8, Apache-2.0; Shou et al., SIGCOMM 2025): 584 node faults on
  400 sampled servers of an LLM-pretraining cluster over 348.98 days. Counting
  as job interruptions all faults except those found by stress tests, tests
  and planned changes: 481 faults, 0.003446 per node-day (per-node MTBF 290
  node-days). Per-node counts are over-dispersed (variance 2.90 against a mean
  of 1.20; 197 of 400 nodes never failed): a gamma-Poisson fit gives shape
  0.852, i.e. some nodes fail again and again, which is why the tuner
  weighs the history of the job's own nodes. Repair time (fault start to
  end), all faults: median 20.4 h, 90th percentile 311 h, mean 133 h.
- **Llama 3** (Meta, "The Llama 3 Herd of Models", 2024, Table 5): 419
  unexpected interruptions in 54 days on 16,384 H100 GPUs (2,048 nodes of 8):
  0.003789 per node-day (per-node MTBF 264 node-days). The table has no
  per-node dispersion; the StepFun shape is used with it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brownout.errors import ParseError

DAY_S = 86_400.0
PLANNED_CLASSES = frozenset({"Stress Test Failure", "Test", "Change"})


@dataclass(frozen=True)
class RatePrior:
    """Gamma prior on one node's interruption rate.

    Attributes:
        per_node_day: prior mean rate (interruptions per node-day).
        shape: gamma shape across nodes (small: heterogeneous nodes).
        weight_node_days: how many node-days of evidence the fleet-level
            mean is worth before fleet observations move it.
        source: where the numbers come from.
    """

    per_node_day: float
    shape: float
    weight_node_days: float
    source: str

    @property
    def mtbf_node_s(self) -> float:
        """Mean time between interruptions of one node, seconds."""
        return DAY_S / self.per_node_day


STEPFUN = RatePrior(per_node_day=0.003446, shape=0.852, weight_node_days=2_000.0,
                    source="StepFun InfiniteHBD-Trace (Apache-2.0), 481 faults, 400 nodes, 349 d")
LLAMA3 = RatePrior(per_node_day=0.003789, shape=0.852, weight_node_days=2_000.0,
                   source="Llama 3 paper Table 5: 419 interruptions, 2,048 nodes, 54 d")
STEPFUN_REPAIR_H = {"median": 20.4, "p90": 311.3, "mean": 132.8}
PRIORS = {"stepfun": STEPFUN, "llama3": LLAMA3}


def derive_trace_prior(path: str | Path, n_nodes: int,
                       exclude_classes: frozenset[str] = PLANNED_CLASSES,
                       weight_node_days: float = 2_000.0) -> RatePrior:
    """Fit a :class:`RatePrior` to a StepFun-format fault trace.

    Args:
        path: ``fault_trace.json`` (a list of ``{node_id, event_time (days),
            event_type fault_start|fault_end, fault_type {Level, Class, Desc}}``).
        n_nodes: servers the trace covers, those that never failed included.
        exclude_classes: fault classes that do not interrupt a running job.
        weight_node_days: see :class:`RatePrior`.

    Raises:
        ParseError: unreadable file or events without the fields above.
    """
    events = _load(path)
    span_days = max(float(e["event_time"]) for e in events) if events else 0.0
    starts = [e for e in events if e["event_type"] == "fault_start"
              and e["fault_type"].get("Class") not in exclude_classes]
    per_node = Counter(str(e["node_id"]) for e in starts)
    if len(per_node) > n_nodes or span_days <= 0:
        raise ParseError(str(path), 0, "fewer nodes than failing nodes, or an empty time span")
    counts = np.zeros(n_nodes)
    counts[: len(per_node)] = list(per_node.values())
    mean, var = float(counts.mean()), float(counts.var(ddof=1)) if n_nodes > 1 else 0.0
    shape = mean * mean / (var - mean) if var > mean else 1e6
    return RatePrior(per_node_day=mean / span_days, shape=shape,
                     weight_node_days=weight_node_days,
                     source=f"{Path(path).name}: {len(starts)} faults, {n_nodes} nodes, "
                            f"{span_days:.1f} d")


def _load(path: str | Path) -> list[dict[str, Any]]:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ParseError(str(path), 0, f"cannot read fault trace ({exc})") from exc
    if not isinstance(raw, list):
        raise ParseError(str(path), 0, "a fault trace is a JSON list of events")
    for i, e in enumerate(raw):
        ok = (isinstance(e, dict) and {"node_id", "event_time", "event_type"} <= set(e)
              and isinstance(e.get("fault_type", {}), dict)
              and isinstance(e["event_time"], int | float))
        if not ok:
            raise ParseError(str(path), 0, f"event {i}: needs node_id, event_time, event_type")
        e.setdefault("fault_type", {})
    return raw
