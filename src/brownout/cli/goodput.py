"""``brownout goodput``: the goodput ledger of a step log (spec/cli.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from brownout.errors import InputError


@click.command(name="goodput")
@click.option("--steps", "steps_path", required=True, type=click.Path(path_type=Path),
              help="Step-time log (JSON Lines, plain or gzip).")
@click.option("--findings", "findings_path", type=click.Path(path_type=Path), default=None,
              help="Findings file that helps attribute slowdowns.")
@click.option("--topology", "topology_path", type=click.Path(path_type=Path), default=None,
              help="Topology, to relate switch and cooling findings to jobs.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(steps_path: Path, findings_path: Path | None, topology_path: Path | None,
            as_json: bool) -> None:
    """Build the goodput ledger of every job in a step log."""
    from brownout.findings import read_findings
    from brownout.recovery.ledger import build_ledger
    from brownout.recovery.report import ledger_table
    from brownout.telemetry.problems import Problems
    from brownout.telemetry.steps import read_steps
    from brownout.topology.loader import load_topology

    if not steps_path.is_file():
        raise InputError(f"{steps_path}: no such file")
    topology = load_topology(topology_path) if topology_path else None
    problems = Problems()
    steps = read_steps(steps_path, topology, problems)
    if len(steps) == 0:
        raise InputError(f"{steps_path}: no valid step records")
    findings = read_findings(findings_path).findings if findings_path else ()
    ledger = build_ledger(steps, findings, topology=topology)
    for line in problems.summary_lines():
        click.echo(f"brownout: {line}", err=True)
    if as_json:
        click.echo(json.dumps(ledger.to_json(), allow_nan=False))
    else:
        from rich.console import Console

        console = Console()
        if not console.is_terminal:
            console = Console(width=160)
        console.print(ledger_table(ledger))
