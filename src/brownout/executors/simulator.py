"""Simulator executor: the policy acts on the digital twin through its control hooks.

The twin (:class:`brownout.sim.engine.Simulation`) exposes ``drain(node,
restart_jobs)``, ``undrain(node)`` and its ``drained`` flags; this adapter
speaks to anything of that shape (:class:`SimControl`), so it never imports
the simulator and the simulator never imports the policy. The twin has no GPU
reset or reboot: those, and notifications, are recorded in ``requests`` for
the closed-loop evaluation to count.

Semantics, decided once and shared by ``brownout watch``/``demo`` and
``brownout evaluate``: ``drain_node`` takes the node out of scheduling and
leaves running jobs alone (as Slurm's DRAIN does); ``restart_job`` drains the
node and restarts its jobs from checkpoint elsewhere; ``return_node``
undrains. Drains and returns are idempotent (read back from the drained
flags); a restart is not (a second one costs the job another rollback), so it
is read back from the actions already carried out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from brownout.policy.actions import DRAIN_NODE, RESTART_JOB, RETURN_NODE, Action
from brownout.policy.ports import Observation, PermanentExecutorError
from brownout.topology.model import Topology


class SimControl(Protocol):
    """The control surface of the simulated cluster."""

    topology: Topology
    drained: Sequence[bool] | Any

    def drain(self, node: str, restart_jobs: bool = True) -> None: ...

    def undrain(self, node: str) -> None: ...


class SimulatorExecutor:
    """Carries actions out on a running simulation.

    Args:
        sim: the simulation (anything with the :class:`SimControl` surface).
    """

    name = "simulator"

    def __init__(self, sim: SimControl) -> None:
        self.sim = sim
        self.requests: list[Action] = []
        self.restarted: set[str] = set()

    def _index(self, node: str) -> int:
        i = self.sim.topology.node_index.get(node)
        if i is None:
            raise PermanentExecutorError(f"simulator: no node {node!r}")
        return i

    def execute(self, action: Action) -> None:
        if action.kind == DRAIN_NODE:
            self._index(action.node)
            self.sim.drain(action.node, restart_jobs=False)
        elif action.kind == RESTART_JOB:
            self._index(action.node)
            self.sim.drain(action.node, restart_jobs=True)  # jobs restart without the node
            self.restarted.add(action.key)
        elif action.kind == RETURN_NODE:
            self._index(action.node)
            self.sim.undrain(action.node)
        else:
            self.requests.append(action)

    def observe(self, action: Action) -> Observation:
        if action.kind in (DRAIN_NODE, RETURN_NODE):
            drained = bool(self.sim.drained[self._index(action.node)])
            return Observation.APPLIED if drained == (action.kind == DRAIN_NODE) else \
                Observation.NOT_APPLIED
        if action.kind == RESTART_JOB:
            return Observation.APPLIED if action.key in self.restarted else \
                Observation.NOT_APPLIED
        return Observation.APPLIED if action in self.requests else Observation.NOT_APPLIED

    def idempotent(self, action: Action) -> bool:
        return action.kind != RESTART_JOB  # a second restart costs the job another rollback
