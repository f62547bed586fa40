"""The interop core and the commands that use it load neither gRPC, protobuf nor Kubernetes."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
import brownout.interop.verdicts, brownout.interop.join, brownout.interop.health_events
import brownout.interop.conditions, brownout.interop.npd_source, brownout.interop.read
import brownout.cli.detect, brownout.cli.publish
edge = {'kubernetes', 'urllib3', 'grpc', 'google', 'grpc_tools'}
bad = sorted(m for m in sys.modules if m.split('.')[0] in edge)
print(','.join(bad))
"""


def test_interop_core_imports_no_edge_client() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""
