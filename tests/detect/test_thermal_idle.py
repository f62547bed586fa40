"""Thermal detection outside a steady load: idle GPUs, and a job's warm-up.

A bad thermal interface raises an idle GPU's temperature over its node's idle
peers by a few degrees (its rise over the coolant is small at idle power);
that is judged against the GPU's own usual idle place, so static differences,
an inlet change and a warming loop (they move a node's GPUs alike) are not.
At a job's start, a GPU that reaches its thermal limit while its working node
peers are still far below is named before they settle.
"""

from __future__ import annotations

import numpy as np
import pytest

from brownout.detect.engine import replay
from brownout.findings import FindingsFile
from brownout.telemetry.metrics import SW_THERMAL
from brownout.telemetry.series import SeriesRegistry

from .synth import T0, Mutator, Synth

SEEDS = [1, 2]
LIMIT_C = 87.0  # H100 SXM maximum operating temperature (the Synth topology's model)
TEMP, POWER, UTIL = "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_GPU_UTIL"
CLOCK, BITS = "DCGM_FI_DEV_SM_CLOCK", "DCGM_FI_DEV_CLOCKS_EVENT_REASONS"
IDLE_W = 95.0


def replay_synth(syn: Synth, mutate: Mutator, n: int) -> FindingsFile:
    return replay(syn.topo, syn.frame(SeriesRegistry(syn.topo), n, mutate), None)


def overheating(ff: FindingsFile) -> list[str]:
    return [f.component for f in ff.findings if f.kind == "gpu_overheating"]


def idle(syn: Synth, d: dict[str, np.ndarray], gpus: np.ndarray, i: int,
         r_mult: np.ndarray | float = 1.0, inlet_add: np.ndarray | float = 0.0) -> None:
    """Make ``gpus`` idle at scrape ``i``: idle power, temperature on integer sensors."""
    rng = np.random.default_rng(1000 + i)
    power = IDLE_W + rng.normal(0.0, 1.5, gpus.size)
    inlet = syn.inlet[syn.topo.gpu_cooling()[gpus]] + inlet_add
    r_th = (syn.r_th * r_mult)[gpus]
    d[POWER][gpus], d[UTIL][gpus], d[CLOCK][gpus] = power, 0.0, 345.0
    d[TEMP][gpus] = np.round(inlet + power * r_th + rng.normal(0.0, 0.3, gpus.size))


@pytest.mark.parametrize("seed", SEEDS)
def test_idle_gpu_with_a_bad_interface_is_named(seed: int) -> None:
    # the whole fleet idles; one GPU's interface goes 1.6x worse: about 3-4 degC at idle
    syn = Synth(seed=seed, n_nodes=16)
    g = 37 + seed
    mult = np.ones(syn.topo.n_gpus)

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        mult[g] = 1.6 if i >= 20 else 1.0
        idle(syn, d, np.arange(syn.topo.n_gpus), i, r_mult=mult)
    ff = replay_synth(syn, m, n=40)
    assert overheating(ff) == [syn.topo.gpu_name(g)]
    f = ff.findings[[x.kind for x in ff.findings].index("gpu_overheating")]
    assert f.evidence["idle"] is True
    assert f.detected_at - (T0 + 20 * 30) <= 150


@pytest.mark.parametrize("seed", SEEDS)
def test_idle_heterogeneity_and_a_node_inlet_change_are_not_overheating(seed: int) -> None:
    # GPUs idle 2-3 degC apart for good (sensor, position); one node's inlet warms
    # 5 degC (rack airflow), the whole fleet 4 degC later (facility): not one GPU is hot
    syn = Synth(seed=seed, n_nodes=16)
    offset = np.random.default_rng(seed).choice([-2.0, 0.0, 0.0, 1.0, 3.0], syn.topo.n_gpus)
    node = np.arange(24, 32)

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        add = np.zeros(syn.topo.n_gpus) + (4.0 if i >= 30 else 0.0)
        add[node] += 5.0 if i >= 15 else 0.0
        idle(syn, d, np.arange(syn.topo.n_gpus), i, inlet_add=add)
        d[TEMP] += offset
    assert overheating(replay_synth(syn, m, n=45)) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_idle_gpus_of_a_warming_loop_are_not_overheating(seed: int) -> None:
    # a cooling loop loses capacity while its GPUs idle: every GPU of it warms 15 degC;
    # some GPUs of a node stay busy meanwhile (only the idle ones are judged together)
    syn = Synth(seed=seed, n_nodes=16)
    dom = syn.topo.gpu_cooling()
    busy = np.arange(16, 20)
    rest = np.setdiff1d(np.arange(syn.topo.n_gpus), busy)

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        warm = np.where(dom == 1, 15.0 * (1.0 - np.exp(-max(i - 15, 0) * 30.0 / 300.0)), 0.0)
        idle(syn, d, rest, i, inlet_add=warm[rest])
        d[TEMP][busy] += warm[busy]
    ff = replay_synth(syn, m, n=45)
    assert overheating(ff) == []


def warm_up(syn: Synth, d: dict[str, np.ndarray], node: np.ndarray, k: int) -> None:
    """Scrape ``k`` of a job's start on ``node``: power steps up, dies heat with 45 s."""
    frac = 1.0 - np.exp(-k * 30.0 / 45.0)
    d[POWER][node] = IDLE_W + (d[POWER][node] - IDLE_W) * min(1.0, 0.4 + 0.2 * k)
    d[TEMP][node] = np.round(syn.inlet[syn.topo.gpu_cooling()[node]] + IDLE_W * syn.r_th[node]
                             + frac * (d[POWER][node] - IDLE_W) * syn.r_th[node])


