"""Each fault kind leaves the evidence spec/findings.md names, across several seeds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from brownout.sim import Simulation
from brownout.sim.faults import Fault
from brownout.telemetry.metrics import HW_SLOWDOWN, SW_THERMAL

from .conftest import small

SEEDS = [1, 2, 3]


def run(kind: str, seed: int, **fault: Any) -> tuple[Simulation, Fault]:
    spec = {"kind": kind, "onset_min": [5, 6], **fault}
    sim = Simulation(small([spec], duration_min=20), seed=seed)
    sim.run()
    return sim, sim.faults[0]


def gpu_series(sim: Simulation, name: str, col: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.array(sim.recording.t_s)
    return t, sim.recording.matrix("gpu", name)[:, col]


def rank_steps(sim: Simulation, gpu: int) -> tuple[np.ndarray, np.ndarray]:
    s = sim.steps()
    mine = (s.node == sim.topology.gpu_node[gpu]) & (s.gpu == sim.topology.gpu_local[gpu])
    return s.ts, mine


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("variant", ["clock_cap", "power_brake", "ecc_storm", "pcie_replays"])
def test_gpu_degraded_slows_its_rank(seed: int, variant: str) -> None:
    sim, f = run("gpu_degraded", seed, variant=variant, magnitude={"slowdown": [1.3, 1.3]})
    s = sim.steps()
    ts, mine = rank_steps(sim, f.index)
    after = ts > f.onset_s + 60
    ratio = np.median(s.compute_s[mine & after]) / np.median(s.compute_s[~mine & after])
    expected = 1.3
    assert ratio == pytest.approx(expected, rel=0.08)
    peers_comm = np.median(s.comm_s[~mine & after]) - np.median(s.comm_s[~mine & ~after])
    assert peers_comm > 0.3  # everyone else waits for it
    t, reasons = gpu_series(sim, "DCGM_FI_DEV_CLOCKS_EVENT_REASONS", f.index)
    if variant in ("clock_cap", "power_brake"):
        assert (reasons[t > f.onset_s + 30].astype(int) & HW_SLOWDOWN).all()
    counter = {"ecc_storm": "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL",
               "pcie_replays": "DCGM_FI_DEV_PCIE_REPLAY_COUNTER"}.get(variant)
    if counter:
        t, c = gpu_series(sim, counter, f.index)
        assert c[-1] - c[t <= f.onset_s][-1] > 20


@pytest.mark.parametrize("seed", SEEDS)
def test_gpu_overheating_runs_hot_and_throttles(seed: int) -> None:
    sim, f = run("gpu_overheating", seed, magnitude={"r_th_mult": [1.7, 1.7]})
    temp = sim.recording.matrix("gpu", "DCGM_FI_DEV_GPU_TEMP")
    t = np.array(sim.recording.t_s)
    late = t > f.onset_s + 300
    peers = np.delete(temp[late], f.index, axis=1)
    assert temp[late, f.index].mean() > np.median(peers) + 15
    reasons = sim.recording.matrix("gpu", "DCGM_FI_DEV_CLOCKS_EVENT_REASONS")[late, f.index]
    assert (reasons.astype(int) & SW_THERMAL).any()
    clocks = sim.recording.matrix("gpu", "DCGM_FI_DEV_SM_CLOCK")[late, f.index]
    assert clocks.mean() < 1900


@pytest.mark.parametrize("seed", SEEDS)
def test_cooling_fault_warms_a_whole_domain_over_minutes(seed: int) -> None:
    sc = small([{"kind": "cooling_fault", "onset_min": [3, 4],
                 "magnitude": {"inlet_rise_c": [15, 15], "tau_min": [5, 5]}}],
               duration_min=25, cluster={"nodes": 8, "racks_per_cooling": 1})
    sim = Simulation(sc, seed=seed)
    sim.run()
    f = sim.faults[0]
    temp = sim.recording.matrix("gpu", "DCGM_FI_DEV_GPU_TEMP")
    util = sim.recording.matrix("gpu", "DCGM_FI_DEV_GPU_UTIL")
    t = np.array(sim.recording.t_s)
    dom = sim.topology.gpu_cooling() == f.index
    busy = np.nanmin(util, axis=0) > 50
    rise = temp[-1] - temp[t <= f.onset_s][-1]
    assert np.median(rise[dom & busy]) > 8
    if (~dom & busy).any():
        assert np.median(rise[~dom & busy]) < 3
    one_min = np.median(temp[(t > f.onset_s) & (t <= f.onset_s + 60)][:, dom & busy])
    assert one_min < np.median(temp[-1, dom & busy]) - 5  # gradual, not a step


@pytest.mark.parametrize("seed", SEEDS)
def test_switch_congestion_raises_wait_and_comm_below_it(seed: int) -> None:
    sc = small([{"kind": "switch_congestion", "onset_min": [5, 6],
                 "magnitude": {"factor": [3, 3]}}], cluster={"nodes": 12}, duration_min=20,
               jobs=[{"name": "job", "nodes": 12, "compute_s": 6.0, "allreduce_gb": 150}])
    sim = Simulation(sc, seed=seed)
    sim.run()
    f = sim.faults[0]
    topo = sim.topology
    wait = sim.recording.matrix("nic", "node_infiniband_port_transmit_wait_total")
    t = np.array(sim.recording.t_s)
    rate = np.diff(wait, axis=0)
    below = topo.nic_switch == f.index
    pre, post = t[1:] < f.onset_s, t[1:] > f.onset_s + 60
    assert rate[post][:, below].mean() > 20 * rate[pre][:, below].mean()
    assert rate[post][:, ~below].mean() < 3 * rate[pre][:, ~below].mean()
    s = sim.steps()
    under = np.isin(s.node, topo.nic_node[below])
    after = s.ts > f.onset_s + 60
    assert np.median(s.comm_s[under & after]) > 1.2 * np.median(s.comm_s[~under & after])
    assert np.median(s.compute_s[under & after]) == pytest.approx(
        np.median(s.compute_s[~under & after]), rel=0.05)


@pytest.mark.parametrize("seed", SEEDS)
def test_nic_degraded_shows_errors_or_rate_and_comm(seed: int) -> None:
    sim, f = run("nic_degraded", seed)
    k = f.index
    t = np.array(sim.recording.t_s)
    after = t > f.onset_s + 60

    def grew(name: str) -> bool:
        m = sim.recording.matrix("nic", name)[:, k]
        return bool(m[-1] > m[t <= f.onset_s][-1])

    rate = sim.recording.matrix("nic", "node_infiniband_rate_bytes_per_second")[after, k]
    assert grew("node_infiniband_symbol_error_total") or (rate < 5e10).all()
    s = sim.steps()
    topo = sim.topology
    mine = (s.node == topo.nic_node[k]) & (s.gpu == topo.nic_gpu[k])  # the rank behind it
    sa = s.ts > f.onset_s + 60
    assert np.median(s.comm_s[mine & sa]) > 1.2 * np.median(s.comm_s[~mine & sa])


@pytest.mark.parametrize("seed", SEEDS)
def test_host_straggler_slows_its_ranks_with_healthy_gpus(seed: int) -> None:
    sim, f = run("host_straggler", seed, magnitude={"slowdown": [1.3, 1.3]})
    s = sim.steps()
    after = s.ts > f.onset_s + 60
    mine = s.node == f.index
    ratio = np.median(s.compute_s[mine & after]) / np.median(s.compute_s[~mine & after])
    assert ratio == pytest.approx(1.3, rel=0.06)
    gpus = sim.topology.gpu_node == f.index
    t = np.array(sim.recording.t_s)
    util = sim.recording.matrix("gpu", "DCGM_FI_DEV_GPU_UTIL")[t > f.onset_s + 30]
    assert util[:, gpus].mean() < util[:, ~gpus & (util.min(axis=0) > 50)].mean() - 10
    reasons = sim.recording.matrix("gpu", "DCGM_FI_DEV_CLOCKS_EVENT_REASONS")[:, gpus]
    assert not (reasons.astype(int) & 0xE8).any()


@pytest.mark.parametrize("seed", SEEDS)
def test_telemetry_loss_silences_a_node_but_steps_go_on(seed: int) -> None:
    sim, f = run("telemetry_loss", seed, duration_min=[4, 4])
    t = np.array(sim.recording.t_s)
    gap = (t > f.onset_s + 1) & (t < (f.end_s or 0) - 1)
    gpus = sim.topology.gpu_node == f.index
    temp = sim.recording.matrix("gpu", "DCGM_FI_DEV_GPU_TEMP")
    assert np.isnan(temp[gap][:, gpus]).all()
    assert not np.isnan(temp[gap][:, ~gpus]).any()
    assert not np.isnan(temp[t > (f.end_s or 0) + 1][:, gpus]).any()
    s = sim.steps()
    in_gap = (s.ts > f.onset_s) & (s.ts < (f.end_s or 0)) & (s.node == f.index)
    assert in_gap.sum() > 8 * 10


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("variant", ["xid79", "xid48", "xid95", "xid119", "xid64"])
def test_gpu_failed_crashes_and_restarts_elsewhere(seed: int, variant: str) -> None:
    sim, f = run("gpu_failed", seed, variant=variant)
    job = sim.jobs[0]
    assert job.crashes == 1
    xid = sim.recording.matrix("gpu", "DCGM_FI_DEV_XID_ERRORS")[:, f.index]
    assert int(variant[3:]) in set(xid[~np.isnan(xid)].astype(int).tolist())
    s = sim.steps()
    before = s.ts <= f.onset_s
    after = s.ts > f.onset_s
    assert s.step[after].min() <= s.step[before].max()  # rolled back to a checkpoint
    assert s.ts[after].min() - f.onset_s >= sim.scenario.jobs[0].restart_s[0] - 1
    bad_node = sim.topology.gpu_node[f.index]
    assert bad_node not in set(s.node[after].tolist())  # restarted on the spare


@pytest.mark.parametrize("seed", SEEDS)
def test_a_hung_jobs_peers_spin_busy_at_a_fraction_of_their_power(seed: int) -> None:
    """Peers read 100 % utilisation but draw little over idle (NCCL polls); a stuck
    kernel's GPU keeps computing at full power."""
    from brownout.sim.hangs import SPIN_POWER, spin_power

    sim, f = run("rank_hang", seed, variant="stuck_kernel", duration_min=[10, 10])
    job = sim.jobs[0].gpus
    peers = job[job != f.index]
    t, _ = gpu_series(sim, "DCGM_FI_DEV_POWER_USAGE", 0)
    power = sim.recording.matrix("gpu", "DCGM_FI_DEV_POWER_USAGE")
    util = sim.recording.matrix("gpu", "DCGM_FI_DEV_GPU_UTIL")
    before, during = t < f.onset_s - 30, (t > f.onset_s + 120) & (t < f.onset_s + 500)
    drop = np.median(power[during][:, peers]) / np.median(power[before][:, peers])
    assert np.median(util[during][:, peers]) >= 95.0
    assert drop < 0.45
    assert np.median(power[during][:, f.index]) > 0.9 * np.median(power[before][:, f.index])
    assert SPIN_POWER[0] <= spin_power(f) <= SPIN_POWER[1] and spin_power(f) == spin_power(f)
