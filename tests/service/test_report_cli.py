"""``brownout report`` and the ``demo``/``watch`` commands end to end (subprocesses)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi", reason="fastapi/uvicorn are not installed")
pytest.importorskip("uvicorn", reason="fastapi/uvicorn are not installed")

from brownout.cli.main import main
from brownout.findings import Finding, FindingsFile, write_findings

BROWNOUT = [sys.executable, "-m", "brownout.cli.main"]


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rec") / "sim"
    assert main(["simulate", "--scenario", "gpu_overheating", "--seed", "4",
                 "--out", str(out)]) == 0
    return out


def test_report_of_a_recording(recording: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert main(["report", "--recording", str(recording), "--out", str(out)]) == 0
    html = out.read_text()
    assert "<script" not in html and not re.search(r"(src|href)=['\"]?https?:", html)
    assert "gpu_overheating" in html and "Goodput decomposition" in html
    assert html.count("<svg") >= 3  # timeline, an evidence plot, the goodput bars
    assert list(tmp_path.iterdir()) == [out]  # atomic: no temporary file left


def test_report_escapes_and_windows(recording: Path, tmp_path: Path) -> None:
    evil = Finding("f-000001", "host_straggler", "n0002", "node", 1_764_000_600.0,
                   1_764_000_700.0, 0.9, "major", "<script>alert(1)</script>",
                   {"note": "<img src=x onerror=alert(2)>"})
    late = Finding("f-000002", "host_straggler", "n0003", "node", 1_764_100_000.0,
                   1_764_100_100.0, 0.9, "major", "far outside the window")
    fpath = tmp_path / "f.json"
    write_findings(FindingsFile("x", (evil, late)), fpath)
    out = tmp_path / "r.html"
    assert main(["report", "--recording", str(recording), "--findings", str(fpath),
                 "--start", "1764000000", "--end", "1764003600", "--out", str(out)]) == 0
    html = out.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "<img" not in html and "far outside the window" not in html


def test_report_bad_input_exit_2_and_no_file(tmp_path: Path, recording: Path) -> None:
    out = tmp_path / "r.html"
    assert main(["report", "--out", str(out)]) == 2
    assert main(["report", "--recording", str(recording), "--journal",
                 str(tmp_path / "nope.db"), "--out", str(out)]) == 2
    assert main(["report", "--recording", str(recording), "--start", "5", "--end", "4",
                 "--out", str(out)]) == 2
    assert not out.exists()


def _start(args: list[str], tmp_path: Path) -> tuple[subprocess.Popen[str], str, str]:
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen([*BROWNOUT, *args, "--state-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        m = re.search(r"(http://127\.0\.0\.1:\d+/)#token=(\S+)", line)
        if m:
            return proc, m.group(1), m.group(2)
        assert time.monotonic() < deadline
    raise AssertionError("no URL printed")


def test_demo_serves_and_stops_on_interrupt(tmp_path: Path) -> None:
    proc, url, token = _start(["demo", "--port", "0", "--no-browser", "--speed", "300",
                               "--scenario", "gpu_degraded"], tmp_path)
    try:
        assert (tmp_path / "api-token").read_text().strip() == token
        deadline = time.monotonic() + 60
        while httpx.get(url + "api/health").json()["ticks"] < 3:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        h = httpx.get(url + "api/health").json()
        assert h["source"] == "simulator" and h["approval_mode"] is True
        assert httpx.get(url).status_code == 200
        assert httpx.post(url + "api/approvals/x/approve").status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert token not in out  # printed once, in the URL, never again (no request log)


def test_demo_port_in_use_is_exit_2(tmp_path: Path) -> None:
    proc, url, _ = _start(["demo", "--port", "0", "--no-browser", "--speed", "50"], tmp_path)
    try:
        port = url.rsplit(":", 1)[1].strip("/")
        r = subprocess.run([*BROWNOUT, "demo", "--port", port, "--no-browser",
                            "--state-dir", str(tmp_path)], capture_output=True, text=True,
                           timeout=60, check=False)
        assert r.returncode == 2 and "port" in r.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_watch_print_token_and_bad_config(tmp_path: Path) -> None:
    r = subprocess.run([*BROWNOUT, "watch", "--state-dir", str(tmp_path), "--print-token"],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0 and r.stdout.strip() == (tmp_path / "api-token").read_text().strip()
    bad = tmp_path / "w.yaml"
    bad.write_text(json.dumps({"source": {"kind": "prometheus"}}))
    r = subprocess.run([*BROWNOUT, "watch", "--config", str(bad)], capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == 2 and "w.yaml" in r.stderr and "Traceback" not in r.stderr
