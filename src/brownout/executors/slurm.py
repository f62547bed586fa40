"""Slurm executor: ``scontrol`` to act, ``sinfo --json`` / ``scontrol show node`` to read back.

Every call is an argv list (never a shell) with a timeout; node names are
checked against the topology before they reach a command line. Slurm errors
are translated here into :class:`~brownout.errors.ExecutorError` (retryable:
timeouts, an unreachable controller) or :class:`PermanentExecutorError`
(unknown node, missing binaries, unsupported action).

The action's idempotency key goes into the node's Reason
(``brownout[<key>] ...``), so the drain itself records which decision caused it.
Slurm cannot reset a single GPU: a ``reset_gpu`` is handed to the notify sink
(the node is drained already), for a node agent or a person.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from brownout.errors import ExecutorError
from brownout.policy.actions import (
    DRAIN_NODE,
    NOTIFY,
    REBOOT_NODE,
    RESET_GPU,
    RESTART_JOB,
    RETURN_NODE,
    Action,
)
from brownout.policy.ownership import Owner, refuse_line, slurm_owner
from brownout.policy.ports import Observation, PermanentExecutorError
from brownout.topology.hostlist import compress, expand
from brownout.topology.model import NODE_NAME_RE

Runner = Callable[[list[str], float], "subprocess.CompletedProcess[str]"]
_PERMANENT = re.compile(r"invalid node name|not found|unknown|invalid|not supported|"
                        r"rebootprogram", re.IGNORECASE)
_REASON_BAD = re.compile(r"[^\x20-\x7e]")
REASON_MAX = 240


def run_argv(argv: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    """Run a command without a shell, capturing text output, with a timeout."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                          check=False)


@dataclass(frozen=True)
class SlurmNode:
    """One node as Slurm reports it."""

    name: str
    state: str                 # base state, lower case: idle, allocated, down, unknown ...
    flags: tuple[str, ...]     # upper case: DRAIN, NOT_RESPONDING, REBOOT_REQUESTED ...
    reason: str

    @property
    def drained(self) -> bool:
        return "DRAIN" in self.flags or self.state in ("drained", "draining", "drain")


