"""Detection and the ledger agree, live: the check of ``brownout detect``, run by ``watch``.

``brownout detect`` checks, after replay, that every job the goodput ledger
charges >= 10 % of its wall time to ``straggler`` has the rank it waited for
named by a finding, or gets a ``straggler_unnamed`` notice saying why not
(:mod:`brownout.recovery.ledger_check`). :class:`LedgerWatch` runs the same
check in the live controller on the recent step records it keeps (the last
``window_s``, at most ``max_records``), and hands the notices to the engine
as notice candidates, so that they live like every other notice (opened,
updated while the check still says so, resolved when it stops) and reach
``/api/notices``, the dashboard and ``/metrics`` by the same path.

Live, a rank slow for a short while is not final as it is after replay: the
detectors may name it a few minutes later. So a job's notice is handed on
only once the check has said so for ``grace_s`` of data time in a row (by
default 5 minutes, the time a fail-slow finding is allowed to take).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from brownout.detect.api import Candidate
from brownout.detect.engine import concat_steps
from brownout.findings import Finding
from brownout.recovery.ledger import build_ledger
from brownout.recovery.ledger_check import straggler_notices
from brownout.telemetry.steps import StepRecords
from brownout.topology.model import Topology


class LedgerWatch:
    """Recent step records, checked against the findings now and then.

    Args:
        topology: the cluster (names the ranks' GPUs and nodes).
        window_s: records older than this before the newest one are let go.
        max_records: at most this many records are kept (the newest).
        grace_s: a job's notice is handed on once the check has said so this
            long (data time) in a row.
    """

    def __init__(self, topology: Topology, window_s: float = 3600.0,
                 max_records: int = 500_000, grace_s: float = 300.0) -> None:
        self.topology = topology
        self.window_s = window_s
        self.max_records = max_records
        self.grace_s = grace_s
        self._steps = StepRecords.empty()
        self._since: dict[str, float] = {}  # job -> data time the check first said so

    def add(self, steps: StepRecords) -> None:
        """Keep a batch of records (any jobs), dropping what left the window."""
        if not len(steps):
            return
        merged = concat_steps(self._steps, steps)
        start = int(np.searchsorted(merged.ts, float(merged.ts[-1]) - self.window_s))
        start = max(start, len(merged) - self.max_records)
        self._steps = merged.take(slice(start, None)) if start > 0 else merged

    def __len__(self) -> int:
        return len(self._steps)

    def check(self, findings: Sequence[Finding]) -> list[Candidate]:
        """One notice candidate per job whose recent straggler time no finding names."""
        if not len(self._steps):
            return []
        steps = self._steps
        ledger = build_ledger(steps, topology=self.topology)
        now_s, span_s = float(steps.ts[-1]), round(float(steps.ts[-1] - steps.ts[0]), 1)
        notes = straggler_notices(steps, ledger, findings, self.topology)
        self._since = {n.component: self._since.get(n.component, now_s) for n in notes}
        return [_candidate(n, span_s) for n in notes
                if now_s - self._since[n.component] >= self.grace_s]


def _candidate(n: Finding, span_s: float) -> Candidate:
    return Candidate(n.kind, n.component, n.onset, n.confidence, n.severity,
                     n.recommended_action, n.summary, {**n.evidence, "window_s": span_s},
                     notice=True, source="ledger_check", component_type=n.component_type)
