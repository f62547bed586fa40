"""Fleet variants of the twin: GPU model physics, static telemetry heterogeneity, profiling.

A fleet unlike the default one differs in its GPUs (an A100 draws 400 W and
throttles at 85 degC, a B200 draws 1000 W), in how its exporters report
(no profiling fields; sensors and power readings that differ a little from
GPU to GPU, constantly) and in where its nodes sit (a rack position a degree
or two warmer). Everything here is static over a run and drawn from its own
generator, so a scenario without these options replays bit for bit as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from brownout.sim.physics import H100, GpuModel
from brownout.sim.scenario import TelemetrySpec
from brownout.topology.gpu_models import GpuSpec, spec_for
from brownout.topology.model import Topology

F64 = npt.NDArray[np.float64]
PROFILING_PREFIX = "DCGM_FI_PROF_"
_H100_RISE_C = H100.r_th_c_per_w * H100.power_cap_w  # die rise over coolant at full power


def physics_for(spec: GpuSpec) -> GpuModel:
    """Physical constants of a GPU model: its published limits, H100's shape scaled by power.

    Idle, dynamic and leakage power scale with the power limit; the thermal
    resistance is set so that the die's rise above its coolant at full power
    is the same as the H100's (the cooling is sized for the part).
    """
    scale = spec.power_limit_w / H100.power_cap_w
    return GpuModel(
        max_clock_mhz=spec.max_sm_clock_mhz, idle_clock_mhz=spec.idle_sm_clock_mhz,
        power_cap_w=spec.power_limit_w, idle_w=H100.idle_w * scale,
        dynamic_w=H100.dynamic_w * scale, leak_w_at_60c=H100.leak_w_at_60c * scale,
        max_operating_c=spec.max_operating_c, slowdown_c=spec.slowdown_c,
        shutdown_c=spec.shutdown_c, r_th_c_per_w=_H100_RISE_C / spec.power_limit_w)


def cluster_model(topo: Topology) -> GpuModel:
    """Physics of the cluster's GPUs (the simulator runs one model per cluster)."""
    return physics_for(spec_for(topo.nodes[0].gpu_model)) if topo.nodes else H100


@dataclass(frozen=True)
class TelemetryBias:
    """Static per-GPU reporting differences (what a sensor or reading adds, constantly).

    Attributes:
        temp_offset_c: added to every temperature reading of the GPU.
        power_scale: multiplies every power reading of the GPU.
        profiling: whether profiling fields are exported.
    """

    temp_offset_c: F64
    power_scale: F64
    profiling: bool

    @classmethod
    def draw(cls, spec: TelemetrySpec, n_gpus: int, rng: np.random.Generator) -> TelemetryBias:
        temp = rng.normal(0.0, spec.temp_sd_c, n_gpus) if spec.temp_sd_c else np.zeros(n_gpus)
        power = (1.0 + rng.normal(0.0, spec.power_sd, n_gpus)) if spec.power_sd else np.ones(
            n_gpus)
        return cls(temp, np.clip(power, 0.8, 1.2), spec.profiling)

    def apply(self, gpu: dict[str, F64]) -> None:
        """Bias one scrape's GPU arrays in place (as the exporter would report them)."""
        for name in ("DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_MEMORY_TEMP"):
            if self.temp_offset_c.any():
                gpu[name] = np.round(gpu[name] + self.temp_offset_c)
        if (self.power_scale != 1.0).any():
            gpu["DCGM_FI_DEV_POWER_USAGE"] = np.round(
                gpu["DCGM_FI_DEV_POWER_USAGE"] * self.power_scale, 3)
        if not self.profiling:
            for name, values in gpu.items():
                if name.startswith(PROFILING_PREFIX):
                    gpu[name] = np.full_like(values, np.nan)


def node_inlet_offset(spec: TelemetrySpec, topo: Topology, rng: np.random.Generator) -> F64:
    """Static per-GPU inlet offset from its node's place in the rack (degC)."""
    if not spec.inlet_sd_c:
        return np.zeros(topo.n_gpus)
    out: F64 = rng.normal(0.0, spec.inlet_sd_c, topo.n_nodes)[topo.gpu_node]
    return out


def variant_rng(seed: int) -> np.random.Generator:
    """The generator of fleet variants, apart from the run's main stream."""
    return np.random.default_rng([seed, 0xF1EE7])


__all__ = ["PROFILING_PREFIX", "TelemetryBias", "cluster_model", "node_inlet_offset",
           "physics_for", "variant_rng"]
