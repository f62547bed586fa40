"""Interop in the live controller: verdicts in before the policy, findings out after it.

:class:`LiveInterop` is what ``brownout watch`` hands the controller. Before
each policy step it joins the latest verdicts into the open findings
(:func:`~brownout.interop.join.corroborate`); after it, it publishes the
findings' changes. Sources are re-read at most every ``refresh_s``; a source
that fails keeps its last verdicts and reports one line. Publishers report
failures as lines too, and one that failed waits ``backoff_s`` before it is
tried again: a publishing outage never stops detection or the policy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from brownout.errors import BrownoutError
from brownout.findings import Finding, FindingsFile
from brownout.interop.conditions import ConditionBook
from brownout.interop.health_events import health_event
from brownout.interop.join import JoinConfig, corroborate
from brownout.interop.verdicts import Verdict

VerdictSource = Callable[[], list[Verdict]]


class Publisher(Protocol):
    """Something that publishes a snapshot of findings; returns failure lines."""

    def __call__(self, findings: Sequence[Finding], now_s: float) -> list[str]: ...


@dataclass
class ConditionPublisher:
    """Node conditions and Events through a ``KubernetesPublisher``-like writer."""

    writer: Any
    book: ConditionBook = field(default_factory=ConditionBook)
    _seeded: bool = False

    def __call__(self, findings: Sequence[Finding], now_s: float) -> list[str]:
        if not self._seeded:  # what an earlier run left on the nodes, first
            try:
                self.book.seed(self.writer.published())
            except BrownoutError as exc:
                return [f"{exc} (conditions not published yet)"]
            self._seeded = True
        writes, events = self.book.update(findings, now_s)
        failed: list[str] = []
        for node, conditions in writes.items():
            try:
                self.writer.set_conditions(node, conditions)
            except BrownoutError as exc:
                failed.append(str(exc))
                self.book.resend(node)  # conditions are state: they go again next time
        for event in events:  # Events are best effort, as client-go's recorder makes them
            try:
                self.writer.post_event(event)
            except BrownoutError as exc:
                failed.append(str(exc))
        return failed


@dataclass
class HealthEventPublisher:
    """NVSentinel HealthEvents on each finding's opening and resolution, once each."""

    sink: Any
    remediate: bool = False
    _sent: set[tuple[str, bool]] = field(default_factory=set)

    def pending(self, findings: Sequence[Finding]) -> list[tuple[tuple[str, bool], dict[str, Any]]]:
        out = []
        for f in findings:
            end = f.resolved_at
            key = (f.id, end is not None)
            if key in self._sent or (end is not None and (f.id, False) not in self._sent):
                continue
            event = health_event(f, self.remediate, end)
            if event is not None:
                out.append((key, event))
        return out

    def __call__(self, findings: Sequence[Finding], now_s: float) -> list[str]:
        todo = self.pending(findings)
        if not todo:
            return []
        try:
            self.sink.send([e for _, e in todo])
        except BrownoutError as exc:
            return [str(exc)]
        self._sent.update(k for k, _ in todo)
        return []


@dataclass
class LiveInterop:
    """Verdict sources and publishers of one live controller.

    Attributes:
        sources: callables returning the current verdicts of one source.
        publishers: see :class:`Publisher`.
        join: weights of the join.
        refresh_s: controller seconds between re-reads of the sources.
    """

    sources: Sequence[VerdictSource] = ()
    publishers: Sequence[Publisher] = ()
    join: JoinConfig = field(default_factory=JoinConfig)
    refresh_s: float = 60.0
    backoff_s: float = 60.0
    _verdicts: dict[int, list[Verdict]] = field(default_factory=dict)
    _read_at: float = -1e18
    _retry_at: dict[int, float] = field(default_factory=dict)

    def _refresh(self, now_s: float) -> list[str]:
        if now_s - self._read_at < self.refresh_s:
            return []
        self._read_at = now_s
        errors = []
        for i, source in enumerate(self.sources):
            try:
                self._verdicts[i] = source()
            except BrownoutError as exc:  # keep the last verdicts; say so
                errors.append(f"verdict source {i + 1}: {exc}")
        return errors

    def before_policy(self, findings: tuple[Finding, ...], notices: tuple[Finding, ...],
                      now_s: float) -> tuple[tuple[Finding, ...], tuple[Finding, ...], list[str]]:
        """Open findings with verdicts joined in, notices with the lonely verdicts added."""
        errors = self._refresh(now_s)
        verdicts = [v for vs in self._verdicts.values() for v in vs]
        if not verdicts:
            return findings, notices, errors
        out = corroborate(FindingsFile("", findings, notices), verdicts, self.join, now_s)
        return out.findings, out.notices, errors

    def after_policy(self, findings: Sequence[Finding], now_s: float) -> list[str]:
        """Publish every finding's state (open or resolved); failure lines.

        A publisher that failed is left alone for ``backoff_s``, so an endpoint
        that is down costs the controller loop one timeout a minute, not one a tick.
        """
        lines = []
        for i, publish in enumerate(self.publishers):
            if now_s < self._retry_at.get(i, -1e18):
                continue
            failed = publish(findings, now_s)
            if failed:
                self._retry_at[i] = now_s + self.backoff_s
                lines.extend(failed)
        return lines
