"""The real controller behind the service: feed -> engine -> policy -> executor, thinly.

:class:`LiveController` follows :class:`~brownout.service.view.ControllerFacade`.
Each tick pulls new data from its feed, runs the detection engine up to the
tick, hands the open findings to the policy controller (which journals, then
executes), refreshes the goodput ledger now and then, and publishes one
immutable :class:`~brownout.service.view.ControllerState`. It holds no
detection or policy logic of its own: those live in ``brownout.detect`` and
``brownout.policy``.
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from brownout.atomic import atomic_write_text
from brownout.clock import ManualClock
from brownout.detect.engine import Engine, EngineConfig, concat_steps
from brownout.errors import InputError
from brownout.findings import Finding, FindingsFile, Lifecycle, write_findings
from brownout.policy.config import PolicyConfig
from brownout.policy.controller import Controller, StepReport
from brownout.policy.journal import Journal, JournalWriteError
from brownout.policy.ports import Executor
from brownout.recovery.ledger import build_ledger
from brownout.service.feeds import Feed
from brownout.service.history import SignalHistory
from brownout.service.view import (
    HEALTH_BLIND,
    HEALTH_FAULT,
    HEALTH_OK,
    HEALTH_SUSPECT,
    ActionView,
    BreakerView,
    ControllerState,
    FindingView,
    FleetView,
    GoodputPoint,
    HealthView,
    JobGoodput,
    NodeView,
    RefusalView,
    TransitionView,
    nodes_of,
)
from brownout.store import Store
from brownout.telemetry.frame import Frame
from brownout.telemetry.steps import StepRecords
from brownout.topology.component import ComponentRef
from brownout.topology.model import Topology

OUT_STATES = frozenset({"quarantined", "draining", "in_repair"})


@dataclass(frozen=True)
class LiveSettings:
    """Settings of the live wiring (the engine and policy have their own).

    Attributes:
        ledger_every_s: controller seconds between goodput ledger refreshes.
        steps_window_s: step records older than this are dropped from the ledger.
        history_ticks: ticks kept for the evidence plots.
        state_dir: where findings and the ledger are written (None: nowhere).
        delay_s: read data and run detection this far behind the clock (a live
            Prometheus stores a scrape some seconds after its timestamp).
    """

    ledger_every_s: float = 60.0
    steps_window_s: float = 24 * 3600.0
    history_ticks: int = 240
    state_dir: Path | None = None
    delay_s: float = 0.0


def plain(x: Any) -> Any:
    """A JSON-safe copy: numpy values to Python, NaN/inf to None, containers copied."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple | np.ndarray):
        return [plain(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


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
    """

    def __init__(self, topology: Topology, feed: Feed, executor: Executor, journal: Journal,
                 policy: PolicyConfig, *, engine: EngineConfig | None = None,
                 settings: LiveSettings | None = None, start_s: float = 0.0) -> None:
        self.topology = topology
        self.feed = feed
        self.settings = settings or LiveSettings()
        self.clock = ManualClock(start_s)
        self.engine = Engine(topology, config=engine)
        self.policy = Controller(topology, executor, journal, policy, clock=self.clock)
        self.history = SignalHistory(topology, self.settings.history_ticks)
        self._nodes = nodes_of(topology)
        self._start_s = start_s
        self._steps = StepRecords.empty()
        self._samples = 0
        self._n_steps = 0
        self._rate: deque[tuple[float, int]] = deque(maxlen=20)
        self._ledger_at = -math.inf
        self._goodput: tuple[JobGoodput, ...] = ()
        self._goodput_hist: deque[GoodputPoint] = deque(maxlen=2000)
        self._views: dict[tuple[bool, str], tuple[tuple[Any, ...], FindingView]] = {}
        self._errors: deque[str] = deque(maxlen=10)
        self._breaker = BreakerView()
        self._data_t_s = math.nan
        self._lag_s = 0.0
        self._ticks = 0
        self._version = 0
        self._persisted = (-1, -1)
        self._write_error = ""  # findings.json / goodput.json cannot be written (disk full)
        self._store_error = ""  # the embedded store cannot be written
        self._journal_error = ""  # the journal cannot be written: the policy is paused
        self._store: Store | None = None
        if self.settings.state_dir is not None:
            self.settings.state_dir.mkdir(parents=True, exist_ok=True)
            self._store = Store(self.settings.state_dir / "brownout.duckdb")
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
        self.engine.push(frame, steps)
        self.engine.advance(min(until_s, self.feed.watermark_s()))
        try:
            report = self.policy.step(*self._open())
        except JournalWriteError as exc:  # nothing is decided or done without the journal
            self._journal_error = f"{exc}: decisions and actions paused"
        else:
            self._journal_error = ""
            self._after_step(report)
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
        if self._store is not None:
            self._store.close()

    # ticking ------------------------------------------------------------------
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
            self._steps = concat_steps(self._steps, steps)
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

    def _after_step(self, report: StepReport) -> None:
        r = report.breaker.reading
        self._breaker = BreakerView(report.breaker.open, r.rule, r.limit, r.observed, r.reason)
        self._errors.extend(report.errors)

    def _refresh_ledger(self, now_s: float) -> None:
        if now_s - self._ledger_at < self.settings.ledger_every_s or not len(self._steps):
            return
        self._ledger_at = now_s
        keep = self._steps.ts >= now_s - self.settings.steps_window_s
        if not keep.all():
            self._steps = self._steps.take(np.flatnonzero(keep))
        ledger = build_ledger(self._steps, self.engine.result().findings, topology=self.topology)
        self._goodput = tuple(
            JobGoodput(name, j.wall_s, j.productive_s, j.ettr, j.availability, dict(j.lost_s))
            for name, j in ledger.jobs.items())
        self._goodput_hist.append(GoodputPoint(now_s, ledger.ettr, ledger.availability))

    def _persist(self) -> None:
        """Write findings and the goodput ledger atomically when they changed."""
        out = self.settings.state_dir
        res = self.engine.result()
        mark = (len(res.findings) + len(res.notices), len(self._goodput_hist))
        if out is None or mark == self._persisted:
            return
        body = {"jobs": {j.job: j.to_json() for j in self._goodput},
                "history": [p.to_json() for p in self._goodput_hist]}
        try:
            write_findings(FindingsFile(res.cluster, res.findings, res.notices),
                           out / "findings.json")
            atomic_write_text(out / "goodput.json", json.dumps(body, allow_nan=False) + "\n")
        except OSError as exc:  # disk full: keep detecting and acting, say so, retry next tick
            self._write_error = f"state dir {out}: cannot write ({exc.strerror or exc})"
            return
        self._persisted = mark
        self._write_error = ""

    # the snapshot -------------------------------------------------------------
    def _snapshot(self) -> ControllerState:
        self._version += 1
        self._store_error = ""  # set again below if a finding still cannot be stored
        journal = self.policy.journal
        states = journal.node_states()
        findings = tuple(self._view(f, False) for f in self.engine.tracker.findings())
        notices = tuple(self._view(n, True) for n in self.engine.tracker.notices())
        history = states.history()
        since = {t.node: t.at_s for t in history}  # one pass: the last change of each node
        nodes = tuple(NodeView(n.name, n.rack, n.cooling, n.leaf, n.gpus,
                               states.state(n.name), since.get(n.name))
                      for n in self._nodes)
        actions = action_views(journal)
        return ControllerState(
            version=self._version, cluster=self.topology.name, nodes=nodes,
            health=self._health(), findings=findings, notices=notices,
            transitions=tuple(TransitionView(t.node, t.from_state, t.to_state, t.at_s,
                                             t.reason, t.cause) for t in history),
            actions=actions,
            refusals=tuple(RefusalView(*r) for r in journal.refusals()[-500:]),
            breaker=self._breaker, goodput=self._goodput,
            goodput_history=tuple(self._goodput_hist),
            fleet=FleetView(tuple(self.history.latest_temp_c.tolist()),
                            self._gpu_health(findings, nodes)),
            approval_mode=self.policy.config.approval_mode != "off")

    def _view(self, f: Finding, notice: bool) -> FindingView:
        life = f.lifecycle or Lifecycle()
        mark = (life.updates, life.resolved_at_s, f.severity)
        hit = self._views.get((notice, f.id))
        if hit is not None and (hit[0] == mark or (life.resolved and hit[0][1] is not None)):
            return hit[1]
        g = replace(f, evidence=plain(f.evidence), lifecycle=None)
        view = FindingView(g, notice, life.resolved_at_s, life.last_seen_s, life.updates,
                           None if notice else self.history.series(f.kind, f.component))
        self._views[(notice, f.id)] = (mark, view)
        if self._store is not None and not notice:  # the embedded store keeps the lifecycle
            try:
                self._store.upsert_finding(g, view.resolved_at_s)
            except InputError as exc:  # disk full: the finding is still served and acted on
                self._store_error = str(exc)
                del self._views[(notice, f.id)]  # stored again on a later snapshot
        return view

    def _gpu_health(self, findings: tuple[FindingView, ...],
                    nodes: tuple[NodeView, ...]) -> tuple[int, ...]:
        topo = self.topology
        node_code = np.full(topo.n_nodes, HEALTH_OK, np.int64)
        for i, n in enumerate(nodes):
            node_code[i] = HEALTH_FAULT if n.state in OUT_STATES else (
                HEALTH_SUSPECT if n.state in ("suspect", "returned") else HEALTH_OK)
        code = node_code[topo.gpu_node]
        for f in findings:
            if not f.open:
                continue
            g = f.finding
            ref = ComponentRef.parse(g.component)
            if g.component_type == "gpu" and ref.gpu is not None:
                gid = topo.gpu_id(ref.host, ref.gpu)
                if gid >= 0:
                    code[gid] = max(int(code[gid]), HEALTH_FAULT)
            elif g.kind == "telemetry_loss" and ref.host in topo.node_index:
                i = topo.node_index[ref.host]
                code[topo.gpu_offset[i]:topo.gpu_offset[i + 1]] = HEALTH_BLIND
        return tuple(int(c) for c in code)

    def _health(self) -> HealthView:
        now = self.clock.now()
        rate = 0.0
        if len(self._rate) >= 2 and self._rate[-1][0] > self._rate[0][0]:
            (t0, s0), (t1, s1) = self._rate[0], self._rate[-1]
            rate = (s1 - s0) / (t1 - t0)
        degraded = list(self.feed.degraded())
        degraded.extend(e for e in (self._journal_error, self._write_error, self._store_error)
                        if e)
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
            finished=self.feed.finished(), errors=tuple(self._errors))


def action_views(journal: Journal) -> tuple[ActionView, ...]:
    """Every journalled action, in decision order, as views."""
    return tuple(ActionView(e.action.key, e.action.kind, e.action.component, e.action.node,
                            e.action.finding_id, e.action.reason, e.status, e.decided_at_s,
                            None, e.expires_at_s, e.attempts, e.last_error)
                 for e in journal.entries())
