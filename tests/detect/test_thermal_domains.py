"""Cooling domains after a fault: a repaired loop's tail, and references when few are seen.

A repaired loop's coolant cools back with the loop's time constant, so its
GPUs stay warm for minutes after the repair, often unseen meanwhile (a job
stopped); seen again, that is the same fault ending, never a second one. A
domain is judged against the domains seen now: one recovering from its own
fault (colder than the baselines it learned meanwhile) is no reference, even
when most domains are not seen at all.
"""

from __future__ import annotations

import numpy as np
import pytest

from brownout.detect.api import Candidate
from brownout.detect.engine import replay
from brownout.detect.localise import Localiser
from brownout.findings import FindingsFile
from brownout.telemetry.series import SeriesRegistry

from .synth import T0, Mutator, Synth

SEEDS = [1, 2]
TEMP, POWER, UTIL = "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_GPU_UTIL"
IDLE_W = 90.0


def replay_synth(syn: Synth, mutate: Mutator, n: int) -> FindingsFile:
    return replay(syn.topo, syn.frame(SeriesRegistry(syn.topo), n, mutate), None)


def cooling(ff: FindingsFile) -> list[str]:
    return [f.component for f in ff.findings if f.kind == "cooling_fault"]


def loop(i: int, start: int, end: int, rise_c: float, tau_scrapes: float) -> float:
    """Inlet rise of a loop failing at ``start`` and repaired at ``end`` (scrape numbers)."""
    if i < start:
        return 0.0
    peak = rise_c * (1.0 - np.exp(-(min(i, end) - start) / tau_scrapes))
    return float(peak if i <= end else peak * np.exp(-(i - end) / tau_scrapes))


@pytest.mark.parametrize("seed", SEEDS)
def test_repaired_loop_seen_again_warm_is_not_a_second_fault(seed: int) -> None:
    # a loop fails (12 degC, 5-minute time constant), is repaired at scrape 40 while its
    # GPUs go unseen for 7 minutes (its finding resolves); seen again, it is still about
    # 4 degC warm and cooling
    syn = Synth(seed=seed, n_nodes=16)  # 4 domains of 32 GPUs, 30 s scrapes
    dom = syn.topo.gpu_cooling() == 1

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        d[TEMP][dom] += loop(i, 10, 40, 12.0, 10.0)
        if 36 <= i < 50:
            d[TEMP][dom] = np.nan
    assert cooling(replay_synth(syn, m, n=90)) == [syn.topo.cooling_domains[1]]


@pytest.mark.parametrize("seed", SEEDS)
def test_new_fault_warmer_than_the_last_is_reported_in_the_tail(seed: int) -> None:
    # the same loop fails again while still warm, and grows far warmer than before
    syn = Synth(seed=seed, n_nodes=16)
    dom = syn.topo.gpu_cooling() == 1

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        d[TEMP][dom] += loop(i, 10, 40, 8.0, 6.0) + loop(i, 60, 200, 16.0, 6.0)
        if 36 <= i < 50:
            d[TEMP][dom] = np.nan
    assert cooling(replay_synth(syn, m, n=90)) == [syn.topo.cooling_domains[1]] * 2


@pytest.mark.parametrize("seed", SEEDS)
def test_domain_is_not_judged_against_one_recovering_domain(seed: int) -> None:
    # domains 0 and 2 fail and are repaired; then domains 2 and 3 are not seen (idle),
    # domain 0 reads colder than the baselines it learned while failing, and domain 1
    # (healthy) is the only other domain seen: it must not look warm against domain 0
    syn = Synth(seed=seed, n_nodes=16)
    of = syn.topo.gpu_cooling()

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        if 10 <= i < 30:
            d[TEMP][(of == 0) | (of == 2)] += 10.0
        if 30 <= i < 60:
            d[TEMP][of == 0] -= 6.0
            d[TEMP][(of == 2) | (of == 3)] = np.nan
    found = cooling(replay_synth(syn, m, n=60))
    assert syn.topo.cooling_domains[1] not in found


@pytest.mark.parametrize("seed", SEEDS)
def test_job_stop_inside_a_failing_loop_does_not_end_its_finding(seed: int) -> None:
    # the loop stays 10 degC warm; its job stops for 10 minutes (its GPUs idle, seen
    # idle for the first time) and starts again: the fault never went away, and its
    # one finding stays open throughout (the GPUs join at their loop's excess, not
    # at the fleet's, so the loop does not look healed)
    syn = Synth(seed=seed, n_nodes=16)
    dom = syn.topo.gpu_cooling() == 1

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        d[TEMP][dom] += loop(i, 10, 200, 10.0, 4.0)
        if 30 <= i < 50:
            d[TEMP][dom] -= np.round((d[POWER][dom] - IDLE_W) * syn.r_th[dom])
            d[POWER][dom], d[UTIL][dom] = IDLE_W, 0.0
    ff = replay_synth(syn, m, n=70)
    found = [f for f in ff.findings if f.kind == "cooling_fault"]
    assert [f.component for f in found] == [syn.topo.cooling_domains[1]]
    resolved = found[0].resolved_at
    assert resolved is None or resolved >= T0 + 50 * 30


def test_silent_overheating_gpu_in_a_failing_loop_stays_explained_by_it() -> None:
    # a GPU raised hot mid-loop-failure is kept raised while its exporter is silent; its
    # excess is then unknown (NaN), which must not read as "far hotter than its peers"
    topo = Synth(seed=1, n_nodes=16).topo
    gpu = topo.gpu_name(5)
    loop = topo.nodes[topo.gpu_node[5]].cooling
    loc = Localiser(topo)
    for excess, explained in ((float("nan"), True), (None, True), (4.0, True), (20.0, False)):
        c = Candidate("gpu_overheating", gpu, 0.0, 0.8, "major", "investigate", "hot",
                      {"excess_c": excess, "idle": False}, source="thermal")
        assert loc._in_cooling_fault(c, {loop}) is explained, excess
