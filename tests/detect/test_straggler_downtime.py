"""A slow host whose job hangs, or restarts, is still the same slow host.

Real jobs stop: a hang until the watchdog, a crash, a restart from the last
checkpoint. A host that turned slow just before its job stopped is slow
after the restart too; its spell before the stop counts toward persistence,
so it is named as soon as the restarted job shows it again, not a whole
persistence period later. A stop alone never makes a finding: without
slowness after the restart nothing is named.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from brownout.detect.engine import replay
from brownout.findings import FindingsFile
from brownout.telemetry.steps import StepRecords, build_steps
from brownout.topology.generate import generate_topology
from brownout.topology.model import Topology

from .synth import T0

STEP_S = 12.0
SLOW_NODE = 3


def job(topo: Topology, seed: int, *, before: int, slow_before: int, down_s: float,
        after: int, slow_after: bool, factor: float = 1.35, renumber: bool = False
        ) -> tuple[StepRecords, float]:
    """One job on every node: ``before`` steps (the last ``slow_before`` with
    SLOW_NODE 1.35x), a stop of ``down_s``, a restart from step 0 for ``after``
    steps (SLOW_NODE 1.35x throughout when ``slow_after``). Returns the records
    and the time of the first record after the restart. ``renumber``: the restart
    gives every GPU another rank number (ranks shift by one node)."""
    rng = np.random.default_rng(seed)
    ranks = topo.n_nodes * 8
    speed = 1.0 + rng.uniform(0, 0.07, ranks)
    node = np.arange(ranks) // 8
    rows: list[dict[str, Any]] = []
    t = T0
    plan = [(s, s >= before - slow_before) for s in range(before)]
    plan += [(-1, False)] + [(s, slow_after) for s in range(after)]
    restart_ts, stopped = np.nan, False
    for step, slow in plan:
        if step < 0:
            t, stopped = t + down_s, True
            continue
        comp = STEP_S * speed * rng.uniform(0.97, 1.03, ranks)
        comp[node == SLOW_NODE] *= factor if slow else 1.0
        t += comp.max() + 1.0
        restart_ts = t if stopped and np.isnan(restart_ts) else restart_ts
        shift = 8 if renumber and stopped else 0
        rows += [{"ts": t + rng.uniform(0, 0.05), "job": "job0", "step": step,
                  "rank": (r + shift) % ranks,
                  "node": topo.nodes[node[r]].name, "gpu": r % 8, "compute_s": float(comp[r]),
                  "comm_s": float(t - comp[r])} for r in range(ranks)]
    return build_steps(rows, topo), float(restart_ts)


def hosts(ff: FindingsFile) -> list[tuple[str, float]]:
    return [(f.component, f.detected_at) for f in ff.findings if f.kind == "host_straggler"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_host_slow_before_a_stop_is_named_as_soon_as_the_restart_shows_it(seed: int) -> None:
    topo = generate_topology(8, layout="tor")
    st, restart = job(topo, seed, before=40, slow_before=5, down_s=900.0, after=30,
                      slow_after=True)
    found = hosts(replay(topo, None, st))
    assert [c for c, _ in found] == [topo.nodes[SLOW_NODE].name], f"seed {seed}: {found}"
    # a level needs 7 records after the restart (the stop is no evidence of speed);
    # the spell before the stop already persisted, so no second persistence period
    assert found[0][1] - restart <= 8 * (STEP_S * 1.35 + 1.0), f"seed {seed}: {found}"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_stop_alone_names_nothing(seed: int) -> None:
    topo = generate_topology(8, layout="tor")
    st, _ = job(topo, seed, before=40, slow_before=3, down_s=900.0, after=30,
                slow_after=False)
    assert hosts(replay(topo, None, st)) == [], f"seed {seed}"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_restart_that_renumbers_ranks_keeps_each_gpus_baseline(seed: int) -> None:
    """A host 1.17x slow only after a restart that gave every GPU a new rank number:
    under the peers bar (20 %), so only the GPUs' own past shows it, and that past
    belongs to the GPU and its host, not to the rank number."""
    topo = generate_topology(8, layout="tor")
    st, restart = job(topo, seed, before=40, slow_before=0, down_s=300.0, after=40,
                      slow_after=True, factor=1.17, renumber=True)
    found = hosts(replay(topo, None, st))
    assert [c for c, _ in found] == [topo.nodes[SLOW_NODE].name], f"seed {seed}: {found}"
    assert restart < found[0][1] <= restart + 20 * (STEP_S * 1.17 + 1.0), f"seed {seed}"
