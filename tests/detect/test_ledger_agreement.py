"""Detection and the goodput ledger agree, over fresh scenarios.

Where ``brownout goodput`` attributes 10% or more of a job's wall time to
``straggler``, ``brownout detect`` names the rank the job waited for most
(a finding at its GPU or node) or adds a ``straggler_unnamed`` notice that
says why not. A rank that is really slow (an injected slowdown) is never
left to a notice.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import numpy as np
import pytest

from brownout.cli.main import main
from brownout.findings import read_findings, write_truth
from brownout.recovery.ledger import LedgerConfig, build_ledger
from brownout.recovery.ledger_check import barrier_holder
from brownout.sim.output import write_steps
from brownout.sim.step_shapes import JobShape, SlowRank, StepScenario, draw_scenario, simulate_steps
from brownout.topology.loader import write_topology

FRESH = [secrets.randbelow(2**31) for _ in range(2)]


def scenarios(seed: int) -> list[StepScenario]:
    rng = np.random.default_rng(seed)
    busy = JobShape(nodes=2, ranks_per_node=4, step_s=3.0, static=(1.0, 1.0, 1.0, 1.14) * 2,
                    noise_sigma=0.01, log_every=1)  # healthy, one statically slower GPU
    return [draw_scenario(rng, f"a{seed}", max_records=15000),
            draw_scenario(rng, f"b{seed}", healthy=True, max_records=15000),
            StepScenario("static", (busy,), 2400.0),
            StepScenario("strag", (busy,), 2400.0, (SlowRank(0, (5,), 1.6, 600.0, None),))]


@pytest.mark.parametrize("seed", FRESH)
def test_ledger_straggler_time_is_named_or_explained(seed: int, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    for sc in scenarios(seed):
        run = simulate_steps(sc, seed)
        d = tmp_path / sc.name
        d.mkdir()
        write_topology(run.topology, d / "topology.yaml")
        write_steps(run.steps, run.topology, d / "steps.jsonl")
        write_truth(run.truth, d / "truth.jsonl")
        assert main(["detect", "--topology", str(d / "topology.yaml"), "--steps",
                     str(d / "steps.jsonl"), "--out", str(d / "f.json"), "-q"]) == 0
        ff = read_findings(d / "f.json")
        assert main(["goodput", "--steps", str(d / "steps.jsonl"), "--json"]) == 0
        ledger = json.loads(capsys.readouterr().out)["jobs"]
        slow_parts = {t.component for t in run.truth}
        for j, name in enumerate(run.steps.jobs):
            led = ledger[name]
            if led["lost_s"]["straggler"] < 0.10 * led["wall_s"]:
                continue
            h = barrier_holder(run.steps.take(np.flatnonzero(run.steps.job == j)),
                               run.topology, LedgerConfig().max_spread)
            assert h is not None
            named = {f.component for f in ff.findings} & {h.node, h.gpu}
            notes = [n for n in ff.notices if n.kind == "straggler_unnamed"
                     and n.component == name]
            where = f"seed {seed} {sc.name} {name}: holder {h}"
            assert named or notes, f"ledger straggler time unexplained; {where}"
            if notes:
                assert notes[0].evidence["reason"], where
                assert not {h.node, h.gpu} & slow_parts, f"real straggler left to a notice; {where}"


def test_static_heterogeneity_gets_a_notice_not_a_finding(tmp_path: Path) -> None:
    """Two GPUs 14% slower than their peers for the whole run cost the job time in
    the ledger, but are no fault: a notice says so."""
    sc = scenarios(1)[2]
    run = simulate_steps(sc, 1)
    ledger = build_ledger(run.steps)
    job = ledger.jobs["job0"]
    assert job.lost_s["straggler"] >= 0.10 * job.wall_s
    d = tmp_path
    write_topology(run.topology, d / "topology.yaml")
    write_steps(run.steps, run.topology, d / "steps.jsonl")
    assert main(["detect", "--topology", str(d / "topology.yaml"), "--steps",
                 str(d / "steps.jsonl"), "--out", str(d / "f.json"), "-q"]) == 0
    ff = read_findings(d / "f.json")
    assert ff.findings == ()
    (note,) = [n for n in ff.notices if n.kind == "straggler_unnamed"]
    assert "static heterogeneity" in note.summary
    assert note.evidence["gpu"] in ("j0n000/gpu3", "j0n001/gpu3")  # the two slower GPUs
