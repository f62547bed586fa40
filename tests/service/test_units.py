"""Token file, watch config, metrics exposition, SVG escaping, import boundaries."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from brownout.errors import InputError, ParseError
from brownout.report.svg import Line, Span, line_plot, stacked_bars, timeline
from brownout.service.auth import load_or_create_token, token_matches
from brownout.service.config import WatchConfig, load_watch_config
from brownout.service.fake import FakeController
from brownout.service.metrics import render_metrics
from brownout.topology.generate import generate_topology


def test_token_created_0600_and_reused(tmp_path: Path) -> None:
    p = tmp_path / "state" / "api-token"
    tok = load_or_create_token(p)
    assert stat.S_IMODE(p.stat().st_mode) == 0o600 and len(tok) >= 32
    assert load_or_create_token(p) == tok
    other = load_or_create_token(tmp_path / "other")
    assert other != tok


def test_token_refused_when_others_can_read_it(tmp_path: Path) -> None:
    p = tmp_path / "api-token"
    load_or_create_token(p)
    p.chmod(0o644)
    with pytest.raises(InputError, match="chmod 600"):
        load_or_create_token(p)


@given(st.text(max_size=80))
def test_token_matches_only_itself(s: str) -> None:
    real = "abcdefghijklmnopqrstuvwxyz012345"
    assert token_matches(s, real) == (s == real)


def test_watch_config_file_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "watch.yaml"
    good.write_text("topology: topo.yaml\nsource: {kind: prometheus, url: 'http://p:9090',"
                    " interval_s: 30}\ncontroller: {mode: dry-run}\nservice: {port: 9000}\n")
    cfg = load_watch_config(good)
    assert (cfg.source, cfg.url, cfg.interval_s, cfg.mode, cfg.port) == (
        "prometheus", "http://p:9090", 30.0, "dry-run", 9000)
    assert cfg.topology == str(tmp_path / "topo.yaml") and cfg.host == "127.0.0.1"
    for text, msg in [("source: {kind: prometheus}\ntopology: t.yaml\n", "needs url"),
                      ("source: {kind: scrape}\ntopology: t.yaml\n", "needs targets"),
                      ("source: {kind: prometheus, url: 'http://x'}\n", "needs topology"),
                      ("source: {speeed: 3}\n", "unknown field.*speeed"),
                      ("sources: {}\n", "sections: unknown field.*sources"),
                      ("[1, 2]\n", "mapping"),
                      ("service: {port: 70000}\n", "port"), ("source: {kind: [\n", "YAML")]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(ParseError, match=msg) as err:
            load_watch_config(bad)
        assert str(bad) in str(err.value)
    with pytest.raises(InputError):
        WatchConfig(mode="yolo")


def test_metrics_exposition_parses(tmp_path: Path) -> None:
    fake = FakeController(generate_topology(4))
    fake.inject_fault("gpu_failed", "n0001/gpu0")
    fake.inject_fault("host_straggler", 'n0002')
    fake.set_breaker(True, 'odd "quote"\nnewline')
    fams = {f.name: f for f in text_string_to_metric_families(render_metrics(fake.state()))}
    assert all(name.startswith("brownout_") for name in fams)
    open_ = {s.labels["kind"]: s.value for s in fams["brownout_findings_open"].samples}
    assert open_["gpu_failed"] == 1 and open_["host_straggler"] == 1 and open_["nic_degraded"] == 0
    assert fams["brownout_breaker_open"].samples[0].value == 1
    assert fams["brownout_approvals_pending"].samples[0].value == 2
    assert {"brownout_detection_lag_seconds", "brownout_ingest_rate_samples_per_second",
            "brownout_actions"} <= set(fams)


def _charts(label: str) -> list[str]:
    return [line_plot([Line([0.0, 1.0], [1.0, 2.0], label)], title=label, unit=label),
            timeline([Span(label, 0.0, 1.0, 0.5, tip=label)], 0.0, 1.0),
            stacked_bars([(label, [(label, 1.0)])])]


def _elements(svg: str) -> set[str]:
    """The element names of a well-formed SVG (a label that broke out of its text
    would make it malformed or add elements)."""
    import xml.etree.ElementTree as ET

    return {el.tag for el in ET.fromstring(svg).iter()}


@settings(max_examples=50, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30))
def test_svg_escapes_every_label(label: str) -> None:
    for svg, plain in zip(_charts(label), _charts("x"), strict=True):
        assert "<script" not in svg.lower().replace("&lt;script", "")
        assert _elements(svg) <= _elements(plain), label


def test_core_never_imports_the_web_framework() -> None:
    code = ("import sys; import brownout.views.model, brownout.service.fake, "
            "brownout.service.live, brownout.service.metrics, brownout.service.payloads, "
            "brownout.service.wiring, brownout.report.html, brownout.detect.engine, "
            "brownout.policy.controller; "
            "bad = [m for m in ('fastapi', 'starlette', 'uvicorn') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=False)
    assert r.returncode == 0, r.stdout + r.stderr
