"""Clock skew: a constant offset is found and undone; real gaps are left alone."""

from __future__ import annotations

import numpy as np
import pytest

from brownout.telemetry.series import SeriesRegistry
from brownout.telemetry.skew import correct_skew, estimate_skew
from brownout.topology.generate import generate_topology


def _frame(offsets_s: list[float], stop_early: int | None = None, seed: int = 0):
    topo = generate_topology(len(offsets_s))
    reg = SeriesRegistry(topo)
    rng = np.random.default_rng(seed)
    t_all, s_all = [], []
    for n, off in enumerate(offsets_s):
        sid = reg.id_for("DCGM_FI_DEV_GPU_TEMP", {"Hostname": topo.nodes[n].name, "gpu": "0"})
        k = 120 if stop_early != n else 80  # 60 min of 30 s scrapes, or 40 min
        t = 1_764_000_000 + 30 * np.arange(k) + rng.uniform(0, 3, k) + off
        t_all.append(t)
        s_all.append(np.full(k, sid, np.int32))
    from brownout.telemetry.frame import Frame

    t = np.concatenate(t_all)
    return topo, Frame.from_unsorted(t, np.concatenate(s_all), np.ones(t.size), reg.table())


@pytest.mark.parametrize("seed", range(5))
def test_constant_offset_is_estimated_and_undone(seed: int) -> None:
    rng = np.random.default_rng(seed)
    off = float(rng.choice([-1, 1]) * rng.uniform(120, 300))
    topo, frame = _frame([0, 0, 0, off, 0, 0], seed=seed)
    skew = estimate_skew(frame, topo.n_nodes)
    assert skew[3] == pytest.approx(off, abs=5)
    assert np.count_nonzero(skew) == 1
    fixed = correct_skew(frame, skew)
    assert np.all(np.diff(fixed.t_s) >= 0)
    assert abs(fixed.t_s.max() - frame.t_s.max() + (off if off > 0 else 0)) < 10


def test_a_node_that_stops_is_not_skew() -> None:
    topo, frame = _frame([0, 0, 0, 0, 0], stop_early=2)
    assert not np.any(estimate_skew(frame, topo.n_nodes))


def test_scrape_jitter_is_not_skew() -> None:
    topo, frame = _frame([0, 4, -3, 8, 0])
    assert not np.any(estimate_skew(frame, topo.n_nodes))
