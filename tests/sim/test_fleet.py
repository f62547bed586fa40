"""Fleet variants of the twin: GPU model physics, telemetry heterogeneity, profiling."""

from __future__ import annotations

import numpy as np
import pytest

from brownout.errors import InputError
from brownout.sim import Simulation, hardware
from brownout.sim.fleet import physics_for
from brownout.telemetry.metrics import SW_THERMAL
from brownout.topology.gpu_models import spec_for

from .conftest import small


@pytest.mark.parametrize("model", ["NVIDIA A100-SXM4-80GB", "NVIDIA B200", "NVIDIA GB200"])
def test_gpus_run_at_their_own_models_limits(model: str) -> None:
    spec = spec_for(model)
    sim = Simulation(small(cluster={"nodes": 6, "layout": "tor", "gpu_model": model},
                           duration_min=5), seed=2)
    sim.run()
    power = sim.recording.matrix("gpu", "DCGM_FI_DEV_POWER_USAGE")[-1]
    clock = sim.recording.matrix("gpu", "DCGM_FI_DEV_SM_CLOCK")[-1]
    busy = power > 0.5 * spec.power_limit_w
    assert busy.sum() == 40  # five busy nodes
    assert np.all(power <= spec.power_limit_w + 1e-6)
    assert np.all(power[busy] > 0.8 * spec.power_limit_w)
    assert np.all(clock <= spec.max_sm_clock_mhz)
    assert sim.topology.nodes[0].gpu_model == model
    assert physics_for(spec).max_operating_c == spec.max_operating_c


def test_profiling_off_drops_prof_fields_and_biases_are_static() -> None:
    tel = {"profiling": False, "temp_sd_c": 1.5, "power_sd": 0.03}
    sim = Simulation(small(telemetry=tel, duration_min=5), seed=3)
    sim.run()
    assert np.isnan(sim.recording.matrix("gpu", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE")).all()
    plain = Simulation(small(duration_min=5), seed=3)
    plain.run()
    d = (sim.recording.matrix("gpu", "DCGM_FI_DEV_GPU_TEMP")
         - plain.recording.matrix("gpu", "DCGM_FI_DEV_GPU_TEMP"))
    assert np.abs(d).max() >= 2  # offsets of a few degrees ...
    assert np.abs(d - np.median(d, axis=0)).max() <= 1  # ... constant over the run


def test_warm_loop_is_a_static_warmer_inlet_not_in_the_truth() -> None:
    warm = {"kind": "warm_loop", "params": {"delta_c": [5, 5]}}
    sim = Simulation(small(confounders=[warm], duration_min=5,
                           cluster={"nodes": 8, "layout": "tor", "racks_per_cooling": 1}), seed=4)
    plain = Simulation(small(duration_min=5,
                             cluster={"nodes": 8, "layout": "tor", "racks_per_cooling": 1}),
                       seed=4)
    d = sim.gpu.inlet_c - plain.gpu.inlet_c
    ev = next(e for e in sim.events if e.kind == "warm_loop")
    assert np.allclose(d[sim.topology.gpu_cooling() == ev.index], 5.0)
    assert np.allclose(d[sim.topology.gpu_cooling() != ev.index], 0.0)
    assert sim.truth() == []


def test_bad_interface_is_placed_inside_a_failing_domain() -> None:
    faults = [{"kind": "cooling_fault", "onset_min": [5, 6]},
              {"kind": "gpu_overheating", "placement": "failing_cooling", "onset_min": [2, 3]}]
    sim = Simulation(small(faults, cluster={"nodes": 8, "layout": "tor",
                                            "racks_per_cooling": 1}), seed=5)
    cool = next(f for f in sim.faults if f.kind == "cooling_fault")
    hot = next(f for f in sim.faults if f.kind == "gpu_overheating")
    assert sim.topology.gpu_cooling()[hot.index] == cool.index
    assert cool.onset_s + 120 <= hot.onset_s <= cool.onset_s + 180
    sim.run()
    bits = sim.recording.matrix("gpu", "DCGM_FI_DEV_CLOCKS_EVENT_REASONS")[:, hot.index]
    assert (np.nan_to_num(bits).astype(np.int64) & SW_THERMAL).any()


def test_bad_interface_avoids_nodes_with_other_faults() -> None:
    # a node whose telemetry is lost would hide the GPU (no telemetry to tell it by)
    faults = [{"kind": "cooling_fault", "onset_min": [5, 6]},
              {"kind": "telemetry_loss", "count": 2, "onset_min": [1, 2]},
              {"kind": "gpu_overheating", "placement": "failing_cooling", "onset_min": [2, 3]}]
    job = [{"name": "job", "nodes": 8, "compute_s": 6.0}]  # every node busy
    for seed in range(6):
        sim = Simulation(small(faults, cluster={"nodes": 8, "layout": "tor",
                                                "racks_per_cooling": 1}, jobs=job), seed=seed)
        lost = {f.index for f in sim.faults if f.kind == "telemetry_loss"}
        hot = next(f for f in sim.faults if f.kind == "gpu_overheating")
        assert int(sim.topology.gpu_node[hot.index]) not in lost, seed


def test_a_gpu_whose_steady_state_is_past_its_limit_starts_held_there() -> None:
    # the run starts warm: such a GPU is already at its limit (as the firmware holds
    # it later), not below it and climbing in the first minute
    model = physics_for(spec_for("NVIDIA H100 80GB HBM3"))
    n = 4
    inlet = np.full(n, 30.0)
    r_th = np.array([0.062, 0.062, 0.1, 0.14])
    st = hardware.GpuState.initial(model, inlet, r_th)
    demand = np.ones(n)
    hardware.settle(st, model, demand, np.full(n, model.dynamic_w), r_th)
    limit = model.max_operating_c + 0.5
    assert np.all(st.temp_c[:2] < model.max_operating_c)
    assert np.allclose(st.temp_c[2:], limit, atol=0.5)
    assert st.power_w[3] < st.power_w[2] < st.power_w[0]


def test_placement_without_a_cooling_fault_is_refused() -> None:
    with pytest.raises(InputError, match="placement"):
        Simulation(small([{"kind": "gpu_overheating", "placement": "failing_cooling"}]), seed=1)
