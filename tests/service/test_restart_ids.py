"""A restarted controller keeps finding ids unique and a fault still open under its id.

Built by the same wiring as ``brownout watch --topology T --steps-dir D`` on a
persistent state dir (store and journal), ticked by hand: a first controller
finds a slow host and journals its action, and is closed; a second one on the
same state dir sees that host still slow and another host newly slow, both
from its first record, so nothing orders the two. The host still slow keeps
its finding (same id, no second finding, no second action); the new one gets
an id never used before, so the store keeps both.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tests.detect.synth import T0, steps
from tests.service.test_watch_steps import push_by_minute

from brownout.clock import ManualClock
from brownout.service.config import WatchConfig
from brownout.service.live import LiveController
from brownout.service.wiring import plan_controller
from brownout.store import Store
from brownout.telemetry.steps import StepRecords
from brownout.topology.generate import generate_topology
from brownout.topology.loader import write_topology

STILL_SLOW, NEWLY_SLOW = 5, 2


def feed(cfg: WatchConfig, recs: StepRecords, names: list[str], start_s: float
         ) -> tuple[LiveController, float]:
    """A controller on ``cfg``'s state dir, pushed ``recs`` minute by minute."""
    plan = plan_controller(cfg, persistent=True, wall=ManualClock(start_s))
    ctl = plan.factory()
    assert plan.intake is not None
    t = push_by_minute(plan.intake, ctl, recs, names, start_s)
    ctl.tick(t + 60.0)
    return ctl, t + 60.0


def test_a_restart_reuses_no_id_and_keeps_the_open_findings(tmp_path: Path) -> None:
    topo = generate_topology(8)
    names = [n.name for n in topo.nodes]
    write_topology(topo, tmp_path / "topology.yaml")
    cfg = WatchConfig(source="steps", topology=str(tmp_path / "topology.yaml"),
                      mode="dry-run", state_dir=str(tmp_path / "state"), interval_s=15.0)
    first = steps(topo, 70, seed=3, node_slow={STILL_SLOW: 1.4}, slow_from_step=10)
    ctl, end_s = feed(cfg, first, names, T0)
    before = {(f.finding.kind, f.finding.component): f.finding.id for f in ctl.state().findings}
    assert list(before) == [("host_straggler", names[STILL_SLOW])], before
    ctl.close()  # the controller stops; its store and journal stay

    again = steps(topo, 70, seed=4, node_slow={STILL_SLOW: 1.4, NEWLY_SLOW: 1.4})
    again = dataclasses.replace(again, ts=again.ts + (end_s - T0), step=again.step + 70)
    ctl, _ = feed(cfg, again, names, end_s)
    try:
        now = [f.finding for f in ctl.state().findings]
        journal = [e.action for e in ctl.policy.journal.entries()]
    finally:
        ctl.close()
    by_key = {(f.kind, f.component): f for f in now}
    assert set(by_key) == {("host_straggler", names[STILL_SLOW]),
                           ("host_straggler", names[NEWLY_SLOW])}, by_key
    assert len(now) == 2  # the slow host that stayed slow is one finding, not two
    old_id = before[("host_straggler", names[STILL_SLOW])]
    assert by_key[("host_straggler", names[STILL_SLOW])].id == old_id
    assert by_key[("host_straggler", names[NEWLY_SLOW])].id not in set(before.values())
    # the store keeps one row per finding: no row was overwritten by another finding
    stored = Store(Path(cfg.state_dir) / "brownout.duckdb")
    try:
        rows = {f.id: (f.kind, f.component) for f in stored.findings()}
    finally:
        stored.close()
    assert rows == {f.id: (f.kind, f.component) for f in now}
    # every action on the host that stayed slow hangs off its one finding, once each
    mine = [a for a in journal if a.node == names[STILL_SLOW]]
    assert mine and {a.finding_id for a in mine} == {old_id}
    assert len({a.kind for a in mine}) == len(mine)
