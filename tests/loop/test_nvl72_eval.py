"""``brownout evaluate`` on NVL72 scenarios (issue 15 item 3): domains, tray failures,
NVSwitch faults; the full quality measurement over fresh seeds is benchmarks/eval_nvl72.py."""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from brownout.cli.main import cli, main
from brownout.errors import InputError
from brownout.loop.nvl72_eval import draw_rack_physics, run_rack_scale
from brownout.loop.nvl72_scenario import RackScaleScenario, find_rack_scale, parse_rack_scale


def _short(name: str, days: float = 10.0) -> RackScaleScenario:
    sc = find_rack_scale(name)
    assert sc is not None
    return replace(sc, duration_s=days * 86400.0)


def test_cli_runs_the_three_policies_with_the_gap_closed() -> None:
    out = CliRunner().invoke(cli, ["evaluate", "--scenario", "nvl72", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    pol = doc["policies"]
    assert set(pol) == {"baseline", "brownout", "oracle"} and doc["mode"] == "coarse"
    assert pol["baseline"]["ettr"] < pol["brownout"]["ettr"] <= pol["oracle"]["ettr"] + 1e-9
    assert set(pol["brownout"]["lost_s"]) == {"checkpoint", "rework", "restart", "straggler",
                                              "congestion", "other"}
    assert pol["brownout"]["max_split_groups"] == 0 and pol["baseline"]["max_split_groups"] > 0
    assert 0.0 < doc["gap_closed"] <= 1.0


@pytest.mark.parametrize("seed", [101, 202, 303])
def test_whole_rack_groups_force_real_choices_and_never_split(seed: int) -> None:
    sc = _short("nvl72-full")
    res = {p: run_rack_scale(sc, p, seed) for p in ("baseline", "brownout", "oracle")}
    b = res["brownout"]
    assert b.max_split_groups == 0 and res["oracle"].max_split_groups == 0
    assert b.counts["reform"] == 0  # no spare tray in a full rack: shrink, move or wait
    assert b.counts["move"] + b.counts["shrink"] + b.counts["wait"] == b.counts[
        "tray_failures_job"]
    assert res["baseline"].ettr < b.ettr <= res["oracle"].ettr + 0.005
    lost = sum(b.lost_s.values())
    assert abs(b.wall_s - b.productive_s - lost) < 1e-3 * b.wall_s  # the causes add up


def test_physics_are_the_seeds_alone() -> None:
    sc = _short("nvl72")
    assert draw_rack_physics(sc, 5) == draw_rack_physics(sc, 5)
    assert draw_rack_physics(sc, 5) != draw_rack_physics(sc, 6)


def test_block_baseline_keeps_groups_whole() -> None:
    sc = replace(_short("nvl72"), baseline_placement="block")
    assert run_rack_scale(sc, "baseline", 11).max_split_groups == 0


def test_bad_scenarios_are_refused_with_one_line(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    text = resources.files("brownout.loop").joinpath("rack_scale_scenarios/nvl72.yaml"
                                                     ).read_text()
    with pytest.raises(InputError, match=r"x.yaml: job moe-pretrain: a group of 20 nodes"):
        parse_rack_scale(text.replace("expert_parallel: 16", "expert_parallel: 20"), "x.yaml")
    with pytest.raises(InputError, match=r"x.yaml: costs: unknown field\(s\) warm_spares"):
        parse_rack_scale(text.replace("  move_s: 60", "  move_s: 60\n  warm_spares: 3"),
                         "x.yaml")
    bad = tmp_path / "nvl.yaml"
    bad.write_text(text.replace("baseline_placement: blind", "baseline_placement: smart"))
    assert main(["evaluate", "--scenario", str(bad), "--policy", "oracle"]) == 2
    assert "baseline_placement must be one of" in capsys.readouterr().err
