"""The controller: journal before execution, retries with back-off, recovery by read-back."""

from __future__ import annotations

from pathlib import Path

from policy_factories import make_finding

from brownout.clock import ManualClock
from brownout.errors import ExecutorError
from brownout.executors.fake import FakeExecutor
from brownout.policy.actions import DRAIN_NODE, NOTIFY, RETURN_NODE, Action
from brownout.policy.config import PolicyConfig
from brownout.policy.controller import Controller
from brownout.policy.journal import Journal
from brownout.policy.ports import Observation, PermanentExecutorError
from brownout.policy.states import DRAINING, HEALTHY, IN_REPAIR, RETURNED, SUSPECT
from brownout.topology.generate import generate_topology

CFG = PolicyConfig(return_after_s=600.0, probation_s=3600.0)


def controller(ex: FakeExecutor, journal: Journal | None = None, cfg: PolicyConfig = CFG,
               clock: ManualClock | None = None, sleeps: list[float] | None = None
               ) -> Controller:
    return Controller(generate_topology(64), ex, journal or Journal(":memory:", "fake"), cfg,
                      clock or ManualClock(10_000.0),
                      sleep=(sleeps.append if sleeps is not None else lambda _s: None))


def test_decisions_are_journalled_before_the_executor_is_called() -> None:
    seen: list[str] = []
    journal = Journal(":memory:", "fake")

    def check(action: Action) -> None:
        e = journal.entry(action.key)
        seen.append(e.status if e else "absent")
        return

    ctl = controller(FakeExecutor(fail=check), journal)
    ctl.step((make_finding("gpu_failed", "n0003/gpu1", evidence={"xid": 79}),))
    assert seen and set(seen) == {"executing"}


def test_life_cycle_drain_repair_return_probation() -> None:
    clock = ManualClock(10_000.0)
    ex = FakeExecutor()
    ctl = controller(ex, clock=clock)
    f = make_finding("gpu_degraded", "n0005/gpu1", "major")
    ctl.step((f,))
    states = ctl.journal.node_states()
    assert states.state("n0005") == DRAINING
    assert [t.to_state for t in states.history("n0005")] == [SUSPECT, "quarantined", DRAINING]
    clock.advance(60)
    ctl.step((f,))
    assert ctl.journal.node_states().state("n0005") == IN_REPAIR
    clock.advance(CFG.return_after_s)
    ctl.step(())  # the finding closed: return to service
    assert ex.executed[-1].kind == RETURN_NODE
    assert ctl.journal.node_states().state("n0005") == RETURNED
    clock.advance(CFG.probation_s)
    ctl.step(())
    assert ctl.journal.node_states().state("n0005") == HEALTHY


def test_transient_errors_are_retried_with_doubling_backoff() -> None:
    failures = {"n": 2}

    def flaky(action: Action) -> Exception | None:
        if action.kind == DRAIN_NODE and failures["n"]:
            failures["n"] -= 1
            return ExecutorError("slurmctld busy")
        return None

    sleeps: list[float] = []
    ex = FakeExecutor(fail=flaky)
    ctl = controller(ex, sleeps=sleeps)
    report = ctl.step((make_finding("host_straggler", "n0009", "major"),))
    assert sleeps == [CFG.retry_backoff_s, 2 * CFG.retry_backoff_s]
    assert {o.state for o in report.actions} == {"done"} and not report.errors


def test_a_down_backend_leaves_actions_pending_never_lost() -> None:
    down = {"on": True}
    ex = FakeExecutor(fail=lambda a: ExecutorError("connection refused") if down["on"] else None)
    ctl = controller(ex)
    f = make_finding("host_straggler", "n0009", "major")
    report = ctl.step((f,))
    assert {o.state for o in report.actions} == {"pending"} and report.errors
    assert all(e.attempts == 1 and "refused" in e.last_error for e in ctl.journal.entries())
    down["on"] = False
    report = ctl.step(())  # the finding may even be gone: decided actions still run
    assert {o.state for o in report.actions} == {"done"}
    assert sorted(a.key for a in ex.executed) == sorted(ctl.journal.keys())


