"""Small helpers shared by the subcommands: reading inputs, reporting problems."""

from __future__ import annotations

from pathlib import Path

import click

from brownout.telemetry.frame import Frame
from brownout.telemetry.problems import Problems
from brownout.telemetry.series import SeriesRegistry
from brownout.telemetry.sources.files import read_recording
from brownout.topology.loader import load_topology
from brownout.topology.model import Topology


def load_inputs(topology: str, metrics: tuple[str, ...], strict: bool
                ) -> tuple[Topology, SeriesRegistry, Frame, Problems]:
    """Topology, registry and the recording of ``metrics`` (empty frame when none)."""
    topo = load_topology(topology)
    registry = SeriesRegistry(topo)
    if not metrics:
        return topo, registry, Frame.empty(registry.table()), Problems()
    frame, problems = read_recording([Path(m) for m in metrics], registry, strict=strict)
    return topo, registry, frame, problems


def report_problems(problems: Problems) -> None:
    """Print what went wrong while reading, one line each, on stderr."""
    for line in problems.summary_lines():
        click.echo(f"brownout: warning: {line}", err=True)
