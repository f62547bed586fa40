"""A real scrape of ``brownout agent`` on an H100 host, read back with brownout's parser.

The fixture is captured with tests/fixtures/nvml/capture.sh on a GPU machine;
until one exists this test skips (see tests/fixtures/nvml/SOURCE.txt).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import read_back

SCRAPE = Path(__file__).parent.parent / "fixtures" / "nvml" / "h100_scrape.txt"


@pytest.mark.skipif(not SCRAPE.exists(), reason="no real H100 capture yet (needs a GPU machine)")
def test_real_h100_scrape_parses() -> None:
    text = SCRAPE.read_text()
    n_gpus = len({line.split('gpu="')[1].split('"')[0] for line in text.splitlines()
                  if line.startswith("DCGM_FI_DEV_GPU_TEMP{")})
    got = read_back(text, gpus=n_gpus)
    temps = [v for (m, _), v in got.items() if m == "DCGM_FI_DEV_GPU_TEMP"]
    powers = [v for (m, _), v in got.items() if m == "DCGM_FI_DEV_POWER_USAGE"]
    assert len(temps) == n_gpus >= 1 and all(10 <= t <= 110 for t in temps)
    assert all(10 <= p <= 1500 for p in powers)
    assert 'modelName="NVIDIA H100' in text
