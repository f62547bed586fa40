"""Finding factory shared by the policy tests (a plain module: importable by name)."""

from __future__ import annotations

import itertools
from typing import Any

from brownout.findings import KINDS, Finding

_ids = itertools.count(1)


def make_finding(kind: str, component: str, severity: str = "critical",
                 confidence: float = 0.95, at_s: float = 1000.0,
                 evidence: dict[str, Any] | None = None, fid: str | None = None) -> Finding:
    """A finding as a detector would write it."""
    return Finding(id=fid or f"f-{next(_ids):06d}", kind=kind, component=component,
                   component_type=KINDS[kind], onset=at_s - 60.0, detected_at=at_s,
                   confidence=confidence, severity=severity, summary=f"{kind} on {component}",
                   evidence=evidence or {})
