"""``brownout publish``: hand a findings file to the fleet's other tools.

Thin wiring (docs/interop.md): node conditions and Events as
node-problem-detector writes them (``--kubernetes``), NVSentinel HealthEvents
to its platform connector (``--nvsentinel``). With neither, prints what
would be written, one JSON object a line.
"""

from __future__ import annotations

import json
from typing import Any

import click

from brownout.clock import WallClock
from brownout.errors import ExecutorError
from brownout.findings import Finding, read_findings
from brownout.interop.conditions import ConditionBook
from brownout.interop.health_events import health_event


def health_events(findings: tuple[Finding, ...], remediate: bool) -> list[dict[str, Any]]:
    """One event per node-level finding: unhealthy while open, healthy once resolved."""
    out = (health_event(f, remediate, f.resolved_at) for f in findings)
    return [e for e in out if e is not None]


@click.command(name="publish")
@click.option("--findings", "findings_path", required=True, type=click.Path(dir_okay=False),
              help="Findings file (JSON) to publish.")
@click.option("--kubernetes", is_flag=True,
              help="Write node conditions and Events (node-problem-detector convention).")
@click.option("--kubeconfig", type=click.Path(dir_okay=False),
              help="Kubeconfig (default: in-cluster, then ~/.kube/config).")
@click.option("--api-server", help="API server URL without credentials (a local proxy).")
@click.option("--namespace", default="default", show_default=True, help="Namespace of Events.")
@click.option("--nvsentinel", metavar="TARGET",
              help="Send HealthEvents to NVSentinel's platform connector "
                   "(e.g. unix:///var/run/nvsentinel.sock).")
@click.option("--nvsentinel-remediate", is_flag=True,
              help="Mark events EXECUTE_REMEDIATION (NVSentinel may quarantine); "
                   "default STORE_ONLY.")
def command(*, findings_path: str, kubernetes: bool, kubeconfig: str | None,
            api_server: str | None, namespace: str, nvsentinel: str | None,
            nvsentinel_remediate: bool) -> int:
    """Publish findings as node conditions, Events and NVSentinel HealthEvents."""
    ff = read_findings(findings_path)
    now_s = WallClock().now()  # the edge: the CLI is where the wall clock is read
    book = ConditionBook()
    health = health_events(ff.findings, nvsentinel_remediate)
    if not kubernetes and not nvsentinel:
        _print(*book.update(ff.findings, now_s), health, namespace)
        return 0
    failed: list[str] = []
    if kubernetes:
        from brownout.interop.k8s import KubernetesPublisher, core_api
        pub = KubernetesPublisher(core_api(kubeconfig, api_server), namespace=namespace)
        book.seed(pub.published())  # keeps transition times; clears what has resolved
        writes, events = book.update(ff.findings, now_s)
        failed += pub.publish(writes, events)
        click.echo(f"kubernetes: {sum(map(len, writes.values()))} condition(s) on "
                   f"{len(writes)} node(s), {len(events)} event(s)")
    if nvsentinel:
        from brownout.interop.grpc_sink import NvsentinelSink
        with NvsentinelSink(nvsentinel) as sink:
            click.echo(f"nvsentinel: sent {sink.send(health)} HealthEvent(s) to {nvsentinel}")
    if failed:
        raise ExecutorError(f"{len(failed)} write(s) failed; first: {failed[0]}")
    return 0


def _print(writes: dict[str, Any], events: list[Any], health: list[dict[str, Any]],
           namespace: str) -> None:
    for node, conditions in writes.items():
        for c in conditions:
            click.echo(json.dumps({"node": node, "condition": c.to_json()}))
    for e in events:
        click.echo(json.dumps({"event": e.to_json(namespace)}))
    for h in health:
        click.echo(json.dumps({"health_event": h}))
