"""Findings for the Kubernetes controller test."""

from __future__ import annotations

from brownout.findings import Finding


def gpu_failed_finding() -> Finding:
    return Finding("f-1", "gpu_failed", "n0001/gpu3", "gpu", 1e6 - 60, 1e6, 0.97, "critical",
                   "GPU fell off the bus", {"xid": 79})
