"""Thermal detection at the thermal limit, where temperature stops telling.

A GPU held at its limit by the firmware reads its limit whatever its cooling;
its place among its node's GPUs is only learned from unclamped readings, and
at the limit a bad thermal interface shows as lower power and clock, judged
against what the GPU's usual place already explains. A cooling loop losing
capacity slowly is found from its rise before it reaches the full excess.
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
TEMP, POWER, CLOCK = "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_SM_CLOCK"
BITS = "DCGM_FI_DEV_CLOCKS_EVENT_REASONS"


def replay_synth(syn: Synth, mutate: Mutator, n: int = 60) -> FindingsFile:
    return replay(syn.topo, syn.frame(SeriesRegistry(syn.topo), n, mutate), None)


def overheating(ff: FindingsFile) -> list[str]:
    return [f.component for f in ff.findings if f.kind == "gpu_overheating"]


@pytest.mark.parametrize("seed", SEEDS)
def test_place_is_not_learned_while_the_node_is_held_at_its_limit(seed: int) -> None:
    # a node that starts busy inside a hot domain: all its GPUs held at the limit;
    # once the domain recovers, one GPU sits where it always would (9 degC warmer)
    syn = Synth(seed=seed, n_nodes=16)
    node = np.arange(16, 24)
    g = int(node[seed])

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        d[TEMP][g] += 9.0
        if i < 15:
            d[TEMP][node] = LIMIT_C
            d[BITS][node] = SW_THERMAL
    assert overheating(replay_synth(syn, m)) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_gpu_held_at_its_limit_from_the_first_scrape_is_its_usual_place(seed: int) -> None:
    syn = Synth(seed=seed, n_nodes=16)
    g = 40 + seed

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        d[TEMP][g] = LIMIT_C
        d[BITS][g] = SW_THERMAL if i % 3 == 0 else 0
        d[POWER][g] *= 0.97
    assert overheating(replay_synth(syn, m)) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_throttle_point_counts_the_drop_beyond_the_gpus_usual_place(seed: int) -> None:
    # a GPU that always ran 8 degC warm; its node's peers warm to 3 degC below the
    # limit; it reaches the limit at 60 % of their power and clock: that is far more
    # than its usual place explains (about 90 % of their power at the limit)
    syn = Synth(seed=seed, n_nodes=16)
    node = np.arange(16, 24)
    g = int(node[2 + seed])

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        d[TEMP][g] += 8.0
        if i >= 25:
            d[TEMP][node] = LIMIT_C - 3.0 + np.round(np.random.default_rng(i).normal(0, 0.5, 8))
            d[TEMP][g], d[BITS][g] = LIMIT_C, SW_THERMAL
            d[POWER][g] *= 0.6
            d[CLOCK][g] *= 0.6
    ff = replay_synth(syn, m)
    assert syn.topo.gpu_name(g) in overheating(ff)
    f = next(f for f in ff.findings if f.component == syn.topo.gpu_name(g))
    assert f.evidence["throttle_point"] is True
    assert f.detected_at - (T0 + 25 * 30) <= 300


@pytest.mark.parametrize("seed", SEEDS)
def test_slow_cooling_ramp_is_found_within_five_minutes(seed: int) -> None:
    # the slowest loop failure the twin draws: 10 degC over a 12-minute time constant
    syn = Synth(seed=seed, n_nodes=16)  # 4 domains of 32 GPUs
    dom = syn.topo.gpu_cooling() == 1

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        if i >= 25:
            d[TEMP][dom] += 10.0 * (1.0 - np.exp(-(i - 25) * 30.0 / 720.0))
    ff = replay_synth(syn, m, n=50)
    found = [f for f in ff.findings if f.kind == "cooling_fault"]
    assert [f.component for f in found] == [syn.topo.cooling_domains[1]]
    assert found[0].detected_at - (T0 + 25 * 30) <= 300


@pytest.mark.parametrize("seed", SEEDS)
def test_gpu_back_from_a_clock_cap_is_not_overheating(seed: int) -> None:
    # clocks capped for another reason: it draws half its peers' power and runs cooler
    # for a quarter of an hour; when the cap lifts it is back at its usual place
    syn = Synth(seed=seed, n_nodes=16)
    g = 50 + seed

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        if 8 <= i < 40:
            d[POWER][g] *= 0.55
            d[CLOCK][g] *= 0.55
            d[TEMP][g] -= 15.0
    assert overheating(replay_synth(syn, m, n=70)) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_gpu_warm_from_its_power_draw_is_judged_at_its_thermal_resistance(seed: int) -> None:
    # a GPU that always draws 18 % more power than its node peers (held at its power cap)
    # runs about 7 degC warmer for that alone, at the same thermal resistance; its
    # interface goes bad inside a hot domain: at the limit it draws 72 % of their power.
    # Only its thermal resistance sets what it draws at the limit, not its power draw
    syn = Synth(seed=seed, n_nodes=16)
    node = np.arange(16, 24)
    g = int(node[2 + seed])

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        extra_w = 0.18 * d[POWER][g]
        d[POWER][g] += extra_w
        d[TEMP][g] += np.round(extra_w * syn.r_th[g])
        if i >= 25:
            d[TEMP][node] = LIMIT_C - 2.0 + np.round(np.random.default_rng(i).normal(0, 0.5, 8))
            d[TEMP][g], d[BITS][g] = LIMIT_C, SW_THERMAL
            d[POWER][g] = 0.72 * np.median(d[POWER][node])
            d[CLOCK][g] *= 0.6
    ff = replay_synth(syn, m)
    assert syn.topo.gpu_name(g) in overheating(ff)


@pytest.mark.parametrize("seed", SEEDS)
def test_gpu_throttled_below_half_its_peers_power_is_still_judged(seed: int) -> None:
    # a bad interface inside a very hot domain: the GPU holds its limit at 45 % of its
    # peers' power while fully utilised; power is the symptom here, not a sign of idling
    syn = Synth(seed=seed, n_nodes=16)
    node = np.arange(16, 24)
    g = int(node[1 + seed])

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        if i >= 25:
            d[TEMP][node] = LIMIT_C - 2.0 + np.round(np.random.default_rng(i).normal(0, 0.5, 8))
            d[TEMP][g], d[BITS][g] = LIMIT_C, SW_THERMAL
            d[POWER][g] *= 0.45
            d[CLOCK][g] *= 0.45
    ff = replay_synth(syn, m)
    assert syn.topo.gpu_name(g) in overheating(ff)


@pytest.mark.parametrize("seed", SEEDS)
def test_node_joining_a_job_one_scrape_apart_and_warming_up_is_not_overheating(
        seed: int) -> None:
    """A node idle until a job starts on it: half its GPUs busy a scrape before the
    rest, all warming up over minutes, three of them statically 9 degC warmer (their
    usual place, never seen before). No usual place is learned from the half-busy
    node or the warm-up, and a place never seen is no fault."""
    syn = Synth(seed=seed, n_nodes=16)
    node = np.arange(10 * 8, 11 * 8)  # node 10's GPUs
    first = node[[2, 3, 4, 6]]

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        busy = np.zeros(node.size, dtype=bool) if i < 20 else np.isin(node, first) if (
            i == 20) else np.ones(node.size, dtype=bool)
        idle_c = d[TEMP][node] - (d[POWER][node] - 90.0) * syn.r_th[node]
        warm = 1.0 - np.exp(-max(i - 19, 0) / 4.0)  # minutes to warm up
        hot = np.where(np.isin(node, node[[2, 3, 6]]), 9.0, 0.0)
        d[TEMP][node] = np.where(busy, idle_c + warm * (d[TEMP][node] - idle_c + hot), idle_c)
        d[POWER][node] = np.where(busy, d[POWER][node], 90.0)
        d["DCGM_FI_DEV_GPU_UTIL"][node] = np.where(busy, d["DCGM_FI_DEV_GPU_UTIL"][node], 0.0)
    assert overheating(replay_synth(syn, m)) == []
