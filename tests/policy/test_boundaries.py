"""The core never imports the Kubernetes client (lazy import at the edge only)."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
import brownout.policy.controller, brownout.executors, brownout.executors.slurm
import brownout.cli.act
bad = sorted(m for m in sys.modules if m.split('.')[0] in {'kubernetes', 'urllib3', 'httpx'})
print(','.join(bad))
"""


def test_core_and_act_do_not_import_kubernetes() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""
