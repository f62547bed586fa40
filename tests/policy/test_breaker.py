"""The circuit breaker trips on fleet-wide shifts and mass telemetry loss, loudly."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from policy_factories import make_finding

from brownout.clock import ManualClock
from brownout.executors.fake import FakeExecutor
from brownout.policy.actions import NOTIFY
from brownout.policy.breaker import Breaker, read_breaker
from brownout.policy.config import PolicyConfig
from brownout.policy.controller import Controller
from brownout.policy.journal import Journal
from brownout.topology.generate import generate_topology

CFG = PolicyConfig()


@settings(deadline=None)
@given(n_nodes=st.integers(10, 2000), frac=st.floats(0.0, 1.0), seed=st.integers(0, 2**16))
def test_breaker_trips_on_a_fleet_wide_shift(n_nodes: int, frac: float, seed: int) -> None:
    k = int(frac * n_nodes)
    start = seed % n_nodes
    nodes = [f"n{(start + i) % n_nodes + 1:05d}" for i in range(k)]
    fs = tuple(make_finding("gpu_overheating", f"{n}/gpu0", "major") for n in nodes)
    r = read_breaker(fs, (), n_nodes, CFG)
    assert r.tripped == (k / n_nodes >= CFG.breaker_anomaly_fraction)
    if r.tripped:
        assert (r.rule, r.limit) == ("anomaly_fraction", CFG.breaker_anomaly_fraction)
        assert r.observed == k / n_nodes and "fleet-wide" in r.reason


@settings(deadline=None)
@given(n_nodes=st.integers(10, 2000), frac=st.floats(0.0, 1.0))
def test_breaker_trips_on_mass_telemetry_loss(n_nodes: int, frac: float) -> None:
    k = int(frac * n_nodes)
    fs = tuple(make_finding("telemetry_loss", f"n{i + 1:05d}", "major") for i in range(k))
    r = read_breaker(fs, (), n_nodes, CFG)
    assert r.tripped == (k / n_nodes >= CFG.breaker_blind_fraction)
    if r.tripped:
        assert r.rule == "telemetry_loss_fraction" and "blind" in r.reason


def test_fleet_shift_notice_trips_and_small_fleets_are_exempt() -> None:
    notice = make_finding("gpu_overheating", "demo", "major")
    shift = notice.__class__(**{**notice.to_json(), "kind": "fleet_shift",
                                "summary": "every GPU +10 degC at 12:00"})
    assert read_breaker((), (shift,), 100, CFG).rule == "fleet_shift_notice"
    outage = notice.__class__(**{**notice.to_json(), "kind": "telemetry_outage",
                                 "summary": "40 nodes silent at once"})
    r = read_breaker((), (outage,), 100, CFG)
    assert r.tripped and r.rule == "telemetry_outage_notice" and "silent" in r.reason
    later = make_finding("gpu_degraded", "n1/gpu0", "major",
                         at_s=shift.detected_at + CFG.breaker_reset_s + 1)
    assert not read_breaker((later,), (shift,), 100, CFG).tripped  # an old notice is history
    fs = tuple(make_finding("gpu_degraded", f"n{i}/gpu0", "major") for i in range(5))
    assert not read_breaker(fs, (), 5, CFG).tripped


def test_breaker_stays_open_until_its_cause_is_gone_for_reset_s() -> None:
    fs = tuple(make_finding("telemetry_loss", f"n{i:04d}", "major") for i in range(1, 30))
    b = Breaker().update(read_breaker(fs, (), 64, CFG), 100.0, 900.0)
    assert b.open
    quiet = read_breaker((), (), 64, CFG)
    assert b.update(quiet, 999.0, 900.0).open
    assert not b.update(quiet, 1000.0, 900.0).open


def test_open_breaker_refuses_all_isolation_but_notifies() -> None:
    topo = generate_topology(64)
    journal = Journal(":memory:", "fake")
    ex = FakeExecutor()
    clock = ManualClock(10_000.0)
    ctl = Controller(topo, ex, journal, CFG, clock)
    fs = tuple(make_finding("gpu_failed", f"n{i:04d}/gpu0", "critical", evidence={"xid": 79})
               for i in range(1, 20))  # 19 of 64 nodes hot at once: > 20 %? no: add loss
    fs += tuple(make_finding("telemetry_loss", f"n{i:04d}", "major") for i in range(20, 30))
    report = ctl.step(fs)
    assert report.breaker.open
    assert {a.kind for a in ex.executed} == {NOTIFY}
    assert report.refused and {r.rule for r in report.refused} == {"circuit_breaker"}
    # the breaker is remembered by the journal: a quiet snapshot right after is still refused
    clock.advance(60.0)
    report2 = ctl.step((make_finding("gpu_failed", "n0040/gpu1", evidence={"xid": 79}),))
    assert report2.breaker.open and {r.rule for r in report2.refused} == {"circuit_breaker"}
    clock.advance(CFG.breaker_reset_s)
    report3 = ctl.step((make_finding("gpu_failed", "n0041/gpu1", evidence={"xid": 79}),))
    assert not report3.breaker.open and not report3.refused
