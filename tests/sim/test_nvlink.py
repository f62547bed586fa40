"""GB200 NVL72 in the twin: trays in NVLink domains, NVLink telemetry, both NVLink faults."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from brownout.sim import Simulation, load_scenario, scenario_from_dict
from brownout.sim.nvlink import GPU_NVLINK_BIDIR_GBPS, MNNVL_BUSBW_GBPS, plan_job

TX = "DCGM_FI_PROF_NVLINK_TX_BYTES"
CRC = "DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL"
RECOVERY = "DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL"


def nvl(faults: list[dict[str, Any]] | None = None, confounders: list[dict[str, Any]] | None
        = None, trays: int = 36, job_trays: int = 27) -> Simulation:
    """Two NVL72 racks, one job over 1.5 of them (it spans both domains), 20 minutes."""
    doc = {"name": "t", "cluster": {"nodes": trays, "layout": "nvl72"}, "duration_min": 20,
           "jobs": [{"name": "j", "nodes": job_trays, "compute_s": 6.0, "allreduce_gb": 100}],
           "faults": faults or [], "confounders": confounders or []}
    return Simulation(scenario_from_dict(doc, "<test>"), seed=4)


def test_nvl72_layout_is_racks_of_18_four_gpu_trays() -> None:
    topo = nvl().topology
    assert topo.n_gpus == 144 and {n.gpus for n in topo.nodes} == {4}
    assert topo.nvlink_domains == ("nvl01", "nvl02")
    assert np.bincount(topo.gpu_nvlink()).tolist() == [72, 72]  # 72 GPUs per domain
    # per-rack liquid cooling: each domain is its rack and its own cooling loop
    assert {(n.rack, n.cooling, n.nvlink_domain) for n in topo.nodes} == {
        ("r01", "cdu01", "nvl01"), ("r02", "cdu02", "nvl02")}
    assert topo.component_type("nvl02") == "nvlink_domain"


def test_hierarchical_allreduce_is_nvlink_inside_a_domain_and_nics_across() -> None:
    one = plan_job(100.0, 72, 1)
    assert one.nvlink_share == 1.0 and one.nic_bytes == 0.0
    assert one.ar_s == pytest.approx(100 * 2 * 71 / 72 / MNNVL_BUSBW_GBPS, rel=0.01)
    two = plan_job(100.0, 36, 2)
    assert 0.0 < two.nvlink_share < 1.0 and two.nic_bytes > 0
    assert two.ar_s > one.ar_s  # the scale-out fabric is an order of magnitude slower
    assert MNNVL_BUSBW_GBPS < GPU_NVLINK_BIDIR_GBPS / 2  # bus bandwidth under the link peak


def test_busy_gpus_report_nvlink_bandwidth_idle_ones_none() -> None:
    sim = nvl()
    sim.run()
    tx = sim.recording.matrix("gpu", TX)
    busy = sim.recording.matrix("gpu", "DCGM_FI_DEV_GPU_UTIL") > 50
    assert np.median(tx[busy]) > 50e9  # tens to hundreds of GB/s under training
    assert (tx[busy] < GPU_NVLINK_BIDIR_GBPS / 2 * 1e9).all()  # never above one direction's peak
    assert (tx[~busy] == 0).all()


def test_non_nvl72_clusters_export_no_nvlink_bandwidth() -> None:
    sim = Simulation(load_scenario("host_straggler"), seed=1)
    for _ in range(6):
        sim.tick()
    assert np.isnan(sim.recording.matrix("gpu", TX)).all()


@pytest.mark.parametrize("variant", ["crc_errors", "links_down"])
def test_nvlink_degraded_errs_and_loses_bandwidth_against_its_tray(variant: str) -> None:
    sim = nvl([{"kind": "nvlink_degraded", "variant": variant, "onset_min": [5, 6]}])
    sim.run()
    f = sim.faults[0]
    t = np.array(sim.recording.t_s)
    late = t > f.onset_s + 60
    tx = sim.recording.matrix("gpu", TX)[late]
    node = sim.topology.gpu_node[f.index]
    peers = [g for g in np.flatnonzero(sim.topology.gpu_node == node) if g != f.index]
    ratio = np.median(tx[:, f.index]) / np.median(tx[:, peers])
    assert ratio == pytest.approx(f.magnitude["bw_factor"], abs=0.04)
    crc = sim.recording.matrix("gpu", CRC)
    errors = crc[-1, f.index] - crc[t <= f.onset_s][-1, f.index]
    assert errors > (100 if variant == "crc_errors" else 0)
    s = sim.steps()
    mine = (s.node == node) & (s.gpu == sim.topology.gpu_local[f.index]) & (s.ts > f.onset_s)
    if variant == "links_down":  # its rank's collective is held by its links
        assert np.median(s.comm_s[mine]) > np.median(s.comm_s[~mine & (s.ts > f.onset_s)])


def test_nvswitch_fault_errs_every_gpu_of_its_domain_and_no_other() -> None:
    sim = nvl([{"kind": "nvswitch_fault", "onset_min": [5, 6]}])
    sim.run()
    f = sim.faults[0]
    dom = sim.topology.gpu_nvlink()
    rec = sim.recording.matrix("gpu", RECOVERY)[-1] + sim.recording.matrix("gpu", CRC)[-1]
    assert (rec[dom == f.index] > 0).mean() > 0.9
    assert (rec[dom != f.index] > 0).mean() < 0.1
    assert sim.truth()[0].component == sim.topology.nvlink_domains[f.index]


def test_nvlink_phase_drops_a_jobs_traffic_on_every_gpu_alike() -> None:
    sim = nvl(confounders=[{"kind": "nvlink_phase", "at_min": [8, 8],
                            "params": {"duration_s": [300, 300], "traffic_mult": [0.4, 0.4]}}])
    sim.run()
    t = np.array(sim.recording.t_s)
    tx = sim.recording.matrix("gpu", TX)
    job = sim.jobs[0].gpus
    at = sim.events[0].at_s
    before = np.median(tx[(t > at - 200) & (t < at)][:, job], axis=0)
    during = np.median(tx[(t > at + 30) & (t < at + 270)][:, job], axis=0)
    assert np.allclose(during / before, 0.4, atol=0.05)
    assert sim.truth() == []


def test_nvlink_degraded_on_an_hgx_node_moves_only_its_error_counters() -> None:
    doc = {"name": "hgx", "cluster": {"nodes": 4}, "duration_min": 12,
           "jobs": [{"name": "j", "nodes": 3}],
           "faults": [{"kind": "nvlink_degraded", "variant": "crc_errors", "onset_min": [2, 3]}]}
    sim = Simulation(scenario_from_dict(doc, "<test>"), seed=2)
    sim.run()
    crc = sim.recording.matrix("gpu", CRC)[-1]
    assert crc[sim.faults[0].index] > 100 and np.delete(crc, sim.faults[0].index).max() < 5
    assert np.isnan(sim.recording.matrix("gpu", TX)).all()
