"""GPU health: fail-stop (fatal Xids, a GPU's telemetry vanishing) and fail-slow.

Fail-stop (``gpu_failed``):
- a fatal Xid per NVIDIA's catalogue (immediate resolution reset GPU, reboot,
  or the DBE workflow); application Xids (13, 31, 43) and contained errors
  are the job's problem, not the GPU's;
- every series of one GPU stops while the other GPUs of its node still report
  (a whole node going quiet is a telemetry gap, see ``gaps``).

Fail-slow (``gpu_degraded``), each sustained for ``persist_s``:
- SM clock below the median of busy peers of the same model, with no thermal
  reason and no configured power cap behind it;
- ``HW_SLOWDOWN`` without ``HW_THERMAL``, or ``HW_POWER_BRAKE``, on a GPU
  whose peers do not show it (a fleet-wide brake is a facility event);
- error rates far above the fleet's: ECC, row remapping, PCIe replays, NVLink.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from brownout.detect.api import Candidate, Detector, confidence_of
from brownout.detect.robust import group_median, sustained
from brownout.detect.tick import Tick
from brownout.telemetry.metrics import (
    HW_POWER_BRAKE,
    HW_SLOWDOWN,
    HW_THERMAL,
    SW_POWER_CAP,
    SW_THERMAL,
    metric_id,
)

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
APP_XIDS = frozenset({13, 31, 43, 45, 94})  # the application's fault, or sympathetic
FATAL_RESOLUTIONS = frozenset({"RESET_GPU", "RESTART_BM", "RESTART_VM", "WORKFLOW_XID_48"})
ERROR_RATES = (  # metric, floor in events/s, evidence name
    ("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", 1e-4, "ecc_dbe_per_s"),
    ("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", 1e-4, "remapped_rows_per_s"),
    ("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", 0.05, "ecc_sbe_per_s"),
    ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", 0.05, "pcie_replays_per_s"),
    ("DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL", 0.5, "nvlink_crc_per_s"),
)


@cache
def fatal_xids() -> frozenset[int]:
    """Xid codes that mean the GPU itself failed (NVIDIA's immediate resolution)."""
    from brownout.telemetry.xid import catalogue

    return frozenset(x for x, e in catalogue().items()
                     if e.immediate in FATAL_RESOLUTIONS and x not in APP_XIDS)


class GpuHealthDetector(Detector):
    """Fatal Xids, vanished GPUs and fail-slow GPUs.

    Args:
        clock_drop: a busy GPU whose SM clock is this fraction below its peers' is slow.
        busy_util_pct: utilisation above which a GPU counts as under load.
        persist_s: how long fail-slow evidence must hold.
        stale_intervals: a GPU silent this many scrape intervals has vanished ...
        min_stale_s: ... and at least this long.
        fleet_fraction: above this fraction of GPUs showing the same symptom it is
            a fleet-wide change, not a fault.
        error_gain: an error rate must also exceed this many times the fleet's p95.
    """

    name = "gpu_health"

    def __init__(self, *, clock_drop: float = 0.12, busy_util_pct: float = 50.0,
                 persist_s: float = 60.0, stale_intervals: float = 2.5,
                 min_stale_s: float = 75.0, fleet_fraction: float = 0.25,
                 error_gain: float = 10.0) -> None:
        self.clock_drop = clock_drop
        self.busy_util_pct = busy_util_pct
        self.persist_s = persist_s
        self.stale_intervals = stale_intervals
        self.min_stale_s = min_stale_s
        self.fleet_fraction = fleet_fraction
        self.error_gain = error_gain

    def _init(self, tick: Tick) -> None:
        n = tick.topology.n_gpus
        self.fatal_since_ = np.full(n, np.nan)
        self.fatal_code_ = np.zeros(n, dtype=np.int64)
        self.slow_since_ = np.full(n, np.nan)
        self.fatal_set_ = np.array(sorted(fatal_xids()), dtype=np.int64)

    def update(self, tick: Tick) -> list[Candidate]:
        if not hasattr(self, "fatal_since_"):
            self._init(tick)
        out = self._xids(tick)
        out += self._vanished(tick)
        out += self._fail_slow(tick)
        return out

    # ------------------------------------------------------------ fail-stop
    def _xids(self, tick: Tick) -> list[Candidate]:
        xid_series = tick.state.table.metric == metric_id("DCGM_FI_DEV_XID_ERRORS")
        mine = xid_series[tick.frame.series]
        t, v = tick.frame.t_s[mine], tick.frame.value[mine]
        comp = tick.state.table.component[tick.frame.series[mine]]
        if t.size:
            code = np.nan_to_num(v).astype(np.int64)
            fatal = np.isin(code, self.fatal_set_)
            first = np.full(self.fatal_since_.shape, np.inf)
            np.minimum.at(first, comp[fatal], t[fatal])
            new = np.isfinite(first) & ~np.isfinite(self.fatal_since_)
            self.fatal_since_[new] = first[new]
            self.fatal_code_[comp[fatal]] = code[fatal]
            last_code = np.zeros(self.fatal_since_.shape, np.int64)
            last_t = np.full(self.fatal_since_.shape, -np.inf)
            last_code[comp], last_t[comp] = code, t
            cleared = ~np.isin(last_code, self.fatal_set_) & (last_t > self.fatal_since_)
            cleared &= ~np.isfinite(first)
            self.fatal_since_[cleared] = np.nan
        topo = tick.topology
        return [Candidate(
            "gpu_failed", topo.gpu_name(int(g)), float(self.fatal_since_[g]), 0.97, "critical",
            "reset_gpu", f"fatal Xid {int(self.fatal_code_[g])} on {topo.gpu_name(int(g))}",
            {"xid": int(self.fatal_code_[g]), "xid_at": float(self.fatal_since_[g])},
            source=self.name) for g in np.flatnonzero(np.isfinite(self.fatal_since_))]

    def _vanished(self, tick: Tick) -> list[Candidate]:
        topo = tick.topology
        seen = tick.gpu_last_seen()
        stale_s = max(self.min_stale_s, self.stale_intervals * tick.interval_s)
        age = tick.t_s - seen
        fresh = age <= 2.0 * tick.interval_s
        node_fresh = np.bincount(topo.gpu_node, weights=fresh, minlength=topo.n_nodes)
        node_n = np.bincount(topo.gpu_node, minlength=topo.n_nodes)
        others_fresh = node_fresh[topo.gpu_node] >= 0.5 * np.maximum(node_n[topo.gpu_node] - 1, 1)
        gone = np.isfinite(seen) & (age > stale_s) & others_fresh
        if gone.sum() > max(2, self.fleet_fraction * topo.n_gpus):
            return []
        return [Candidate(
            "gpu_failed", topo.gpu_name(int(g)), float(seen[g]), 0.9, "critical", "reset_gpu",
            f"{topo.gpu_name(int(g))} silent for {age[g]:.0f} s while its node still reports",
            {"silent_s": round(float(age[g]), 1), "last_sample_at": float(seen[g])},
            source=self.name) for g in np.flatnonzero(gone)]

    # ------------------------------------------------------------ fail-slow
    def _fail_slow(self, tick: Tick) -> list[Candidate]:
        topo = tick.topology
        clock, _ = tick.fresh("DCGM_FI_DEV_SM_CLOCK")
        util, _ = tick.fresh("DCGM_FI_DEV_GPU_UTIL")
        bits_f, _ = tick.fresh("DCGM_FI_DEV_CLOCKS_EVENT_REASONS")
        bits = np.nan_to_num(bits_f).astype(np.int64)
        thermal = (bits & (SW_THERMAL | HW_THERMAL)) != 0
        capped = (bits & SW_POWER_CAP) != 0
        busy = util >= self.busy_util_pct
        if not hasattr(self, "gpu_model_"):
            self.gpu_model_ = _gpu_models(topo)
        peer = _model_peer_median(self.gpu_model_, np.where(busy, clock, np.nan))
        ratio = clock / peer
        slow_clock = busy & (ratio < 1.0 - self.clock_drop) & ~thermal & ~capped
        brake = (bits & HW_POWER_BRAKE) != 0
        slowdown = ((bits & HW_SLOWDOWN) != 0) & ~thermal
        errors, err_ev = self._error_flags(tick)
        symptoms = {"slow_clock": slow_clock, "power_brake": brake, "hw_slowdown": slowdown}
        for name, flag in symptoms.items():
            if flag.sum() > max(2, self.fleet_fraction * max(int(np.isfinite(clock).sum()), 1)):
                symptoms[name] = np.zeros_like(flag)  # fleet-wide: a facility change
        active = symptoms["slow_clock"] | symptoms["power_brake"] | symptoms["hw_slowdown"]
        active |= errors
        self.slow_since_ = sustained(self.slow_since_, active, tick.data_t_s)
        ready = np.flatnonzero(active & (tick.t_s - self.slow_since_ >= self.persist_s))
        out = []
        for g in ready:
            ev: dict[str, Any] = {k: True for k, f in symptoms.items() if f[g]}
            ev.update({k: round(float(a[g]), 4) for k, a in err_ev.items() if a[g] > 0})
            if np.isfinite(ratio[g]):
                ev.update(sm_clock_mhz=float(clock[g]), peer_clock_mhz=round(float(peer[g]), 1),
                          clock_ratio=round(float(ratio[g]), 3))
            ev["clock_event_bits"] = hex(int(bits[g]))
            drop = 1.0 - float(ratio[g]) if np.isfinite(ratio[g]) else 0.0
            out.append(Candidate(
                "gpu_degraded", topo.gpu_name(int(g)), float(self.slow_since_[g]),
                confidence_of(max(drop / self.clock_drop, 1.0 + len(ev) / 4), 1.0),
                "major", "reset_gpu", _slow_summary(topo.gpu_name(int(g)), ev), ev,
                source=self.name))
        return out

    def _error_flags(self, tick: Tick) -> tuple[B, dict[str, F64]]:
        n = tick.topology.n_gpus
        flag = np.zeros(n, dtype=bool)
        ev: dict[str, F64] = {}
        for name, floor, label in ERROR_RATES:
            rate, when = tick.rate(name)
            rate = np.where(tick.t_s - when <= 3.5 * tick.interval_s, rate, np.nan)
            fin = rate[np.isfinite(rate)]
            if not fin.size:
                continue
            limit = max(floor, self.error_gain * float(np.percentile(fin, 95)))
            hit = np.nan_to_num(rate) > limit
            flag |= hit
            ev[label] = np.where(hit, rate, 0.0)
        fail, _ = tick.fresh("DCGM_FI_DEV_ROW_REMAP_FAILURE")
        remap_fail = np.nan_to_num(fail) > 0
        flag |= remap_fail
        ev["row_remap_failure"] = remap_fail.astype(np.float64)
        return flag, ev


def _gpu_models(topo: Any) -> npt.NDArray[np.int64]:
    """A small integer per GPU model, per GPU."""
    models: dict[str, int] = {}
    node_model = np.array([models.setdefault(n.gpu_model, len(models)) for n in topo.nodes],
                          dtype=np.int64)
    out: npt.NDArray[np.int64] = node_model[topo.gpu_node]
    return out


def _model_peer_median(model: npt.NDArray[np.int64], values: F64) -> F64:
    """Median over the GPUs of the same model, per GPU."""
    n_models = int(model.max()) + 1 if model.size else 1
    if n_models == 1:
        fin = values[np.isfinite(values)]
        med = float(np.median(fin)) if fin.size >= 3 else float("nan")
        return np.full(values.shape, med)
    meds, count = group_median(values, model, n_models)
    meds[count < 3] = np.nan
    out: F64 = meds[model]
    return out


def _slow_summary(name: str, ev: dict[str, Any]) -> str:
    parts = []
    if "clock_ratio" in ev and ev.get("slow_clock"):
        parts.append(f"SM clock {ev['sm_clock_mhz']:.0f} MHz vs peers "
                     f"{ev['peer_clock_mhz']:.0f} MHz ({ev['clock_ratio']:.2f}x)")
    parts += [k.replace("_", " ") for k in ("power_brake", "hw_slowdown") if ev.get(k)]
    parts += [f"{k} {v}" for k, v in ev.items() if k.endswith("_per_s")]
    if ev.get("row_remap_failure"):
        parts.append("row remap failure")
    return f"{name} fail-slow: " + ", ".join(parts or ["sustained symptoms"])


__all__ = ["GpuHealthDetector", "fatal_xids"]