class SlurmExecutor:
    """Drain, resume, requeue and reboot nodes through the Slurm client commands.

    Args:
        nodes: every node name brownout may touch (the topology's).
        runner: runs one argv with a timeout (injected in tests).
        timeout_s: limit for every Slurm call.
        notify: where notifications and GPU-reset requests go.
    """

    name = "slurm"

    def __init__(self, nodes: Iterable[str], runner: Runner = run_argv,
                 timeout_s: float = 15.0, notify: Callable[[str], None] | None = None) -> None:
        self.nodes = frozenset(nodes)
        self.runner = runner
        self.timeout_s = timeout_s
        self.notify = notify or _stderr_line

    # boundary --------------------------------------------------------------
    def _run(self, argv: list[str]) -> str:
        try:
            proc = self.runner(argv, self.timeout_s)
        except FileNotFoundError as exc:
            raise PermanentExecutorError(f"slurm: {argv[0]} not found") from exc
        except subprocess.TimeoutExpired as exc:
            raise ExecutorError(f"slurm: {argv[0]} {argv[1]} timed out after "
                                f"{self.timeout_s:.0f} s") from exc
        except OSError as exc:
            raise ExecutorError(f"slurm: {argv[0]} failed to start ({exc})") from exc
        if proc.returncode != 0:
            msg = " ".join((proc.stderr or proc.stdout or "").split())[:300]
            cls = PermanentExecutorError if _PERMANENT.search(msg) else ExecutorError
            raise cls(f"slurm: {' '.join(argv[:2])} exited {proc.returncode}: {msg}")
        return proc.stdout

    def _check(self, node: str) -> str:
        if not NODE_NAME_RE.match(node) or node not in self.nodes:
            raise PermanentExecutorError(f"slurm: {node!r} is not a node of the topology")
        return node

    # actions ---------------------------------------------------------------
    def execute(self, action: Action) -> None:
        kind = action.kind
        if kind == NOTIFY:
            self.notify(f"brownout notify [{action.key}]: {action.reason}")
        elif kind == DRAIN_NODE:
            self._update(action.node, "DRAIN", reason_for(action))
        elif kind == RETURN_NODE:
            self._resume(action.node)
        elif kind == RESTART_JOB:
            self._requeue(action.node)
        elif kind == REBOOT_NODE:
            self._run(["scontrol", "reboot", "ASAP", f"reason={reason_for(action)}",
                       self._check(action.node)])
        elif kind == RESET_GPU:
            self._check(action.node)
            self.notify(f"brownout reset-gpu request [{action.key}] {action.component}:"
                        f" Slurm cannot reset a GPU; node is drained, reset it on the host")
        else:  # pragma: no cover - Action validates kinds
            raise PermanentExecutorError(f"slurm: unsupported action {kind}")

    def _update(self, node: str, state: str, reason: str = "") -> None:
        argv = ["scontrol", "update", f"NodeName={self._check(node)}", f"State={state}"]
        if reason:
            argv.append(f"Reason={reason}")
        self._run(argv)

    def _resume(self, node: str) -> None:
        """Resume ``node`` only while brownout's drain mark is still its Reason
        (:mod:`brownout.policy.ownership`); an in-service node needs nothing."""
        seen = self.node(node)
        owner = slurm_owner(node, seen.drained, seen.reason)
        if owner is Owner.OTHER:
            raise PermanentExecutorError(refuse_line("slurm", node, "resume", seen.reason))
        if owner is Owner.NOBODY:
            return
        try:
            self._update(node, "RESUME")
        except PermanentExecutorError:
            # Slurm refuses RESUME for a node that is not drained or down: already in service?
            if self.node(node).drained:
                raise

    def _requeue(self, node: str) -> None:
        jobs = self.jobs_on(node)
        if jobs:
            self._run(["scontrol", "requeue", ",".join(jobs)])

    # read back -------------------------------------------------------------
    def read_nodes(self, nodes: Iterable[str] | None = None) -> dict[str, SlurmNode]:
        """Nodes as ``sinfo --json`` reports them (all, or a checked subset).

        Slurm 22.05 ignores ``--nodes`` together with ``--json``, so the subset is
        also filtered here.
        """
        argv = ["sinfo", "--json"]
        wanted = None if nodes is None else {self._check(n) for n in nodes}
        if wanted is not None:
            argv += ["--nodes", compress(wanted)]
        found = parse_sinfo_json(self._run(argv))
        return found if wanted is None else {k: v for k, v in found.items() if k in wanted}

    def node(self, name: str) -> SlurmNode:
        nodes = self.read_nodes([name])
        if name not in nodes:
            raise PermanentExecutorError(f"slurm: node {name} not known to slurmctld")
        return nodes[name]

    def drained_by_others(self) -> dict[str, str]:
        """Node -> Reason of every topology node drained by someone other than brownout."""
        return {name: n.reason for name, n in self.read_nodes().items()
                if name in self.nodes and slurm_owner(name, n.drained, n.reason) is Owner.OTHER}

    def jobs_on(self, node: str) -> list[str]:
        """Ids of running or pending jobs on ``node`` (``squeue --json``, filtered here too)."""
        out = self._run(["squeue", "--json", "--nodelist", self._check(node)])
        try:
            jobs = json.loads(out).get("jobs", [])
        except ValueError as exc:
            raise ExecutorError("slurm: squeue --json answered with invalid JSON") from exc
        return [str(j["job_id"]) for j in jobs
                if str(j.get("job_state", "")).upper() in ("RUNNING", "COMPLETING")
                and node in expand(str(j.get("nodes", "")))]

    def observe(self, action: Action) -> Observation:
        if action.kind == DRAIN_NODE:
            return Observation.APPLIED if self.node(action.node).drained else \
                Observation.NOT_APPLIED
        if action.kind == RETURN_NODE:
            return Observation.NOT_APPLIED if self.node(action.node).drained else \
                Observation.APPLIED
        if action.kind == RESTART_JOB:
            return Observation.NOT_APPLIED if self.jobs_on(action.node) else Observation.APPLIED
        return Observation.UNKNOWN

    def idempotent(self, action: Action) -> bool:
        return action.kind in (DRAIN_NODE, RETURN_NODE, NOTIFY, RESET_GPU, RESTART_JOB)


