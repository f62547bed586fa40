"""What each GPU model can do: power limit, clocks, thermal limits, memory.

Detectors judge heat and clocks against the GPU's own model, never against
one model's constants: an A100 throttles at 85 degC and 400 W, an H100 at
87 degC and 700 W. The model of a node comes from the topology's
``gpu_model`` and from dcgm-exporter's ``modelName`` label (NVML's product
name); :func:`spec_for` maps either spelling (``NVIDIA H100 80GB HBM3``,
``NVIDIA-H100-80GB-HBM3`` from Kubernetes labels, ``NVIDIA H100`` from a
Slurm gres type) to one :class:`GpuSpec`. A name no entry matches gets
:data:`GENERIC` (Hopper SXM values) and a notice: peer comparisons still
work, absolute limits are a guess.

Every value carries its source in :data:`SOURCES` (the full list, with
links, is in docs/detection.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from brownout.topology.model import Topology

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class GpuSpec:
    """Published limits of one GPU model.

    Attributes:
        key: short name (``H100-SXM-80GB``).
        product: NVML's product name, as ``modelName`` spells it.
        power_limit_w: default board power limit.
        max_sm_clock_mhz: maximum SM clock.
        idle_sm_clock_mhz: SM clock at idle.
        max_operating_c: GPU temperature at which software thermal slowdown starts.
        slowdown_c: hardware thermal slowdown.
        shutdown_c: thermal shutdown.
        memory_gb: HBM capacity.
        known: False for the generic fallback.
    """

    key: str
    product: str
    power_limit_w: float
    max_sm_clock_mhz: float
    idle_sm_clock_mhz: float
    max_operating_c: float
    slowdown_c: float
    shutdown_c: float
    memory_gb: float
    known: bool = True


# NVML thermal limits of Ampere and Hopper SXM parts, as nvidia-smi -q prints them
_AMPERE_T = (85.0, 89.0, 92.0)  # max operating, slowdown, shutdown
_HOPPER_T = (87.0, 89.0, 92.0)
# Blackwell drivers print only margins to T.Limit (slowdown -2, shutdown -8 degC);
# the absolute limit is not published: taken as Hopper's 87 degC.
_BLACKWELL_T = (87.0, 89.0, 95.0)

TABLE: tuple[GpuSpec, ...] = (
    GpuSpec("A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB", 400.0, 1410.0, 210.0,
            *_AMPERE_T, memory_gb=40.0),
    GpuSpec("A100-SXM4-80GB", "NVIDIA A100-SXM4-80GB", 400.0, 1410.0, 210.0,
            *_AMPERE_T, memory_gb=80.0),
    GpuSpec("H100-SXM-80GB", "NVIDIA H100 80GB HBM3", 700.0, 1980.0, 345.0,
            *_HOPPER_T, memory_gb=80.0),
    GpuSpec("H200-SXM-141GB", "NVIDIA H200", 700.0, 1980.0, 345.0, *_HOPPER_T, memory_gb=141.0),
    GpuSpec("B200-SXM-180GB", "NVIDIA B200", 1000.0, 1980.0, 345.0, *_BLACKWELL_T, memory_gb=180.0),
    GpuSpec("GB200-186GB", "NVIDIA GB200", 1200.0, 2112.0, 345.0, *_BLACKWELL_T, memory_gb=186.0),
)
BY_KEY: Mapping[str, GpuSpec] = {s.key: s for s in TABLE}
GENERIC = replace(BY_KEY["H100-SXM-80GB"], key="generic", product="unknown", known=False)

SOURCES: Mapping[str, str] = {
    "A100": "NVIDIA A100 Tensor Core GPU datasheet (SXM: 400 W, 40/80 GB, boost 1410 MHz); "
            "nvidia-smi -q of A100-SXM4 (NVIDIA/nvidia-docker#1648: power limit 400 W, max "
            "SM 1410 MHz; A100 -q captures: shutdown 92, slowdown 89, max operating 85 degC)",
    "H100": "NVIDIA H100 datasheet (SXM: 700 W, 80 GB); nvidia-smi -q of Hopper SXM "
            "(NVIDIA/DCGM#120 and an H800 capture: max SM 1980 MHz, idle 345 MHz, power "
            "limit 700 W, shutdown 92, slowdown 89, max operating 87 degC)",
    "H200": "NVIDIA H200 datasheet (SXM: up to 700 W, 141 GB HBM3e); same GH100 die, clocks "
            "and thermal limits as H100 SXM",
    "B200": "NVIDIA DGX B200 datasheet (8 GPUs, 1,440 GB: 180 GB each); HGX B200 1000 W per "
            "GPU; boost clock 1980 MHz per third-party spec listings (hmc-tech.com; not "
            "checked against an nvidia-smi capture); thermal limits: T.Limit margins "
            "(slowdown -2, shutdown -8 degC) of recent drivers' nvidia-smi -q, T.Limit "
            "itself assumed 87 degC",
    "GB200": "NVIDIA GB200 NVL72 (13.4 TB HBM3e over 72 GPUs: 186 GB each; GPU configurable "
             "to 1,200 W); boost 2112 MHz per hmc-tech.com's GB200 listing (unverified); "
             "thermal margins as B200",
}

_GB_RE = re.compile(r"(\d+)\s*GB")


def _normalise(name: str) -> str:
    """Upper case, separators as spaces (``NVIDIA-H100-80GB-HBM3`` -> ``NVIDIA H100 80GB HBM3``)."""
    return " ".join(re.sub(r"[^A-Z0-9]+", " ", name.upper()).split())


def spec_for(name: str) -> GpuSpec:
    """The spec of a model name in any common spelling; :data:`GENERIC` if none matches.

    PCIe and NVL cards (other power limits) are not in the table.
    """
    s = _normalise(name)
    words = set(s.split())
    if "PCIE" in words or "NVL" in words:
        return GENERIC
    if "GB200" in s:
        return BY_KEY["GB200-186GB"]
    if re.search(r"\bB200\b", s):
        return BY_KEY["B200-SXM-180GB"]
    if re.search(r"\bH200\b", s):
        return BY_KEY["H200-SXM-141GB"]
    if re.search(r"\bH[18]00\b", s):
        return BY_KEY["H100-SXM-80GB"]
    if re.search(r"\bA[18]00\b", s):
        gb = _GB_RE.search(s)
        return BY_KEY["A100-SXM4-40GB" if gb and gb.group(1) == "40" else "A100-SXM4-80GB"]
    return GENERIC


@dataclass(frozen=True)
class GpuLimits:
    """Per-GPU limits of a cluster (arrays indexed by global GPU id).

    Attributes:
        power_limit_w, max_sm_clock_mhz, max_operating_c, slowdown_c, shutdown_c:
            the spec's value for each GPU.
        unknown: model names that matched no spec (they got :data:`GENERIC`).
    """

    power_limit_w: F64
    max_sm_clock_mhz: F64
    max_operating_c: F64
    slowdown_c: F64
    shutdown_c: F64
    unknown: tuple[str, ...]


def node_models(topo: Topology, observed: Mapping[int, str] | None = None) -> list[str]:
    """Each node's model name: the ``modelName`` label where it names a known model
    (what the driver reports), else the topology's ``gpu_model``."""
    observed = observed or {}
    out = []
    for i, node in enumerate(topo.nodes):
        label = observed.get(i)
        out.append(label if label and spec_for(label).known else node.gpu_model)
    return out


