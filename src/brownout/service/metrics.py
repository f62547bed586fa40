"""The controller's own Prometheus metrics, in the text exposition format 0.0.4.

Written by hand from a :class:`~brownout.views.model.ControllerState` (a few
dozen lines; no runtime dependency on ``prometheus_client``). Every name is
prefixed ``brownout_``; counters end in ``_total``.
"""

from __future__ import annotations

import math
from collections import Counter

from brownout.findings import KINDS
from brownout.policy.states import STATES
from brownout.policy.statuses import ActionStatus
from brownout.views.model import ControllerState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ACTION_STATUSES = tuple(ActionStatus)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v)) if not float(v).is_integer() else str(int(v))


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_: str,
               samples: list[tuple[dict[str, str], float]]) -> None:
        self.lines.append(f"# HELP {name} {help_}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            lab = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{lab}}} {_fmt(value)}" if lab else
                              f"{name} {_fmt(value)}")


def render_metrics(st: ControllerState) -> str:
    """The exposition text for one snapshot."""
    w = _Writer()
    h = st.health
    open_by = Counter(f.finding.kind for f in st.findings if f.open)
    all_by = Counter(f.finding.kind for f in st.findings)
    w.family("brownout_findings_open", "gauge", "Findings open now, by kind.",
             [({"kind": k}, open_by.get(k, 0)) for k in KINDS])
    w.family("brownout_findings_total", "counter", "Findings opened since start, by kind.",
             [({"kind": k}, all_by.get(k, 0)) for k in KINDS])
    w.family("brownout_notices_open", "gauge", "Notices (not component faults) open now.",
             [({}, sum(1 for n in st.notices if n.open))])
    outcomes = Counter((a.kind, a.status) for a in st.actions)
    w.family("brownout_actions", "gauge",
             "Journalled actions by kind and outcome (current status).",
             [({"kind": k, "outcome": s}, c) for (k, s), c in sorted(outcomes.items())])
    w.family("brownout_approvals_pending", "gauge", "Actions awaiting a person's approval.",
             [({}, sum(1 for a in st.actions if a.status == "awaiting_approval"))])
    w.family("brownout_refusals_total", "counter", "Actions refused by a guardrail, by rule.",
             [({"rule": r}, c) for r, c in sorted(Counter(x.rule for x in st.refusals).items())])
    w.family("brownout_breaker_open", "gauge",
             "1 while the circuit breaker stops automatic isolation.",
             [({}, 1.0 if st.breaker.open else 0.0)])
    states = Counter(n.state for n in st.nodes)
    w.family("brownout_nodes", "gauge", "Nodes by brownout state.",
             [({"state": s}, states.get(s, 0)) for s in STATES])
    _health(w, st)
    w.family("brownout_job_ettr_ratio", "gauge", "Goodput: productive over wall time, per job.",
             [({"job": j.job}, j.ettr) for j in st.goodput])
    w.family("brownout_job_availability_ratio", "gauge",
             "Share of wall time each job was up (what availability dashboards show).",
             [({"job": j.job}, j.availability) for j in st.goodput])
    _goodput(w, st)
    w.family("brownout_source_degraded", "gauge", "1 while some source or part is degraded.",
             [({}, 1.0 if h.degraded else 0.0)])
    return "\n".join(w.lines) + "\n"


def _goodput(w: _Writer, st: ControllerState) -> None:
    w.family("brownout_job_lost_seconds", "gauge",
             "Goodput ledger: seconds of each job's wall time lost, by cause (spec/cli.md).",
             [({"job": j.job, "cause": c}, v) for j in st.goodput for c, v in j.lost_s.items()])
    w.family("brownout_job_productive_seconds", "gauge",
             "Goodput ledger: distinct steps completed times the healthy step time, per job.",
             [({"job": j.job}, j.productive_s) for j in st.goodput])
    w.family("brownout_job_wall_seconds", "gauge",
             "Goodput ledger: wall time covered (first step start to last settled step end).",
             [({"job": j.job}, j.wall_s) for j in st.goodput])
    w.family("brownout_job_step_records_late", "gauge",
             "Step records that arrived after their step was settled (not in the ledger).",
             [({"job": j.job}, j.late_records) for j in st.goodput])
    w.family("brownout_ledger_refresh_seconds", "gauge",
             "Wall seconds the last goodput ledger refresh took.",
             [({}, st.health.ledger_s)])


def _health(w: _Writer, st: ControllerState) -> None:
    h = st.health
    w.family("brownout_detection_lag_seconds", "gauge",
             "Wall seconds the last tick took to ingest, detect and decide.",
             [({}, h.detection_lag_s)])
    w.family("brownout_ingest_lag_seconds", "gauge",
             "Controller time minus the newest sample or step ingested.",
             [({}, h.ingest_lag_s)])
    w.family("brownout_ingest_samples_total", "counter", "Telemetry samples ingested.",
             [({}, h.samples_total)])
    w.family("brownout_ingest_steps_total", "counter", "Step records ingested.",
             [({}, h.steps_total)])
    w.family("brownout_ingest_rate_samples_per_second", "gauge",
             "Samples ingested per wall second, recent average.",
             [({}, h.ingest_rate_per_s)])
    w.family("brownout_ticks_total", "counter", "Controller ticks run.", [({}, h.ticks)])
