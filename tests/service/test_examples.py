"""The shipped Grafana dashboard and alert rules use only metrics brownout exposes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from brownout.service.fake import FakeController
from brownout.service.metrics import render_metrics
from brownout.topology.generate import generate_topology

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "examples" / "alertmanager" / "brownout-rules.yml"
GRAFANA = ROOT / "examples" / "grafana" / "brownout.json"
NAME = re.compile(r"\bbrownout_[a-z_]+")


def exposed() -> set[str]:
    fake = FakeController(generate_topology(2))
    fake.inject_fault("gpu_failed", "n0001/gpu0")
    text = render_metrics(fake.state())
    fams = list(text_string_to_metric_families(text))
    names = {s.name for f in fams for s in f.samples} | {f.name for f in fams}
    return names | {f.name + "_total" for f in fams if f.type == "counter"}


def test_alert_rules_use_exposed_metrics() -> None:
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    assert len(rules) >= 8
    have = exposed()
    for r in rules:
        assert set(NAME.findall(r["expr"])) <= have, r["alert"]
        assert r["labels"]["severity"] in ("critical", "warning", "info")


def test_grafana_dashboard_uses_exposed_metrics() -> None:
    dash = json.loads(GRAFANA.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    have = exposed()
    for e in exprs:
        assert NAME.findall(e) and set(NAME.findall(e)) <= have, e
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_checks_and_unit_tests_the_rules(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None
    check = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True,
                           text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    spec = (Path(__file__).with_name("alert_rules_test.yml").read_text()
            .replace("[RULES]", json.dumps([str(RULES)])))
    (tmp_path / "t.yml").write_text(spec)
    run = subprocess.run([promtool, "test", "rules", str(tmp_path / "t.yml")],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
