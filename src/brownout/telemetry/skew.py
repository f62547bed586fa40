"""Per-node clock skew in recorded telemetry: estimated, corrected and named.

Exporters stamp samples with their host's clock. A node whose clock runs
minutes off makes its series look shifted: at the end of a recording it seems
to have stopped reporting, at the start to have joined late. A constant skew
moves *both* ends of a node's data by the same amount, while a real gap or a
late start moves only one, so the two are told apart by comparing each node's
first and last sample times with the fleet's medians.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from brownout.telemetry.frame import Frame

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SkewSettings:
    """Thresholds of the skew estimate.

    Attributes:
        min_skew_s: smaller offsets are left alone (scrape jitter is normal).
        min_intervals: ... and so are offsets under this many scrape intervals.
        agree_intervals: both ends must agree within this many intervals.
    """

    min_skew_s: float = 60.0
    min_intervals: float = 3.0
    agree_intervals: float = 2.0


def scrape_interval_s(frame: Frame) -> float:
    """Typical seconds between consecutive samples of one series."""
    n = len(frame.table)
    if n == 0 or len(frame) < 2:
        return float("nan")
    first, last = np.full(n, np.inf), np.full(n, -np.inf)
    np.minimum.at(first, frame.series, frame.t_s)
    np.maximum.at(last, frame.series, frame.t_s)
    count = np.bincount(frame.series, minlength=n)
    ok = count > 1
    return float(np.median((last[ok] - first[ok]) / (count[ok] - 1))) if ok.any() else float("nan")


def estimate_skew(frame: Frame, n_nodes: int, settings: SkewSettings | None = None) -> F64:
    """Clock offset (seconds, node minus fleet) of every node; 0 where none is evident."""
    cfg = settings or SkewSettings()
    node = frame.table.node[frame.series] if len(frame) else np.zeros(0, np.int32)
    has = node >= 0
    offsets = np.zeros(n_nodes)
    if has.sum() < 2:
        return offsets
    t, nd = frame.t_s[has], node[has]
    first, last = np.full(n_nodes, np.inf), np.full(n_nodes, -np.inf)
    np.minimum.at(first, nd, t)
    np.maximum.at(last, nd, t)
    seen = np.isfinite(first)
    if seen.sum() < 3:  # no fleet to compare with
        return offsets
    d_first = first - np.median(first[seen])
    d_last = last - np.median(last[seen])
    interval = scrape_interval_s(frame)
    interval = interval if np.isfinite(interval) else cfg.min_skew_s
    big = max(cfg.min_skew_s, cfg.min_intervals * interval)
    agree = cfg.agree_intervals * interval
    skewed = (seen & (np.abs(d_first) > big) & (np.abs(d_last) > big)
              & (np.sign(d_first) == np.sign(d_last)) & (np.abs(d_first - d_last) <= agree))
    offsets[skewed] = ((d_first + d_last) / 2)[skewed]
    return offsets


def correct_skew(frame: Frame, offsets: F64) -> Frame:
    """The frame with every node's samples moved back by its offset."""
    if not np.any(offsets) or not len(frame):
        return frame
    node = frame.table.node[frame.series]
    shift = np.where(node >= 0, offsets[np.maximum(node, 0)], 0.0)
    return Frame.from_unsorted(frame.t_s - shift, frame.series, frame.value, frame.table)
