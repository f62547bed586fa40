"""`watch` on step records alone: the real engine names a straggler from pushed or tailed steps.

No telemetry source: the controller is built by the same wiring as
``brownout watch --topology T --steps-dir D`` and ticked by hand; the records
are a synchronous job's (one slow host, one slow GPU elsewhere) written the
way the training hook writes them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.detect.synth import T0, steps

from brownout.clock import ManualClock
from brownout.service.config import WatchConfig
from brownout.service.intake import StepIntake
from brownout.service.live import LiveController
from brownout.service.wiring import plan_controller
from brownout.telemetry.steps import StepRecords
from brownout.topology.generate import generate_topology
from brownout.topology.loader import write_topology

SLOW_NODE = 5
STEP_S = 8.0


def ndjson(recs: StepRecords, topo_names: list[str]) -> list[bytes]:
    out = []
    for i in range(len(recs)):
        out.append(json.dumps({
            "ts": float(recs.ts[i]), "job": recs.jobs[recs.job[i]], "step": int(recs.step[i]),
            "rank": int(recs.rank[i]), "node": topo_names[recs.node[i]], "gpu": int(recs.gpu[i]),
            "compute_s": float(recs.compute_s[i]), "comm_s": float(recs.comm_s[i])}).encode())
    return out


def push_by_minute(intake: StepIntake, ctl: LiveController, recs: StepRecords,
                   names: list[str], start_s: float) -> float:
    """Push ``recs`` (time order) through ``intake`` a minute of data at a time, ticking
    ``ctl`` after each minute; the time of the last tick."""
    lines = ndjson(recs, names)
    t, sent = start_s, 0
    while sent < len(lines):
        t += 60.0
        upto = int(np.searchsorted(recs.ts, t, side="right"))
        if upto > sent:
            assert intake.submit(b"\n".join(lines[sent:upto]) + b"\n").rejected == 0
        sent = upto
        ctl.tick(t)
    return t


@pytest.fixture
def setup(tmp_path: Path) -> tuple[WatchConfig, StepRecords, list[str]]:
    topo = generate_topology(8)
    write_topology(topo, tmp_path / "topology.yaml")
    (tmp_path / "steps").mkdir()
    cfg = WatchConfig(source="steps", topology=str(tmp_path / "topology.yaml"),
                      steps_dir=str(tmp_path / "steps"), mode="dry-run",
                      state_dir=str(tmp_path / "state"), interval_s=15.0)
    recs = steps(topo, 90, step_s=STEP_S, seed=3, node_slow={SLOW_NODE: 1.4},
                 slow_from_step=20)
    return cfg, recs, [n.name for n in topo.nodes]


def run(cfg: WatchConfig, recs: StepRecords, names: list[str], push: bool,
        root: Path) -> LiveController:
    """Feed the records minute by minute, as a running job would, and tick the controller."""
    plan = plan_controller(cfg, persistent=False, wall=ManualClock(T0))
    ctl = plan.factory()
    assert plan.intake is not None and ctl.feed.name.startswith("steps")
    lines = ndjson(recs, names)
    per_rank = root / "steps" / "job0"
    per_rank.mkdir(exist_ok=True)
    t, sent = T0, 0
    while sent < len(lines):
        t += 60.0
        upto = int(np.searchsorted(recs.ts, t, side="right"))
        batch = lines[sent:upto]
        if push:
            answer = plan.intake.submit(b"\n".join(batch) + b"\n")
            assert answer.rejected == 0
        else:
            for ln in batch:  # one file per rank, appended as the hook does
                rank = json.loads(ln)["rank"]
                with (per_rank / f"rank{rank}.jsonl").open("ab") as fh:
                    fh.write(ln + b"\n")
        sent = upto
        ctl.tick(t)
    ctl.tick(t + 120.0)
    return ctl


@pytest.mark.parametrize("push", [True, False], ids=["pushed", "tailed"])
def test_steps_alone_name_the_slow_host(setup: tuple[WatchConfig, StepRecords, list[str]],
                                        tmp_path: Path, push: bool) -> None:
    cfg, recs, names = setup
    ctl = run(cfg, recs, names, push, tmp_path)
    try:
        st = ctl.state()
        found = {(f.finding.kind, f.finding.component) for f in st.findings}
        assert ("host_straggler", names[SLOW_NODE]) in found, found
        assert all(c.split("/")[0] == names[SLOW_NODE] for _, c in found)  # nothing else
        assert st.health.steps_total == len(recs) and st.health.samples_total == 0
        [job] = st.jobs
        assert (job.job, job.ranks, job.last_step) == ("job0", 64, 89)
        assert not st.health.degraded
    finally:
        ctl.close()


def test_flags_and_config_choose_steps_alone(tmp_path: Path) -> None:
    from brownout.cli.watch import _source
    from brownout.errors import InputError
    from brownout.service.config import load_watch_config

    assert _source(None, None, "t.yaml", None) == "steps"
    assert _source(None, None, None, "/shared/steps") == "steps"
    assert _source(None, "http://p:9090", "t.yaml", "/d") == "prometheus"
    assert _source("w.yaml", None, "t.yaml", None) is None  # the config file decides
    assert _source(None, None, None, None) is None  # the demo's simulator
    (tmp_path / "w.yaml").write_text("topology: t.yaml\nsource: {kind: steps}\n"
                                     "steps: {dir: logs, queue_records: 5000}\n")
    cfg = load_watch_config(tmp_path / "w.yaml")
    assert (cfg.source, cfg.steps_dir, cfg.intake_queue_records) == (
        "steps", str(tmp_path / "logs"), 5000)
    with pytest.raises(InputError, match="steps dir"):
        WatchConfig(source="simulator", steps_dir="/d")
