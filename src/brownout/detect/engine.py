"""The detection engine: data in time order, detectors fed causally, tick by tick.

Replay (``brownout detect``) pushes a whole recording once and calls
:meth:`Engine.finish`; a live service pushes frames and step records as they
arrive and calls :meth:`Engine.advance` with the current time. Either way, at
a tick ``t`` a detector has only seen data with timestamps ``<= t``, and a
finding's ``detected_at`` is the time of the latest datum consumed when it was
first emitted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from brownout.detect.api import Candidate, Detector
from brownout.detect.collectives import HangReport
from brownout.detect.localise import Localiser
from brownout.detect.state import TelemetryState
from brownout.detect.tick import Tick
from brownout.detect.tracker import Event, FindingTracker
from brownout.findings import FindingsFile
from brownout.telemetry.frame import Frame, concat
from brownout.telemetry.steps import StepRecords
from brownout.topology.model import Topology


@dataclass(frozen=True)
class EngineConfig:
    """Settings of the engine.

    Attributes:
        tick_s: seconds between detector updates.
        resolve_after_s: evidence absent this long resolves a finding.
    """

    tick_s: float = 15.0
    resolve_after_s: float = 300.0


def concat_steps(a: StepRecords, b: StepRecords) -> StepRecords:
    """Append ``b`` to ``a`` (job ids re-interned by name), time-ordered."""
    if not len(a):
        return b
    if not len(b):
        return a
    jobs = {name: i for i, name in enumerate(a.jobs)}
    for name in b.jobs:
        jobs.setdefault(name, len(jobs))
    remap = np.array([jobs[name] for name in b.jobs], dtype=np.int32)

    def cat(col: str) -> Any:
        return np.concatenate([getattr(a, col), getattr(b, col)])

    merged = StepRecords(
        ts=cat("ts"), job=np.concatenate([a.job, remap[b.job]]), step=cat("step"),
        rank=cat("rank"), node=cat("node"), gpu=cat("gpu"), compute_s=cat("compute_s"),
        comm_s=cat("comm_s"), stage=cat("stage"), jobs=tuple(jobs),
        node_names=a.node_names or b.node_names)
    return merged.take(np.argsort(merged.ts, kind="stable"))


class Engine:
    """Feeds detectors causally and keeps the findings' lifecycle.

    Args:
        topology: the cluster.
        detectors: the detectors (default: :func:`brownout.detect.default_detectors`).
        config: tick and resolution settings.
        localiser: turns correlated candidates into findings at the right component.
    """

    def __init__(self, topology: Topology, detectors: Sequence[Detector] | None = None,
                 config: EngineConfig | None = None, localiser: Localiser | None = None
                 ) -> None:
        from brownout.detect import default_detectors

        self.topology = topology
        self.config = config or EngineConfig()
        self.detectors = list(detectors) if detectors is not None else default_detectors()
        self.localiser = localiser or Localiser(topology)
        self.tracker = FindingTracker(self.config.resolve_after_s)
        self.state = TelemetryState()
        self._frame = Frame.empty()
        self._fpos = 0
        self._steps = StepRecords.empty()
        self._spos = 0
        self._hangs: list[HangReport] = []  # Flight Recorder reports not consumed yet
        self._notes: list[Candidate] = []  # notices found outside the detectors, not consumed yet
        self._t_s = -math.inf  # last tick run
        self._data_t_s = -math.inf
        self.has_metrics = False
        self.has_steps = False
        self.ticks = 0
        self.out_of_pool: np.ndarray[Any, np.dtype[np.bool_]] | None = None

    def set_out_of_pool(self, nodes: Iterable[str]) -> None:
        """Nodes someone else drained leave the peer pool from the next tick on
        (:mod:`brownout.policy.ownership`): detectors see no values of theirs."""
        mask = np.zeros(self.topology.n_nodes, dtype=bool)
        for name in nodes:
            i = self.topology.node_index.get(name)
            if i is not None:
                mask[i] = True
        self.out_of_pool = mask if mask.any() else None

    def push(self, frame: Frame | None = None, steps: StepRecords | None = None,
             hangs: Sequence[HangReport] = (), notes: Sequence[Candidate] = ()) -> None:
        """Hand new data to the engine (it is consumed by later ticks).

        ``notes`` are notice candidates found outside the detectors (the live
        controller's ledger check); the next tick takes them with its own.
        """
        self._hangs.extend(hangs)
        self._notes.extend(n for n in notes if n.notice)
        if frame is not None:
            self.has_metrics = self.has_metrics or len(frame.table) > 0 or len(frame) > 0
            old, i = self._frame, self._fpos
            rest = Frame(old.t_s[i:], old.series[i:], old.value[i:], old.table)
            merged = concat([rest, frame]) if len(rest) else frame
            table = frame.table if len(frame.table) >= len(merged.table) else merged.table
            self._frame, self._fpos = Frame(merged.t_s, merged.series, merged.value, table), 0
        if steps is not None:
            self.has_steps = self.has_steps or len(steps) > 0
            rest_steps = self._steps.take(slice(self._spos, None))
            self._steps, self._spos = concat_steps(rest_steps, steps), 0

    def _first_tick(self) -> float:
        starts = [float(self._frame.t_s[self._fpos])] if self._fpos < len(self._frame) else []
        if self._spos < len(self._steps):
            starts.append(float(self._steps.ts[self._spos]))
        starts.extend(h.t_s for h in self._hangs if math.isfinite(h.t_s))
        if not starts:
            return math.inf
        tick = self.config.tick_s
        return (math.floor(min(starts) / tick) + 1) * tick

    def advance(self, until_s: float, steps_until_s: float = math.nan) -> list[Event]:
        """Run every tick up to ``until_s`` (inclusive); return the lifecycle events.

        Args:
            until_s: the last tick time (data up to it is complete).
            steps_until_s: step records are complete up to this later time (a live
                controller's now: they are pushed as they happen); NaN when only
                ``until_s`` is known. The hang detector judges silence there.
        """
        events: list[Event] = []
        if not math.isfinite(self._t_s):
            first = self._first_tick()
            if not math.isfinite(first):
                return events
            self._t_s = first - self.config.tick_s
        while self._t_s + self.config.tick_s <= until_s:
            events.extend(self.step(self._t_s + self.config.tick_s, steps_until_s))
        return events

    def step(self, t_s: float, steps_until_s: float = math.nan) -> list[Event]:
        """Run one tick at ``t_s``: consume data with timestamps ``<= t_s``."""
        fhi = int(np.searchsorted(self._frame.t_s, t_s, side="right"))
        shi = int(np.searchsorted(self._steps.ts, t_s, side="right"))
        f = self._frame
        window = Frame(f.t_s[self._fpos:fhi], f.series[self._fpos:fhi],
                       f.value[self._fpos:fhi], f.table)
        steps = self._steps.take(slice(self._spos, shi))
        self._fpos, self._spos, self._t_s = fhi, shi, t_s
        if len(window):
            self._data_t_s = max(self._data_t_s, float(window.t_s[-1]))
        if len(steps):
            self._data_t_s = max(self._data_t_s, float(steps.ts[-1]))
        self.state.ingest(window)
        hangs = self._take_hangs(t_s)
        tick = Tick(t_s, self._data_t_s, self.topology, self.state, window, steps,
                    self.has_metrics, self.has_steps, self.topology.name, self.out_of_pool,
                    hangs=hangs, steps_until_s=max(steps_until_s, t_s),
                    steps_pending=self._pending_jobs(steps_until_s))
        cands: list[Candidate] = []
        for det in self.detectors:
            if self.has_metrics or not det.needs_metrics:  # step-only runs skip the rest
                cands.extend(det.update(tick))
        cands.extend(self._notes)
        self._notes = []
        self.ticks += 1
        found = self.localiser.resolve(cands, tick, self.tracker.open_keys())
        return self.tracker.observe(t_s, self._data_t_s, found)

    def _pending_jobs(self, steps_until_s: float) -> frozenset[str]:
        """Jobs with step records pushed but not consumed yet (live only)."""
        if math.isnan(steps_until_s) or self._spos >= len(self._steps):
            return frozenset()
        left = np.unique(self._steps.job[self._spos:])
        return frozenset(self._steps.jobs[int(j)] for j in left)

    def _take_hangs(self, t_s: float) -> tuple[HangReport, ...]:
        """Reports stamped up to ``t_s`` (undated ones at once); their time counts as data."""
        due = tuple(h for h in self._hangs if not h.t_s > t_s)
        self._hangs = [h for h in self._hangs if h.t_s > t_s]
        for h in due:
            if math.isfinite(h.t_s):
                self._data_t_s = max(self._data_t_s, h.t_s)
        return due

    def end_of_data_s(self) -> float:
        """Time of the last datum pushed so far."""
        ends = [self._data_t_s]
        if len(self._frame):
            ends.append(float(self._frame.t_s[-1]))
        if len(self._steps):
            ends.append(float(self._steps.ts[-1]))
        return max(ends)

    def finish(self) -> FindingsFile:
        """Run ticks until every pushed datum is consumed; return the findings file."""
        end = self.end_of_data_s()
        if math.isfinite(end):
            tick = self.config.tick_s
            self.advance(math.ceil(end / tick) * tick)
        return self.result()

    def result(self) -> FindingsFile:
        """Findings and notices as they stand."""
        return FindingsFile(self.topology.name, self.tracker.findings(), self.tracker.notices())


def replay(topology: Topology, frame: Frame | None, steps: StepRecords | None,
           config: EngineConfig | None = None,
           detectors: Sequence[Detector] | None = None) -> FindingsFile:
    """Run a whole recording through a fresh engine."""
    engine = Engine(topology, detectors, config)
    engine.push(frame, steps)
    return engine.finish()
