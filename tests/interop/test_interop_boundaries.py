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


MISSING = """
import sys
sys.modules['grpc'] = None  # as if grpcio were not installed
from brownout.cli.main import main
raise SystemExit(main(['publish', '--findings', sys.argv[1], '--nvsentinel', 'unix:///x.sock']))
"""


def test_without_grpcio_nvsentinel_is_one_line_naming_the_extra(tmp_path: object) -> None:
    from pathlib import Path

    from brownout.findings import Finding, FindingsFile, write_findings
    path = Path(str(tmp_path)) / "f.json"
    write_findings(FindingsFile("c", (Finding("f-1", "gpu_failed", "n0001/gpu0", "gpu", 1.0,
                                              2.0, 0.9, "critical", "gone"),)), path)
    run = subprocess.run([sys.executable, "-c", MISSING, str(path)], capture_output=True,
                         text=True, check=False)
    assert run.returncode == 2
    assert run.stderr.strip() == ("brownout: nvsentinel: grpcio is not installed "
                                  "(pip install 'brownout[nvsentinel]')")
