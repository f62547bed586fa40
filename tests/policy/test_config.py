"""Policy config: named defaults, a readable YAML override, refusal of bad settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from brownout.errors import InputError, ParseError
from brownout.policy.actions import DRAIN_NODE, NOTIFY
from brownout.policy.config import PolicyConfig, load_policy_config


def test_defaults_are_valid_and_never_isolate_on_blind_spots() -> None:
    cfg = PolicyConfig()
    for kind in ("telemetry_loss", "switch_congestion"):
        assert all(acts == (NOTIFY,) for acts in cfg.kind_actions[kind].values())


def test_yaml_overrides_merge_with_defaults(tmp_path: Path) -> None:
    p = tmp_path / "policy.yaml"
    p.write_text("max_fleet_fraction: 0.1\ncooldown_s: 60\napproval_mode: disruptive\n"
                 "kind_actions:\n  gpu_degraded:\n    minor: [drain_node, notify]\n"
                 "xid_overrides:\n  63: RESET_GPU\n")
    cfg = load_policy_config(p)
    assert cfg.max_fleet_fraction == 0.1 and cfg.cooldown_s == 60.0
    assert cfg.approval_mode == "disruptive"
    assert cfg.kind_actions["gpu_degraded"]["minor"] == (DRAIN_NODE, NOTIFY)
    assert cfg.kind_actions["gpu_degraded"]["major"] == PolicyConfig().kind_actions[
        "gpu_degraded"]["major"]
    assert cfg.xid_overrides == {63: "RESET_GPU"}


@pytest.mark.parametrize(("text", "problem"), [
    ("max_fleet_fractoin: 0.1\n", "unknown field.*max_fleet_fractoin"),
    ("max_fleet_fraction: 2\n", "must be in"),
    ("cooldown_s: soon\n", "cooldown_s must be"),
    ("approval_mode: sometimes\n", "approval_mode"),
    ("kind_actions:\n  telemetry_loss:\n    critical: [drain_node]\n", "never isolates"),
    ("kind_actions:\n  switch_congestion:\n    major: [restart_job]\n", "never isolates"),
    ("kind_actions:\n  gpu_failed:\n    critical: [explode]\n", "unknown action"),
    ("- a\n- b\n", "mapping"),
    ("a: [\n", "not valid YAML"),
])
def test_bad_files_are_refused_naming_the_file(tmp_path: Path, text: str, problem: str) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ParseError, match=problem) as info:
        load_policy_config(p)
    assert str(p) in str(info.value)


def test_replace_validates_again() -> None:
    with pytest.raises(InputError):
        PolicyConfig().replace(retry_attempts=0)


def test_the_documented_example_loads(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "policy.md").read_text()
    example = doc.split("## Policy file (YAML)")[1].split("```yaml")[1].split("```")[0]
    p = tmp_path / "policy.yaml"
    p.write_text(example)
    cfg = load_policy_config(p)
    assert cfg.xid_overrides == {63: "IGNORE"}
    assert dataclasses.replace(cfg, kind_actions=PolicyConfig().kind_actions,
                               xid_overrides={}) == PolicyConfig()  # defaults as documented
    p.write_text("approval_mode: off\n")
    assert load_policy_config(p).approval_mode == "off"