def with_observed_models(topo: Topology, observed: Mapping[int, str]
                         ) -> tuple[Topology, dict[str, tuple[str, str]]]:
    """The topology with each node's model as :func:`node_models` resolves it.

    Returns the topology (the same object when nothing changes) and, per node
    whose known ``modelName`` names another model than its ``gpu_model``,
    (topology's name, label's name).
    """
    models = node_models(topo, observed)
    changed = {n.name: (n.gpu_model, m) for n, m in zip(topo.nodes, models, strict=True)
               if m != n.gpu_model}
    if not changed:
        return topo, {}
    nodes = tuple(replace(n, gpu_model=m) for n, m in zip(topo.nodes, models, strict=True))
    differ = {k: v for k, v in changed.items() if spec_for(v[0]).key != spec_for(v[1]).key}
    return Topology.build(topo.name, nodes, topo.switches), differ


def gpu_limits(topo: Topology, models: Sequence[str] | None = None) -> GpuLimits:
    """Limits of every GPU, from each node's model (default: the topology's)."""
    names = list(models) if models is not None else [n.gpu_model for n in topo.nodes]
    specs = [spec_for(m) for m in names]
    per_node = {f: np.array([getattr(s, f) for s in specs], dtype=np.float64)
                for f in ("power_limit_w", "max_sm_clock_mhz", "max_operating_c",
                          "slowdown_c", "shutdown_c")}
    unknown = tuple(sorted({m for m, s in zip(names, specs, strict=True) if not s.known}))
    g = topo.gpu_node
    return GpuLimits(per_node["power_limit_w"][g], per_node["max_sm_clock_mhz"][g],
                     per_node["max_operating_c"][g], per_node["slowdown_c"][g],
                     per_node["shutdown_c"][g], unknown)


__all__ = ["BY_KEY", "GENERIC", "SOURCES", "TABLE", "GpuLimits", "GpuSpec", "gpu_limits",
           "node_models", "spec_for", "with_observed_models"]
