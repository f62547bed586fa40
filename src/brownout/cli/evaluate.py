"""``brownout evaluate``: run a scenario closed-loop under a policy (spec/cli.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from brownout.errors import InputError


@click.command(name="evaluate")
@click.option("--scenario", "scenario", required=True,
              help="Evaluation scenario (llama3-54d, fail-slow-heavy, nvl72, nvl72-full), "
                   "simulator scenario, or a YAML file.")
@click.option("--policy", type=click.Choice(["baseline", "brownout", "oracle"]), default=None,
              help="One policy; without it all three and a table.")
@click.option("--seed", type=int, default=None, help="Seed (default: the scenario's).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Directory for results.json and the ETTR-over-time plot ettr.svg.")
def command(scenario: str, policy: str | None, seed: int | None, as_json: bool,
            out_dir: Path | None) -> None:
    """Run the scenario closed-loop and print the goodput ledger."""
    from brownout.atomic import atomic_write_text
    from brownout.loop.coarse_eval import POLICIES
    from brownout.loop.evaluate import evaluate
    from brownout.loop.table import ettr_svg, format_table, gap_closed

    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: not a directory")
    policies = (policy,) if policy else POLICIES
    results = [evaluate(scenario, p, seed) for p in policies]
    gap = gap_closed(results)
    if policy is not None:
        doc = results[0].to_json()
    else:
        doc = {"scenario": results[0].scenario, "seed": results[0].seed,
               "mode": results[0].mode, "gap_closed": gap,
               "policies": {r.policy: r.to_json() for r in results}}
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out_dir / "results.json", json.dumps(doc, indent=2) + "\n")
        title = f"{results[0].scenario} (seed {results[0].seed}): ETTR over time"
        atomic_write_text(out_dir / "ettr.svg", ettr_svg(results, title) + "\n")
    if as_json:
        click.echo(json.dumps(doc, allow_nan=False))
        return
    click.echo(f"{results[0].scenario} (seed {results[0].seed}, {results[0].mode} mode)")
    click.echo(format_table(results))
    if gap is not None:
        click.echo(f"brownout closes {100 * gap:.1f}% of the baseline-to-oracle ETTR gap")
