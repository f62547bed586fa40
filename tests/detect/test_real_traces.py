"""Real step logs: three Alibaba PAI jobs (tests/fixtures/steps_pai, CC-BY-4.0).

The labels were inferred from the data by a stated rule (README.dataset.md),
not given upstream. What detection finds is compared with them; every
disagreement is explained in docs/detection.md ("Real traces"), and these
tests hold detection to exactly that outcome.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from brownout.detect.engine import replay
from brownout.findings import read_truth
from brownout.scoring import score
from brownout.telemetry.steps import read_steps
from brownout.topology.loader import load_topology

PAI = Path(__file__).parent.parent / "fixtures" / "steps_pai"
# Disagreements with the inferred labels, each explained in docs/detection.md:
# job 3, pai38: found up to one sample (~47 s) before the labelled first flagged sample,
#   which can fall just outside the scorer's 60-s tolerance;
# job 4, pai41: an intermittent slowdown (4 of 7 records at 1.7-2.5x) the label rule,
#   which needs 12 flagged samples, does not label.
EARLY_OK = {3: {"pai38"}, 4: set(), 2: set()}
UNLABELLED_OK = {2: set(), 3: set(), 4: {"pai41"}}


def run(job: int) -> tuple[list, list]:  # type: ignore[type-arg]
    topo = load_topology(PAI / "topology.yaml")
    steps = read_steps(PAI / f"job_{job}_steps.jsonl.gz", topo)
    return list(replay(topo, None, steps).findings), read_truth(PAI / f"job_{job}_truth.jsonl")


@pytest.mark.parametrize("job", [2, 3, pytest.param(4, marks=pytest.mark.slow)])  # 4: 7 days
def test_pai_job_against_inferred_labels(job: int) -> None:
    found, truth = run(job)
    r = score(found, truth)
    missed = {truth[i].component for i in r.missed_truth}
    false = {found[i].component for i in r.false_findings}
    report = f"job {job}: matched {r.overall.matched}/{r.overall.truth}, missed {missed}, " \
             f"false {false}"
    onset = {t.component: t.onset for t in truth}
    early = {f.component for f in found if f.component in missed
             and onset[f.component] - 120 <= f.detected_at < onset[f.component] - 60}
    assert missed <= EARLY_OK[job] and missed == early, report
    assert false - early <= UNLABELLED_OK[job], report


def test_single_rank_nodes_say_gpu_and_host_cannot_be_told_apart() -> None:
    found, _ = run(3)
    assert found and all(f.kind == "host_straggler" and "gpu_or_host" in f.evidence
                         for f in found)
