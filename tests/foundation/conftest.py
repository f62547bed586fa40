"""Shared fixtures for the foundation tests."""

from __future__ import annotations

import pytest

from brownout.telemetry.series import SeriesRegistry
from brownout.topology.generate import generate_topology
from brownout.topology.model import Topology


@pytest.fixture
def topo() -> Topology:
    return generate_topology(4)


@pytest.fixture
def registry(topo: Topology) -> SeriesRegistry:
    return SeriesRegistry(topo)


def om_line(metric: str, host: str, gpu: int, value: str, ts: str,
            host_label: str = "Hostname") -> str:
    """One dcgm-exporter style sample line."""
    return (f'{metric}{{gpu="{gpu}",UUID="GPU-{host}-{gpu}",device="nvidia{gpu}",'
            f'modelName="NVIDIA H100 80GB HBM3",{host_label}="{host}",'
            f'DCGM_FI_DRIVER_VERSION="550.54.15"}} {value} {ts}\n')
