"""A short run of the ingest soak (benchmarks/soak_ingest.py): nothing dropped, API answers.

The 10-minute, 16,384-GPU run and its figures are in docs/reliability.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("uvicorn", reason="fastapi/uvicorn are not installed")
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "soak_ingest.py"


@pytest.mark.slow
def test_short_soak_drops_nothing_silently() -> None:
    r = subprocess.run([sys.executable, str(SCRIPT), "--gpus", "1024", "--duration", "12",
                        "--interval", "3", "--clients", "4", "--json"],
                       capture_output=True, text=True, timeout=240, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    fig = json.loads(r.stdout.strip().splitlines()[-1])
    assert fig["nothing_dropped_silently"] and fig["samples_ingested"] > 0
    assert fig["samples_ingested"] == fig["samples_per_scrape"] * fig["ticks"]
    assert fig["errors"] == 0 and fig["requests"] > 20
    assert fig["ticks"] >= 3 and fig["p99_ms"] >= fig["p50_ms"] > 0
