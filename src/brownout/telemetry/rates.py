"""Per-second rates of counters, with resets detected rather than read as negative.

A counter that goes down has been reset (exporter restart, driver reload,
wrap): the increase over that interval is taken as the new value itself, the
Prometheus ``rate()`` convention, and the reset is counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]


@dataclass(frozen=True)
class Rates:
    """Rates between consecutive samples of each component.

    Attributes:
        t_s: time of the later sample of each interval.
        component: the component of each interval.
        per_s: increase per second over the interval (never negative).
        resets: number of intervals where the counter went down.
    """

    t_s: F64
    component: I32
    per_s: F64
    resets: int


def counter_rates(t_s: F64, component: I32, value: F64) -> Rates:
    """Rates of one counter metric from samples of many components (any order)."""
    order = np.lexsort((t_s, component))
    t, c, v = t_s[order], component[order], value[order]
    same = (c[1:] == c[:-1]) & (t[1:] > t[:-1])
    dt = (t[1:] - t[:-1])[same]
    dv = (v[1:] - v[:-1])[same]
    after = v[1:][same]
    reset = dv < 0
    increase = np.where(reset, after, dv)
    return Rates(t[1:][same], c[1:][same].astype(np.int32), increase / dt, int(reset.sum()))


def increase_since(t_s: F64, component: I32, value: F64, n_components: int) -> F64:
    """Total reset-aware increase per component over the samples given."""
    order = np.lexsort((t_s, component))
    t, c, v = t_s[order], component[order], value[order]
    same = (c[1:] == c[:-1]) & (t[1:] > t[:-1])
    dv = (v[1:] - v[:-1])[same]
    inc = np.where(dv < 0, v[1:][same], dv)
    return np.bincount(c[1:][same], weights=inc, minlength=n_components).astype(np.float64)
