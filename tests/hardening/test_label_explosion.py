"""Label explosions stay bounded; a large cluster's real series stay cached between scrapes.

The million-series run is benchmarks/label_explosion.py (figures in
docs/reliability.md); here the same code runs with the bound lowered.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from brownout.telemetry import parse, series
from brownout.telemetry.series import SeriesRegistry
from brownout.telemetry.sources.files import read_recording
from brownout.topology.generate import generate_topology

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "label_explosion.py"


@pytest.mark.parametrize("n_nodes", [64, 130])
def test_real_series_beyond_the_bound_stay_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   n_nodes: int) -> None:
    """Regression: with more real series than MAX_KEY_CACHE the cache was reset on every
    scrape, so every key was parsed again (16,384 GPUs: 327,680 series > 200,000)."""
    monkeypatch.setattr(series, "MAX_KEY_CACHE", 500)
    monkeypatch.setattr(parse, "MAX_KEY_CACHE", 500)
    topo = generate_topology(n_nodes)
    keys = [f'DCGM_FI_DEV_GPU_TEMP{{gpu="{g}",Hostname="{n.name}"}}'
            for n in topo.nodes for g in range(8)]
    reg = SeriesRegistry(topo)
    calls = []
    real = series.parse_series_key
    monkeypatch.setattr(series, "parse_series_key", lambda k: calls.append(k) or real(k))
    for k in range(3):
        path = tmp_path / f"s{k}.om"
        path.write_text("".join(f"{x} 50 {1_764_000_000 + 15 * k}\n" for x in keys) + "# EOF\n")
        frame, problems = read_recording([path], reg)
        assert len(frame) == len(keys) and problems.malformed_count == 0
    assert len(keys) > 500 and reg.key_cache_resets == 0
    assert len(calls) == len(keys)  # each key parsed once, not once per scrape


def test_explosion_benchmark_bounded_at_small_scale() -> None:
    r = subprocess.run([sys.executable, str(SCRIPT), "--series", "60000", "--gpus", "512",
                        "--max-key-cache", "5000", "--json"],
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    fig = json.loads(r.stdout)
    e = fig["explosion"]
    assert e["series_registered"] == 1 and e["samples_kept"] == 30000
    assert e["registry_key_cache"] <= e["key_cache_limit"] < 6000 and e["key_cache_resets"] >= 5
