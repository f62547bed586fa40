"""Physical and bookkeeping invariants, as Hypothesis properties over seeds and faults."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brownout.findings import KINDS
from brownout.sim import Simulation
from brownout.sim.physics import H100, throttle
from brownout.sim.recording import GPU_METRICS, NIC_METRICS, PORT_METRICS
from brownout.telemetry.metrics import BY_NAME

from .conftest import small

FAST = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# the small cluster has no rack-scale NVLink domain (tests/sim/test_nvlink.py covers NVL72)
kinds = st.lists(st.sampled_from(sorted(k for k in KINDS if KINDS[k] != "nvlink_domain")),
                 min_size=1, max_size=3, unique=True)
confs = st.lists(st.sampled_from(["fleet_shift", "app_xids", "exporter_restarts", "power_cap",
                                  "diurnal", "job_restarts", "incast"]), max_size=3)


def _sim(seed: int, fault_kinds: list[str], conf_kinds: list[str]) -> Simulation:
    faults = [{"kind": k, "onset_min": [1, 12], "duration_min": [2, 30]} for k in fault_kinds]
    cfs = [{"kind": k, "at_min": [1, 18]} for k in conf_kinds]
    return Simulation(small(faults, cfs, duration_min=20), seed=seed)


@FAST
@given(seed=st.integers(0, 2**31), fk=kinds, ck=confs)
def test_temperature_above_inlet_and_clocks_bounded(seed: int, fk: list[str],
                                                   ck: list[str]) -> None:
    sim = _sim(seed, fk, ck)
    seen = []

    def check(s: Simulation) -> None:
        g = s.gpu
        assert (g.temp_c > g.inlet_c).all()
        assert (g.clock_frac <= 1.0 + 1e-12).all()
        assert (g.clock_frac <= s.effects.gpu_cap + 1e-12).all()
        assert (g.power_w <= s.model.power_cap_w + 1e-6).all()
        seen.append(s.now())

    sim.run(on_tick=check)
    assert len(seen) == sim.ticks
    clocks = sim.recording.matrix("gpu", "DCGM_FI_DEV_SM_CLOCK")
    assert np.nanmax(clocks) <= H100.max_clock_mhz


@settings(max_examples=200, deadline=None)
@given(temp=st.floats(20, 95), util=st.floats(0, 1), cap=st.floats(0.1, 1),
       dyn=st.floats(300, 700))
def test_throttle_never_raises_clocks(temp: float, util: float, cap: float, dyn: float) -> None:
    a = np.array
    clock, reasons = throttle(H100, a([temp]), a([util]), a([dyn]), a([cap]))
    cooler, _ = throttle(H100, a([temp - 5.0]), a([util]), a([dyn]), a([cap]))
    assert clock[0] <= 1.0  # never above the unthrottled clock
    assert clock[0] <= cap + 1e-12
    assert clock[0] <= cooler[0] + 1e-12  # hotter never means faster
    if reasons[0] & 0x4:
        assert clock[0] < 1.0
    if temp >= H100.max_operating_c:
        assert reasons[0] & 0x20
        assert clock[0] < 1.0


@FAST
@given(seed=st.integers(0, 2**31), fk=kinds, ck=confs)
def test_counters_only_fall_at_a_modelled_reset(seed: int, fk: list[str], ck: list[str]) -> None:
    sim = _sim(seed, fk, ck)
    sim.run()
    rec = sim.recording
    resets = [(ev.index, ev.at_s) for ev in sim.events if ev.kind == "exporter_restarts"]
    t = np.array(rec.t_s)
    for group, names, owner in (("gpu", GPU_METRICS, sim.labels.gpu_node),
                                ("nic", NIC_METRICS, sim.labels.nic_node),
                                ("port", PORT_METRICS, None)):
        for name in names:
            if BY_NAME[name].kind != "counter":
                continue
            m = rec.matrix(group, name)
            drops = np.argwhere(np.diff(m, axis=0) < 0)
            for row, col in drops:
                assert owner is not None, f"{name}: switch counter fell"
                node = int(owner[col])
                assert any(n == node and t[row] <= at <= t[row + 1] + 1e-6
                           for n, at in resets), f"{name} fell without a reset"


@FAST
@given(seed=st.integers(0, 2**31), fk=kinds)
def test_truth_lists_every_injected_fault(seed: int, fk: list[str]) -> None:
    sim = _sim(seed, fk, [])
    sim.run()
    truth = sim.truth()
    assert len(sim.faults) == len(fk)
    assert sorted((f.kind, f.component) for f in sim.faults) == sorted(
        (t.kind, t.component) for t in truth)
    for t in truth:
        assert sim.topology.component_type(t.component) == KINDS[t.kind]
        assert sim.scenario.start_s <= t.onset < sim.end_s
        assert t.end is None or t.onset < t.end < sim.end_s


@FAST
@given(seed=st.integers(0, 2**31), fk=kinds)
def test_every_rank_waits_for_the_slowest(seed: int, fk: list[str]) -> None:
    sim = _sim(seed, fk, [])
    sim.run()
    s = sim.steps()
    assert (s.compute_s >= 0).all()
    assert (s.comm_s >= 0).all()
    start = np.round(s.ts - s.compute_s - s.comm_s, 3)  # one start per execution of a step
    key = s.job.astype(np.int64) * 10**7 + s.step
    groups = np.unique(np.stack([key, (start * 1000).astype(np.int64)]), axis=1)
    for k, st0 in groups.T[:80]:
        sel = (key == k) & ((start * 1000).astype(np.int64) == st0)
        if sel.sum() < 2:
            continue
        end_of_compute = s.ts[sel] - s.comm_s[sel]
        # nobody finishes the step before the slowest rank has finished computing
        assert s.ts[sel].min() >= end_of_compute.max() - 1e-6
