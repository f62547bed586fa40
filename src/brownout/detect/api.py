"""The one small API every detector shares (scikit-learn's estimator conventions).

- The constructor only stores its keyword settings, under their own names.
- Everything learned from data lives in attributes ending in ``_`` and is
  created on the first :meth:`Detector.update`, never in ``__init__``.
- ``update(tick) -> list[Candidate]`` sees only data with timestamps up to
  ``tick.t_s`` (the engine guarantees it) and returns the faults it believes
  in *now*; the engine turns repeated candidates into one finding with a
  lifecycle.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from brownout.detect.tick import Tick


@dataclass(frozen=True)
class Candidate:
    """One fault a detector believes in at this tick.

    Attributes:
        kind: a kind of spec/findings.md (or a notice kind when ``notice``).
        component: component identifier (``n0007/gpu3``, ``leaf04``, ``cdu02``).
        onset_s: estimated start of the fault, unix seconds.
        confidence: in [0, 1].
        severity: ``minor``, ``major`` or ``critical``.
        action: recommended action (spec/findings.md).
        summary: one human-readable line with the convincing numbers.
        evidence: the numbers behind it.
        notice: True for observations that are no fault of a component.
        source: which detector said so (for the localiser).
        component_type: overrides the kind's component type (a ``rank_hang``
            at ``rank<N>`` when no step record places the rank on a GPU).
    """

    kind: str
    component: str
    onset_s: float
    confidence: float
    severity: str
    action: str
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    notice: bool = False
    source: str = ""
    component_type: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.component)


class Detector:
    """Base class: settings in, candidates out (see module docstring)."""

    name: ClassVar[str] = "detector"
    #: whether it reads telemetry; a run with step records alone skips those that do
    needs_metrics: ClassVar[bool] = True

    def get_params(self) -> dict[str, Any]:
        """The constructor settings, by name (as scikit-learn's ``get_params``)."""
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

    def update(self, tick: Tick) -> list[Candidate]:
        """Candidates believed at ``tick.t_s`` (override)."""
        raise NotImplementedError


def severity_of(ratio: float, major: float, critical: float) -> str:
    """``minor`` / ``major`` / ``critical`` by how far ``ratio`` passes two marks."""
    if ratio >= critical:
        return "critical"
    return "major" if ratio >= major else "minor"


def confidence_of(z: float, z_min: float) -> float:
    """A confidence in [0.5, 0.99] that grows with how far ``z`` passes ``z_min``."""
    if z_min <= 0:
        return 0.9
    return float(min(0.99, 0.5 + 0.49 * min(1.0, max(0.0, (z - z_min) / (2 * z_min)))))
