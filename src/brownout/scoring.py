"""Score findings against ground truth exactly as spec/scoring.md defines.

1. A finding matches a truth fault when kind and component are equal and
   ``onset - 60 s <= detected_at <= end + 300 s`` (no upper bound when ``end``
   is null).
2. Each truth fault is matched by at most one finding, the earliest matching
   ``detected_at``; other findings that match the same fault are duplicates.
3. Recall = matched faults / faults; precision = matching findings /
   (findings - duplicates). A neighbour of the faulty component is simply a
   finding that matches nothing: it counts against precision.
4. Time to detect = ``detected_at - onset`` (negative -> 0); median and p90.

Ratios with an empty denominator are reported as 1.0 (no finding means no
false finding; no fault means nothing was missed); times to detect with no
matched fault are ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from brownout.findings import KINDS, Finding, TruthFault

EARLY_S = 60.0  # a finding may precede the labelled onset by this much
LATE_S = 300.0  # ... and follow the repair by this much
FIELDS = ("truth", "matched", "missed", "false", "precision", "recall", "f1",
          "ttd_median_s", "ttd_p90_s")


@dataclass(frozen=True)
class KindScore:
    """Counts and rates for one kind (or overall)."""

    truth: int
    matched: int
    missed: int
    false: int
    precision: float
    recall: float
    f1: float
    ttd_median_s: float | None
    ttd_p90_s: float | None

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}


@dataclass(frozen=True)
class Match:
    """Which finding (index) matched which truth fault (index), and its TTD."""

    truth_index: int
    finding_index: int
    ttd_s: float


@dataclass(frozen=True)
class ScoreReport:
    """The whole report: overall, per kind, and the matching behind it."""

    overall: KindScore
    per_kind: dict[str, KindScore]
    matches: tuple[Match, ...] = ()
    duplicates: tuple[int, ...] = ()
    false_findings: tuple[int, ...] = ()
    missed_truth: tuple[int, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object of spec/cli.md: ``overall`` and ``per_kind``."""
        return {"overall": self.overall.to_json(),
                "per_kind": {k: s.to_json() for k, s in self.per_kind.items()}}


def matches_window(finding: Finding, fault: TruthFault) -> bool:
    """Rule 1: same kind, same component, detected inside the fault's window."""
    if finding.kind != fault.kind or finding.component != fault.component:
        return False
    if finding.detected_at < fault.onset - EARLY_S:
        return False
    return fault.end is None or finding.detected_at <= fault.end + LATE_S


def _assign(findings: Sequence[Finding], truth: Sequence[TruthFault]
            ) -> tuple[list[Match], set[int]]:
    """Rule 2: each fault takes its earliest matching finding not already taken.

    Returns the matches and the indices of every finding that matches some
    fault's window (matched or duplicate).
    """
    by_time = sorted(range(len(findings)), key=lambda i: (findings[i].detected_at, i))
    taken: set[int] = set()
    in_window: set[int] = set()
    matches: list[Match] = []
    for ti in sorted(range(len(truth)), key=lambda i: (truth[i].onset, i)):
        fault = truth[ti]
        hits = [fi for fi in by_time if matches_window(findings[fi], fault)]
        in_window.update(hits)
        free = [fi for fi in hits if fi not in taken]
        if free:
            fi = free[0]
            taken.add(fi)
            ttd = max(0.0, findings[fi].detected_at - fault.onset)
            matches.append(Match(ti, fi, ttd))
    return matches, in_window


def _ratio(num: int, den: int) -> float:
    return 1.0 if den == 0 else num / den


def _kind_score(truth_n: int, matched_n: int, found_n: int, dup_n: int,
                ttds: list[float]) -> KindScore:
    precision = _ratio(matched_n, found_n - dup_n)
    recall = _ratio(matched_n, truth_n)
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    arr = np.asarray(ttds, dtype=np.float64)
    return KindScore(
        truth=truth_n, matched=matched_n, missed=truth_n - matched_n,
        false=found_n - dup_n - matched_n, precision=precision, recall=recall, f1=f1,
        ttd_median_s=float(np.median(arr)) if arr.size else None,
        ttd_p90_s=float(np.percentile(arr, 90)) if arr.size else None,
    )


def score(findings: Sequence[Finding], truth: Sequence[TruthFault]) -> ScoreReport:
    """Score ``findings`` against ``truth`` (spec/scoring.md).

    Per-kind rows cover every kind of the taxonomy plus any other kind that
    appears in the findings or the truth.
    """
    matches, in_window = _assign(findings, truth)
    matched_f = {m.finding_index for m in matches}
    duplicates = sorted(in_window - matched_f)
    false = [i for i in range(len(findings)) if i not in in_window]
    kinds = list(KINDS) + sorted({f.kind for f in findings} | {t.kind for t in truth}
                                 - set(KINDS))
    per_kind = {k: _score_kind(k, findings, truth, matches, set(duplicates)) for k in kinds}
    overall = _kind_score(len(truth), len(matches), len(findings), len(duplicates),
                          [m.ttd_s for m in matches])
    missed = sorted(set(range(len(truth))) - {m.truth_index for m in matches})
    return ScoreReport(overall, per_kind, tuple(matches), tuple(duplicates), tuple(false),
                       tuple(missed))


def _score_kind(kind: str, findings: Sequence[Finding], truth: Sequence[TruthFault],
                matches: list[Match], duplicates: set[int]) -> KindScore:
    ms = [m for m in matches if truth[m.truth_index].kind == kind]
    found = [i for i, f in enumerate(findings) if f.kind == kind]
    return _kind_score(sum(1 for t in truth if t.kind == kind), len(ms), len(found),
                       sum(1 for i in found if i in duplicates), [m.ttd_s for m in ms])


def _fmt(v: float | None, pattern: str) -> str:
    return "-" if v is None else pattern.format(v)


def format_table(report: ScoreReport, all_kinds: bool = False) -> str:
    """A plain-text table for people (kinds with no truth and no finding are hidden)."""
    head = (f"{'kind':<18} {'truth':>5} {'match':>5} {'miss':>5} {'false':>5} "
            f"{'prec':>6} {'recall':>6} {'f1':>6} {'ttd_med':>8} {'ttd_p90':>8}")
    lines = [head, "-" * len(head)]
    rows = [(k, s) for k, s in report.per_kind.items()
            if all_kinds or s.truth or s.matched or s.false]
    for name, s in [*rows, ("overall", report.overall)]:
        lines.append(
            f"{name:<18} {s.truth:>5} {s.matched:>5} {s.missed:>5} {s.false:>5} "
            f"{s.precision:>6.3f} {s.recall:>6.3f} {s.f1:>6.3f} "
            f"{_fmt(s.ttd_median_s, '{:.0f}s'):>8} {_fmt(s.ttd_p90_s, '{:.0f}s'):>8}")
    return "\n".join(lines)
