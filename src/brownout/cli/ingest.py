"""``brownout ingest``: import a recording into the embedded DuckDB store once."""

from __future__ import annotations

import click

from brownout.cli.common import load_inputs, report_problems
from brownout.store import Store


@click.command("ingest")
@click.option("--topology", required=True, type=click.Path(dir_okay=False),
              help="Topology YAML the recording belongs to.")
@click.option("--metrics", "metrics", multiple=True, required=True, type=click.Path(),
              help="Recorded telemetry file or directory (repeatable).")
@click.option("--store", "store_path", required=True, type=click.Path(dir_okay=False),
              help="DuckDB database file (created if absent).")
@click.option("--name", required=True, help="Name to store the recording under.")
@click.option("--strict", is_flag=True, help="Fail on the first malformed line.")
def command(topology: str, metrics: tuple[str, ...], store_path: str, name: str,
            strict: bool) -> int:
    """Parse a recording once and keep it in the store for fast re-reads."""
    topo, _, frame, problems = load_inputs(topology, metrics, strict)
    report_problems(problems)
    store = Store(store_path)
    try:
        store.save_recording(name, topo.name, frame, problems.as_dict())
    finally:
        store.close()
    click.echo(f"stored {len(frame):,} samples of {len(frame.table):,} series as '{name}' "
               f"in {store_path}")
    return 0