@pytest.mark.parametrize("seed", SEEDS)
def test_gpu_at_its_limit_while_warming_peers_are_far_below_is_named(seed: int) -> None:
    # a job runs, stops, and starts again at scrape 30: one GPU with a bad interface
    # reaches its limit in a minute and throttles while its node peers climb through
    # the 50s (a warm-up: their power is not steady yet)
    syn = Synth(seed=seed, n_nodes=16)
    node = np.arange(40, 48)
    g = int(node[3 + seed])

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        if 15 <= i < 30:
            idle(syn, d, node, i)
        elif i >= 30:
            warm_up(syn, d, node, i - 30)
        if i >= 32:
            d[TEMP][g], d[BITS][g], d[POWER][g] = LIMIT_C, SW_THERMAL, 0.8 * d[POWER][g]
    ff = replay_synth(syn, m, n=40)
    assert overheating(ff) == [syn.topo.gpu_name(g)]
    f = ff.findings[[x.kind for x in ff.findings].index("gpu_overheating")]
    assert f.evidence["limit_gap"] is True
    assert f.detected_at - (T0 + 32 * 30) <= 90


@pytest.mark.parametrize("seed", SEEDS)
def test_lone_working_gpu_at_its_limit_is_not_named_by_its_idle_peers(seed: int) -> None:
    # one GPU of a node runs (its peers idle, 40 degC below): no peers at work to judge by
    syn = Synth(seed=seed, n_nodes=16)
    node = np.arange(40, 48)
    g = int(node[seed])

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        idle(syn, d, np.setdiff1d(np.arange(syn.topo.n_gpus), [g]), i)
        if i >= 20:
            d[TEMP][g], d[BITS][g] = LIMIT_C, SW_THERMAL
    assert overheating(replay_synth(syn, m, n=30)) == []


SPIN_W = 150.0  # a GPU spinning in a hung job's collective: 100 % busy at a fraction of its power


def spin(syn: Synth, d: dict[str, np.ndarray], gpus: np.ndarray, i: int,
         r_mult: np.ndarray | float = 1.0) -> None:
    """Make ``gpus`` spin at scrape ``i``: utilisation of work, power near idle."""
    idle(syn, d, gpus, i, r_mult=r_mult)
    rng = np.random.default_rng(2000 + i)
    power = SPIN_W + rng.normal(0.0, 2.0, gpus.size)
    inlet = syn.inlet[syn.topo.gpu_cooling()[gpus]]
    d[POWER][gpus], d[UTIL][gpus], d[CLOCK][gpus] = power, 99.0, 1980.0
    r_th = (syn.r_th * r_mult)[gpus] if np.ndim(r_mult) else syn.r_th[gpus] * r_mult
    d[TEMP][gpus] = np.round(inlet + power * r_th + rng.normal(0.0, 0.3, gpus.size))


@pytest.mark.parametrize("seed", SEEDS)
def test_gpu_spinning_in_a_hung_job_with_a_bad_interface_is_named(seed: int) -> None:
    # half the fleet's job hangs at scrape 10 for the rest of the run: its GPUs read
    # 99 % busy at 150 W (neither busy by power nor idle by utilisation); one of them
    # has an interface going 1.7x worse at scrape 20
    syn = Synth(seed=seed, n_nodes=16)
    hung = np.arange(0, 64)
    g = int(hung[9 + seed])
    mult = np.ones(syn.topo.n_gpus)

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        mult[g] = 1.7 if i >= 20 else 1.0
        if i >= 10:
            spin(syn, d, hung, i, r_mult=mult)
    ff = replay_synth(syn, m, n=40)
    assert overheating(ff) == [syn.topo.gpu_name(g)]
    f = ff.findings[[x.kind for x in ff.findings].index("gpu_overheating")]
    assert f.detected_at - (T0 + 20 * 30) <= 180


@pytest.mark.parametrize("seed", SEEDS)
def test_hung_rank_idling_among_spinning_peers_is_not_misplaced(seed: int) -> None:
    # a job hangs because one rank's process stopped: its GPU idles at 95 W next to
    # node peers spinning at 150 W for 15 minutes; then the job is gone and the whole
    # node idles. Its places, idle and spinning, are learned apart: never hot
    syn = Synth(seed=seed, n_nodes=16)
    node = np.arange(16, 24)
    g = int(node[2 + seed])

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        if 8 <= i < 38:
            spin(syn, d, np.setdiff1d(node, [g]), i)
            idle(syn, d, np.array([g]), i)
        elif i >= 38:
            idle(syn, d, np.arange(syn.topo.n_gpus), i)
    assert overheating(replay_synth(syn, m, n=70)) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_stuck_kernel_at_its_limit_among_spinning_peers_is_not_overheating(seed: int) -> None:
    # a job hangs on a kernel that never ends: that GPU computes at full power and
    # reaches its limit while its node peers spin at 150 W, 40 degC below it; its
    # neighbours' idle places are not judged next to it either
    syn = Synth(seed=seed, n_nodes=16)
    hung = np.arange(0, 64)
    g = int(hung[17 + seed])

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        if i >= 10:
            spin(syn, d, np.setdiff1d(hung, [g]), i)
            d[TEMP][g], d[BITS][g] = LIMIT_C, SW_THERMAL
    assert overheating(replay_synth(syn, m, n=40)) == []
