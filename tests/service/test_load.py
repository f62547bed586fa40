"""A short run of the load benchmark (benchmarks/load_api.py): no error, nothing lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="fastapi/uvicorn are not installed")
pytest.importorskip("uvicorn", reason="fastapi/uvicorn are not installed")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "load_api.py"


@pytest.mark.slow
def test_short_load_run_loses_nothing() -> None:
    r = subprocess.run([sys.executable, str(SCRIPT), "--duration", "5", "--clients", "10",
                        "--nodes", "32", "--speed", "120", "--json"],
                       capture_output=True, text=True, timeout=240, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    fig = json.loads(r.stdout.strip().splitlines()[-1])
    assert fig["errors"] == 0 and fig["requests"] > 50
    assert fig["samples_emitted"] == fig["samples_ingested"] > 0
    assert fig["step_records_emitted"] == fig["step_records_ingested"] > 0
    assert fig["findings_lost"] == 0 and fig["findings_extra"] == 0
    assert fig["p99_ms"] >= fig["p50_ms"] > 0
