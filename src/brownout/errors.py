"""The one exception tree of brownout.

Errors of parsers, schedulers, Prometheus and NVML are translated into these
at the boundary (``raise ... from``). Each class carries the CLI exit code it
maps to (spec/cli.md): 2 for bad input, 3 for internal errors; backends that
are down are reported as input/environment problems (2) with one clear line.
"""

from __future__ import annotations


class BrownoutError(Exception):
    """Base of every error brownout raises on purpose."""

    exit_code = 3


class InputError(BrownoutError):
    """Bad input: an unreadable or malformed file, an inconsistent topology."""

    exit_code = 2


class ParseError(InputError):
    """A line or entry of a file that does not follow its format.

    Args:
        path: the file (or source name) being read.
        line: 1-based line number, or 0 when the error is about the whole file.
        problem: what is wrong, in a few words.
    """

    def __init__(self, path: str, line: int, problem: str) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {problem}")


class TopologyError(InputError):
    """A topology file that breaks a rule of spec/topology.md.

    Args:
        path: the topology file.
        entry: the offending entry (e.g. ``nodes[3] (n0004)``).
        rule: the rule it breaks.
    """

    def __init__(self, path: str, entry: str, rule: str) -> None:
        self.path = path
        self.entry = entry
        self.rule = rule
        super().__init__(f"{path}: {entry}: {rule}")


class SourceError(BrownoutError):
    """A telemetry source (Prometheus, an exporter) is unreachable or answers badly."""

    exit_code = 2


class ExecutorError(BrownoutError):
    """A scheduler backend (Slurm, Kubernetes) failed to carry out an action."""

    exit_code = 3


class GuardrailError(BrownoutError):
    """An illegal state transition or a violated invariant of the policy layer."""

    exit_code = 3
