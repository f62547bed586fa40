"""``brownout sweep``: a grid of scenarios x seeds x variants, locally or on Dask."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from brownout.atomic import atomic_write_text
from brownout.errors import InputError
from brownout.sweep.grid import Variant, build_grid, fresh_seeds, load_variants
from brownout.sweep.report import aggregate, format_table, svg_bars
from brownout.sweep.runner import run_dask, run_pool, run_serial


@click.command("sweep")
@click.option("--scenario", "scenarios", multiple=True, required=True,
              help="Built-in scenario name or YAML file (repeatable).")
@click.option("--seeds", "n_seeds", type=int, default=3, show_default=True,
              help="Fresh random seeds per scenario (ignored with --seed).")
@click.option("--seed", "seeds", multiple=True, type=int, help="Explicit seed (repeatable).")
@click.option("--variants", "variants_path", type=click.Path(dir_okay=False),
              help="YAML list of variants {name, engine: {...}, scenario: {...}}.")
@click.option("--workers", type=int, default=None,
              help="Local worker processes (default: CPU count).")
@click.option("--serial", is_flag=True, help="Run in this process, one at a time.")
@click.option("--scheduler", help="Dask scheduler address tcp://HOST:PORT.")
@click.option("--out", "out", type=click.Path(file_okay=False),
              help="Directory for results.jsonl, summary.json and plot.svg.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def command(scenarios: tuple[str, ...], n_seeds: int, seeds: tuple[int, ...],  # noqa: PLR0917
            variants_path: str | None, workers: int | None, serial: bool,
            scheduler: str | None, out: str | None, as_json: bool) -> int:
    """Run detection and goodput over a grid of scenarios, seeds and variants."""
    from rich.progress import Progress

    variants = load_variants(variants_path) if variants_path else [Variant("default")]
    if n_seeds < 1 and not seeds:
        raise InputError("--seeds must be at least 1")
    specs = build_grid(list(scenarios), list(seeds) or fresh_seeds(n_seeds), variants)
    results = _runner(specs, serial, scheduler, workers or os.cpu_count() or 1)
    rows: list[dict[str, Any]] = []
    with Progress(transient=True) as bar:
        job = bar.add_task(f"{len(specs)} runs", total=len(specs))
        for row in results:
            rows.append(row)
            bar.advance(job)
    table = aggregate(rows)
    if out:
        _write(Path(out), rows, table)
    _print(table, rows, as_json)
    return 0


def _runner(specs: list[Any], serial: bool, scheduler: str | None, workers: int) -> Any:
    if scheduler:
        return run_dask(specs, scheduler)
    if serial or workers <= 1:
        return run_serial(specs)
    return run_pool(specs, workers)


def _write(out: Path, rows: list[dict[str, Any]], table: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    atomic_write_text(out / "summary.json", json.dumps(table, indent=2) + "\n")
    atomic_write_text(out / "plot.svg", svg_bars(table, "f1"))


def _print(table: dict[str, Any], rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(table))
        return
    from rich.console import Console
    from rich.table import Table

    head, *body = format_table(table)
    t = Table(*head)
    for cells in body:
        t.add_row(*cells)
    Console(width=200).print(t)
    for r in rows:
        if "error" in r:
            click.echo(f"brownout: run {r['scenario']} seed {r['seed']} {r['variant']} failed: "
                       f"{r['error']}", err=True)
