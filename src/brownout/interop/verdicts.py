"""Node-local health verdicts: what another tool concluded about one node or GPU.

A :class:`Verdict` is one unhealthy (or recovered) report of a node-local
check: an NVSentinel HealthEvent, or a node-problem-detector node condition.
Each is sorted into a *category* (Xid, ECC, NVLink, NIC, ...), and the
category says which of brownout's finding kinds it can corroborate
(:data:`CORROBORATES`). Unknown checks fall in ``other`` and corroborate
nothing: they still show up, as notices, but never raise a confidence.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

#: category -> finding kinds a verdict of that category corroborates
CORROBORATES: dict[str, frozenset[str]] = {
    "xid": frozenset({"gpu_failed", "gpu_degraded", "rank_hang"}),
    "xid_nvlink": frozenset({"nvlink_degraded", "gpu_failed", "gpu_degraded"}),
    "ecc": frozenset({"gpu_failed", "gpu_degraded"}),
    "gpu_missing": frozenset({"gpu_failed"}),
    "diag": frozenset({"gpu_failed", "gpu_degraded"}),
    "thermal": frozenset({"gpu_overheating", "gpu_degraded"}),
    "nvlink": frozenset({"nvlink_degraded"}),
    "nic": frozenset({"nic_degraded"}),
    "host": frozenset({"host_straggler"}),
    "other": frozenset(),
}

#: Xids NVIDIA's catalogue files under NVLink (74 and the NVLink5 workflow 144-150, 155)
NVLINK_XIDS = frozenset({74, *range(144, 151), 155})

# check name (NVSentinel checkName or NPD condition type) -> category
_CHECKS: dict[str, str] = {
    # NVSentinel health monitors
    "GpuXidError": "xid", "SysLogsXIDError": "xid", "SysLogsSXIDError": "nvlink",
    "SysLogsGPUFallenOff": "gpu_missing", "GpuMemWatch": "ecc", "GpuMemoryError": "ecc",
    "GpuEccError": "ecc", "GpuNvlinkWatch": "nvlink", "NVSwitchHealth": "nvlink",
    # gpu-health-monitor names DCGM health watches Gpu<Watch>Watch (DCGM_HEALTH_WATCH_PCIE ...)
    "GpuThermalWatch": "thermal", "GpuThermalError": "thermal", "GpuPcieWatch": "diag",
    "GpuInforomWatch": "diag", "GpuPowerWatch": "diag", "GpuSmWatch": "diag",
    "GpuPmuWatch": "diag", "GpuMcuWatch": "diag", "GpuNvswitchFatalWatch": "nvlink",
    "GpuNvswitchNonfatalWatch": "nvlink",
    "InfiniBandStateCheck": "nic", "InfiniBandDegradationCheck": "nic",
    "EthernetStateCheck": "nic", "EthernetDegradationCheck": "nic",
    "SysLogsNICDriverError": "nic",
    # Meta GCM health checks run by node-problem-detector (and their internal NPD* names)
    "XidErrorsProblem": "xid", "SmiEccProblem": "ecc", "SmiDisconnectedProblem": "gpu_missing",
    "DcgmiNvlinkStatusProblem": "nvlink", "DcgmiDiagProblem": "diag",
    "ProcZombieProblem": "host", "RowRemapProblem": "ecc",
    # node-problem-detector's own conditions
    "KernelDeadlock": "host", "ReadonlyFilesystem": "host", "FrequentKubeletRestart": "host",
}
_GCM_PREFIX = re.compile(r"^(Gcm|NPD)(?=[A-Z])")


def classify(check: str, codes: tuple[str, ...] = ()) -> str:
    """The category of a check name (NVSentinel ``checkName`` or NPD condition type).

    An Xid check whose codes name an NVLink Xid is ``xid_nvlink``.
    """
    category = _CHECKS.get(check) or _CHECKS.get(_GCM_PREFIX.sub("", check), "other")
    if category == "xid" and any(c.strip().isdigit() and int(c) in NVLINK_XIDS for c in codes):
        return "xid_nvlink"
    return category


@dataclass(frozen=True)
class Verdict:
    """One node-local report.

    Attributes:
        source: the tool (``nvsentinel``, ``npd``).
        check: its check name or condition type (``GpuXidError``, ``GcmSmiEccProblem``).
        node: the node it is about.
        gpu: the GPU index it names, or None for the whole node.
        category: see :data:`CORROBORATES`.
        codes: error codes (Xids, counter names) as the tool wrote them.
        healthy: a recovery (True) or a problem (False).
        fatal: the tool's own judgement of severity.
        observed_s: when (unix s); ``-inf`` when the report carries no time.
        message: the tool's message, one line.
        where: file and entry it came from, for error messages and evidence.
    """

    source: str
    check: str
    node: str
    gpu: int | None
    category: str
    codes: tuple[str, ...]
    healthy: bool
    fatal: bool
    observed_s: float
    message: str
    where: str = ""

    @property
    def component(self) -> str:
        """``node/gpuN`` or ``node``, as findings name components."""
        return self.node if self.gpu is None else f"{self.node}/gpu{self.gpu}"

    def evidence(self) -> dict[str, object]:
        """The verdict as a finding's evidence entry."""
        return {"source": self.source, "check": self.check, "component": self.component,
                "codes": list(self.codes), "fatal": self.fatal,
                "observed_at": self.observed_s if math.isfinite(self.observed_s) else None,
                "message": self.message[:200]}
