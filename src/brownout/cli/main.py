"""Entry point of the ``brownout`` command (spec/cli.md).

Each subcommand lives in its own module and is imported only when invoked,
so ``brownout --help`` stays fast and the core never loads edge dependencies.
Every :class:`~brownout.errors.BrownoutError` becomes one line on stderr and
the exit code the error class names; unexpected errors exit 3.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

import click

from brownout import __version__
from brownout.errors import BrownoutError

# subcommand name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "detect": ("brownout.cli.detect", "Replay telemetry through the detectors; write findings."),
    "score": ("brownout.cli.score", "Score findings against ground truth."),
    "simulate": ("brownout.cli.simulate", "Run the digital twin; write telemetry and truth."),
    "act": ("brownout.cli.act", "Run the policy and guardrails on a findings file."),
    "evaluate": ("brownout.cli.evaluate", "Run a scenario closed-loop under a policy."),
    "goodput": ("brownout.cli.goodput", "Build the goodput ledger of a step log."),
    "demo": ("brownout.cli.demo", "The live demo: simulated cluster, controller, dashboard."),
    "ingest": ("brownout.cli.ingest", "Import a recording into the embedded store."),
    "watch": ("brownout.cli.watch", "The live controller with API and dashboard."),
    "report": ("brownout.cli.report", "Write a self-contained HTML report."),
    "sweep": ("brownout.cli.sweep", "Run a grid of scenarios x seeds x variants (local or Dask)."),
    "import-topology": ("brownout.cli.import_topology",
                        "Import Slurm, Kubernetes or Crux topology into a topology file."),
    "agent": ("brownout.cli.agent", "Node agent: read GPUs through NVML, serve /metrics."),
    "publish": ("brownout.cli.publish",
                "Publish findings as node conditions, Events and NVSentinel HealthEvents."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name, (mod, _) in SUBCOMMANDS.items() if _available(mod))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = SUBCOMMANDS.get(cmd_name)
        if entry is None or not _available(entry[0]):
            return None
        command = importlib.import_module(entry[0]).command
        assert isinstance(command, click.Command)
        return command


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="brownout")
def cli() -> None:
    """brownout: detect, localise, isolate and recover partial failures in GPU clusters."""


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns (and exits with) the process exit code."""
    try:
        rv: Any = cli.main(args=argv, prog_name="brownout", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return _exit(exc.exit_code)
    except click.Abort:
        click.echo("brownout: aborted", err=True)
        return _exit(130)
    except click.ClickException as exc:
        click.echo(f"brownout: {exc.format_message()}", err=True)
        return _exit(2)
    except BrownoutError as exc:
        click.echo(f"brownout: {_one_line(str(exc))}", err=True)
        return _exit(exc.exit_code)
    except Exception as exc:
        click.echo(f"brownout: internal error: {type(exc).__name__}: {_one_line(str(exc))}",
                   err=True)
        return _exit(3)
    return _exit(rv if isinstance(rv, int) else 0)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


def _exit(code: int | None) -> int:
    return int(code or 0)


def run() -> None:
    """Console-script entry point: exit with :func:`main`'s code."""
    sys.exit(main())


if __name__ == "__main__":
    run()
