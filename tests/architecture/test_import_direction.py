"""Imports point one way, from the edges to the core (design.md, "Dependency rules").

Read from the source with ``ast``, so a lazy import inside a function counts
as much as one at the top of a module.
"""

from __future__ import annotations

import pytest
from tests.architecture.imports import Import, cycles, imports, modules, package_of

#: packages that wire things together or present them: the core never imports these
EDGE = frozenset({"service", "cli", "loop", "report", "sweep"})
#: everything else: the model, the data path, decisions, adapters, the read model
CORE = frozenset({"errors", "clock", "atomic", "yamldoc", "topology", "telemetry", "findings",
                  "scoring", "store", "detect", "policy", "recovery", "sim", "executors",
                  "agent", "torch", "views", "interop"})
#: package -> packages it must never import (on top of EDGE for the core)
FORBIDDEN: dict[str, frozenset[str]] = {
    "policy": frozenset({"executors", "sim", "detect", "views"}),  # the policy owns the port
    "detect": frozenset({"sim", "policy", "executors", "recovery", "views"}),
    "sim": frozenset({"detect", "policy", "executors", "recovery", "views"}),
    "topology": frozenset({"telemetry", "detect", "policy", "recovery", "sim", "executors"}),
    "telemetry": frozenset({"detect", "policy", "recovery", "sim", "executors", "views"}),
    "recovery": frozenset({"sim", "executors", "views"}),
    "executors": frozenset({"views"}),
    "report": frozenset({"service", "cli", "loop"}),  # reads the views, never the service
    "service": frozenset({"cli"}),
    "views": frozenset({"detect", "sim", "executors"}),
    # other tools' verdicts in, findings out: never a detector, the policy or an executor
    "interop": frozenset({"detect", "sim", "policy", "executors", "recovery", "views"}),
}


def violations(edges: list[Import]) -> list[str]:
    """Every import that points the wrong way, as ``file:line source -> target``."""
    out = []
    for e in edges:
        src, dst = package_of(e.source), package_of(e.target)
        banned = FORBIDDEN.get(src, frozenset()) | (EDGE if src in CORE else frozenset())
        if dst in banned:
            out.append(f"{e.source}:{e.line} -> {e.target} ({src} must not import {dst})")
    return out


def test_every_package_is_classified() -> None:
    packages = {package_of(m) for m in modules()} - {"brownout"}
    assert packages <= CORE | EDGE, f"unclassified: {sorted(packages - CORE - EDGE)}"


def test_no_import_points_against_the_data_flow() -> None:
    assert violations(imports()) == []


def test_no_import_cycles() -> None:
    assert cycles(imports()) == []


@pytest.mark.parametrize(("source", "target"), [
    ("brownout.detect.gpu_health", "brownout.policy.xid"),
    ("brownout.policy.controller", "brownout.executors.slurm"),
    ("brownout.report.html", "brownout.service.app"),
    ("brownout.service.wiring", "brownout.cli.act"),
    ("brownout.sim.engine", "brownout.detect.engine"),
    ("brownout.topology.model", "brownout.loop.fine"),
])
def test_an_upward_import_added_back_is_caught(source: str, target: str) -> None:
    """The four backward imports this guard was written against, and two more."""
    assert violations([*imports(), Import(source, target, 1, top_level=False)]) != []


def test_a_cycle_added_back_is_caught() -> None:
    edges = [*imports(), Import("brownout.sim.coarse", "brownout.sim.run", 1, top_level=True),
             Import("brownout.sim.run", "brownout.sim.coarse", 1, top_level=False)]
    assert ["brownout.sim.coarse", "brownout.sim.run"] in cycles(edges)
