"""Detection and localisation: the engine, one detector per concern, the localiser."""

from __future__ import annotations

from brownout.detect.api import Candidate, Detector


def default_detectors() -> list[Detector]:
    """A fresh instance of every built-in detector, with default settings."""
    from brownout.detect.fabric import FabricDetector
    from brownout.detect.gaps import TelemetryGapDetector
    from brownout.detect.gpu_health import GpuHealthDetector
    from brownout.detect.hangs import HangDetector
    from brownout.detect.nvlink import NvlinkDetector
    from brownout.detect.stragglers import StragglerDetector
    from brownout.detect.thermal import ThermalDetector

    return [GpuHealthDetector(), ThermalDetector(), FabricDetector(), StragglerDetector(),
            TelemetryGapDetector(), NvlinkDetector(), HangDetector()]


__all__ = ["Candidate", "Detector", "default_detectors"]
