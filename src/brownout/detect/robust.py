"""Robust, vectorised statistics shared by the detectors (no per-component loops).

Peer comparison needs the median of each group (node, cooling domain, job,
model) and a spread that one bad member cannot inflate (MAD); comparison
with a component's own past needs a baseline that does not learn the fault
(an EWMA frozen while the component is flagged).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
MAD_TO_SD = 1.4826


def group_median(values: F64, groups: npt.NDArray[np.integer], n_groups: int
                 ) -> tuple[F64, I64]:
    """Median of the finite values of each group, and how many there were.

    Args:
        values: one value per member (NaN members are ignored).
        groups: group index per member, ``0 <= g < n_groups``.
        n_groups: number of groups.

    Returns:
        (median per group, NaN for empty groups; count per group).
    """
    n = values.shape[0]
    if n and n % n_groups == 0 and n_groups > 1 and _blocks(groups, n // n_groups):
        return _block_median(values.reshape(n_groups, n // n_groups))
    ok = np.isfinite(values)
    v, g = values[ok], groups[ok].astype(np.int64)
    counts = np.bincount(g, minlength=n_groups).astype(np.int64)
    out = np.full(n_groups, np.nan)
    if v.size == 0:
        return out, counts
    lo_v, hi_v = float(v.min()), float(v.max())
    key = g + (v - lo_v) / ((hi_v - lo_v) * 1.0001 + 1e-300)  # one float sort, not lexsort
    v = v[np.argsort(key, kind="stable")]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    has = counts > 0
    lo = starts[has] + (counts[has] - 1) // 2
    hi = starts[has] + counts[has] // 2
    out[has] = 0.5 * (v[lo] + v[hi])
    return out, counts


def kth_largest(values: F64, groups: npt.NDArray[np.integer], k: I64) -> F64:
    """Per group ``g`` (``0 <= g < k.size``), its ``k[g]``-th largest value (1 = the
    largest); -inf where the group has fewer than ``k[g]`` members."""
    out = np.full(k.size, -np.inf)
    if values.size == 0:
        return out
    g = groups.astype(np.int64)
    order = np.lexsort((-values, g))
    gs = g[order]
    first = np.concatenate(([True], gs[1:] != gs[:-1]))
    start = np.maximum.accumulate(np.where(first, np.arange(gs.size), 0))
    pick = (np.arange(gs.size) - start) == k[gs] - 1
    out[gs[pick]] = values[order][pick]
    return out


def _blocks(groups: npt.NDArray[np.integer], size: int) -> bool:
    """Whether ``groups`` is 0,0,..,1,1,.. in equal contiguous blocks of ``size``."""
    g = groups[::size]
    return bool(g[0] == 0 and g[-1] == g.size - 1 and np.all(np.diff(g) == 1)
                and np.array_equal(groups[size - 1::size], g) and np.all(np.diff(groups) >= 0))


def _block_median(blocks: F64) -> tuple[F64, I64]:
    """Median of the finite values of each row (NaN sorts last)."""
    counts = np.isfinite(blocks).sum(axis=1).astype(np.int64)
    srt = np.sort(blocks, axis=1)
    rows = np.arange(blocks.shape[0])
    lo = np.maximum((counts - 1) // 2, 0)
    hi = np.maximum(counts // 2, 0)
    hi = np.minimum(hi, blocks.shape[1] - 1)
    out = 0.5 * (srt[rows, lo] + srt[rows, hi])
    out[counts == 0] = np.nan
    return out, counts


def group_mad(values: F64, groups: npt.NDArray[np.integer], n_groups: int,
              median: F64 | None = None) -> F64:
    """Median absolute deviation per group (scaled to a standard deviation)."""
    med = median if median is not None else group_median(values, groups, n_groups)[0]
    dev = np.abs(values - med[groups])
    return MAD_TO_SD * group_median(dev, groups, n_groups)[0]


def nanmedian(values: F64) -> float:
    """Median of the finite values (NaN when none)."""
    v = values[np.isfinite(values)]
    return float(np.median(v)) if v.size else float("nan")


def ewma_update(baseline: F64, value: F64, alpha: float, frozen: B | None = None) -> F64:
    """Exponentially weighted baseline; NaN baselines start at the value.

    Members that are ``frozen`` (flagged) or whose value is NaN keep their
    baseline, so a fault is never learned as the new normal.
    """
    start = ~np.isfinite(baseline)
    new = np.where(start, value, (1 - alpha) * baseline + alpha * value)
    keep = ~np.isfinite(value)
    if frozen is not None:
        keep |= frozen & ~start
    return np.where(keep, baseline, new)


def sustained(since: F64, active: B, t_s: float | F64) -> F64:
    """Track since when each member has been continuously ``active`` (NaN when not)."""
    return np.where(active, np.where(np.isfinite(since), since, t_s), np.nan)


class OwnBaselines:
    """Per key, a baseline of a level learnt from its own past, and the level's rise
    over it: learnt fast (time constant ``base_min_s / 3``) until ``base_min_s`` old
    (rise 0 meanwhile), then with ``tau_s``, never while it has risen to 3/4 of its
    bar (a fault is not learnt as the new normal). A level may be an array: the
    smallest of its rises counts."""

    def __init__(self, *, base_min_s: float, tau_s: float) -> None:
        self.base_min_s = base_min_s
        self.tau_s = tau_s
        self.base_: dict[Any, tuple[Any, float]] = {}  # key -> (baseline, first seen)

    def rise(self, key: Any, level: Any, t_s: float, dt: float, bar: float) -> float:
        """The rise of ``level`` over ``key``'s baseline; learns the baseline."""
        base, t0 = self.base_.get(key, (level, t_s))
        est = t_s - t0 >= self.base_min_s
        rise = float(np.min(level / base)) - 1.0 if est else 0.0
        if not est:
            a = alpha_for(self.base_min_s / 3.0, dt)
            self.base_[key] = ((1 - a) * base + a * level, t0)
        elif rise < 0.75 * bar:
            a = alpha_for(self.tau_s, dt)
            self.base_[key] = ((1 - a) * base + a * level, t0)
        return rise


