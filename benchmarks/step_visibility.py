"""How long a step-visible fault could be seen: the time its node's job ran.

A ``host_straggler`` shows only in step records. When the twin injects one
into a node whose job then hangs for twenty minutes (or is down already),
nothing can see it until the job runs again, and ``detected_at - onset``
counts that downtime. This module measures, from the scenario's own step
log, the part of a fault's time in which the node wrote steps: the TTD
counting only time its job ran, and for a missed fault how many records and
seconds of it existed at all (the step-only bar asks for max(5 records, 2
minutes)). It reports; it does not change the score.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson

STEP_VISIBLE = ("host_straggler",)
GAP_RECORDS = 3.0  # a pause longer than this many record intervals is downtime


def node_times(steps: Path, nodes: set[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per node: (sorted timestamps of all its records, of its busiest rank's)."""
    keep: dict[str, dict[tuple[str, int], list[float]]] = {n: {} for n in nodes}
    needles = [(n, f'"node": "{n}"'.encode()) for n in nodes]
    with steps.open("rb") as f:
        for line in f:
            for n, needle in needles:
                if needle in line:
                    r = orjson.loads(line)
                    keep[n].setdefault((r["job"], int(r["rank"])), []).append(float(r["ts"]))
    out = {}
    for n, by in keep.items():
        every = np.sort(np.concatenate([np.array(v) for v in by.values()])) if by else np.zeros(0)
        busiest = np.sort(np.array(max(by.values(), key=len))) if by else np.zeros(0)
        out[n] = (every, busiest)
    return out


def running_s(times: tuple[np.ndarray, np.ndarray], t0: float, t1: float) -> tuple[float, int]:
    """(seconds the node's job ran, records of one rank) within [t0, t1]: pauses of
    more than GAP_RECORDS record intervals (and the wait for a first record) do not
    count."""
    every, one = times
    inside = every[(every > t0) & (every <= t1)]
    if inside.size == 0:
        return 0.0, 0
    step = float(np.median(np.diff(one))) if one.size > 1 else 0.0
    gaps = np.diff(np.concatenate([[t0], inside, [t1]]))
    ran = np.where(gaps > GAP_RECORDS * step, step, gaps)
    return float(ran.sum()), int(((one > t0) & (one <= t1)).sum())
