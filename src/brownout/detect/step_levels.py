"""Per-rank levels from step records: how much slower each rank computes than its peers.

Pure, vectorised helpers of the straggler detector:

- :func:`peer_ratio`: each record's compute time over the median of the
  *other* ranks of the same job, restart epoch, pipeline stage and step.
  Leaving the rank out keeps a slow rank of a two- or three-rank stage from
  pulling its own reference up; a slowdown of every rank alike (checkpoint,
  power cap) cancels.
- :func:`recent_window`: the records that make a rank's current level: those
  of the last ``recent_s`` seconds, and never fewer than its last
  ``min_records`` (so that 50-ms steps and 3-minute steps both give a level
  made of enough records and enough seconds).
- :func:`epochs`: restart count per record (the step number goes back).
- :func:`stage_noise`: the record-to-record noise of each stage's ratios.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from brownout.detect.robust import MAD_TO_SD, group_median

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


def peer_ratio(group: I64, compute_s: F64, eligible: B | None = None) -> F64:
    """``compute_s`` over the median of the other members of its group (NaN alone).

    Args:
        group: a group id per record (any integers).
        compute_s: compute seconds per record.
        eligible: members that may serve as reference (default all): ranks
            already known to be slow are compared, never compared with.
    """
    if eligible is not None and not eligible.all():
        out = _peer_ratio(np.where(eligible, group, group.min() - 1 - np.arange(group.size)),
                          compute_s)
        keys, inv = np.unique(group, return_inverse=True)
        ref = np.full(keys.size, np.nan)
        ok = eligible & np.isfinite(compute_s)
        if ok.any():
            k2, i2 = np.unique(inv[ok], return_inverse=True)
            ref[k2] = _group_median(compute_s[ok], i2, k2.size)
        alone = ~eligible
        out[alone] = compute_s[alone] / np.where(ref[inv[alone]] > 0, ref[inv[alone]], np.nan)
        return out
    return _peer_ratio(group, compute_s)


def _group_median(values: F64, idx: I64, n: int) -> F64:
    order = np.lexsort((values, idx))
    v, g = values[order], idx[order]
    counts = np.bincount(g, minlength=n)
    start = np.concatenate(([0], np.cumsum(counts)[:-1]))
    return np.asarray(0.5 * (v[start + (counts - 1) // 2] + v[start + counts // 2]))


def _peer_ratio(group: I64, compute_s: F64) -> F64:
    n = group.shape[0]
    out = np.full(n, np.nan)
    if n == 0:
        return out
    order = np.lexsort((compute_s, group))
    g, v = group[order], compute_s[order]
    first = np.concatenate(([True], g[1:] != g[:-1]))
    start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    size = np.bincount(np.cumsum(first) - 1)[np.cumsum(first) - 1]
    k = np.arange(n) - start  # position of the record inside its sorted group
    ok = size >= 2
    lo, hi = (size - 2) // 2, (size - 1) // 2  # the median's positions among the others

    def member(j: I64) -> F64:
        pos = np.where(j < k, j, j + 1)  # skip the record itself
        return np.asarray(v[np.clip(start + pos, 0, n - 1)])

    ref = 0.5 * (member(lo) + member(hi))
    ratio = np.where(ok & (ref > 0), v / np.where(ref > 0, ref, 1.0), np.nan)
    out[order] = ratio
    return out


def recent_window(key: I64, ts: F64, t_s: float, recent_s: float, min_records: int,
                  *, max_records: int | None = None) -> B:
    """Records of the last ``recent_s`` seconds, or each key's last ``min_records``;
    never more than each key's last ``max_records`` (when given)."""
    n = key.shape[0]
    if n == 0:
        return np.zeros(0, dtype=bool)
    order = np.lexsort((-ts, key))
    k = key[order]
    first = np.concatenate(([True], k[1:] != k[:-1]))
    start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    from_end = np.arange(n) - start  # 0 = the key's latest record
    use = np.empty(n, dtype=bool)
    use[order] = from_end < min_records
    use |= ts > t_s - recent_s
    if max_records is not None:
        cap = np.empty(n, dtype=bool)
        cap[order] = from_end < max_records
        use &= cap
    return use


def epochs(key: I64, step: I64, last_step: dict[int, tuple[int, int]]) -> I64:
    """Restart count of each record's key; ``last_step`` carries it between calls.

    Records must be in time order. A record whose step is not above its
    key's previous step starts a new epoch (the job restarted from an earlier
    checkpoint and computes those steps again).
    """
    out = np.zeros(key.shape[0], dtype=np.int64)
    if key.shape[0] == 0:
        return out
    order = np.lexsort((np.arange(key.shape[0]), key))
    k, s = key[order], step[order]
    first = np.concatenate(([True], k[1:] != k[:-1]))
    prev = np.concatenate(([0], s[:-1]))
    carried = np.array([last_step.get(int(x), (np.iinfo(np.int64).min, 0)) for x in k[first]],
                       dtype=np.int64).reshape(-1, 2)
    gid = np.cumsum(first) - 1
    prev = np.where(first, carried[gid, 0], prev)
    back = (s <= prev).astype(np.int64)
    cs = np.cumsum(back)
    base = cs[np.flatnonzero(first)][gid] - back[np.flatnonzero(first)][gid]
    ep = carried[gid, 1] + cs - base
    out[order] = ep
    last = np.flatnonzero(np.concatenate((k[1:] != k[:-1], [True])))
    for i in last:
        last_step[int(k[i])] = (int(s[i]), int(ep[i]))
    return out


def stage_noise(rk: I64, ratio: F64, ok: B, peer: I64, ranks: I64) -> F64:
    """Per rank of ``ranks`` (sorted keys of ``rk``): the robust record-to-record noise
    of its stage's (``peer``) ratios around each rank's own median, over the records
    ``ok`` (the whole buffer: many records)."""
    keys, kidx = np.unique(rk[ok], return_inverse=True)
    med = group_median(ratio[ok], kidx, keys.size)[0]
    dev = np.abs(ratio[ok] / med[kidx] - 1.0)
    groups, gidx = np.unique(peer[ok], return_inverse=True)
    noise = MAD_TO_SD * group_median(dev, gidx, groups.size)[0]
    first = np.zeros(keys.size, dtype=np.int64)
    first[kidx] = gidx
    return np.asarray(noise[first][np.searchsorted(keys, ranks)])