def alpha_for(tau_s: float, dt_s: float) -> float:
    """EWMA weight for time constant ``tau_s`` with updates every ``dt_s``."""
    return float(1.0 - np.exp(-dt_s / max(tau_s, 1e-9)))


def others_median(values: F64, groups: npt.NDArray[np.integer], n_groups: int,
                  exact_up_to: int = 32) -> F64:
    """Per group, the median of the members of every *other* group.

    With few groups (two leaves of a small cluster) a median that includes the
    group itself would be pulled toward it; with many, one group hardly moves
    the fleet median and the cheap global median is used.
    """
    ok = np.isfinite(values)
    if n_groups > exact_up_to:
        return np.full(n_groups, nanmedian(values))
    out = np.full(n_groups, np.nan)
    for g in range(n_groups):
        sel = values[ok & (groups != g)]
        if sel.size:
            out[g] = float(np.median(sel))
    return out


def window_median(hist: F64) -> F64:
    """Median over axis 0 of the finite values (NaN where fewer than 2)."""
    cnt = np.isfinite(hist).sum(axis=0)
    ordered = np.sort(hist, axis=0)  # NaN sort last
    lo = np.take_along_axis(ordered, np.maximum((cnt - 1) // 2, 0)[None], 0)[0]
    hi = np.take_along_axis(ordered, np.minimum(cnt // 2, len(hist) - 1)[None], 0)[0]
    out: F64 = np.where(cnt >= 2, (lo + hi) / 2.0, np.nan)
    return out


def place_spread(places: F64, min_sd: float, min_count: int = 8) -> float:
    """Three robust standard deviations of the known ``places`` (at least ``min_sd``
    each); NaN with fewer than ``min_count`` known (the spread is not known yet)."""
    known = places[np.isfinite(places)]
    if known.size < min_count:
        return float("nan")
    return 3.0 * max(min_sd, MAD_TO_SD * float(np.median(np.abs(known - np.median(known)))))


def percentile(values: F64, q: float) -> float:
    """The ``q``-th percentile of the finite values (NaN when none)."""
    fin = values[np.isfinite(values)]
    return float(np.percentile(fin, q)) if fin.size else float("nan")


def others_fraction(flag: B, groups: npt.NDArray[np.integer], n_groups: int) -> F64:
    """Per member: the fraction of the *other* members of its group with ``flag`` set."""
    hits = np.bincount(groups, weights=flag, minlength=n_groups)[groups]
    size = np.bincount(groups, minlength=n_groups)[groups]
    out: F64 = (hits - flag) / np.maximum(size - 1, 1)
    return out
