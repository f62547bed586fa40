"""``brownout simulate``: run the digital twin and write telemetry, steps and truth."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from brownout.errors import InputError

if TYPE_CHECKING:
    from rich.progress import TaskID

    from brownout.sim.result import SimResult
    from brownout.sim.scenario import Scenario


@click.command(name="simulate")
@click.option("--scenario", "scenario_name", metavar="NAME_OR_FILE",
              help="Built-in scenario name or path of a scenario YAML file.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write topology.yaml, metrics/, steps.jsonl, truth.jsonl.")
@click.option("--seed", type=int, default=None, help="Override the scenario's seed.")
@click.option("--list", "list_only", is_flag=True, help="Name the built-in scenarios and exit.")
@click.option("--plain", is_flag=True, help="Write metrics as plain .om text, not gzip.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--serve", "port_base", type=int, default=None, metavar="PORT_BASE",
              help="Live mode: serve node i's /metrics on 127.0.0.1:PORT_BASE+i instead.")
@click.option("--speed", type=float, default=30.0, show_default=True,
              help="Live mode: simulated seconds per wall second.")
def command(*, scenario_name: str | None, out_dir: Path | None, seed: int | None,
            list_only: bool, plain: bool, quiet: bool, port_base: int | None,
            speed: float) -> int:
    """Run the digital twin; write telemetry, step log and ground truth."""
    from brownout.sim.scenario import list_scenarios, load_scenario

    if list_only:
        for name in list_scenarios():
            sc = load_scenario(name)
            click.echo(f"{name:22s} {sc.description}")
        return 0
    if scenario_name and port_base is not None:
        return _serve(load_scenario(scenario_name), seed, port_base, speed)
    if not scenario_name or out_dir is None:
        raise InputError("simulate needs --scenario NAME_OR_FILE and --out DIR (or --list)")
    scenario = load_scenario(scenario_name)
    result = _run(scenario, seed, out_dir, plain=plain, quiet=quiet or not sys.stderr.isatty())
    s = result.summary
    click.echo(f"{s['scenario']}: {s.get('gpus')} GPUs, {s['duration_s'] / 3600:.1f} h simulated, "
               f"{len(result.truth)} faults in truth -> {out_dir}")
    return 0


def _serve(scenario: Scenario, seed: int | None, port_base: int, speed: float) -> int:
    from brownout.sim.live import LiveCluster

    if scenario.mode != "fine":
        raise InputError(f"{scenario.source}: live mode needs a fine-mode scenario")
    live = LiveCluster(scenario, seed, speed)
    n = live.sim.topology.n_nodes
    try:
        live.start(port_base)
    except OSError as exc:
        raise InputError(f"cannot listen on 127.0.0.1:{port_base}..{port_base + n}: "
                         f"{exc.strerror or exc}") from exc
    click.echo(f"# {scenario.name}: {n} nodes on 127.0.0.1:{port_base}..{port_base + n - 1}, "
               f"fabric on :{port_base + n}, {speed:g}x real time; Ctrl-C stops")
    click.echo(live.prometheus_config())
    try:
        live.wait()
    except KeyboardInterrupt:
        click.echo("# stopped", err=True)
    finally:
        live.stop()
    return 0


def _run(scenario: Scenario, seed: int | None, out_dir: Path, *, plain: bool,
         quiet: bool) -> SimResult:
    from brownout.sim import run as simrun

    if quiet:
        return simrun.run_scenario(scenario, seed, out_dir, compress=not plain)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description:10s}"), BarColumn(),
                  TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                  transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(phase: str, frac: float) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=1.0)
            bar.update(tasks[phase], completed=frac)

        return simrun.run_scenario(scenario, seed, out_dir, progress=progress,
                                   compress=not plain)
