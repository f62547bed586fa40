"""Detection and the ledger agree in ``watch`` too, not only in ``brownout detect``.

A job with two GPUs statically 14 % slower than their peers costs itself
time in the ledger (>= 10 % of its wall time charged to ``straggler``) but
has no fault: ``brownout detect`` gives no finding and a ``straggler_unnamed``
notice saying why. The live controller, built by ``watch``'s wiring on step
records alone and pushed the same records, must say the same thing by the
same paths as its other notices: ``/api/notices``, the dashboard, ``/metrics``.
A rank that really slows down (in the same job) is named by a finding, and
the notice, true before it (the static heterogeneity), ends.
"""

from __future__ import annotations

from pathlib import Path

from tests.detect.test_ledger_agreement import scenarios
from tests.service.test_watch_steps import push_by_minute

from brownout.cli.main import main
from brownout.clock import ManualClock
from brownout.findings import read_findings
from brownout.service.config import WatchConfig
from brownout.service.live import LiveController
from brownout.service.metrics import render_metrics
from brownout.service.payloads import dashboard, select_findings
from brownout.service.wiring import plan_controller
from brownout.sim.output import write_steps
from brownout.sim.step_shapes import StepRun, simulate_steps
from brownout.topology.loader import write_topology


def live(d: Path, name: str) -> tuple[LiveController, list[str], StepRun]:
    """Run scenario ``name`` through ``watch``'s wiring, pushed a minute at a time."""
    sc = next(s for s in scenarios(1) if s.name == name)
    run = simulate_steps(sc, 1)
    write_topology(run.topology, d / "topology.yaml")
    write_steps(run.steps, run.topology, d / "steps.jsonl")
    cfg = WatchConfig(source="steps", topology=str(d / "topology.yaml"), mode="dry-run",
                      interval_s=15.0)
    t0 = float(run.steps.ts[0]) - 60.0
    plan = plan_controller(cfg, persistent=False, wall=ManualClock(t0))
    ctl = plan.factory()
    assert plan.intake is not None
    names = [n.name for n in run.topology.nodes]
    t = push_by_minute(plan.intake, ctl, run.steps, names, t0)
    for _ in range(3):  # the ledger settles and the check runs once more
        t += 60.0
        ctl.tick(t)
    return ctl, names, run


def test_watch_says_what_detect_says_about_unnamed_straggler_time(tmp_path: Path) -> None:
    ctl, _, run = live(tmp_path, "static")
    first_s = float(run.steps.ts[0])
    try:
        st = ctl.state()
    finally:
        ctl.close()
    assert main(["detect", "--topology", str(tmp_path / "topology.yaml"), "--steps",
                 str(tmp_path / "steps.jsonl"), "--out", str(tmp_path / "f.json"), "-q"]) == 0
    (offline,) = [n for n in read_findings(tmp_path / "f.json").notices
                  if n.kind == "straggler_unnamed"]
    assert st.findings == ()
    (note,) = [v.finding for v in select_findings(st, status="open", notices=True)
               if v.finding.kind == "straggler_unnamed"]
    assert note.component == offline.component == "job0" and note.component_type == "job"
    assert "static heterogeneity" in note.summary and note.evidence["detector"] == "ledger_check"
    assert note.detected_at - first_s >= 300.0  # detection had its 5 minutes first
    # its latest evidence (the check over every record) is what detect says
    (tracked,) = ctl.engine.tracker.notices()
    latest = tracked.lifecycle.latest if tracked.lifecycle else None
    assert latest is not None
    for key in ("rank", "node", "gpu", "reason", "straggler_share", "wait_share"):
        assert latest[key] == offline.evidence[key], key
    body = dashboard(st)
    assert any(n["kind"] == "straggler_unnamed" for n in body["notices"])
    assert "brownout_notices_open 1" in render_metrics(st)


def test_a_real_straggler_is_named_and_the_notice_ends(tmp_path: Path) -> None:
    ctl, _, run = live(tmp_path, "strag")
    try:
        st = ctl.state()
        tracked = ctl.engine.tracker.notices()
    finally:
        ctl.close()
    truth = {t.component for t in run.truth}
    named = {v.finding.component for v in st.findings}
    assert named & truth, (named, truth)
    notes = [n for n in st.notices if n.finding.kind == "straggler_unnamed"]
    assert all(not n.open for n in notes)
    for n in tracked:  # never the injected rank left to a notice
        for ev in (n.evidence, n.lifecycle.latest if n.lifecycle else None):
            assert not ev or ev["gpu"] not in truth, ev