def _stderr_line(line: str) -> None:
    sys.stderr.write(line + "\n")


def reason_for(action: Action) -> str:
    """Slurm Reason text: printable ASCII, bounded, starting with the idempotency key."""
    text = _REASON_BAD.sub(" ", f"brownout[{action.key}] {action.reason}")
    return " ".join(text.split())[:REASON_MAX]


def parse_sinfo_json(text: str) -> dict[str, SlurmNode]:
    """Nodes from ``sinfo --json`` (Slurm 22.05 to 24.x shapes).

    Raises:
        ExecutorError: the output is not the JSON sinfo writes.
    """
    try:
        raw = json.loads(text)
        return {str(n["name"]): _sinfo_node(n) for n in _sinfo_nodes(raw)}
    except (ValueError, KeyError, TypeError) as exc:
        raise ExecutorError(f"slurm: cannot read sinfo --json output ({exc})") from exc


def _sinfo_nodes(raw: dict[str, Any]) -> list[dict[str, Any]]:
    if "nodes" in raw:
        return list(raw["nodes"])
    # Slurm 23.x+: sinfo --json groups nodes: {"sinfo": [{"nodes": {"nodes": [...]}, ...}]}
    return [{"name": name, "state": s["node"]["state"], "reason": s.get("reason", {})}
            for s in raw["sinfo"] for name in s["nodes"]["nodes"]]


def _sinfo_node(n: dict[str, Any]) -> SlurmNode:
    state = n.get("state", "")
    flags = list(n.get("state_flags", []))
    if isinstance(state, list):  # 23.x: ["IDLE", "DRAIN"]
        base = [s for s in state if s.upper() not in _FLAG_WORDS]
        flags += [s for s in state if s.upper() in _FLAG_WORDS]
        state = base[0] if base else ""
    reason = n.get("reason", "")
    if isinstance(reason, dict):
        reason = reason.get("description", "")
    return SlurmNode(str(n["name"]), str(state).lower(),
                     tuple(str(f).upper() for f in flags), str(reason))


_FLAG_WORDS = frozenset({"DRAIN", "DRAINING", "DRAINED", "NOT_RESPONDING", "COMPLETING",
                         "REBOOT_REQUESTED", "REBOOT_ISSUED", "MAINTENANCE", "RESERVED",
                         "FAIL", "POWER_DOWN", "POWERED_DOWN", "CLOUD", "DYNAMIC_NORM"})


def parse_scontrol_show_node(text: str) -> dict[str, SlurmNode]:
    """Nodes from ``scontrol show node`` text (``State=IDLE+DRAIN``, ``Reason=... [u@t]``)."""
    out = {}
    for block in re.split(r"\n\s*\n", text.strip()):
        name = re.search(r"NodeName=(\S+)", block)
        state = re.search(r"\bState=(\S+)", block)
        if not name or not state:
            continue
        words = state.group(1).upper().split("+")
        base = words[0].rstrip("*")
        flags = tuple(w.rstrip("*") for w in words[1:])
        if words[0].endswith("*") or any(w.endswith("*") for w in words[1:]):
            flags += ("NOT_RESPONDING",)
        reason = re.search(r"^\s*Reason=(.*?)(?:\s\[[^\]]*@[^\]]*\])?\s*$", block, re.M)
        out[name.group(1)] = SlurmNode(name.group(1), base.lower(), flags,
                                       reason.group(1) if reason else "")
    return out


def parse_sinfo_reasons(text: str) -> dict[str, str]:
    """Node -> reason from ``sinfo -R -h -o '%n|%E'`` (one node per line)."""
    out = {}
    for line in text.splitlines():
        node, sep, reason = line.partition("|")
        if sep and node.strip():
            out[node.strip()] = reason.strip()
    return out
