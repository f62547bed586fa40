"""Detection and localisation: the engine, one detector per concern, the localiser."""

from __future__ import annotations

from brownout.detect.api import Candidate, Detector
from brownout.detect.hang_settings import HangTimeouts


def default_detectors(hangs: HangTimeouts | None = None) -> list[Detector]:
    """A fresh instance of every built-in detector, with default settings (the hang
    detector's timeouts from ``hangs`` when given)."""
    from brownout.detect.fabric import FabricDetector
    from brownout.detect.gaps import TelemetryGapDetector
    from brownout.detect.gpu_health import GpuHealthDetector
    from brownout.detect.hangs import HangDetector
    from brownout.detect.nvlink import NvlinkDetector
    from brownout.detect.stragglers import StragglerDetector
    from brownout.detect.thermal import ThermalDetector

    return [GpuHealthDetector(), ThermalDetector(), FabricDetector(), StragglerDetector(),
            TelemetryGapDetector(), NvlinkDetector(),
            HangDetector(**(hangs or HangTimeouts()).params())]


__all__ = ["Candidate", "Detector", "default_detectors"]
