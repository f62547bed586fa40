"""Join node-local verdicts into brownout's findings: evidence, never authority.

:func:`corroborate` is pure. A verdict that agrees with one of brownout's own
findings (same node, the GPU it names if it names one, a category that fits
the finding's kind, overlapping in time) is added to the finding's evidence
and raises its confidence: each distinct agreeing check removes a share of
the remaining doubt, capped below certainty. Nothing else of the finding
changes: not its kind, component, severity, times or recommended action.

A verdict that agrees with no finding becomes a notice (``node_verdict``):
shown to people, ignored by scoring and by the policy. So a verdict alone
never makes a finding, and never an action: what happens to that node is
still decided only by brownout's detectors, policy and guardrails.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from brownout.findings import Finding, FindingsFile
from brownout.interop.verdicts import CORROBORATES, Verdict
from brownout.topology.component import ComponentRef


@dataclass(frozen=True)
class JoinConfig:
    """How verdicts weigh.

    Attributes:
        window_s: a verdict this long before a finding's onset still counts.
        weight: share of the remaining doubt one agreeing GPU-level check removes.
        node_weight: the same for a check that names the node, not the GPU.
        max_confidence: verdicts never raise a confidence above this.
        max_evidence: verdicts listed in one finding's evidence, at most.
    """

    window_s: float = 600.0
    weight: float = 0.5
    node_weight: float = 0.25
    max_confidence: float = 0.99
    max_evidence: int = 10


@dataclass(frozen=True)
class _Span:
    """An unhealthy verdict and when the same check reported recovery (or inf)."""

    verdict: Verdict
    end_s: float


def spans(verdicts: Iterable[Verdict]) -> list[_Span]:
    """Unhealthy verdicts, each until the next healthy one of the same check and target."""
    by_key: dict[tuple[str, str, str, int | None], list[Verdict]] = defaultdict(list)
    for v in verdicts:
        by_key[(v.source, v.check, v.node, v.gpu)].append(v)
    out = []
    for items in by_key.values():
        items.sort(key=lambda v: v.observed_s)
        for i, v in enumerate(items):
            if v.healthy:
                continue
            end = next((w.observed_s for w in items[i + 1:] if w.healthy), math.inf)
            out.append(_Span(v, end))
    return out


def node_of(f: Finding) -> str:
    """The node a finding's component lives on, or ``""`` for shared components."""
    return ComponentRef.parse(f.component).node(f.component_type)


def _finding_end_s(f: Finding) -> float:
    return math.inf if f.resolved_at is None else f.resolved_at


def agrees(f: Finding, span: _Span, cfg: JoinConfig) -> bool:
    """Whether a verdict speaks to this finding (place, kind and time)."""
    v = span.verdict
    if node_of(f) != v.node or f.kind not in CORROBORATES.get(v.category, frozenset()):
        return False
    if f.component_type == "gpu" and v.gpu is not None and f.component != v.component:
        return False
    return v.observed_s <= _finding_end_s(f) and span.end_s >= f.onset - cfg.window_s


def _raised(confidence: float, matched: Sequence[Verdict], cfg: JoinConfig) -> float:
    doubt = 1.0 - confidence
    for v in matched:
        doubt *= 1.0 - (cfg.weight if v.gpu is not None else cfg.node_weight)
    return max(confidence, min(cfg.max_confidence, round(1.0 - doubt, 3)))


def _distinct(items: Iterable[Verdict]) -> list[Verdict]:
    seen: dict[tuple[str, str, str], Verdict] = {}
    for v in items:
        seen.setdefault((v.source, v.check, v.component), v)
    return list(seen.values())


def _joined(f: Finding, matched: list[Verdict], cfg: JoinConfig) -> Finding:
    if not matched:
        return f
    distinct = _distinct(matched)
    listed = [v.evidence() for v in distinct[:cfg.max_evidence]]
    evidence: dict[str, Any] = {**f.evidence, "node_verdicts": listed,
                                "confidence_before_verdicts": f.confidence}
    return replace(f, confidence=_raised(f.confidence, distinct, cfg), evidence=evidence)


def _notice(v: Verdict, i: int, undated_s: float) -> Finding:
    t = v.observed_s if math.isfinite(v.observed_s) else undated_s
    codes = f" ({', '.join(v.codes)})" if v.codes else ""
    said = f": {v.message[:120]}" if v.message else ""
    return Finding(
        id=f"n-verdict-{i:04d}", kind="node_verdict", component=v.component,
        component_type="node" if v.gpu is None else "gpu", onset=t, detected_at=t,
        confidence=1.0, severity="minor",
        summary=f"{v.source} {v.check} on {v.component}{codes}{said}; "
                "no brownout finding agrees (node-local verdict only: no action)",
        evidence={"node_verdicts": [v.evidence()]}, recommended_action="investigate")


def corroborate(ff: FindingsFile, verdicts: Iterable[Verdict], cfg: JoinConfig | None = None,
                undated_s: float = 0.0) -> FindingsFile:
    """``ff`` with agreeing verdicts joined into its findings, the rest as notices.

    Args:
        ff: brownout's own findings.
        verdicts: node-local reports (any order).
        cfg: weights and windows.
        undated_s: time given to the notice of a verdict that carries none.
    """
    cfg = cfg or JoinConfig()
    all_spans = spans(verdicts)
    used: set[int] = set()
    findings = []
    for f in ff.findings:
        hits = [i for i, s in enumerate(all_spans) if agrees(f, s, cfg)]
        used.update(hits)
        findings.append(_joined(f, [all_spans[i].verdict for i in hits], cfg))
    lonely = _distinct(s.verdict for i, s in enumerate(all_spans) if i not in used)
    notices = tuple(_notice(v, i + 1, undated_s) for i, v in enumerate(lonely))
    return FindingsFile(ff.cluster, tuple(findings), ff.notices + notices)
