"""Nodes someone else drained leave the detectors' peer pool (issue 15 item 5)."""

from __future__ import annotations

import numpy as np

from brownout.detect.engine import Engine
from brownout.telemetry.series import SeriesRegistry

from .synth import Synth


def _run(out_of_pool: list[str]) -> list[tuple[str, str]]:
    syn = Synth(seed=6)

    def slow(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        if i >= 10:
            d["DCGM_FI_DEV_SM_CLOCK"][9] = 1300  # GPU 9 runs far below its peers
    engine = Engine(syn.topo)
    engine.set_out_of_pool(out_of_pool)
    engine.push(syn.frame(SeriesRegistry(syn.topo), 60, slow))
    engine.advance(engine.end_of_data_s() + 15)
    return [(f.kind, f.component) for f in engine.result().findings]


def test_a_node_drained_by_someone_else_is_nobodys_peer_and_not_blind() -> None:
    syn = Synth(seed=6)
    gpu, node = syn.topo.gpu_name(9), syn.topo.nodes[int(syn.topo.gpu_node[9])].name
    assert ("gpu_degraded", gpu) in _run([])
    found = _run([node])
    assert all(not c.startswith(node) for _, c in found)  # not compared, not reported
    assert all(k != "telemetry_loss" for k, _ in found)  # it still reports: not blind
    assert _run(["not-a-node"]) == _run([])
