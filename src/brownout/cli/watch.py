"""``brownout watch``: the live controller against a cluster, with API and dashboard.

Thin wiring: read the config file (docs/service.md), apply the flags that
override it, build the feed, engine, policy and executor, and serve until
interrupted.
"""

from __future__ import annotations

import click

from brownout.detect.hang_settings import HangTimeouts, parse_pairs
from brownout.service.auth import load_or_create_token
from brownout.service.config import MODES, WatchConfig, load_watch_config
from brownout.service.run import RunOptions, serve_forever
from brownout.service.wiring import ingest_token_path, plan_controller, token_path


@click.command("watch")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Watch config YAML (docs/service.md); defaults when absent.")
@click.option("--prometheus", default=None, metavar="URL",
              help="Read telemetry from this Prometheus (overrides the config's source).")
@click.option("--topology", default=None, type=click.Path(dir_okay=False),
              help="Topology YAML (spec/topology.md).")
@click.option("--mode", type=click.Choice(MODES), default=None, help="Override the mode.")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (default 8765).")
@click.option("--flight-recorder", "flight_recorder", default=None,
              type=click.Path(file_okay=False),
              help="Follow this directory of PyTorch Flight Recorder dumps (rank_hang).")
@click.option("--state-dir", default=None, help="Token, journal and findings live here.")
@click.option("--steps-dir", default=None, type=click.Path(file_okay=False),
              help="Follow the step logs (*.jsonl, recursively) under this directory.")
@click.option("--print-token", is_flag=True, help="Print the API token and exit.")
@click.option("--print-ingest-token", is_flag=True,
              help="Print the ingest token (it may only push steps) and exit.")
@click.option("--verdicts", multiple=True, type=click.Path(),
              help="Node-local verdicts (NVSentinel HealthEvents JSON/JSONL, or Nodes with "
                   "node-problem-detector conditions), re-read each minute (repeatable).")
@click.option("--verdicts-kubernetes", is_flag=True, default=None,
              help="Read node-problem-detector / NVSentinel node conditions from the cluster.")
@click.option("--publish-kubernetes", is_flag=True, default=None,
              help="Publish findings as node conditions and Events (NPD convention).")
@click.option("--publish-nvsentinel", "nvsentinel", metavar="TARGET", default=None,
              help="Send HealthEvents to NVSentinel (unix:///var/run/nvsentinel.sock).")
@click.option("--nvsentinel-remediate", is_flag=True, default=None,
              help="Mark HealthEvents EXECUTE_REMEDIATION (default STORE_ONLY).")
@click.option("--kubeconfig", default=None, type=click.Path(dir_okay=False),
              help="Kubeconfig of the interop client (default: in-cluster, then ~/.kube).")
@click.option("--hang", "hang", multiple=True, metavar="KEY=VALUE",
              help="A hang detector timeout (stall_k, stall_floor_s, hang_k, hang_floor_s, "
                   "give_up_s, hold_s), over the config's hangs: section (repeatable; "
                   "docs/detection.md).")
def command(*, config_path: str | None, prometheus: str | None, topology: str | None,
            mode: str | None, host: str | None, port: int | None, state_dir: str | None,
            steps_dir: str | None, print_token: bool, print_ingest_token: bool,
            flight_recorder: str | None,
            verdicts: tuple[str, ...], verdicts_kubernetes: bool | None,
            publish_kubernetes: bool | None, nvsentinel: str | None,
            nvsentinel_remediate: bool | None, kubeconfig: str | None,
            hang: tuple[str, ...]) -> int:
    """Run the live controller; serve the API, /metrics and the dashboard.

    Telemetry from --prometheus (or the config's source); step records pushed
    to POST /api/steps (ingest token) or followed in --steps-dir. With a
    topology and no telemetry source it runs on step records alone.
    """
    base = load_watch_config(config_path) if config_path else WatchConfig()
    cfg = base.replace(source=_source(config_path, prometheus, topology, steps_dir),
                       url=prometheus, topology=topology, mode=mode, host=host, port=port,
                       state_dir=state_dir, steps_dir=steps_dir, verdicts=verdicts or None,
                       verdicts_kubernetes=verdicts_kubernetes,
                       publish_kubernetes=publish_kubernetes, nvsentinel=nvsentinel,
                       nvsentinel_remediate=nvsentinel_remediate, kubeconfig=kubeconfig,
                       flight_recorder=flight_recorder,
                       hangs=HangTimeouts.parse({**base.hangs.params(), **parse_pairs(hang)},
                                                "--hang") if hang else None)
    token = load_or_create_token(token_path(cfg))
    ingest = load_or_create_token(ingest_token_path(cfg), "ingest token")
    if print_token or print_ingest_token:
        click.echo(token if print_token else ingest)
        return 0
    plan = plan_controller(cfg)
    label = cfg.source if cfg.source in ("scrape", "steps") else \
        f"{cfg.source} ({cfg.url or cfg.scenario})"
    total = None
    if cfg.source == "simulator":
        from brownout.sim import load_scenario
        total = load_scenario(cfg.scenario).duration_s
    return serve_forever(plan, RunOptions(cfg.host, cfg.port, token, total_s=total, label=label,
                                          ingest_token=ingest))


def _source(config_path: str | None, prometheus: str | None, topology: str | None,
            steps_dir: str | None) -> str | None:
    """The source the flags imply: a topology or a steps dir without a config means steps."""
    if prometheus:
        return "prometheus"
    if config_path is None and (topology or steps_dir):
        return "steps"
    return None
