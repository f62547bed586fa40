"""JSON bodies of the API, built from one snapshot (pure functions, no web framework)."""

from __future__ import annotations

from typing import Any

from brownout.views.model import ControllerState, FindingView

#: at most this many findings/actions in the dashboard's combined payload
DASHBOARD_LIMIT = 200


def select_findings(st: ControllerState, *, kind: str | None = None,
                    component: str | None = None, since_s: float | None = None,
                    until_s: float | None = None, status: str = "all",
                    notices: bool = False) -> list[FindingView]:
    """Findings (or notices) matching every filter given, in the order opened.

    ``since_s``/``until_s`` select by ``detected_at``; ``component`` matches the
    component itself and its parts (``n0007`` matches ``n0007/gpu3``).
    """
    out = []
    for f in st.notices if notices else st.findings:
        g = f.finding
        if kind is not None and g.kind != kind:
            continue
        if component is not None and g.component != component and not g.component.startswith(
                component + "/"):
            continue
        if since_s is not None and g.detected_at < since_s:
            continue
        if until_s is not None and g.detected_at > until_s:
            continue
        if status != "all" and (status == "open") != f.open:
            continue
        out.append(f)
    return out


def fleet_layout(st: ControllerState) -> dict[str, Any]:
    """The static fleet map: cooling domains -> racks -> nodes, and the leaves."""
    racks: dict[str, dict[str, Any]] = {}
    for n in st.nodes:
        r = racks.setdefault(n.rack, {"name": n.rack, "cooling": n.cooling, "nodes": []})
        r["nodes"].append({"name": n.name, "leaf": n.leaf, "gpus": n.gpus})
    domains: dict[str, list[str]] = {}
    for r in racks.values():
        domains.setdefault(r["cooling"], []).append(r["name"])
    leaves: dict[str, list[str]] = {}
    for n in st.nodes:
        leaves.setdefault(n.leaf, []).append(n.name)
    return {"cluster": st.cluster, "n_gpus": st.n_gpus, "n_nodes": len(st.nodes),
            "racks": list(racks.values()),
            "cooling": [{"name": c, "racks": rs} for c, rs in domains.items()],
            "leaves": [{"name": k, "nodes": v} for k, v in leaves.items()]}


def fleet_live(st: ControllerState) -> dict[str, Any]:
    """Live colours of the fleet map and every node not healthy."""
    return {"version": st.version, **st.fleet.to_json(),
            "node_state": {n.name: n.state for n in st.nodes if n.state != "healthy"}}


def node_detail(st: ControllerState, name: str) -> dict[str, Any] | None:
    """One node with its state history and the findings and actions that name it."""
    node = st.node(name)
    if node is None:
        return None
    return {**node.to_json(),
            "history": [t.to_json() for t in st.transitions if t.node == name],
            "findings": [f.to_json() for f in select_findings(st, component=name)],
            "actions": [a.to_json() for a in st.actions if a.node == name]}


def goodput(st: ControllerState) -> dict[str, Any]:
    """Per-job ledgers, and cluster ETTR vs availability over time."""
    return {"jobs": {j.job: j.to_json() for j in st.goodput},
            "history": [p.to_json() for p in st.goodput_history]}


def health(st: ControllerState) -> dict[str, Any]:
    """The controller's own health, with the breaker."""
    return {**st.health.to_json(), "breaker": st.breaker.to_json(), "version": st.version,
            "cluster": st.cluster, "approval_mode": st.approval_mode}


def dashboard(st: ControllerState) -> dict[str, Any]:
    """Everything the dashboard redraws on one poll."""
    findings = st.findings[-DASHBOARD_LIMIT:]
    return {
        "version": st.version, "health": health(st), "fleet": fleet_live(st),
        "findings": [f.to_json() for f in reversed(findings)],
        "findings_total": len(st.findings),
        "notices": [n.to_json() for n in reversed(st.notices[-20:])],
        "actions": [a.to_json() for a in reversed(st.actions[-DASHBOARD_LIMIT:])],
        "actions_total": len(st.actions),
        "refusals": [r.to_json() for r in st.refusals[-50:]],
        "goodput": goodput(st),
        "jobs": [j.to_json() for j in st.jobs],
    }