def test_permanent_errors_fail_loudly_without_retry() -> None:
    sleeps: list[float] = []
    ex = FakeExecutor(fail=lambda a: PermanentExecutorError("no such node"))
    ctl = controller(ex, sleeps=sleeps)
    report = ctl.step((make_finding("host_straggler", "n0009", "major"),))
    assert sleeps == [] and {o.state for o in report.actions} == {"failed"}
    assert len(report.errors) == len(report.actions)


class _Observing(FakeExecutor):
    def __init__(self, seen: Observation, idempotent: bool = False) -> None:
        super().__init__()
        self.seen, self.idem = seen, idempotent

    def observe(self, action: Action) -> Observation:
        return self.seen

    def idempotent(self, action: Action) -> bool:
        return self.idem


def _crashed_journal(tmp_path: Path) -> tuple[Journal, Action]:
    tmp_path.mkdir()
    journal = Journal(tmp_path / "j.db", "fake")
    a = Action(DRAIN_NODE, "n0002", "n0002", "f9", "x")
    journal.decide([(a, "pending", None)], [], [], 1.0)
    journal.mark(a.key, "executing", 2.0)  # ... and then the process died
    return journal, a


def test_recovery_reads_back_state(tmp_path: Path) -> None:
    for seen, idem, status, runs in [(Observation.APPLIED, False, "done", 0),
                                     (Observation.NOT_APPLIED, False, "done", 1),
                                     (Observation.UNKNOWN, True, "done", 1),
                                     (Observation.UNKNOWN, False, "uncertain", 0)]:
        journal, a = _crashed_journal(tmp_path / f"{seen.value}{idem}")
        ex = _Observing(seen, idem)
        controller(ex, journal).step(())
        assert journal.entry(a.key).status == status  # type: ignore[union-attr]
        assert len(ex.executed) == runs
        journal.close()


def test_approval_mode_waits_then_executes_or_expires() -> None:
    clock = ManualClock(10_000.0)
    ex = FakeExecutor()
    cfg = CFG.replace(approval_mode="disruptive", approval_ttl_s=300.0)
    ctl = controller(ex, cfg=cfg, clock=clock)
    ctl.step((make_finding("host_straggler", "n0009", "major"),
              make_finding("host_straggler", "n0020", "major")))
    assert [a.kind for a in ex.executed] == [NOTIFY, NOTIFY]
    waiting = ctl.journal.entries(("awaiting_approval",))
    assert {e.action.node for e in waiting} == {"n0009", "n0020"}
    key9 = next(e.action.key for e in waiting if e.action.node == "n0009")
    assert ctl.journal.approve(key9, clock.now() + 10) == "approved"
    clock.advance(301)
    ctl.step(())
    assert [a.node for a in ex.executed if a.kind == DRAIN_NODE] == ["n0009"]
    assert {e.action.node for e in ctl.journal.entries(("expired",))} == {"n0020"}


def test_findings_on_unknown_components_are_ignored() -> None:
    ex = FakeExecutor()
    ctl = controller(ex)
    report = ctl.step((make_finding("host_straggler", "nosuchnode", "critical"),))
    assert report.actions == () and ex.executed == []


class _Blind(FakeExecutor):
    def observe(self, action: Action) -> Observation:
        raise ExecutorError("slurmctld unreachable")


def test_failed_read_back_leaves_the_action_in_flight(tmp_path: Path) -> None:
    journal, a = _crashed_journal(tmp_path / "blind")
    ex = _Blind()
    controller(ex, journal).step(())
    entry = journal.entry(a.key)
    assert entry is not None and entry.status == "executing" and "read-back" in entry.last_error
    assert ex.executed == []  # never repeated blindly
    ok = FakeExecutor()
    controller(ok, journal).step(())
    assert journal.entry(a.key).status == "done" and len(ok.executed) == 1  # type: ignore[union-attr]
    journal.close()
