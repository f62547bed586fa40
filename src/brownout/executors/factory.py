"""The one place executors are built: from a name, at the edge.

The CLI (``brownout act``), the live controller (``brownout watch``) and the
closed-loop evaluation all ask here, so one name always means one executor
with one set of semantics. Backends with heavy clients (Kubernetes) are
imported only when asked for.
"""

from __future__ import annotations

from typing import Any, TextIO

from brownout.errors import InputError
from brownout.policy.ports import Executor
from brownout.topology.model import Topology

#: executors a person can name on the command line
EXECUTORS = ("dry-run", "slurm", "kubernetes")


def build_executor(name: str, topology: Topology, out: TextIO,
                   kubeconfig: str | None = None, sim: Any = None) -> Executor:
    """The executor called ``name``.

    Args:
        name: ``dry-run``, ``slurm``, ``kubernetes`` or ``simulator``.
        topology: the cluster; real backends act only on its nodes.
        out: where the dry-run executor writes what it would do.
        kubeconfig: the Kubernetes client's config file (default: its own lookup).
        sim: the running twin, for ``simulator`` (anything with
            :class:`~brownout.executors.simulator.SimControl`'s surface).
    """
    nodes = [n.name for n in topology.nodes]
    if name == "slurm":
        from brownout.executors.slurm import SlurmExecutor
        return SlurmExecutor(nodes)
    if name == "kubernetes":
        from brownout.executors.kubernetes import KubernetesExecutor
        return KubernetesExecutor.from_kubeconfig(nodes, kubeconfig)
    if name == "simulator":
        if sim is None:
            raise InputError("executor 'simulator' needs a running simulation")
        from brownout.executors.simulator import SimulatorExecutor
        return SimulatorExecutor(sim)
    if name != "dry-run":
        raise InputError(f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}, simulator")
    from brownout.executors.dryrun import DryRunExecutor
    return DryRunExecutor(out=out)
