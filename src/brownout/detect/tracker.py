"""Finding lifecycle: candidates tick after tick become one finding per fault.

A candidate whose (kind, component) has no open finding opens one, with
``detected_at`` = the time of the latest datum consumed. While candidates keep
coming, the finding is updated (peak severity, latest evidence, update count).
When the evidence has been absent for ``resolve_after_s`` the finding is
resolved; if the fault comes back later, that is a new finding.

Ids are unique across restarts of a live controller: :meth:`FindingTracker.resume`
takes the ids already handed out (from the store and the action journal) and
numbers on after the highest, and takes back the findings still open when the
controller stopped, so that a fault still there keeps its id (and the action
keyed on it) instead of opening a second finding.

A ``rank_hang`` from a Flight Recorder dump set names one incident (the dump
set, process group, collective and rank) wherever the rank is placed: at its
GPU when the job's step records place it, at ``rank<N>`` when they do not
(after a restart, the dumps are read again before any record of the hung
job arrives). A candidate of an incident already open updates that finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from brownout.detect.api import Candidate
from brownout.findings import KINDS, SEVERITIES, Finding, Lifecycle


@dataclass(frozen=True)
class Event:
    """A change of a finding's life: ``opened``, ``updated`` or ``resolved``."""

    what: str
    finding: Finding
    t_s: float


@dataclass
class _Open:
    index: int
    last_seen_s: float
    updates: int = 0


class FindingTracker:
    """Turns per-tick candidates into findings (and notices) with a lifecycle.

    Args:
        resolve_after_s: evidence absent this long resolves a finding.
        id_prefix: prefix of finding ids (``f-000001``), notices get ``n-``.
    """

    def __init__(self, resolve_after_s: float = 180.0, id_prefix: str = "f-") -> None:
        self.resolve_after_s = resolve_after_s
        self.id_prefix = id_prefix
        self._all: list[Finding] = []
        self._notices: list[Finding] = []
        self._open: dict[tuple[str, str, bool], _Open] = {}
        self._next = {False: 1, True: 1}  # the number of the next finding / notice id
        self._incidents: dict[tuple[Any, ...], tuple[str, str, bool]] = {}  # -> open key

    def resume(self, used_ids: Iterable[str], still_open: Iterable[Finding], t_s: float) -> None:
        """Continue after a restart (call before the first tick).

        Args:
            used_ids: every finding id handed out before (store, journal): new
                ids are numbered after the highest of them, so none repeats.
            still_open: findings open when the controller stopped; each is open
                again under its own id, as if its evidence was seen at ``t_s``:
                seen again, it is updated; absent ``resolve_after_s``, resolved.
        """
        pattern = re.compile(re.escape(self.id_prefix) + r"(\d+)$")
        numbers = [int(m.group(1)) for i in used_ids if (m := pattern.match(i))]
        self._next[False] = max(self._next[False], max(numbers, default=0) + 1)
        for f in still_open:
            key = (f.kind, f.component, False)
            if key in self._open:
                continue
            life = f.lifecycle or Lifecycle()
            self._all.append(replace(f, lifecycle=replace(life, last_seen_s=t_s,
                                                          resolved_at_s=None)))
            self._open[key] = _Open(len(self._all) - 1, t_s, life.updates)
            self._note_incident(f.kind, f.evidence, key)

    def observe(self, t_s: float, data_t_s: float, cands: list[Candidate]) -> list[Event]:
        """Take one tick's candidates; return what changed."""
        events: list[Event] = []
        seen: set[tuple[str, str, bool]] = set()
        for c in cands:
            key = (c.kind, c.component, c.notice)
            incident = _incident(c.kind, c.evidence)
            if key not in self._open and incident is not None:  # placed elsewhere: the same
                key = self._incidents.get(incident, key)
            if key in seen:
                continue
            seen.add(key)
            events.append(self._touch(key, c, t_s, data_t_s))
        for key, op in list(self._open.items()):
            if key not in seen and t_s - op.last_seen_s >= self.resolve_after_s:
                del self._open[key]
                self._incidents = {i: k for i, k in self._incidents.items() if k != key}
                f = self._publish(key[2], op.index, resolved_at_s=t_s)
                events.append(Event("resolved", f, t_s))
        return events

    def _publish(self, notice: bool, index: int, **life: Any) -> Finding:
        """Replace a finding by a new value with its lifecycle moved on (never mutate one)."""
        lst = self._notices if notice else self._all
        old = lst[index]
        lst[index] = replace(old, lifecycle=replace(old.lifecycle or Lifecycle(), **life))
        return lst[index]

    def _touch(self, key: tuple[str, str, bool], c: Candidate, t_s: float,
               data_t_s: float) -> Event:
        op = self._open.get(key)
        if op is None:
            return self._open_new(key, c, t_s, data_t_s)
        op.last_seen_s, op.updates = t_s, op.updates + 1
        lst = self._notices if key[2] else self._all
        old = lst[op.index]
        if SEVERITIES.index(c.severity) > SEVERITIES.index(old.severity):
            lst[op.index] = replace(old, severity=c.severity)
        f = self._publish(key[2], op.index, updates=op.updates, last_seen_s=t_s,
                          latest=c.evidence)
        return Event("updated", f, t_s)

    def _open_new(self, key: tuple[str, str, bool], c: Candidate, t_s: float,
                  data_t_s: float) -> Event:
        lst = self._notices if key[2] else self._all
        prefix = "n-" if key[2] else self.id_prefix
        index, number = len(lst), self._next[key[2]]
        self._next[key[2]] = number + 1
        f = Finding(
            id=f"{prefix}{number:06d}", kind=c.kind, component=c.component,
            component_type=c.component_type or KINDS.get(c.kind,
                                                         "cluster" if c.notice else ""),
            onset=min(c.onset_s, data_t_s), detected_at=data_t_s,
            confidence=round(float(c.confidence), 3), severity=c.severity, summary=c.summary,
            evidence={**c.evidence, "detector": c.source},
            recommended_action=c.action, lifecycle=Lifecycle(last_seen_s=t_s),
        )
        lst.append(f)
        self._open[key] = _Open(index, t_s)
        self._note_incident(c.kind, c.evidence, key)
        return Event("opened", f, t_s)

    def _note_incident(self, kind: str, evidence: dict[str, Any],
                       key: tuple[str, str, bool]) -> None:
        incident = _incident(kind, evidence)
        if incident is not None:
            self._incidents.setdefault(incident, key)

    def findings(self) -> tuple[Finding, ...]:
        """Every finding opened so far, in the order opened."""
        return tuple(self._all)

    def notices(self) -> tuple[Finding, ...]:
        """Every notice opened so far."""
        return tuple(self._notices)

    def open_keys(self) -> set[tuple[str, str]]:
        """(kind, component) of the findings open now."""
        return {(k, c) for k, c, notice in self._open if not notice}


def _incident(kind: str, evidence: dict[str, Any]) -> tuple[Any, ...] | None:
    """What names one hang whatever component it is placed at (module docstring)."""
    if kind != "rank_hang" or not evidence.get("dumps"):
        return None
    return (evidence.get("dumps"), evidence.get("process_group"),
            evidence.get("collective_seq_id"), evidence.get("rank"))
