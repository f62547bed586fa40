"""``brownout score``: findings against ground truth (spec/scoring.md, spec/cli.md)."""

from __future__ import annotations

import json

import click

from brownout.findings import read_findings, read_truth
from brownout.scoring import format_table, score


@click.command(name="score")
@click.option("--findings", "findings_path", required=True,
              type=click.Path(dir_okay=False), help="Findings file (JSON).")
@click.option("--truth", "truth_path", required=True,
              type=click.Path(dir_okay=False), help="Ground truth (JSON Lines).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(findings_path: str, truth_path: str, as_json: bool) -> int:
    """Score findings against ground truth: precision, recall, time to detect."""
    ff = read_findings(findings_path)
    truth = read_truth(truth_path)
    report = score(ff.findings, truth)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, allow_nan=False))
    else:
        click.echo(format_table(report))
    return 0
