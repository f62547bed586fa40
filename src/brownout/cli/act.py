"""``brownout act``: run the policy and its guardrails on a findings file (spec/cli.md).

Thin wiring: read the findings and the topology, open the journal, build the
executor, run one controller step, print the result. With ``--approve`` /
``--reject`` a person answers actions waiting in approval mode; ``--pending``
lists them.
"""

from __future__ import annotations

import json
import sys

import click

from brownout.errors import InputError
from brownout.executors.factory import EXECUTORS, build_executor
from brownout.findings import read_findings
from brownout.policy.config import PolicyConfig, load_policy_config
from brownout.policy.controller import Controller, StepReport
from brownout.policy.journal import Journal
from brownout.policy.statuses import ActionStatus
from brownout.topology import load_topology


def _journal_path(path: str | None, executor: str) -> str:
    if path:
        return path
    # dry-run changes nothing, so its journal may live in memory; real backends need a file
    return ":memory:" if executor == "dry-run" else "brownout-journal.db"


@click.command("act")
@click.option("--findings", "findings_path", type=click.Path(dir_okay=False),
              help="Findings file (spec/findings.md).")
@click.option("--topology", "topology_path", type=click.Path(dir_okay=False),
              help="Topology YAML (spec/topology.md).")
@click.option("--executor", type=click.Choice(EXECUTORS), default="dry-run", show_default=True)
@click.option("--journal", "journal_path", type=click.Path(dir_okay=False),
              help="Action journal (SQLite); default: in memory for dry-run, "
                   "./brownout-journal.db otherwise.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Policy YAML (docs/policy.md); defaults when absent.")
@click.option("--approval", type=click.Choice(("off", "disruptive", "all")), default=None,
              help="Override the config's approval mode.")
@click.option("--approve", multiple=True, metavar="KEY", help="Approve a waiting action.")
@click.option("--reject", multiple=True, metavar="KEY", help="Reject a waiting action.")
@click.option("--pending", is_flag=True, help="List actions waiting for approval and exit.")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None,
              help="Kubernetes config file (default: in-cluster or ~/.kube/config).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(*, findings_path: str | None, topology_path: str | None, executor: str,
            journal_path: str | None, config_path: str | None, approval: str | None,
            approve: tuple[str, ...], reject: tuple[str, ...], pending: bool,
            kubeconfig: str | None, as_json: bool) -> int:
    """Run the policy and guardrails on a findings file; execute or journal the actions."""
    journal = Journal(_journal_path(journal_path, executor), executor)
    try:
        if pending:
            return _list_pending(journal, as_json)
        if not findings_path or not topology_path:
            raise InputError("act: --findings and --topology are required")
        return _act(findings_path=findings_path, topology_path=topology_path,
                    executor=executor, journal=journal, config_path=config_path,
                    approval=approval, approve=approve, reject=reject, kubeconfig=kubeconfig,
                    as_json=as_json)
    finally:
        journal.close()


def _act(*, findings_path: str, topology_path: str, executor: str, journal: Journal,
         config_path: str | None, approval: str | None, approve: tuple[str, ...],
         reject: tuple[str, ...], kubeconfig: str | None, as_json: bool) -> int:
    config = load_policy_config(config_path) if config_path else PolicyConfig()
    if approval:
        config = config.replace(approval_mode=approval)
    topology = load_topology(topology_path)
    ff = read_findings(findings_path)
    out = sys.stderr if as_json else sys.stdout
    ctl = Controller(topology, build_executor(executor, topology, out, kubeconfig),
                     journal, config)
    now_s = ctl.clock.now()
    for key in approve:
        click.echo(f"approve {key}: {journal.approve(key, now_s)}", err=True)
    for key in reject:
        click.echo(f"reject {key}: {journal.reject(key, now_s)}", err=True)
    report = ctl.step(ff.findings, ff.notices)
    _print(report, as_json)
    return 1 if report.errors else 0


def _print(report: StepReport, as_json: bool) -> None:
    if report.breaker.open:
        click.echo(f"brownout: CIRCUIT BREAKER OPEN - automatic isolation stopped: "
                   f"{report.breaker.reading.reason}", err=True)
    for err in report.errors:
        click.echo(f"brownout: action not done: {err}", err=True)
    if as_json:
        body = report.to_json()
        body.pop("breaker_reason", None)
        click.echo(json.dumps(body, sort_keys=False))
        return
    for o in report.actions:
        a = o.action
        click.echo(f"{o.state:18} {a.kind:12} {a.node or a.component:14} {a.key}  {a.reason}")
    for r in report.refused:
        click.echo(f"{'refused':18} {r.action.kind:12} {r.action.component:14} "
                   f"{r.rule} (limit {r.limit:g}, observed {r.observed:g}) {r.detail}")
    click.echo(f"breaker: {'open' if report.breaker.open else 'closed'}")


def _list_pending(journal: Journal, as_json: bool) -> int:
    entries = journal.entries((ActionStatus.AWAITING_APPROVAL,))
    if as_json:
        click.echo(json.dumps({"pending": [
            {"key": e.action.key, "action": e.action.kind, "component": e.action.component,
             "node": e.action.node, "reason": e.action.reason,
             "expires_at": e.expires_at_s} for e in entries]}))
        return 0
    for e in entries:
        click.echo(f"{e.action.key}  {e.action.kind:12} {e.action.node or e.action.component}"
                   f"  expires {e.expires_at_s}  {e.action.reason}")
    return 0


__all__ = ["command"]
