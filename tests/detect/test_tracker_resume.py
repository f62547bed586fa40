"""Finding ids after a restart: never reused, and a fault still open keeps its id.

Action keys hash the finding id, so an id handed out twice could merge two
findings' actions (or split one finding's), and the store keys findings by id.
"""

from __future__ import annotations

from brownout.detect.api import Candidate
from brownout.detect.tracker import FindingTracker


def cand(kind: str, component: str, t_s: float) -> Candidate:
    return Candidate(kind, component, t_s, 0.9, "major", "drain_node", f"{kind} at {component}")


def test_a_resumed_tracker_numbers_on_and_keeps_open_findings_ids() -> None:
    before = FindingTracker(resolve_after_s=300.0)
    before.observe(100.0, 100.0, [cand("gpu_degraded", "n1/gpu0", 90.0),
                                  cand("host_straggler", "n2", 90.0)])
    before.observe(500.0, 500.0, [cand("gpu_degraded", "n1/gpu0", 90.0)])  # n2 resolves
    old = {f.component: f for f in before.findings()}
    assert [old["n1/gpu0"].id, old["n2"].id] == ["f-000001", "f-000002"]
    assert old["n2"].resolved_at == 500.0 and old["n1/gpu0"].resolved_at is None

    after = FindingTracker(resolve_after_s=300.0)  # the restarted controller
    after.resume(["f-000001", "f-000002", "f-fr-000009", "n-000007", ""],
                 [old["n1/gpu0"]], t_s=600.0)
    assert after.open_keys() == {("gpu_degraded", "n1/gpu0")}
    # another fault is seen first this time: it gets a new number, not f-000001
    events = after.observe(615.0, 615.0, [cand("thermal_throttle", "n3/gpu1", 610.0),
                                          cand("gpu_degraded", "n1/gpu0", 90.0)])
    assert [(e.what, e.finding.id, e.finding.component) for e in events] == [
        ("opened", "f-000003", "n3/gpu1"), ("updated", "f-000001", "n1/gpu0")]
    assert len(after.findings()) == 2  # no second finding for the fault still there
    # a carried finding whose evidence does not come back resolves as any other
    events = after.observe(1000.0, 1000.0, [cand("thermal_throttle", "n3/gpu1", 610.0)])
    assert [(e.what, e.finding.id) for e in events] == [("updated", "f-000003"),
                                                        ("resolved", "f-000001")]
    # ... and when it comes back later, that is a new finding with a new id
    events = after.observe(1015.0, 1015.0, [cand("gpu_degraded", "n1/gpu0", 1010.0)])
    assert [(e.what, e.finding.id) for e in events] == [("opened", "f-000004")]


def test_a_fresh_tracker_starts_at_one() -> None:
    t = FindingTracker()
    t.resume([], [], t_s=0.0)
    (e,) = t.observe(15.0, 15.0, [cand("gpu_failed", "n0/gpu0", 10.0)])
    assert e.finding.id == "f-000001"


def hang(component: str, t_s: float) -> Candidate:
    ev = {"rank": 1, "process_group": "0", "collective_seq_id": 1997, "dumps": "fr/job_"}
    return Candidate("rank_hang", component, t_s, 0.9, "critical", "restart_job",
                     "rank 1 never joined", ev)


def test_a_hang_placed_elsewhere_after_a_restart_is_the_same_finding() -> None:
    """After a restart the dumps are read again before the hung job's records place
    its ranks: the rank is then ``rank1``, not its GPU; it is still the one hang."""
    before = FindingTracker()
    (opened,) = before.observe(100.0, 100.0, [hang("n0/gpu1", 90.0)])
    after = FindingTracker()
    after.resume([opened.finding.id], [opened.finding], t_s=200.0)
    (e,) = after.observe(215.0, 215.0, [hang("rank1", 90.0)])
    assert (e.what, e.finding.id, e.finding.component) == ("updated", "f-000001", "n0/gpu1")
    other = Candidate("rank_hang", "rank1", 90.0, 0.9, "critical", "restart_job", "x",
                      {"rank": 1, "process_group": "0", "collective_seq_id": 2000,
                       "dumps": "fr/job_"})  # another collective: another hang
    (e,) = after.observe(230.0, 230.0, [hang("rank1", 90.0), other])[-1:]
    assert (e.what, e.finding.id, e.finding.component) == ("opened", "f-000002", "rank1")
