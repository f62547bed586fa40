"""``brownout demo``: a simulated cluster, the live controller, the dashboard (spec/cli.md).

Thin wiring: a mixed fault scenario runs in accelerated time in process, the
controller watches it (disruptive actions wait for approval by default), and
the dashboard is served on ``http://127.0.0.1:PORT/`` until interrupted.
"""

from __future__ import annotations

import click

from brownout.service.auth import load_or_create_token
from brownout.service.config import WatchConfig
from brownout.service.run import RunOptions, serve_forever
from brownout.service.server import DEFAULT_PORT
from brownout.service.wiring import plan_controller, token_path


@click.command("demo")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port of the dashboard (0 picks a free one).")
@click.option("--no-browser", is_flag=True, help="Do not open a browser.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--scenario", default="mixed", show_default=True,
              help="Scenario name (brownout simulate --list) or file.")
@click.option("--seed", type=int, default=None, help="Simulator seed.")
@click.option("--speed", type=click.FloatRange(min=0.1, max=10_000), default=30.0,
              show_default=True, help="Simulated seconds per wall second.")
@click.option("--mode", type=click.Choice(("approval", "dry-run", "automatic")),
              default="approval", show_default=True,
              help="approval: disruptive actions wait for a person; dry-run: journal only.")
@click.option("--state-dir", default=None,
              help="Where the API token lives (default ~/.local/state/brownout).")
def command(*, port: int, no_browser: bool, host: str, scenario: str, seed: int | None,
            speed: float, mode: str, state_dir: str | None) -> int:
    """The live demo: simulated cluster, controller, dashboard."""
    cfg = WatchConfig(source="simulator", scenario=scenario, seed=seed, speed=speed,
                      interval_s=10.0, engine_tick_s=10.0, mode=mode,
                      executor="simulator" if mode != "dry-run" else "dry-run",
                      host=host, port=port).replace(state_dir=state_dir)
    plan = plan_controller(cfg, persistent=False)
    from brownout.sim import load_scenario

    total = load_scenario(scenario).duration_s
    opts = RunOptions(host, port, load_or_create_token(token_path(cfg)),
                      open_browser=not no_browser, total_s=total,
                      label=f"{scenario} x{speed:g}")
    return serve_forever(plan, opts)
