"""Shared helpers: read an agent's /metrics text back with brownout's own parser."""

from __future__ import annotations

from brownout.telemetry.metrics import METRICS
from brownout.telemetry.parse import parse_text
from brownout.telemetry.problems import Problems
from brownout.telemetry.series import SeriesRegistry
from brownout.topology.generate import generate_topology
from brownout.topology.model import Topology


def read_back(text: str, node: str = "n0001", gpus: int = 8,
              topo: Topology | None = None) -> dict[tuple[str, int], float]:
    """(metric, gpu index) -> value, parsed by brownout.telemetry.parse.parse_text."""
    topo = topo or generate_topology(1, gpus_per_node=gpus)
    assert topo.nodes[0].name == node or node != "n0001"
    registry = SeriesRegistry(topo)
    problems = Problems()
    _t, sid, value = parse_text(text.encode(), registry, where="agent", problems=problems,
                                strict=True, default_ts_s=1.0)
    table = registry.table()
    names = {m.id: m.name for m in METRICS}
    out: dict[tuple[str, int], float] = {}
    for s, v in zip(sid.tolist(), value.tolist(), strict=True):
        gpu = int(topo.gpu_local[table.component[s]])
        out[(names[int(table.metric[s])], gpu)] = v
    return out
