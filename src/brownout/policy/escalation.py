"""Escalation to the shared part: many nodes under one component going bad together.

When at least ``escalate_min_nodes`` distinct nodes under one rack, NVLink
domain, cooling loop or leaf switch have open findings whose onsets fall
within ``escalate_window_s`` of each other, the common part is the likelier
fault (a power shelf, an NVLink switch tray, a CDU, a switch), and draining
the nodes one at a time would take a rack apart piece by piece while the cause
stays. The policy then recommends the shared component instead: ONE action,
a ``notify`` addressed to that component (``finding_kind`` ``escalation``):

- rack or NVLink domain: a rack-level recommendation (take the rack or domain
  out as one unit and inspect its shared parts), for a person to carry out;
- cooling loop: one facilities ticket; leaf switch: one network ticket.

The member findings get no node actions of their own (no separate drains,
restarts, resets; their tickets are folded into the one recommendation). A
node with a finding that no escalation covers keeps its own node actions.

Onsets, not detection times, decide "together": a slow detector must not
split one event into two. An escalation is keyed by its component and the
finding that opened it (the member with the earliest onset, whose id the
recommendation carries as its cause), so later steps and later members keep
its key: one ticket per event, not one per step. Pure; groups come from the topology
(:func:`shared_groups`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from brownout.findings import Finding
from brownout.policy.actions import NOTIFY, Action
from brownout.topology.model import Topology

#: shared component kinds, most specific first when groups are the same size
SHARED_KINDS = ("rack", "nvlink_domain", "cooling", "leaf")
#: finding component types that live on one node
NODE_PARTS = frozenset({"gpu", "nic", "node"})
ESCALATION = "escalation"
_WHAT = {
    "rack": "rack-level action: take rack {name} out as one unit and inspect its shared"
            " parts (power shelf, NVLink switch trays, manifold)",
    "nvlink_domain": "rack-level action: take NVLink domain {name} out as one unit and"
                     " inspect its NVLink switch trays and spine",
    "cooling": "facilities ticket: cooling loop {name} (CDU, pumps, flow)",
    "leaf": "network ticket: leaf switch {name}",
}

Shared = Mapping[str, Mapping[str, str]]  # kind -> node -> component name


def shared_groups(topo: Topology) -> dict[str, dict[str, str]]:
    """Kind -> node -> the shared component above it (the node's own leaf, its rack...)."""
    out: dict[str, dict[str, str]] = {k: {} for k in SHARED_KINDS}
    for n in topo.nodes:
        out["rack"][n.name] = n.rack
        out["cooling"][n.name] = n.cooling
        out["leaf"][n.name] = n.leaf
        if n.nvlink_domain:
            out["nvlink_domain"][n.name] = n.nvlink_domain
    return out


@dataclass(frozen=True)
class Escalation:
    """One shared component recommended instead of its nodes."""

    kind: str                     # rack | nvlink_domain | cooling | leaf
    component: str
    opened_s: float               # earliest member onset
    opened_by: str                # the finding with that onset: the recommendation's cause
    nodes: tuple[str, ...]        # members, sorted
    finding_ids: tuple[str, ...]  # absorbed findings, sorted
    group_nodes: int              # nodes under the component

    def action(self, window_s: float) -> Action:
        what = _WHAT[self.kind].format(name=self.component)
        why = (f"escalation {self.kind} {self.component}: {what}; {len(self.nodes)} of"
               f" {self.group_nodes} nodes went bad within {window_s / 60:.0f} min"
               f" ({', '.join(self.nodes[:6])}{', ...' if len(self.nodes) > 6 else ''})")
        return Action(NOTIFY, self.component, "", self.opened_by, why[:200], ESCALATION)


def node_of_finding(f: Finding) -> str:
    """The node a finding's component lives on, or ``""``."""
    if f.component_type not in NODE_PARTS:
        return ""
    return f.component.split("/", 1)[0]


def escalate(findings: Iterable[Finding], shared: Shared, min_nodes: int, window_s: float,
             min_confidence: float = 0.0) -> list[Escalation]:
    """Escalations for the open ``findings`` (none when ``min_nodes`` is 0).

    Counted: node-level findings (GPU, NIC, node) that are not minor and at
    least ``min_confidence``. Each node is absorbed by at most one escalation:
    the smallest group wins (ties: :data:`SHARED_KINDS` order).
    """
    if min_nodes <= 0:
        return []
    onset: dict[str, float] = {}
    first: dict[str, tuple[float, str]] = {}  # node -> (onset, id) of its earliest finding
    fids: dict[str, list[str]] = {}
    for f in findings:
        node = node_of_finding(f)
        if node and f.severity != "minor" and f.confidence >= min_confidence:
            onset[node] = min(onset.get(node, f.onset), f.onset)
            first[node] = min(first.get(node, (f.onset, f.id)), (f.onset, f.id))
            fids.setdefault(node, []).append(f.id)
    out: list[Escalation] = []
    taken: set[str] = set()
    for kind, name, members in _candidates(onset, shared):
        free = {n: onset[n] for n in members if n not in taken}
        opened = _opening(sorted(free.values()), min_nodes, window_s)
        if opened is None:
            continue
        nodes = tuple(sorted(n for n, t in free.items() if t >= opened))
        taken.update(nodes)
        size = sum(1 for v in shared[kind].values() if v == name)
        out.append(Escalation(kind, name, opened, min(first[n] for n in nodes)[1], nodes,
                              tuple(sorted(i for n in nodes for i in fids[n])), size))
    return out


def _candidates(onset: Mapping[str, float], shared: Shared
                ) -> list[tuple[str, str, list[str]]]:
    """(kind, component, bad nodes under it), smallest group first."""
    rows = []
    for rank, kind in enumerate(SHARED_KINDS):
        by_name: dict[str, list[str]] = {}
        for node in onset:
            name = shared.get(kind, {}).get(node)
            if name is not None:
                by_name.setdefault(name, []).append(node)
        sizes: dict[str, int] = {}
        for name in shared.get(kind, {}).values():
            sizes[name] = sizes.get(name, 0) + 1
        rows += [(sizes[name], rank, kind, name, sorted(nodes))
                 for name, nodes in by_name.items()]
    rows.sort(key=lambda r: (r[0], r[1], r[3]))
    return [(kind, name, nodes) for _, _, kind, name, nodes in rows]


def _opening(onsets: list[float], min_nodes: int, window_s: float) -> float | None:
    """The earliest onset that opens a window of ``window_s`` holding ``min_nodes``."""
    for i in range(len(onsets) - min_nodes + 1):
        if onsets[i + min_nodes - 1] - onsets[i] <= window_s:
            return onsets[i]
    return None
