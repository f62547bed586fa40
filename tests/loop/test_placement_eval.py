"""Placement under one hot cooling domain: aware placement throttles less than first fit."""

from __future__ import annotations

from brownout.loop.placement_eval import throttle_minutes


def test_aware_placement_throttles_less() -> None:
    aware = [throttle_minutes(s, "brownout", minutes=20.0) for s in (81, 82, 83, 84)]
    blind = [throttle_minutes(s, "first_fit", minutes=20.0) for s in (81, 82, 83, 84)]
    assert all(a.hot_nodes == 0 for a in aware)
    assert all(a.throttle_gpu_min <= b.throttle_gpu_min + 1e-9
               for a, b in zip(aware, blind, strict=True))
    assert sum(b.throttle_gpu_min for b in blind) > sum(a.throttle_gpu_min for a in aware)
