"""NVLink: one GPU's links failing, or the switch fabric of a whole NVLink domain.

Per GPU (``nvlink_degraded``), sustained for ``persist_s``:

- its NVLink errors (CRC flit errors and replays per minute, link recoveries)
  over the last ``window_s`` are above a floor and ``error_gain`` times its
  domain peers' median, and few GPUs of its domain err at all, now or within
  ``window_s`` (a fading switch fault leaves a few erring GPUs behind); in a
  domain whose fabric errs, only CRC errors far above every other GPU's
  count. A GPU with no rack-scale domain is compared with its node. Errors
  counted while a GPU's telemetry was away are not booked as a burst when it
  returns (nobody knows when they happened). Or
- under load, its NVLink transmit bandwidth is ``bw_drop`` below its node's
  median (same job, same step, sampled by the same exporter at the same
  moment; one slow GPU of 4 or 8 leaves the median where the others are; a
  domain may hold several jobs of different traffic, so it is no reference). A
  job whose NVLink traffic drops between phases drops on every GPU alike
  and does not count; idle GPUs are not judged.

Per domain (``nvswitch_fault``): at least ``domain_fraction`` of the GPUs of
one NVLink domain err together while the other domains' GPUs do not (a failing
switch chip takes one link of every GPU in its rack), sustained for
``persist_s``. When most domains err at once it is a fleet-wide change
(firmware, telemetry), not a switch fault. The bandwidth the domain's GPUs
lost against their own past is reported as evidence.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from brownout.detect.api import Candidate, Detector, confidence_of, severity_of
from brownout.detect.robust import (
    alpha_for,
    ewma_update,
    group_median,
    nanmedian,
    others_median,
    sustained,
)
from brownout.detect.tick import Tick

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
ERRORS = (  # metric, evidence label
    ("DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL", "crc_errors_per_min"),
    ("DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL", "replays_per_min"),
    ("DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL", "recoveries_per_min"),
)
TX = "DCGM_FI_PROF_NVLINK_TX_BYTES"
HIST_STEP_S = 60.0  # error counts are snapshotted this often for the windowed rates
GAP_INTERVALS = 4.0  # samples further apart than this many scrape intervals span a gap


class NvlinkDetector(Detector):
    """Degraded NVLink GPUs and failing NVLink switch fabrics.

    Args:
        window_s: error rates are counted over this much recent time.
        crc_floor_per_min: CRC errors or replays per minute that count as erring ...
        recovery_floor: ... or this many link recoveries within ``window_s``.
        error_gain: a lone erring GPU errs this many times more than its domain peers ...
        lone_max: ... and at most this many GPUs of its domain err at all, unless the
            domain's median itself errs (then only the gain counts).
        bw_drop: a busy GPU this fraction below its node's median is slow.
        bw_samples: a GPU's bandwidth ratio is the median of its last this many samples.
        domain_fraction: fraction of a domain's GPUs erring together for a switch fault.
        peer_fraction: other domains must have fewer erring GPUs than this fraction.
        persist_s: how long evidence must hold.
        tau_s: time constant of each GPU's own bandwidth baseline (evidence only).
    """

    name = "nvlink"

    def __init__(self, *, window_s: float = 600.0, crc_floor_per_min: float = 1.0,
                 recovery_floor: float = 2.0, error_gain: float = 5.0, lone_max: int = 3,
                 bw_drop: float = 0.12,
                 bw_samples: int = 4, domain_fraction: float = 0.5, peer_fraction: float = 0.2,
                 persist_s: float = 60.0, tau_s: float = 1800.0) -> None:
        self.window_s = window_s
        self.crc_floor_per_min = crc_floor_per_min
        self.recovery_floor = recovery_floor
        self.error_gain = error_gain
        self.lone_max = lone_max
        self.bw_drop = bw_drop
        self.bw_samples = bw_samples
        self.domain_fraction = domain_fraction
        self.peer_fraction = peer_fraction
        self.persist_s = persist_s
        self.tau_s = tau_s

    def _init(self, tick: Tick) -> None:
        topo = tick.topology
        n = topo.n_gpus
        dom = topo.gpu_nvlink()
        # peer group per GPU: its NVLink domain, or its node where NVLink stays inside it
        self.group_ = np.where(dom >= 0, dom, len(topo.nvlink_domains) + topo.gpu_node)
        self.n_groups_ = len(topo.nvlink_domains) + topo.n_nodes
        self.cum_ = np.zeros((len(ERRORS), n))
        self.prev_v_ = np.full((len(ERRORS), n), np.nan)
        self.prev_t_ = np.full((len(ERRORS), n), np.nan)
        self.hist_: list[tuple[float, F64]] = []
        self.ratio_ = np.full((self.bw_samples, n), np.nan)
        self.tx_t_ = np.full(n, np.nan)
        self.bw_base_ = np.full(n, np.nan)
        self.gpu_since_ = np.full(n, np.nan)
        self.dom_since_ = np.full(len(topo.nvlink_domains), np.nan)
        self.fabric_t_ = np.full(self.n_groups_, -np.inf)  # last time a domain's fabric erred
        self.last_t_ = float("nan")

    def update(self, tick: Tick) -> list[Candidate]:
        if not hasattr(self, "cum_"):
            self._init(tick)
        rates = self._error_rates(tick)
        if rates is None and not np.isfinite(tick.value(TX)[0]).any():
            return []
        if rates is None:
            rates = np.zeros_like(self.cum_)
        erring = self._erring(rates)
        ratio, bw_own = self._bandwidth(tick)
        out = self._domains(tick, rates, erring, bw_own)
        out += self._gpus(tick, rates, erring, ratio)
        return out

    # ------------------------------------------------------------ evidence
    def _error_rates(self, tick: Tick) -> F64 | None:
        """Per metric and GPU, events per minute over the last ``window_s`` (None: too early)."""
        max_gap_s = GAP_INTERVALS * tick.interval_s
        for k, (name, _) in enumerate(ERRORS):
            v, when = tick.value(name)
            new = np.isfinite(v) & (np.nan_to_num(when, nan=-np.inf) > np.nan_to_num(
                self.prev_t_[k], nan=-np.inf))
            prev = self.prev_v_[k]
            inc = np.where(v >= prev, v - prev, v)  # a counter that went down was reset
            # after a telemetry gap nobody knows when the errors counted meanwhile happened:
            # booking them all now would fake a burst, so the counter is re-based instead
            near = np.nan_to_num(when - self.prev_t_[k], nan=np.inf) <= max_gap_s
            self.cum_[k] += np.where(new & np.isfinite(prev) & near, inc, 0.0)
            self.prev_v_[k] = np.where(new, v, prev)
            self.prev_t_[k] = np.where(new, when, self.prev_t_[k])
        if not self.hist_ or tick.t_s - self.hist_[-1][0] >= HIST_STEP_S:
            self.hist_.append((tick.t_s, self.cum_.copy()))  # a snapshot a minute is plenty
        while len(self.hist_) > 2 and tick.t_s - self.hist_[1][0] >= self.window_s:
            self.hist_.pop(0)
        t0, old = self.hist_[0]
        span_s = tick.t_s - t0
        if span_s < min(120.0, self.window_s):
            return None
        seen = np.isfinite(self.prev_v_)
        return np.where(seen, (self.cum_ - old) * 60.0 / span_s, np.nan)

    def _erring(self, rates: F64) -> B:
        """GPUs whose links err: CRC errors or replays above the floor, or recoveries."""
        span_min = self.window_s / 60.0
        crc = np.nan_to_num(rates[0]) >= self.crc_floor_per_min
        replay = np.nan_to_num(rates[1]) >= self.crc_floor_per_min
        recov = np.nan_to_num(rates[2]) * span_min >= self.recovery_floor
        out: B = crc | replay | recov
        return out

    def _bandwidth(self, tick: Tick) -> tuple[F64, F64]:
        """(median ratio to its node's median, ratio to own past) per GPU."""
        topo = tick.topology
        tx, _ = tick.fresh(TX)
        when = tick.value(TX)[1]
        if not np.isfinite(tx).any():  # profiling fields off: errors alone
            return np.full(topo.n_gpus, np.nan), np.full(topo.n_gpus, np.nan)
        util, _ = tick.fresh("DCGM_FI_DEV_GPU_UTIL")
        busy = (util >= 50.0) & np.isfinite(tx) & (tx > 0)
        vals = np.where(busy, tx, np.nan)
        node, cnt = group_median(vals, topo.gpu_node, topo.n_nodes)  # one slow GPU of 4 or 8
        ratio = vals / np.where(cnt >= 3, node, np.nan)[topo.gpu_node]  # leaves it unmoved
        new = np.nan_to_num(when, nan=-np.inf) > np.nan_to_num(self.tx_t_, nan=-np.inf)
        self.tx_t_ = np.where(new, when, self.tx_t_)
        self.ratio_ = np.where(new, np.vstack([self.ratio_[1:], ratio]), self.ratio_)
        dt = tick.t_s - self.last_t_ if np.isfinite(self.last_t_) else tick.interval_s
        self.last_t_ = tick.t_s
        own = vals / self.bw_base_
        self.bw_base_ = ewma_update(self.bw_base_, vals, alpha_for(self.tau_s, dt),
                                    frozen=own < 1.0 - self.bw_drop)
        full = np.isfinite(self.ratio_).sum(axis=0) >= self.bw_samples
        med = np.where(full, np.nanmedian(np.where(full, self.ratio_, 0.0), axis=0), np.nan)
        return med, own

    # ------------------------------------------------------------ findings
    def _gpus(self, tick: Tick, rates: F64, erring: B, ratio: F64) -> list[Candidate]:
        score = np.nan_to_num(rates[0] + rates[1]) + np.nan_to_num(rates[2]) * 60.0
        peer, _ = group_median(np.where(np.isfinite(rates[0]), score, np.nan), self.group_,
                               self.n_groups_)
        erring_peers = np.bincount(self.group_[erring], minlength=self.n_groups_)[self.group_]
        quiet = (erring_peers <= self.lone_max) & (
            tick.t_s - self.fabric_t_[self.group_] > self.window_s)
        err_alone = erring & quiet & (score >= self.error_gain * np.nan_to_num(peer[self.group_]))
        # in a domain whose fabric errs, only a GPU erring far above all the others stands out
        crc = np.nan_to_num(rates[0] + rates[1])
        crc_peer, _ = group_median(np.where(np.isfinite(rates[0]), crc, np.nan), self.group_,
                                   self.n_groups_)
        err_alone |= ~quiet & (crc >= self.error_gain * np.nan_to_num(crc_peer[self.group_])) & (
            crc >= 10.0 * self.crc_floor_per_min)
        slow = np.nan_to_num(ratio, nan=1.0) < 1.0 - self.bw_drop
        active = err_alone | slow
        self.gpu_since_ = sustained(self.gpu_since_, active, tick.data_t_s)
        ready = np.flatnonzero(active & (tick.t_s - self.gpu_since_ >= self.persist_s))
        return [self._gpu_candidate(tick, int(g), rates, ratio, bool(slow[g])) for g in ready]

    def _gpu_candidate(self, tick: Tick, g: int, rates: F64, ratio: F64,
                       slow: bool) -> Candidate:
        name = tick.topology.gpu_name(g)
        ev: dict[str, Any] = {label: round(float(np.nan_to_num(rates[k, g])), 3)
                              for k, (_, label) in enumerate(ERRORS)}
        parts = [f"{ev['crc_errors_per_min']:.1f} CRC errors/min",
                 f"{ev['recoveries_per_min'] * self.window_s / 60.0:.0f} link recoveries "
                 f"in {self.window_s / 60.0:.0f} min"]
        if np.isfinite(ratio[g]):
            ev["bandwidth_vs_peers"] = round(float(ratio[g]), 3)
            if slow:
                parts.insert(0, f"NVLink bandwidth {ratio[g]:.2f}x its peers' at equal load")
        drop = 1.0 - float(np.nan_to_num(ratio[g], nan=1.0))
        return Candidate(
            "nvlink_degraded", name, float(self.gpu_since_[g]),
            confidence_of(max(drop / self.bw_drop, 1.0 + 0.5 * (not slow)), 1.0),
            severity_of(drop, 0.25, 0.5) if slow else "major", "drain_node",
            f"{name} NVLink degraded: " + ", ".join(parts), ev, source=self.name)

    def _domains(self, tick: Tick, rates: F64, erring: B, own: F64) -> list[Candidate]:
        topo = tick.topology
        n_dom = len(topo.nvlink_domains)
        if n_dom == 0:
            return []
        dom = topo.gpu_nvlink()
        ok = (dom >= 0) & np.isfinite(rates[0])
        hits = np.bincount(dom[ok & erring], minlength=n_dom)
        tot = np.bincount(dom[ok], minlength=n_dom)
        frac = np.where(tot >= 4, hits / np.maximum(tot, 1), np.nan)
        bad = np.nan_to_num(frac) >= self.domain_fraction
        others = others_median(frac, np.arange(n_dom), n_dom) if n_dom > 1 else np.zeros(1)
        bad &= np.nan_to_num(others) < self.peer_fraction
        if bad.sum() > max(1, n_dom // 2):
            bad[:] = False  # most domains at once: a fleet-wide change
        self.dom_since_ = sustained(self.dom_since_, bad, tick.data_t_s)
        self.fabric_t_[:n_dom][bad] = tick.t_s
        ready = np.flatnonzero(bad & (tick.t_s - self.dom_since_ >= self.persist_s))
        lost, _ = group_median(np.where(dom >= 0, own, np.nan), np.maximum(dom, 0), n_dom)
        return [self._domain_candidate(tick, int(d), float(frac[d]), rates, lost)
                for d in ready]

    def _domain_candidate(self, tick: Tick, d: int, frac: float, rates: F64,
                          lost: F64) -> Candidate:
        topo = tick.topology
        name = topo.nvlink_domains[d]
        mine = topo.gpu_nvlink() == d
        crc = nanmedian(np.where(mine, rates[0], np.nan))
        ev: dict[str, Any] = {"fraction_erring": round(frac, 3),
                              "median_crc_errors_per_min": round(crc, 3)}
        text = f"NVLink domain {name}: {frac:.0%} of its GPUs' links err together " \
               f"(median {crc:.1f} CRC errors/min), other domains normal"
        if np.isfinite(lost[d]):
            ev["bandwidth_vs_own_past"] = round(float(lost[d]), 3)
            text += f"; NVLink bandwidth {lost[d]:.2f}x its usual"
        return Candidate("nvswitch_fault", name, float(self.dom_since_[d]),
                         confidence_of(frac / self.domain_fraction, 1.0),
                         severity_of(frac, 0.75, 0.95), "replace_part", text, ev,
                         source=self.name)


__all__ = ["NvlinkDetector"]
