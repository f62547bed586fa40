"""rank_hang -> restart_job; a node that hangs twice within the window is drained.

Hangs go through the same guardrails and approvals as every action: a
property test drives random hangs (and other faults) through a tight config
and checks the limits, and that in approval mode nothing disruptive runs
unapproved.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_factories import make_finding
from test_guardrails import TIGHT, _check_limits

from brownout.clock import ManualClock
from brownout.executors.fake import FakeExecutor
from brownout.findings import Finding
from brownout.policy.actions import DISRUPTIVE, DRAIN_NODE, NOTIFY, RESTART_JOB
from brownout.policy.config import PolicyConfig
from brownout.policy.controller import Controller
from brownout.policy.journal import Journal
from brownout.policy.rules import PolicyInput, decide
from brownout.topology.generate import generate_topology

CFG = PolicyConfig(hang_repeat_window_s=3600.0)


def hang(component: str, fid: str, at_s: float = 10_000.0, confidence: float = 0.9) -> Finding:
    return make_finding("rank_hang", component, "critical", confidence, at_s, fid=fid)


def kinds_of(f: Finding, past: dict[str, tuple[float, ...]] | None = None) -> list[str]:
    return [a.kind for a in decide(PolicyInput((f,), now_s=f.detected_at,
                                               past_hangs=past or {}), CFG)]


def test_a_hang_restarts_the_job() -> None:
    assert kinds_of(hang("n0003/gpu5", "f1")) == [RESTART_JOB, NOTIFY]


def test_the_same_incident_is_no_repeat() -> None:
    # acted on at 10 000 s: the finding itself, or another rank of the node in the same hang
    # (onset 9 940 s)
    assert kinds_of(hang("n0003/gpu5", "f1"), {"n0003": (10_000.0,)}) == [RESTART_JOB, NOTIFY]


def test_a_second_hang_of_the_node_drains_it() -> None:
    assert kinds_of(hang("n0003/gpu1", "f2"), {"n0003": (5_000.0,)}) == [
        DRAIN_NODE, RESTART_JOB, NOTIFY]


def test_a_rank_without_a_node_only_notifies() -> None:
    f = make_finding("rank_hang", "rank12", fid="f3")
    f = Finding(**{**f.__dict__, "component_type": "rank"})
    assert kinds_of(f) == [NOTIFY]


def test_a_low_confidence_hang_only_notifies() -> None:
    assert kinds_of(hang("n0003/gpu5", "f4", confidence=0.5)) == [NOTIFY]


def test_the_controller_counts_hangs_within_the_window_only() -> None:
    clock = ManualClock(10_000.0)
    ex = FakeExecutor()
    ctl = Controller(generate_topology(16), ex, Journal(":memory:", "fake"), CFG, clock)
    ctl.step((hang("n0003/gpu5", "f1", clock.now()),))
    assert [a.kind for a in ex.executed] == [RESTART_JOB, NOTIFY]
    clock.advance(7200.0)  # past the window: a fresh hang is a first hang again
    ctl.step((hang("n0003/gpu2", "f2", clock.now()),))
    assert [a.kind for a in ex.executed[2:]] == [RESTART_JOB, NOTIFY]
    clock.advance(1900.0)  # within the window of f2 (and past the cooldown)
    ctl.step((hang("n0003/gpu6", "f3", clock.now()),))
    assert [a.kind for a in ex.executed[4:]] == [DRAIN_NODE, RESTART_JOB, NOTIFY]


hang_st = st.tuples(st.integers(1, 64), st.integers(0, 7), st.floats(0.3, 1.0),
                    st.sampled_from(["rank_hang", "rank_hang", "gpu_failed", "host_straggler"]))
batches_st = st.lists(st.tuples(st.integers(0, 2000), st.lists(hang_st, max_size=10)),
                      min_size=1, max_size=12)


def _findings(i: int, items: list[tuple[int, int, float, str]], now_s: float
              ) -> tuple[Finding, ...]:
    out = []
    for j, (n, g, conf, kind) in enumerate(items):
        comp = f"n{n:04d}" if kind == "host_straggler" else f"n{n:04d}/gpu{g}"
        out.append(make_finding(kind, comp, "critical", conf, now_s, fid=f"h{i}-{j}"))
    return tuple(out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches_st, st.booleans())
def test_hangs_never_bypass_the_guardrails(batches: list, approval: bool) -> None:  # type: ignore[type-arg]
    topo = generate_topology(64)
    cfg = TIGHT.replace(hang_repeat_window_s=6 * 3600.0,
                        approval_mode="disruptive" if approval else "off")
    clock = ManualClock(1_000_000.0)
    journal = Journal(":memory:", "fake")
    ex = FakeExecutor()
    ctl = Controller(topo, ex, journal, cfg, clock)
    for i, (dt_s, items) in enumerate(batches):
        clock.advance(float(dt_s))
        ctl.step(_findings(i, items, clock.now()))
        _check_limits(topo, journal, cfg)
        if approval:  # nothing disruptive runs without a person's yes
            assert not [a for a in ex.executed if a.kind in DISRUPTIVE]
    journal.close()
