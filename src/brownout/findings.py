"""Findings and ground truth (spec/findings.md): values and file formats.

A :class:`Finding` names the component at fault, when the fault began and
when it was detected, with the evidence behind it. Findings files are JSON
(``brownout.findings`` version 1); truth files are JSON Lines.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from brownout.atomic import atomic_write_text
from brownout.errors import ParseError

KINDS: dict[str, str] = {  # kind -> component type
    "gpu_failed": "gpu",
    "gpu_degraded": "gpu",
    "gpu_overheating": "gpu",
    "cooling_fault": "cooling",
    "nic_degraded": "nic",
    "switch_congestion": "switch",
    "host_straggler": "node",
    "telemetry_loss": "node",
    "nvlink_degraded": "gpu",
    "nvswitch_fault": "nvlink_domain",
    "rank_hang": "gpu",  # or "rank" (component rank<N>) when no step record places the rank
}
SEVERITIES = ("minor", "major", "critical")
ACTIONS = ("none", "investigate", "restart_job", "reset_gpu", "reboot_node", "drain_node",
           "replace_part", "fix_cooling", "reroute", "fix_telemetry")
FORMAT = "brownout.findings"
VERSION = 1


@dataclass(frozen=True)
class Lifecycle:
    """Where a finding stands: how often its evidence was seen again, and whether it ended.

    A finding is published once per change as a new frozen value; nothing is
    changed after publication. Files keep it as ``evidence.lifecycle`` (the
    format did so before it was typed), so older files read back the same.

    Attributes:
        updates: ticks the evidence was seen again after the finding opened.
        last_seen_s: when its evidence was last seen.
        resolved_at_s: when it resolved (evidence absent long enough), or None.
        latest: the latest evidence of the detector behind it.
    """

    updates: int = 0
    last_seen_s: float | None = None
    resolved_at_s: float | None = None
    latest: dict[str, Any] | None = None

    @property
    def resolved(self) -> bool:
        return self.resolved_at_s is not None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"updates": self.updates, "last_seen": self.last_seen_s,
                               "resolved_at": self.resolved_at_s}
        if self.latest is not None:
            out["latest"] = self.latest
        return out

    @classmethod
    def from_json(cls, raw: Any) -> Lifecycle | None:
        """The lifecycle kept in a file's evidence, or None when absent or not a mapping."""
        if not isinstance(raw, dict):
            return None
        latest = raw.get("latest")
        return cls(updates=int(raw.get("updates") or 0), last_seen_s=_opt(raw.get("last_seen")),
                   resolved_at_s=_opt(raw.get("resolved_at")),
                   latest=latest if isinstance(latest, dict) else None)


def _opt(v: Any) -> float | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    return float(v) if ok else None


@dataclass(frozen=True)
class Finding:
    """One fault of one component (or, as a notice, something an operator should know)."""

    id: str
    kind: str
    component: str
    component_type: str
    onset: float
    detected_at: float
    confidence: float
    severity: str
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    recommended_action: str = "investigate"
    lifecycle: Lifecycle | None = field(default=None, compare=False)

    @property
    def resolved_at(self) -> float | None:
        """When the finding resolved, or None while open (or never tracked)."""
        return None if self.lifecycle is None else self.lifecycle.resolved_at_s

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        del out["lifecycle"]
        if self.lifecycle is not None:
            out["evidence"] = {**self.evidence, "lifecycle": self.lifecycle.to_json()}
        return out


@dataclass(frozen=True)
class FindingsFile:
    """The content of a findings file."""

    cluster: str
    findings: tuple[Finding, ...]
    notices: tuple[Finding, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "cluster": self.cluster,
                "findings": [f.to_json() for f in self.findings],
                "notices": [n.to_json() for n in self.notices]}


@dataclass(frozen=True)
class TruthFault:
    """One line of a ground-truth file."""

    kind: str
    component: str
    onset: float
    end: float | None
    note: str = ""


def finite_json(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return finite_json(value.item())
    return value


def write_findings(ff: FindingsFile, path: str | Path) -> None:
    """Write a findings file atomically; non-finite evidence numbers become null."""
    atomic_write_text(path, json.dumps(finite_json(ff.to_json()), indent=2, allow_nan=False)
                      + "\n")


def _finding(raw: Any, where: str, label: str, notice: bool) -> Finding:
    if not isinstance(raw, dict):
        raise ParseError(where, 0, f"{label} must be an object")
    try:
        f = Finding(
            id=str(raw["id"]), kind=str(raw["kind"]), component=str(raw["component"]),
            component_type=str(raw.get("component_type") or KINDS.get(raw["kind"], "")),
            onset=_num(raw["onset"]), detected_at=_num(raw["detected_at"]),
            confidence=_num(raw.get("confidence", 1.0)),
            severity=str(raw.get("severity", "major")), summary=str(raw.get("summary", "")),
            evidence=dict(raw.get("evidence") or {}),
            recommended_action=str(raw.get("recommended_action", "investigate")),
        )
        f = replace(f, evidence={k: v for k, v in f.evidence.items() if k != "lifecycle"},
                    lifecycle=Lifecycle.from_json(f.evidence.get("lifecycle")))
    except (KeyError, TypeError, ValueError) as exc:
        raise ParseError(where, 0, f"{label}: missing or bad field {exc}") from exc
    if not notice and f.kind not in KINDS:
        raise ParseError(where, 0, f"{label}: unknown kind '{f.kind}'")
    if f.severity not in SEVERITIES:
        raise ParseError(where, 0, f"{label}: severity must be one of {', '.join(SEVERITIES)}")
    return f


def _num(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError(f"{v!r} is not a finite number")
    return float(v)


def read_findings(path: str | Path) -> FindingsFile:
    """Read and validate a findings file.

    Raises:
        ParseError: naming the file and the first problem.
    """
    where = str(path)
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ParseError(where, 0, f"cannot be read ({exc.strerror or exc})") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(where, 0, f"not valid JSON ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ParseError(where, 0, f"not a findings file (format must be '{FORMAT}')")
    if raw.get("version") != VERSION:
        raise ParseError(where, 0, f"unsupported findings version {raw.get('version')!r}")
    items, notes = raw.get("findings", []), raw.get("notices", []) or []
    if not isinstance(items, list) or not isinstance(notes, list):
        raise ParseError(where, 0, "'findings' and 'notices' must be lists")
    return FindingsFile(
        cluster=str(raw.get("cluster", "")),
        findings=tuple(_finding(x, where, f"findings[{i}]", False) for i, x in enumerate(items)),
        notices=tuple(_finding(x, where, f"notices[{i}]", True) for i, x in enumerate(notes)),
    )


def read_truth(path: str | Path) -> list[TruthFault]:
    """Read a ground-truth JSON Lines file.

    Raises:
        ParseError: naming the file, the line and the problem.
    """
    where = str(path)
    try:
        lines = Path(path).read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise ParseError(where, 0, f"cannot be read ({exc})") from exc
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            end = raw.get("end")
            fault = TruthFault(kind=str(raw["kind"]), component=str(raw["component"]),
                               onset=_num(raw["onset"]), end=None if end is None else _num(end),
                               note=str(raw.get("note", "")))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ParseError(where, n, f"bad truth line ({exc})") from exc
        if fault.kind not in KINDS:
            raise ParseError(where, n, f"unknown kind '{fault.kind}'")
        out.append(fault)
    return out


def write_truth(faults: list[TruthFault], path: str | Path) -> None:
    """Write a ground-truth file atomically."""
    text = "".join(json.dumps(asdict(f), allow_nan=False) + "\n" for f in faults)
    atomic_write_text(path, text)
