"""``brownout evaluate`` against spec/cli.md."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from brownout.cli.main import cli

SHORT = """name: short
sim_scenario: llama3-54d
duration_days: 5
costs: {sync_checkpoint_s: 60, async_snapshot_s: 5, async_persist_s: 60, cold_restart_s: 600,
        warm_restart_s: 240, warm_spares: 64, baseline_checkpoint_interval_s: 1800}
fail_slow: {rate_vs_fail_stop: 0.5, duration_s: [600, 36000], slowdown: [1.1, 2.0],
            mix: {gpu_degraded: 0.5, host_straggler: 0.5}}
"""


def test_json_has_the_contract_fields(tmp_path: Path) -> None:
    sc = tmp_path / "short.yaml"
    sc.write_text(SHORT)
    out = CliRunner().invoke(cli, ["evaluate", "--scenario", str(sc), "--policy", "brownout",
                                   "--seed", "5", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert {"ettr", "availability", "interruptions", "lost_s"} <= set(doc)
    assert set(doc["lost_s"]) == {"checkpoint", "rework", "restart", "straggler", "congestion",
                                  "other"}


def test_table_and_plot(tmp_path: Path) -> None:
    sc = tmp_path / "short.yaml"
    sc.write_text(SHORT)
    out = CliRunner().invoke(cli, ["evaluate", "--scenario", str(sc), "--seed", "6",
                                   "--out", str(tmp_path / "o")])
    assert out.exit_code == 0, out.output
    for p in ("baseline", "brownout", "oracle"):
        assert p in out.output
    assert "gap" in out.output
    assert (tmp_path / "o" / "ettr.svg").read_text().startswith("<svg")
    doc = json.loads((tmp_path / "o" / "results.json").read_text())
    assert set(doc["policies"]) == {"baseline", "brownout", "oracle"}


def test_bad_input_exits_2(tmp_path: Path) -> None:
    from brownout.cli.main import main

    assert main(["evaluate", "--scenario", str(tmp_path / "nope.yaml")]) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(SHORT.replace("duration_days: 5", "duration_days: 5\nwhat: 1"))
    assert main(["evaluate", "--scenario", str(bad), "--policy", "oracle"]) == 2
    assert main(["evaluate", "--scenario", "llama3-54d", "--policy", "magic"]) == 2


FINE = """name: tiny-straggler
seed: 4
cluster: {nodes: 8, layout: tor}
duration_min: 30
jobs:
  - {name: llm, nodes: 8, compute_s: 8.0, allreduce_gb: 100, checkpoint_every_steps: 60}
faults:
  - {kind: host_straggler, onset_min: [5, 8], magnitude: {slowdown: [1.4, 1.6]}}
"""


def test_fine_mode_scenario_file(tmp_path: Path) -> None:
    sc = tmp_path / "tiny.yaml"
    sc.write_text(FINE)
    docs = {}
    for policy in ("baseline", "brownout"):
        out = CliRunner().invoke(cli, ["evaluate", "--scenario", str(sc), "--policy", policy,
                                       "--seed", "9", "--json"])
        assert out.exit_code == 0, out.output
        docs[policy] = json.loads(out.output)
    assert docs["brownout"]["mode"] == "fine"
    assert [a["action"] for a in docs["baseline"]["actions"]] == []
    assert "drain_node" in [a["action"] for a in docs["brownout"]["actions"]]
    for d in docs.values():
        assert sum(d["lost_s"].values()) > 0 and 0 < d["ettr"] <= d["availability"] <= 1
    assert docs["brownout"]["lost_s"]["straggler"] < docs["baseline"]["lost_s"]["straggler"]
