"""GPU power, temperature and throttling, vectorised over GPUs.

Model (per GPU, each tick of ``dt_s`` seconds):

- power = idle + util * dynamic * clock_frac**1.3 + leakage(T); leakage grows
  exponentially with die temperature, the feedback that lets a badly cooled
  GPU run away;
- a first-order RC thermal model: the die's rise above its coolant relaxes
  toward ``power * r_th`` with time constant ``tau_s`` (so T = inlet + rise
  never falls below the inlet); ``r_th`` varies per GPU (thermal interface,
  position in the chassis);
- throttling at the model's thresholds (H100: see brownout.topology.gpu_models):
  above the maximum operating temperature (87 °C) software thermal slowdown
  trims clocks, 15 % per degree over (``SW_THERMAL``; within a tick the
  firmware's fast loop in :func:`brownout.sim.hardware.gpu_tick` holds a GPU
  at its limit),
  at 89 °C the hardware halves them (``HW_THERMAL | HW_SLOWDOWN``), at 92 °C
  the GPU shuts down; demand above the 700 W cap lowers clocks until power
  fits (``SW_POWER_CAP``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from brownout.telemetry.metrics import HW_SLOWDOWN, HW_THERMAL, SW_POWER_CAP, SW_THERMAL

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class GpuModel:
    """Physical constants of one GPU model (defaults: H100 SXM 80 GB)."""

    max_clock_mhz: float = 1980.0
    idle_clock_mhz: float = 345.0
    power_cap_w: float = 700.0
    idle_w: float = 72.0
    dynamic_w: float = 540.0
    leak_w_at_60c: float = 38.0
    leak_scale_c: float = 30.0
    clock_power_exp: float = 1.3
    max_operating_c: float = 87.0
    slowdown_c: float = 89.0
    shutdown_c: float = 92.0
    tau_s: float = 45.0
    r_th_c_per_w: float = 0.062
    mem_bound_frac: float = 0.2
    sw_thermal_gain_per_c: float = 0.15


H100 = GpuModel()


def leakage_w(model: GpuModel, temp_c: F64) -> F64:
    """Static (leakage) power at die temperature ``temp_c``."""
    return model.leak_w_at_60c * np.exp((np.minimum(temp_c, 110.0) - 60.0) / model.leak_scale_c)


def power_w(model: GpuModel, util: F64, clock_frac: F64, dynamic_w: F64, temp_c: F64) -> F64:
    """Board power for utilisation ``util`` (0-1) at relative clock ``clock_frac``."""
    dyn = util * dynamic_w * np.power(clock_frac, model.clock_power_exp)
    return model.idle_w + dyn + leakage_w(model, temp_c)


def throttle(model: GpuModel, temp_c: F64, util: F64, dynamic_w: F64,
             cap_frac: F64) -> tuple[F64, I64]:
    """Relative SM clock after thermal and power limits, and the reason bits it sets.

    Args:
        temp_c: die temperature now.
        util: utilisation 0-1 the job demands.
        dynamic_w: per-GPU dynamic power at full clock and load.
        cap_frac: clock cap from other causes (faults), 1.0 when none.
    """
    reasons = np.zeros(temp_c.shape, np.int64)
    over = temp_c - model.max_operating_c
    sw_t = over >= 0.0
    clock = np.where(sw_t, np.clip(1.0 - model.sw_thermal_gain_per_c * (over + 1.0), 0.35, 1.0),
                     1.0)
    reasons[sw_t] |= SW_THERMAL
    hw_t = temp_c >= model.slowdown_c
    clock = np.where(hw_t, np.minimum(clock, 0.5), clock)
    reasons[hw_t] |= HW_THERMAL | HW_SLOWDOWN
    clock = np.minimum(clock, cap_frac)
    headroom = model.power_cap_w - model.idle_w - leakage_w(model, temp_c)
    demand = util * dynamic_w * np.power(clock, model.clock_power_exp)
    capped = demand > headroom
    fit = np.power(np.maximum(headroom, 1.0) / np.maximum(util * dynamic_w, 1.0),
                   1.0 / model.clock_power_exp)
    clock = np.where(capped, np.minimum(clock, fit), clock)
    reasons[capped] |= SW_POWER_CAP
    return clock, reasons


def thermal_step(model: GpuModel, temp_c: F64, inlet_c: F64, power: F64, *, r_th: F64,
                 dt_s: float) -> F64:
    """Die temperature after ``dt_s`` seconds (exact solution of the RC step)."""
    target = inlet_c + power * r_th
    decay = math.exp(-dt_s / model.tau_s)
    out: F64 = target + (temp_c - target) * decay
    return out


def memory_temp_c(temp_c: F64, inlet_c: F64) -> F64:
    """HBM temperature: tracks the die, offset by the stack's own heat."""
    return inlet_c + 14.0 + 0.75 * (temp_c - inlet_c)


def compute_slowdown(model: GpuModel, clock_frac: F64) -> F64:
    """Factor by which compute time grows when clocks drop (memory-bound part unaffected)."""
    frac = np.maximum(clock_frac, 0.05)
    return model.mem_bound_frac + (1.0 - model.mem_bound_frac) / frac
