"""Hardware state of the whole cluster: GPUs and the network, one tick at a time.

:class:`GpuState` holds die temperatures, clocks, power and the counters
dcgm-exporter reports; :class:`NetState` the NIC and switch-port counters.
Both advance with vectorised numpy over all GPUs / NICs / ports, and both can
"reset" a node's counters (an exporter restart re-reads them from zero).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from brownout.sim import fabric, physics
from brownout.sim.effects import Effects
from brownout.sim.physics import GpuModel
from brownout.telemetry.metrics import (
    HW_POWER_BRAKE,
    HW_SLOWDOWN,
    HW_THERMAL,
    SW_POWER_CAP,
    SW_THERMAL,
)
from brownout.topology.model import Topology

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

GPU_IDLE_BIT = 0x1
GPU_COUNTERS = ("sbe", "dbe", "remap", "pcie", "nvlink", "thermal_ns", "power_ns",
                "nvlink_replay", "nvlink_recovery")
NIC_COUNTERS = ("tx", "rx", "wait", "rxerr", "symbol", "recovery", "downed")
BASE_TENSOR_ACTIVE = 0.42


@dataclass
class GpuState:
    """Per-GPU physical state and cumulative counters."""

    temp_c: F64
    rise_c: F64
    clock_frac: F64
    power_w: F64
    util: F64
    reasons: I64
    busy: B
    inlet_c: F64
    xid: F64
    shut_down: B
    counters: dict[str, F64]
    base: dict[str, F64]

    @classmethod
    def initial(cls, model: GpuModel, inlet_c: F64, r_th: F64) -> GpuState:
        n = len(inlet_c)
        idle_w = model.idle_w + physics.leakage_w(model, inlet_c + 5.0)
        return cls(
            temp_c=inlet_c + idle_w * r_th, rise_c=idle_w * r_th, clock_frac=np.ones(n),
            power_w=idle_w,
            util=np.zeros(n), reasons=np.zeros(n, np.int64), busy=np.zeros(n, bool),
            inlet_c=inlet_c.copy(), xid=np.zeros(n), shut_down=np.zeros(n, bool),
            counters={c: np.zeros(n) for c in GPU_COUNTERS},
            base={c: np.zeros(n) for c in GPU_COUNTERS},
        )

    def reported(self, name: str) -> F64:
        """Counter value as the exporter reports it (since its last reset)."""
        return self.counters[name] - self.base[name]

    def reset(self, gpus: I64) -> None:
        for c in GPU_COUNTERS:
            self.base[c][gpus] = self.counters[c][gpus]


def gpu_tick(st: GpuState, model: GpuModel, e: Effects, *, demand: F64, dyn_w: F64, r_th: F64,
             dt_s: float, rng: np.random.Generator) -> None:
    """Advance every GPU by ``dt_s`` seconds under utilisation ``demand`` (0-1)."""
    dead = e.gpu_dead | st.shut_down
    util = np.where(dead, 0.0, demand)
    dyn_w = dyn_w * e.dyn_w_mult  # a GPU spinning in a collective is busy at low power
    clock, reasons = physics.throttle(model, st.temp_c, util, dyn_w, e.gpu_cap)
    reasons |= e.gpu_reasons
    st.busy = util > 0.05
    reasons = np.where(st.busy, reasons, reasons & ~SW_POWER_CAP | GPU_IDLE_BIT)
    st.power_w = physics.power_w(model, util, clock, dyn_w, st.temp_c)
    # the die's rise above its coolant follows the RC model; the coolant moves it directly
    rise0 = st.rise_c
    st.rise_c = physics.thermal_step(model, rise0, np.zeros_like(rise0), st.power_w,
                                     r_th=r_th * e.gpu_rth_mult, dt_s=dt_s)
    clock, reasons = _protect(st, model, (util, clock, reasons), rise0=rise0, dyn_w=dyn_w,
                              r_th=r_th * e.gpu_rth_mult, dt_s=dt_s)
    st.temp_c = st.inlet_c + st.rise_c
    st.shut_down |= st.temp_c >= model.shutdown_c
    st.clock_frac, st.reasons, st.util = clock, reasons, util
    _gpu_counters(st, e, dt_s, rng)


def _protect(st: GpuState, model: GpuModel, now: tuple[F64, F64, I64], *, rise0: F64,
             dyn_w: F64, r_th: F64, dt_s: float) -> tuple[F64, I64]:
    """Thermal slowdown reacts within milliseconds, not at the end of a tick.

    A GPU whose die would end this tick above its maximum operating
    temperature at its current clock is held there instead: its clock drops
    to what keeps the die half a degree over that temperature at the end of
    the tick (the firmware's fast loop; ``SW_THERMAL``, and the hardware
    slowdown bits when the clock falls below half). So a badly cooled GPU sits
    at its limit with low clock and power, as real ones do, rather than
    bouncing between full clock and a tick-long halving; only a GPU that
    cannot be held even at the lowest clock heats on (and may shut down).
    """
    util, clock, reasons = now
    limit = model.max_operating_c + 0.5
    over = (st.inlet_c + st.rise_c > limit) & (util > 0)
    if not over.any():
        return clock, reasons
    decay = math.exp(-dt_s / model.tau_s)
    aim = limit - st.inlet_c  # the rise that ends the tick at the limit
    power = (aim - rise0 * decay) / (np.maximum(r_th, 1e-6) * (1.0 - decay))
    dyn = power - model.idle_w - physics.leakage_w(model, st.temp_c)
    frac = np.power(np.clip(dyn / np.maximum(util * dyn_w, 1.0), 0.0, 1.0),
                    1.0 / model.clock_power_exp)
    held = np.where(over, np.clip(np.minimum(clock, frac), 0.1, 1.0), clock)
    reasons = np.where(over, reasons | SW_THERMAL, reasons)
    reasons = np.where(over & (held < 0.5), reasons | HW_THERMAL | HW_SLOWDOWN, reasons)
    st.power_w = np.where(over, physics.power_w(model, util, held, dyn_w, st.temp_c), st.power_w)
    st.rise_c = np.where(over, physics.thermal_step(
        model, rise0, np.zeros_like(rise0), st.power_w, r_th=r_th, dt_s=dt_s), st.rise_c)
    return held, reasons


def settle(st: GpuState, model: GpuModel, demand: F64, dyn_w: F64, r_th: F64) -> None:
    """Put every GPU at its thermal steady state for ``demand`` (the run starts warm).

    The steady state at full clock (under the power cap only) is found first;
    a GPU whose steady state lies above its maximum operating temperature
    starts where the firmware holds it (at that limit, with the clock that
    takes), as :func:`_protect` keeps it later: otherwise it would start
    cool and climb to its limit in the first minute, a warming no fleet that
    was already running shows.
    """
    temp = st.inlet_c + (model.idle_w + 0.5 * demand * dyn_w) * r_th
    for _ in range(40):  # leakage feedback: damped fixed point
        clock = _capped_clock(model, demand, dyn_w, temp)
        power = physics.power_w(model, demand, clock, dyn_w, temp)
        temp = 0.5 * temp + 0.5 * np.minimum(st.inlet_c + power * r_th, 110.0)
    limit = model.max_operating_c + 0.5
    over = (temp > limit) & (demand > 0)
    at = np.full(len(demand), limit)
    hold_w = (limit - st.inlet_c) / np.maximum(r_th, 1e-6)
    frac = np.power(np.clip((hold_w - model.idle_w - physics.leakage_w(model, at)) / np.maximum(
        demand * dyn_w, 1.0), 0.0, 1.0), 1.0 / model.clock_power_exp)
    clock = np.where(over, np.clip(np.minimum(frac, _capped_clock(model, demand, dyn_w, at)),
                                   0.1, 1.0), clock)
    temp = np.where(over, limit, temp)
    st.power_w = physics.power_w(model, demand, clock, dyn_w, temp)
    st.rise_c = np.where(over, limit - st.inlet_c, st.power_w * r_th)
    st.temp_c = st.inlet_c + st.rise_c


def _capped_clock(model: GpuModel, demand: F64, dyn_w: F64, temp_c: F64) -> F64:
    """Relative clock that keeps board power under the cap (no thermal slowdown)."""
    headroom = model.power_cap_w - model.idle_w - physics.leakage_w(model, temp_c)
    fit = np.power(np.maximum(headroom, 1.0) / np.maximum(demand * dyn_w, 1.0),
                   1.0 / model.clock_power_exp)
    out: F64 = np.minimum(1.0, fit)
    return out


def _gpu_counters(st: GpuState, e: Effects, dt_s: float, rng: np.random.Generator) -> None:
    c = st.counters
    n = len(st.temp_c)
    c["sbe"] += rng.poisson(e.gpu_sbe_rate * dt_s + 2e-6 * dt_s, n)
    c["dbe"] += rng.poisson(e.gpu_dbe_rate * dt_s)
    c["remap"] += rng.poisson(e.gpu_remap_rate * dt_s)
    c["pcie"] += rng.poisson(e.gpu_pcie_rate * dt_s + 1e-4 * dt_s, n)
    c["nvlink"] += rng.poisson(2e-5 * dt_s, n)
    thermal = (st.reasons & (SW_THERMAL | HW_THERMAL)) != 0
    power = (st.reasons & (SW_POWER_CAP | HW_POWER_BRAKE)) != 0
    c["thermal_ns"] += np.where(thermal, dt_s * 1e9, 0.0)
    c["power_ns"] += np.where(power, dt_s * 1e9, 0.0)


def tensor_active(st: GpuState, model: GpuModel, e: Effects) -> F64:
    """DCGM tensor-pipe activity (0-1): useful work per second."""
    eff = 1.0 / (physics.compute_slowdown(model, st.clock_frac) * e.gpu_compute_mult)
    return BASE_TENSOR_ACTIVE * st.util * eff


def sm_clock_mhz(st: GpuState, model: GpuModel) -> F64:
    return np.where(st.busy, np.round(model.max_clock_mhz * st.clock_frac),
                    model.idle_clock_mhz)


@dataclass
class NetState:
    """NIC and switch-port counters."""

    nic: dict[str, F64]
    nic_base: dict[str, F64]
    port_wait: F64
    port_data: F64
    nic_state: F64
    nic_rate: F64

    @classmethod
    def initial(cls, n_nics: int, n_ports: int) -> NetState:
        return cls({c: np.zeros(n_nics) for c in NIC_COUNTERS},
                   {c: np.zeros(n_nics) for c in NIC_COUNTERS},
                   np.zeros(n_ports), np.zeros(n_ports), np.full(n_nics, 4.0),
                   np.full(n_nics, fabric.NIC_RATE_BYTES_PER_S))

    def reported(self, name: str) -> F64:
        return self.nic[name] - self.nic_base[name]

    def reset(self, nics: I64) -> None:
        for c in NIC_COUNTERS:
            self.nic_base[c][nics] = self.nic[c][nics]


@dataclass(frozen=True)
class PortRouting:
    """Precomputed index arrays to spread NIC traffic over switch ports."""

    down: I64
    down_nic: I64
    up: I64
    up_leaf: I64
    up_share: F64

    @classmethod
    def build(cls, topo: Topology, pm: fabric.PortMap) -> PortRouting:
        down = np.flatnonzero(pm.nic >= 0)
        up = np.flatnonzero(pm.nic < 0)
        is_leaf = np.array([s.tier == "leaf" for s in topo.switches])
        own = pm.switch[up]
        leaf = np.where(is_leaf[own], own, pm.peer[up])
        n_up = np.array([max(1, len(s.uplinks)) for s in topo.switches], dtype=np.float64)
        return cls(down, pm.nic[down].astype(np.int64), up, leaf.astype(np.int64),
                   0.5 / n_up[leaf])


def net_tick(st: NetState, topo: Topology, rt: PortRouting, pm: fabric.PortMap, *,
             e: Effects, nic_bytes: F64, rng: np.random.Generator, dt_s: float) -> None:
    """Advance NIC and port counters given the bytes each NIC moved this tick."""
    n = topo.n_nics
    cong = e.switch_congestion[topo.nic_switch]
    wait_mult = e.switch_wait_mult[topo.nic_switch]
    noise = rng.lognormal(0.0, 0.25, n)
    queue = (1.0 + fabric.CONGESTION_WAIT_GAIN * (cong - 1.0)) * wait_mult
    queue *= 1.0 + 5.0 * (1.0 / np.maximum(e.nic_bw, 0.05) - 1.0)
    wait = nic_bytes * fabric.WAIT_TICKS_PER_BYTE * noise * queue
    c = st.nic
    c["tx"] += nic_bytes
    c["rx"] += nic_bytes * rng.uniform(0.995, 1.005, n)
    c["wait"] += np.round(wait)
    c["rxerr"] += rng.poisson(e.nic_rxerr_rate * dt_s)
    c["symbol"] += rng.poisson(e.nic_symbol_rate * dt_s)
    c["recovery"] += rng.poisson(e.nic_recovery_rate * dt_s)
    downs = rng.poisson(e.nic_down_rate * dt_s)
    c["downed"] += downs
    st.nic_state = np.where(downs > 0, 1.0, 4.0)
    st.nic_rate = fabric.NIC_RATE_BYTES_PER_S * e.nic_rate_frac
    _port_tick(st, rt, pm, e, traffic=(nic_bytes, wait), rng=rng)


def _port_tick(st: NetState, rt: PortRouting, pm: fabric.PortMap, e: Effects, *,
               traffic: tuple[F64, F64], rng: np.random.Generator) -> None:
    nic_bytes, nic_wait = traffic
    st.port_data[rt.down] += nic_bytes[rt.down_nic]
    st.port_wait[rt.down] += np.round(nic_wait[rt.down_nic] * rng.uniform(0.8, 1.2,
                                                                            len(rt.down)))
    leaf_bytes = np.bincount(pm.switch[rt.down], weights=nic_bytes[rt.down_nic],
                             minlength=len(e.switch_congestion))
    up_bytes = leaf_bytes[rt.up_leaf] * rt.up_share
    sw = pm.switch[rt.up]
    queue = ((1.0 + fabric.CONGESTION_WAIT_GAIN * (e.switch_congestion[sw] - 1.0))
             * e.switch_wait_mult[sw])
    st.port_data[rt.up] += up_bytes
    st.port_wait[rt.up] += np.round(up_bytes * fabric.WAIT_TICKS_PER_BYTE * queue
                                    * rng.lognormal(0.0, 0.25, len(rt.up)))
