"""Published failure rates the coarse mode draws interruptions from.

``llama3``: root causes of the 419 unexpected interruptions of the 54-day Llama 3
405B pre-training run on 16,384 H100 GPUs (Llama Team, "The Llama 3 Herd of
Models", 2024, Table 5). Each cause maps to a kind of spec/findings.md where one
fits (a truth line is written for it) or to None (software, maintenance, host
parts: an interruption without a component fault of our taxonomy).

``REPAIR_*``: node repair times fitted to the StepFun InfiniteHBD trace
(584 fault start/end pairs on 400 servers over 345 days, Apache-2.0): lognormal
with a median of 20.4 h; its log-spread is 2.5 in the trace, capped here at 1.5
so that a handful of month-long outliers do not dominate a 54-day run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Cause:
    """One root cause: how often, and what it looks like in our taxonomy.

    Attributes:
        name, category: as published.
        count: interruptions in the reference run.
        kind: fault kind for the truth file, or None.
        variant: fault variant (e.g. ``xid48``), "" if none.
        component: component type the cause strikes (gpu, nic, node, job).
    """

    name: str
    category: str
    count: int
    kind: str | None
    variant: str
    component: str


LLAMA3_GPUS = 16384
LLAMA3_DAYS = 54.0
LLAMA3: tuple[Cause, ...] = (
    Cause("Faulty GPU", "GPU", 148, "gpu_failed", "xid79", "gpu"),
    Cause("GPU HBM3 Memory", "GPU", 72, "gpu_failed", "xid48", "gpu"),
    Cause("Software Bug", "Dependency", 54, None, "", "job"),
    Cause("Network Switch/Cable", "Network", 35, "nic_degraded", "flapping", "nic"),
    Cause("Host Maintenance", "Unplanned Maintenance", 32, None, "", "node"),
    Cause("GPU SRAM Memory", "GPU", 19, "gpu_failed", "xid95", "gpu"),
    Cause("GPU System Processor", "GPU", 17, "gpu_failed", "xid119", "gpu"),
    Cause("NIC", "Host", 7, "nic_degraded", "symbol_errors", "nic"),
    Cause("NCCL Watchdog Timeouts", "Unknown", 7, None, "", "job"),
    Cause("Silent Data Corruption", "GPU", 6, "gpu_degraded", "sdc", "gpu"),
    Cause("GPU Thermal Interface + Sensor", "GPU", 6, "gpu_overheating", "", "gpu"),
    Cause("SSD", "Host", 3, None, "", "node"),
    Cause("Power Supply", "Host", 3, None, "", "node"),
    Cause("Server Chassis", "Host", 2, None, "", "node"),
    Cause("IO Expansion Board", "Host", 2, None, "", "node"),
    Cause("Dependency", "Dependency", 2, None, "", "job"),
    Cause("CPU", "Host", 2, None, "", "node"),
    Cause("System Memory", "Host", 2, None, "", "node"),
)
TABLES = {"llama3": (LLAMA3, LLAMA3_GPUS, LLAMA3_DAYS)}

REPAIR_MEDIAN_H = 20.4
REPAIR_LOG_SIGMA = 1.5


def draw_arrivals(causes: tuple[Cause, ...], ref_gpus: int, ref_days: float, *, n_gpus: int,
                  duration_s: float, rng: np.random.Generator) -> tuple[np.ndarray[Any, Any],
                                                                         np.ndarray[Any, Any]]:
    """Arrival times (seconds from start) and cause indices, time-ordered."""
    scale = n_gpus / ref_gpus * duration_s / (ref_days * 86400.0)
    counts = rng.poisson(np.array([c.count for c in causes], dtype=float) * scale)
    which = np.repeat(np.arange(len(causes)), counts)
    times = rng.uniform(0.0, duration_s, len(which))
    order = np.argsort(times, kind="stable")
    return times[order], which[order]


def fine_arrivals(table: str, n_gpus: int, duration_s: float, rate_mult: float,
                  rng: np.random.Generator) -> list[tuple[float, Cause]]:
    """(seconds from start, cause) of a table's failures for a fine-mode run.

    ``rate_mult`` accelerates the published rates, so that a small cluster
    over a few hours sees failures at all (256 GPUs for 2 h at the Llama 3
    rates expect 0.01 of them).
    """
    causes, ref_gpus, ref_days = TABLES[table]
    times, which = draw_arrivals(causes, ref_gpus, ref_days, n_gpus=round(n_gpus * rate_mult),
                                 duration_s=duration_s, rng=rng)
    return [(float(t), causes[int(i)]) for t, i in zip(times, which, strict=True)]
