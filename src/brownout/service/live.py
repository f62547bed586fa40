"""The real controller behind the service: feed -> engine -> policy -> executor, thinly.

:class:`LiveController` follows :class:`~brownout.views.model.ControllerFacade`.
Each tick pulls new data from its feed, runs the detection engine up to the
tick, hands the open findings to the policy controller (which journals, then
executes), refreshes the goodput ledger now and then, and publishes one
immutable :class:`~brownout.views.model.ControllerState`. It holds no
detection or policy logic of its own: those live in ``brownout.detect`` and
``brownout.policy``.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from brownout.clock import ManualClock
from brownout.detect.api import Detector
from brownout.detect.engine import Engine, EngineConfig
from brownout.errors import InputError
from brownout.findings import Finding, FindingsFile
from brownout.interop.live import LiveInterop
from brownout.policy.config import PolicyConfig
from brownout.policy.controller import Controller, StepReport
from brownout.policy.journal import Journal, JournalWriteError
from brownout.policy.ports import Executor
from brownout.recovery.running import RunningLedger, RunningSettings
from brownout.service.feeds import Feed
from brownout.service.flight import FlightRecorderWatch
from brownout.service.ledger_watch import LedgerWatch
from brownout.service.persist import Persister
from brownout.telemetry.frame import Frame
from brownout.telemetry.steps import StepRecords
from brownout.topology.model import Topology
from brownout.views.history import SignalHistory
from brownout.views.jobs import JobTracker
from brownout.views.model import (
    BreakerView,
    ControllerState,
    GoodputPoint,
    HealthView,
    JobGoodput,
)
from brownout.views.snapshot import SnapshotBuilder, SnapshotInput


@dataclass(frozen=True)
class LiveSettings:
    """Settings of the live wiring (the engine and policy have their own).

    Attributes:
        ledger_every_s: controller seconds between goodput ledger refreshes.
        steps_window_s: step records older than this are dropped from the ledger.
        steps_settle_s: the ledger takes a step in once the job's newest record
            is this much later (or the job was silent this long); it lags by that.
        history_ticks: ticks kept for the evidence plots.
        state_dir: where findings and the ledger are written (None: nowhere).
        delay_s: read data and run detection this far behind the clock (a live
            Prometheus stores a scrape some seconds after its timestamp).
        check_window_s, check_records: the recent step records the ledger check
            (detection and the ledger agree) looks at, every ``ledger_every_s``.
    """

    ledger_every_s: float = 60.0
    steps_window_s: float = 24 * 3600.0
    steps_settle_s: float = 30.0
    history_ticks: int = 240
    state_dir: Path | None = None
    delay_s: float = 0.0
    check_window_s: float = 3600.0
    check_records: int = 500_000


class LiveController:
    """Feed, engine, policy and executor, ticked by one thread.

    Args:
        topology: the cluster.
        feed: where data comes from.
        executor: where actions go.
        journal: the durable action journal.
        policy: policy settings (approval mode among them).
        engine: engine settings.
        settings: live-wiring settings.
        start_s: the controller clock at start.
        detectors: the detectors (default: every built-in one, default settings).
    """

    def __init__(self, topology: Topology, feed: Feed, executor: Executor, journal: Journal,
                 policy: PolicyConfig, *, engine: EngineConfig | None = None,
                 settings: LiveSettings | None = None, start_s: float = 0.0,
                 interop: LiveInterop | None = None,
                 hangs: FlightRecorderWatch | None = None,
                 detectors: Sequence[Detector] | None = None) -> None:
        self.topology = topology
        self.interop = interop  # node-local verdicts in, conditions/HealthEvents out
        self.feed = feed
        self.hangs = hangs
        self.settings = settings or LiveSettings()
        self.clock = ManualClock(start_s)
        self.engine = Engine(topology, detectors, config=engine)
        self.policy = Controller(topology, executor, journal, policy, clock=self.clock)
        self.history = SignalHistory(topology, self.settings.history_ticks)
        self.views = SnapshotBuilder(topology, self.history)
        self.jobs = JobTracker()
        self.persister = Persister(self.settings.state_dir)
        self._start_s = start_s
        self._ledger = RunningLedger(topology, RunningSettings(
            settle_s=self.settings.steps_settle_s, window_s=self.settings.steps_window_s))
        self._check = LedgerWatch(topology, self.settings.check_window_s,
                                  self.settings.check_records)
        self._samples = 0
        self._n_steps = 0
        self._rate: deque[tuple[float, int]] = deque(maxlen=20)
        self._ledger_at = -math.inf
        self._ledger_s = 0.0
        self._goodput: tuple[JobGoodput, ...] = ()
        self._goodput_hist: deque[GoodputPoint] = deque(maxlen=2000)
        self._errors: deque[str] = deque(maxlen=10)
        self._breaker = BreakerView()
        self._data_t_s = math.nan
        self._lag_s = 0.0
        self._ticks = 0
        self._journal_error = ""  # the journal cannot be written: the policy is paused
        self._resume(start_s)
        self._state = self._snapshot()

    # the facade ---------------------------------------------------------------
    def state(self) -> ControllerState:
        return self._state

    def tick(self, now_s: float) -> ControllerState:
        """Ingest, detect, decide and act up to ``now_s``."""
        w0 = time.perf_counter()
        self.clock.set(max(self.clock.now(), now_s))
        until_s = now_s - self.settings.delay_s
        frame, steps = self.feed.pull(until_s)
        self._ingest(frame, steps)
        self.engine.push(frame, steps, self.hangs.poll() if self.hangs is not None else ())
        # steps are judged silent at the time they are known up to (pushed records: now),
        # not at the data time, which trails the clock by the delay and a scrape
        self.engine.advance(min(until_s, self.feed.watermark_s()),
                            self.feed.steps_until_s(now_s))
        try:
            report = self.policy.step(*self._open_joined(now_s))
        except JournalWriteError as exc:  # nothing is decided or done without the journal
            self._journal_error = f"{exc}: decisions and actions paused"
        else:
            self._journal_error = ""
            self._after_step(report)
            self.engine.set_out_of_pool(self.policy.foreign_drains)
        if self.interop is not None:
            self._errors.extend(self.interop.after_policy(self.engine.result().findings, now_s))
        self.history.push(now_s, frame, steps)
        self._refresh_ledger(now_s)
        self._ticks += 1
        self._lag_s = time.perf_counter() - w0
        self._persist()
        self._state = self._snapshot()
        return self._state

    def approve(self, key: str, now_s: float) -> str:
        return self._answer(key, now_s, approve=True)

    def reject(self, key: str, now_s: float) -> str:
        return self._answer(key, now_s, approve=False)

    def close(self) -> None:
        self.feed.close()
        self.policy.journal.close()
        self.persister.close()

    # ticking ------------------------------------------------------------------
    def _resume(self, now_s: float) -> None:
        """After a restart: number findings on after every id the store and the journal
        hold, and take back the findings open at the stop under their own ids."""
        stored, still_open = self.persister.past_findings()
        journalled = [e.action.finding_id for e in self.policy.journal.entries()]
        self.engine.tracker.resume([*stored, *journalled], still_open, now_s)

    def _answer(self, key: str, now_s: float, approve: bool) -> str:
        journal = self.policy.journal
        at = max(self.clock.now(), now_s)
        try:
            status = journal.approve(key, at) if approve else journal.reject(key, at)
        except InputError as exc:
            raise KeyError(key) from exc
        self._state = self._snapshot()
        return status

    def _ingest(self, frame: Frame | None, steps: StepRecords | None) -> None:
        newest = []
        if frame is not None and len(frame):
            self._samples += len(frame)
            newest.append(float(frame.t_s[-1]))
        if steps is not None and len(steps):
            self._n_steps += len(steps)
            newest.append(float(steps.ts.max()))
            self._ledger.add(steps, self.clock.now())
            self._check.add(steps)
            self.jobs.update(steps)
        if newest:
            self._data_t_s = max([*newest, *([] if math.isnan(self._data_t_s)
                                              else [self._data_t_s])])
        self._rate.append((time.monotonic(), self._samples))

    def _open(self) -> tuple[tuple[Finding, ...], tuple[Finding, ...]]:
        """Open findings and notices, as the policy wants them."""
        keys = self.engine.tracker.open_keys()
        res = self.engine.result()
        findings = tuple(f for f in res.findings if (f.kind, f.component) in keys)
        notices = tuple(n for n in res.notices if n.resolved_at is None)
        return findings, notices

    def _open_joined(self, now_s: float) -> tuple[tuple[Finding, ...], tuple[Finding, ...]]:
        """:meth:`_open`, with node-local verdicts joined in as evidence (docs/interop.md)."""
        findings, notices = self._open()
        if self.interop is None:
            return findings, notices
        findings, notices, errors = self.interop.before_policy(findings, notices, now_s)
        self._errors.extend(errors)
        return findings, notices

    def _after_step(self, report: StepReport) -> None:
        r = report.breaker.reading
        self._breaker = BreakerView(report.breaker.open, r.rule, r.limit, r.observed, r.reason)
        self._errors.extend(report.errors)

    def _refresh_ledger(self, now_s: float) -> None:
        """The goodput ledger of the steps settled so far (cost: new records + instances)."""
        if now_s - self._ledger_at < self.settings.ledger_every_s or not self._n_steps:
            return
        self._ledger_at = now_s
        w0 = time.perf_counter()
        findings = self.engine.result().findings
        # a straggler the ledger sees is never silent: unnamed ones become notices
        self.engine.push(notes=self._check.check(findings))
        ledger = self._ledger.ledger(now_s, findings)
        self._ledger_s = time.perf_counter() - w0
        if not ledger.jobs:
            return
        counts = self._ledger.counts()
        self._goodput = tuple(
            JobGoodput(name, j.wall_s, j.productive_s, j.ettr, j.availability, dict(j.lost_s),
                       j.steps, j.restarts, counts[name]["late"])
            for name, j in ledger.jobs.items())
        self._goodput_hist.append(GoodputPoint(now_s, ledger.ettr, ledger.availability))

    def _persist(self) -> None:
        res = self.engine.result()
        self.persister.write(FindingsFile(res.cluster, res.findings, res.notices),
                             self._goodput, tuple(self._goodput_hist))

    # the snapshot -------------------------------------------------------------
    def _snapshot(self) -> ControllerState:
        tracker = self.engine.tracker
        state = self.views.build(SnapshotInput(
            tracker.findings(), tracker.notices(), self.policy.journal, self._breaker,
            self._goodput, tuple(self._goodput_hist), self._health(),
            self.policy.config.approval_mode != "off", self.jobs.views()))
        for fid in self.persister.store_findings(self.views.fresh):
            self.views.forget(fid)
        return state

    def _health(self) -> HealthView:
        now = self.clock.now()
        rate = 0.0
        if len(self._rate) >= 2 and self._rate[-1][0] > self._rate[0][0]:
            (t0, s0), (t1, s1) = self._rate[0], self._rate[-1]
            rate = (s1 - s0) / (t1 - t0)
        degraded = list(self.feed.degraded())
        degraded.extend(self.hangs.degraded() if self.hangs is not None else ())
        degraded.extend(e for e in (self._journal_error, self.persister.write_error,
                                     self.persister.store_error) if e)
        if self._breaker.open:
            degraded.append(f"circuit breaker open: {self._breaker.reason}")
        mode = self.policy.config.approval_mode
        return HealthView(
            now_s=now, started_s=self._start_s, ticks=self._ticks,
            # samples stamped ahead of the clock (skew, scrape phase) count as fresh
            ingest_lag_s=max(0.0, now - self._data_t_s) if not math.isnan(self._data_t_s)
            else math.nan,
            detection_lag_s=self._lag_s, samples_total=self._samples,
            steps_total=self._n_steps, ingest_rate_per_s=rate, degraded=tuple(degraded),
            mode="approval" if mode != "off" else (
                "dry-run" if self.policy.executor.name == "dry-run" else "automatic"),
            executor=self.policy.executor.name, source=self.feed.name,
            finished=self.feed.finished(), errors=tuple(self._errors), ledger_s=self._ledger_s)
