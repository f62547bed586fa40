"""Dependency audit that never reports a vacuous "clean".

Runs ``pip-audit`` (PyPI advisory service, JSON output) on the installed
environment and reads its verdict per package. pip-audit prints "No known
vulnerabilities found" even when it could audit nothing (every package
"not found on PyPI" because the advisory service is unreachable); this script
counts those skips and says so:

    exit 0  every package audited, no known vulnerability
    exit 1  known vulnerabilities (listed)
    exit 2  some or all packages could not be audited (blocked network), listed

Run:  python benchmarks/audit_deps.py [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from typing import Any

CLEAN, VULNERABLE, NOT_AUDITED = 0, 1, 2


def verdict(report: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Exit code and summary from pip-audit's JSON report."""
    deps = report.get("dependencies", [])
    skipped = {d["name"]: d.get("skip_reason", "") for d in deps if "skip_reason" in d}
    vulns = {d["name"]: [v.get("id", "?") for v in d.get("vulns", [])]
             for d in deps if d.get("vulns")}
    audited = len(deps) - len(skipped)
    summary = {"packages": len(deps), "audited": audited, "skipped": len(skipped),
               "skip_examples": dict(list(skipped.items())[:5]), "vulnerable": vulns}
    if vulns:
        return VULNERABLE, summary
    if skipped or not deps:
        return NOT_AUDITED, summary
    return CLEAN, summary


def run_pip_audit(timeout_s: float) -> dict[str, Any]:
    exe = shutil.which("pip-audit")
    if exe is None:
        return {"dependencies": [], "error": "pip-audit is not installed"}
    r = subprocess.run([exe, "--format", "json", "--progress-spinner", "off"],
                       capture_output=True, text=True, timeout=timeout_s, check=False)
    try:
        return dict(json.loads(r.stdout))
    except ValueError:
        return {"dependencies": [], "error": (r.stderr or r.stdout).strip()[-300:]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    report = run_pip_audit(args.timeout)
    code, summary = verdict(report)
    summary["verdict"] = {CLEAN: "clean", VULNERABLE: "vulnerable",
                          NOT_AUDITED: "not audited (advisory service unreachable?)"}[code]
    if "error" in report:
        summary["error"] = report["error"]
    print(json.dumps(summary) if args.json else json.dumps(summary, indent=2))
    return code


if __name__ == "__main__":
    sys.exit(main())
