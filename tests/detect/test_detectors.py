"""Each detector on small in-memory clusters: the fault found, at the right component,
and the look-alikes (confounders) left alone. Several seeds, no tuning to one."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from brownout.detect.engine import replay
from brownout.findings import FindingsFile
from brownout.telemetry.metrics import HW_POWER_BRAKE, HW_SLOWDOWN, SW_POWER_CAP
from brownout.telemetry.series import SeriesRegistry
from brownout.telemetry.steps import StepRecords

from .synth import T0, Synth, steps

SEEDS = [1, 2]
Mut = Callable[[int, float, dict[str, np.ndarray]], None]


def run(syn: Synth, mutate: Mut | None = None, n: int = 60,
        st: StepRecords | None = None, metrics: bool = True) -> FindingsFile:
    frame = syn.frame(SeriesRegistry(syn.topo), n, mutate) if metrics else None
    return replay(syn.topo, frame, st)


def kinds(ff: FindingsFile) -> set[tuple[str, str]]:
    return {(f.kind, f.component) for f in ff.findings}


def after(i0: int, fn: Callable[[dict[str, np.ndarray]], None]) -> Mut:
    def mutate(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        if i >= i0:
            fn(d)
    return mutate


# ---------------------------------------------------------------- GPU health
@pytest.mark.parametrize("xid", [79, 48, 95, 119, 64])
def test_fatal_xid_is_gpu_failed_fast(xid: int) -> None:
    seed = xid
    syn = Synth(seed=seed)
    g = int(np.random.default_rng(seed).integers(syn.topo.n_gpus))

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        if i >= 20:
            d["DCGM_FI_DEV_XID_ERRORS"][g] = xid
    ff = run(syn, m)
    assert kinds(ff) == {("gpu_failed", syn.topo.gpu_name(g))}
    f = ff.findings[0]
    assert f.detected_at - (T0 + 20 * 30) <= 45
    assert f.evidence["xid"] == xid


@pytest.mark.parametrize("xid", [13, 31, 43])
def test_application_xids_are_not_hardware_faults(xid: int) -> None:
    syn = Synth(seed=xid)
    ff = run(syn, after(20, lambda d: d["DCGM_FI_DEV_XID_ERRORS"].__setitem__(5, xid)))
    assert ff.findings == ()


@pytest.mark.parametrize("seed", SEEDS)
def test_one_gpu_vanishing_while_node_reports_is_gpu_failed(seed: int) -> None:
    syn = Synth(seed=seed)
    g = 8 * 3 + seed

    def m(d: dict[str, np.ndarray]) -> None:
        for name, arr in d.items():
            if "DCGM" in name:
                arr[g] = np.nan
    assert kinds(run(syn, after(30, m))) == {("gpu_failed", syn.topo.gpu_name(g))}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("symptom", ["clock", "brake", "slowdown", "sbe", "pcie"])
def test_fail_slow_gpu_is_degraded(seed: int, symptom: str) -> None:
    syn = Synth(seed=seed)
    g = 17 + seed

    def m(d: dict[str, np.ndarray]) -> None:
        if symptom == "clock":
            d["DCGM_FI_DEV_SM_CLOCK"][g] = 1400
        elif symptom == "brake":
            d["DCGM_FI_DEV_CLOCKS_EVENT_REASONS"][g] = HW_POWER_BRAKE | HW_SLOWDOWN
        elif symptom == "slowdown":
            d["DCGM_FI_DEV_CLOCKS_EVENT_REASONS"][g] = HW_SLOWDOWN
        elif symptom == "sbe":
            d["+DCGM_FI_DEV_ECC_SBE_VOL_TOTAL"][g] = 300
        else:
            d["+DCGM_FI_DEV_PCIE_REPLAY_COUNTER"][g] = 200
    ff = run(syn, after(25, m))
    assert kinds(ff) == {("gpu_degraded", syn.topo.gpu_name(g))}
    assert ff.findings[0].detected_at - (T0 + 25 * 30) <= 150


@pytest.mark.parametrize("seed", SEEDS)
def test_configured_power_cap_and_fleet_wide_clock_change_are_not_faults(seed: int) -> None:
    syn = Synth(seed=seed)

    def m(d: dict[str, np.ndarray]) -> None:
        d["DCGM_FI_DEV_CLOCKS_EVENT_REASONS"][[3, 11]] = SW_POWER_CAP
        d["DCGM_FI_DEV_SM_CLOCK"][[3, 11]] = 1500
        d["DCGM_FI_DEV_SM_CLOCK"][:] -= 300  # a fleet-wide firmware change
    assert run(syn, after(25, m)).findings == ()


# ------------------------------------------------------------------- thermal
@pytest.mark.parametrize("seed", SEEDS)
def test_one_hot_gpu_is_overheating(seed: int) -> None:
    syn = Synth(seed=seed, n_nodes=16, racks_per_cooling=1)
    g = 40 + seed
    ff = run(syn, after(25, lambda d: d["DCGM_FI_DEV_GPU_TEMP"].__setitem__(
        g, d["DCGM_FI_DEV_GPU_TEMP"][g] + 15)))
    assert kinds(ff) == {("gpu_overheating", syn.topo.gpu_name(g))}
    assert ff.findings[0].evidence["excess_c"] >= 10


@pytest.mark.parametrize("seed", SEEDS)
def test_warm_cooling_domain_is_one_cooling_fault(seed: int) -> None:
    syn = Synth(seed=seed, n_nodes=16, racks_per_cooling=1)  # 4 domains of 32 GPUs
    dom = syn.topo.gpu_cooling() == 2

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        if i >= 25:
            d["DCGM_FI_DEV_GPU_TEMP"][dom] += min(12.0, 1.5 * (i - 24))
    ff = run(syn, m)
    assert kinds(ff) == {("cooling_fault", syn.topo.cooling_domains[2])}


@pytest.mark.parametrize("seed", SEEDS)
def test_fleet_wide_shift_is_a_notice_not_findings(seed: int) -> None:
    syn = Synth(seed=seed, n_nodes=16, racks_per_cooling=1)

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        if i >= 25:
            d["DCGM_FI_DEV_GPU_TEMP"] += min(9.0, 4.5 * (i - 24))
    ff = run(syn, m)
    assert ff.findings == ()
    assert [n.kind for n in ff.notices] == ["fleet_shift"]
    assert ff.notices[0].component == syn.topo.name


# -------------------------------------------------------------------- fabric
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("symptom", ["symbol", "rx", "rate", "down"])
def test_bad_nic_is_nic_degraded(seed: int, symptom: str) -> None:
    syn = Synth(seed=seed, layout="rail" if seed % 2 else "tor")
    k = 20 + seed

    def m(d: dict[str, np.ndarray]) -> None:
        if symptom == "symbol":
            d["+node_infiniband_symbol_error_total"][k] = 1500
        elif symptom == "rx":
            d["+node_infiniband_port_errors_received_total"][k] = 90
        elif symptom == "rate":
            d["node_infiniband_rate_bytes_per_second"][k] = 25e9
        else:
            d["node_infiniband_state_id"][k] = 1
    assert kinds(run(syn, after(25, m))) == {("nic_degraded", syn.topo.nic_name(k))}


@pytest.mark.parametrize("seed", SEEDS)
def test_counter_resets_are_not_errors(seed: int) -> None:
    syn = Synth(seed=seed)

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        if i in (20, 40):  # exporters restart: every counter of node 2 back to zero
            for name in list(d):
                if name.startswith("+"):
                    flag = np.zeros_like(d[name])
                    if name.startswith("+node_"):
                        flag[syn.topo.nic_node == 2] = 1
                    elif name.startswith("+DCGM"):
                        flag[syn.topo.gpu_node == 2] = 1
                    d[f"reset:{name[1:]}"] = flag
    assert run(syn, m).findings == ()


@pytest.mark.parametrize("layout", ["tor", "rail"])
@pytest.mark.parametrize("seed", SEEDS)
def test_hot_switch_is_switch_congestion_not_nics(layout: str, seed: int) -> None:
    syn = Synth(seed=seed, layout=layout, n_nodes=16)
    topo = syn.topo
    leaves = [i for i, s in enumerate(topo.switches) if s.tier == "leaf"]
    s = leaves[seed % len(leaves)]
    nics = topo.nic_switch == s
    ports = np.array([sw == s for sw, _ in syn.ports])

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        if i >= 25:
            d["+node_infiniband_port_transmit_wait_total"][nics] *= 30
            d["+infiniband_switch_port_transmit_wait_total"][ports] *= 30
        if i in (10, 11):  # an incast burst elsewhere: one scrape, not a hotspot
            d["+infiniband_switch_port_transmit_wait_total"][~ports] *= 20
    assert kinds(run(syn, m)) == {("switch_congestion", topo.switches[s].name)}


# ---------------------------------------------------------------- stragglers
@pytest.mark.parametrize("seed", SEEDS)
def test_slow_host_is_host_straggler(seed: int) -> None:
    syn = Synth(seed=seed)
    st = steps(syn.topo, 220, seed=seed, node_slow={3: 1.3}, slow_from_step=60)
    ff = run(syn, st=st)
    assert kinds(ff) == {("host_straggler", syn.topo.nodes[3].name)}
    assert ff.findings[0].detected_at - float(st.ts[st.step == 60].min()) <= 300


@pytest.mark.parametrize("seed", SEEDS)
def test_healthy_spread_stages_and_checkpoints_are_not_stragglers(seed: int) -> None:
    syn = Synth(seed=seed)
    st = steps(syn.topo, 300, seed=seed, spread=0.08, stages=4, checkpoint_every=40)
    assert run(syn, st=st).findings == ()


@pytest.mark.parametrize("seed", SEEDS)
def test_lone_slow_rank_without_gpu_telemetry_is_gpu_degraded(seed: int) -> None:
    syn = Synth(seed=seed)
    g = 30 + seed
    st = steps(syn.topo, 220, seed=seed, gpu_slow={g: 1.35}, slow_from_step=60)
    assert kinds(run(syn, st=st, metrics=False)) == {("gpu_degraded", syn.topo.gpu_name(g))}


# ---------------------------------------------------------------------- gaps
@pytest.mark.parametrize("seed", SEEDS)
def test_silent_node_that_keeps_stepping_is_telemetry_loss(seed: int) -> None:
    syn = Synth(seed=seed)
    n = 1 + seed

    def m(d: dict[str, np.ndarray]) -> None:
        for name, arr in d.items():
            if name.lstrip("+").startswith("DCGM"):
                arr[syn.topo.gpu_node == n] = np.nan
            elif name.lstrip("+").startswith("node_"):
                arr[syn.topo.nic_node == n] = np.nan
    ff = run(syn, after(30, m), st=steps(syn.topo, 220, seed=seed))
    assert kinds(ff) == {("telemetry_loss", syn.topo.nodes[n].name)}
    assert ff.findings[0].recommended_action == "fix_telemetry"
