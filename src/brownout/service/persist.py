"""What the live controller keeps on disk: findings, goodput, the embedded store.

Writes are atomic (complete or absent) and happen only when something changed.
A full disk never stops detection or actions: the error is kept, shown in
``/api/health``, and the write is tried again on a later tick.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from brownout.atomic import atomic_write_text
from brownout.errors import InputError
from brownout.findings import Finding, FindingsFile, write_findings
from brownout.store import Store
from brownout.views.model import FindingView, GoodputPoint, JobGoodput


class Persister:
    """Keeps ``findings.json``, ``goodput.json`` and ``brownout.duckdb`` in a state dir.

    Args:
        state_dir: where to write; None keeps nothing on disk.
    """

    def __init__(self, state_dir: Path | None) -> None:
        self.state_dir = state_dir
        self.write_error = ""  # findings.json / goodput.json cannot be written (disk full)
        self.store_error = ""  # the embedded store cannot be written
        self._marked = (-1, -1)
        self._store: Store | None = None
        if state_dir is not None:
            state_dir.mkdir(parents=True, exist_ok=True)
            self._store = Store(state_dir / "brownout.duckdb")

    def past_findings(self) -> tuple[list[str], list[Finding]]:
        """What an earlier run left in the store: every finding id, and the findings
        still open when it stopped (empty without a state dir)."""
        if self._store is None:
            return [], []
        return self._store.finding_ids(), self._store.findings(open_only=True)

    def store_findings(self, views: Iterable[FindingView]) -> list[str]:
        """Upsert findings into the store; returns the ids that could not be stored."""
        self.store_error = ""
        failed: list[str] = []
        if self._store is None:
            return failed
        for v in views:
            try:
                self._store.upsert_finding(v.finding, v.resolved_at_s)
            except InputError as exc:  # disk full: the finding is still served and acted on
                self.store_error = str(exc)
                failed.append(v.finding.id)
        return failed

    def write(self, ff: FindingsFile, goodput: tuple[JobGoodput, ...],
              history: tuple[GoodputPoint, ...]) -> None:
        """Write findings and the goodput ledger atomically when they changed."""
        out = self.state_dir
        mark = (len(ff.findings) + len(ff.notices), len(history))
        if out is None or mark == self._marked:
            return
        body = {"jobs": {j.job: j.to_json() for j in goodput},
                "history": [p.to_json() for p in history]}
        try:
            write_findings(ff, out / "findings.json")
            atomic_write_text(out / "goodput.json", json.dumps(body, allow_nan=False) + "\n")
        except OSError as exc:  # disk full: keep detecting and acting, say so, retry next tick
            self.write_error = f"state dir {out}: cannot write ({exc.strerror or exc})"
            return
        self._marked = mark
        self.write_error = ""

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
