"""Vectorised group-by helpers (sort once, reduce per group; no Python loops).

Groups are dense integer ids ``0 .. n_groups-1`` as returned by
:func:`dense_ids`. Every reducer returns one value per group; empty groups
get ``fill``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def dense_ids(*keys: npt.NDArray[np.integer]) -> tuple[I64, int]:
    """Dense group id of each row for the combination of integer key columns.

    Returns:
        ``(ids, n_groups)``; ids are ordered like the sorted unique key tuples
        (the last key varies fastest).
    """
    if not keys or keys[0].shape[0] == 0:
        return np.zeros(0, np.int64), 0
    packed = _packed(keys)
    if packed is not None:  # one int64 per row: a plain sort, 10x faster than rows
        _, inverse = np.unique(packed, return_inverse=True)
        ids = inverse.reshape(-1).astype(np.int64)
        return ids, int(ids.max()) + 1
    stacked = np.stack([np.asarray(k, np.int64) for k in keys], axis=1)
    _, inverse = np.unique(stacked, axis=0, return_inverse=True)
    ids = inverse.reshape(-1).astype(np.int64)
    return ids, int(ids.max()) + 1


def _packed(keys: tuple[npt.NDArray[np.integer], ...]) -> I64 | None:
    """The key tuples as one mixed-radix int64 (same order), or None if it would overflow."""
    lows, spans = [], []
    for k in keys:
        lo, hi = int(k.min()), int(k.max())
        lows.append(lo)
        spans.append(hi - lo + 1)
    if int(np.prod([float(s) for s in spans])) >= 2**62:
        return None
    out = np.zeros(keys[0].shape[0], np.int64)
    for k, lo, span in zip(keys, lows, spans, strict=True):
        out = out * span + (np.asarray(k, np.int64) - lo)
    return out


def group_count(ids: I64, n: int) -> I64:
    """Rows per group."""
    return np.bincount(ids, minlength=n).astype(np.int64)


def group_sum(ids: I64, values: F64, n: int) -> F64:
    """Sum per group."""
    return np.asarray(np.bincount(ids, weights=values, minlength=n), dtype=np.float64)


def group_max(ids: I64, values: F64, n: int, fill: float = np.nan) -> F64:
    """Maximum per group."""
    out = np.full(n, -np.inf)
    np.maximum.at(out, ids, values)
    out[np.isneginf(out) & (group_count(ids, n) == 0)] = fill
    return out


def group_min(ids: I64, values: F64, n: int, fill: float = np.nan) -> F64:
    """Minimum per group."""
    return np.asarray(-group_max(ids, -values, n, -fill), dtype=np.float64)


def group_quantile(ids: I64, values: F64, n: int, q: float = 0.5,
                   fill: float = np.nan) -> F64:
    """Quantile per group (lower-median style: the value at rank floor(q*(k-1)) and
    the next one, linearly interpolated).

    One lexsort orders values inside their groups; each group's quantile is
    then read at its offset.
    """
    out = np.full(n, fill, dtype=np.float64)
    if ids.shape[0] == 0:
        return out
    order = np.lexsort((values, ids))
    sorted_vals = values[order]
    counts = group_count(ids, n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    have = counts > 0
    pos = q * (counts[have] - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, counts[have] - 1)
    frac = pos - lo
    base = starts[have]
    out[have] = sorted_vals[base + lo] * (1 - frac) + sorted_vals[base + hi] * frac
    return out


def group_median(ids: I64, values: F64, n: int, fill: float = np.nan) -> F64:
    """Median per group."""
    return group_quantile(ids, values, n, 0.5, fill)


def run_lengths(flags: npt.NDArray[np.bool_]) -> I64:
    """For each position, the length of the run of equal flags it belongs to."""
    if flags.shape[0] == 0:
        return np.zeros(0, np.int64)
    change = np.concatenate(([True], flags[1:] != flags[:-1]))
    run_id = np.cumsum(change) - 1
    lengths = np.bincount(run_id).astype(np.int64)
    return np.asarray(lengths[run_id], dtype=np.int64)


def rolling_median(x: F64, window: int) -> F64:
    """Centred rolling median over ``window`` samples (edges padded by reflection)."""
    if x.shape[0] == 0:
        return x.copy()
    half = window // 2
    padded = np.pad(x, (half, window - 1 - half), mode="reflect" if x.shape[0] > half else "edge")
    view = np.lib.stride_tricks.sliding_window_view(padded, window)
    return np.asarray(np.median(view, axis=1), dtype=np.float64)
