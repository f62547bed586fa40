"""Evidence that accumulates over records: a rank's rise over its own baseline, sequentially.

A level (the median of a fixed window of records) needs its whole window
to be slow, and its bar must allow for the noise of so few records: on a
noisy pipeline stage of two or three ranks, a 1.3x slowdown of ten records
stays under it. A one-sided CUSUM (Page's test) adds each record's excess
over an allowance and forgets what the allowance takes back, so a mild
slowdown shows after as many records as its size and the noise need, and
healthy noise (drifting down by the allowance) does not.

Per record, ``y = log(ratio / baseline)``: its increment ``y - allowance``
is clipped to ``clip_k`` noise standard deviations (one heavy-tailed hiccup,
or a record a rank computed fast, moves the sum by at most that much), and
the sum is capped at ``cap_k`` times its bar, so that it falls back under
the bar within a few records once the slowdown ends. The sum is recomputed
each judgment from the rank's latest records (stateless, like the levels).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from brownout.detect.robust import group_median

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


def last_records(key: I64, ts: F64, values: F64, keys: I64, width: int) -> F64:
    """Per key of sorted ``keys``, the values of its latest ``width`` records in time
    order (newest in the last column), NaN-padded in front."""
    out = np.full((keys.size, width), np.nan)
    n = key.shape[0]
    if n == 0 or keys.size == 0:
        return out
    order = np.lexsort((-ts, key))
    k = key[order]
    first = np.concatenate(([True], k[1:] != k[:-1]))
    start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    from_end = np.arange(n) - start
    sel = from_end < width
    row = np.searchsorted(keys, k[sel])
    ok = (row < keys.size) & (keys[np.minimum(row, keys.size - 1)] == k[sel])
    out[row[ok], width - 1 - from_end[sel][ok]] = values[order][sel][ok]
    return out


def cusum_rise(ratios: F64, base: F64, sigma: F64, allowance: F64, *, bar_k: float,
               clip_k: float, cap_k: float) -> tuple[F64, F64, I64, F64]:
    """One-sided CUSUM of each row's log rise over ``base``, in noise units.

    Args:
        ratios: [rank, record] per-record ratios to the peers, oldest first (NaN: none).
        base: per rank, its own baseline of that ratio (NaN: none yet).
        sigma: per rank, the per-record noise of the log ratio.
        allowance: per rank, the log rise a healthy rank may show (subtracted).
        bar_k: the bar, in ``sigma``; the sum is capped at ``cap_k`` bars.
        clip_k: each record's increment is clipped to +-``clip_k`` ``sigma``.

    Returns:
        (sum over its bar, per rank; the median ratio over the records of the
        current run (since the sum was last zero), NaN when none; their number;
        the fraction of them above half the allowance: a slowdown slows most
        records, a cluster of heavy-tailed hiccups a few).
    """
    nr, width = ratios.shape
    sig = np.maximum(sigma, 1e-6)
    y = np.log(ratios / base[:, None]) - allowance[:, None]
    inc = np.clip(y, -clip_k * sig[:, None], clip_k * sig[:, None])
    cap = cap_k * bar_k * sig
    s = np.zeros(nr)
    run_from = np.zeros(nr, dtype=np.int64)
    for c in range(width):
        step = inc[:, c]
        ok = np.isfinite(step)
        s = np.where(ok, np.minimum(cap, np.maximum(0.0, s + np.where(ok, step, 0.0))), s)
        run_from = np.where(ok & (s <= 0.0), c + 1, run_from)
    cols = np.arange(width)
    in_run = (cols[None, :] >= run_from[:, None]) & np.isfinite(ratios)
    rows = np.broadcast_to(np.arange(nr)[:, None], ratios.shape)
    level, n = group_median(np.where(in_run, ratios, np.nan).ravel(), rows.ravel(), nr)
    above = in_run & (np.log(ratios / base[:, None]) > 0.5 * allowance[:, None])
    return s / (bar_k * sig), level, n, above.sum(axis=1) / np.maximum(n, 1)


def sequential_slow(tail: F64, base: F64, sigma: F64, *, self_excess: float, min_rel: float,
                    first_records: int, bar_k: float) -> tuple[B, F64, F64, F64]:
    """Ranks slow by accumulated evidence: (slow, rel to peers, rise over the
    baseline, the CUSUM over its bar) per rank.

    The CUSUM of the rise over ``base`` (NaN: none yet) beyond ``self_excess``
    passes ``bar_k`` noise standard deviations, over a run of at least
    ``first_records`` records whose median is ``min_rel`` above the peers and
    ``self_excess`` (and three of its standard errors) above the baseline, two
    thirds of them above half the allowance: the median and the count, robust
    to hiccups, confirm the sum. Only for ranks with a full ``tail`` of records
    since their last restart: the noise of a few records is no measure.
    """
    allowance = np.full(base.size, np.log1p(self_excess))
    score, level, n, most = cusum_rise(tail, base, sigma, allowance, bar_k=bar_k, clip_k=2.0,
                                       cap_k=1.25)
    rel = level - 1.0
    rise = np.nan_to_num(level / base - 1.0)
    se = 1.25 * sigma / np.sqrt(np.maximum(n, 1))
    full = np.isfinite(tail).all(axis=1) & np.isfinite(base)
    slow = full & (score >= 1.0) & (n >= first_records) & (rel >= min_rel) & (
        rise >= np.maximum(self_excess, 3.0 * se)) & (most >= 2.0 / 3.0)
    return slow, rel, rise, score
