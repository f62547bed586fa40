"""Fabric: NICs that err or run slow, and switches that are congestion hotspots.

``nic_degraded``: a NIC whose error counters (symbol errors, receive errors,
link error recoveries, link downs) rise far faster than the fleet's, whose
link rate is below its peers' (a 400G link trained at 200G), or whose port
is not ACTIVE, seen on at least ``min_hits`` scrapes within ``forget_s``
(flapping links err in bursts).

``switch_congestion``: ``transmit_wait`` per byte sent (load independent:
an idle switch waits little because it sends little) on a switch's ports
well above the same tier's other switches and above its own past, sustained
for ``persist_s`` (an incast burst is not a hotspot). The median over ports
is used, so one slow port (a bad NIC below) does not make the switch a
hotspot. Without switch exporters the NICs below each switch stand in for its
ports: most of them must wait more than the fleet's NICs.
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
NIC_ERRORS = (  # metric, floor (events/s), evidence label
    ("node_infiniband_symbol_error_total", 0.02, "symbol_errors_per_s"),
    ("node_infiniband_port_errors_received_total", 0.02, "rx_errors_per_s"),
    ("node_infiniband_link_error_recovery_total", 1e-3, "link_recoveries_per_s"),
    ("node_infiniband_link_downed_total", 1e-3, "link_downs_per_s"),
)
IB_ACTIVE = 4.0
MIN_BYTES_PER_S = 1e6  # below this a port carries too little traffic to judge its waits


class FabricDetector(Detector):
    """Degraded NICs and congested switches.

    Args:
        error_gain: an error rate must exceed this many times the fleet's p95.
        rate_loss: a link rate this fraction below its peers' is degraded.
        min_hits: scrapes with NIC evidence needed ...
        forget_s: ... within this long (an episode ends after this long clean).
        congestion_gain: wait-per-byte over peers and own baseline for a hotspot.
        nic_fraction: fraction of the NICs below a switch that must wait more.
        persist_s: how long a hotspot must hold (and at least two scrape intervals:
            three rate samples, which a burst shorter than a scrape cannot raise).
        tau_s: time constant of the switches' own baselines.
    """

    name = "fabric"

    def __init__(self, *, error_gain: float = 10.0, rate_loss: float = 0.2, min_hits: int = 2,
                 forget_s: float = 600.0, congestion_gain: float = 4.0,
                 nic_fraction: float = 0.5, persist_s: float = 60.0,
                 tau_s: float = 1800.0) -> None:
        self.error_gain = error_gain
        self.rate_loss = rate_loss
        self.min_hits = min_hits
        self.forget_s = forget_s
        self.congestion_gain = congestion_gain
        self.nic_fraction = nic_fraction
        self.persist_s = persist_s
        self.tau_s = tau_s

    def _init(self, tick: Tick) -> None:
        k, s = tick.topology.n_nics, len(tick.topology.switches)
        self.hits_ = np.zeros(k, dtype=np.int64)
        self.first_ = np.full(k, np.nan)
        self.last_hit_ = np.full(k, np.nan)
        self.counted_t_ = np.full(k, -np.inf)
        self.sw_base_ = np.full(s, np.nan)
        self.sw_since_ = np.full(s, np.nan)
        self.last_t_ = float("nan")

    def update(self, tick: Tick) -> list[Candidate]:
        if not hasattr(self, "hits_"):
            self._init(tick)
        dt = tick.t_s - self.last_t_ if np.isfinite(self.last_t_) else tick.interval_s
        self.last_t_ = tick.t_s
        return self._nics(tick) + self._switches(tick, dt)

    # ------------------------------------------------------------------ NICs
    def _nic_evidence(self, tick: Tick) -> tuple[B, dict[str, F64], F64]:
        n = tick.topology.n_nics
        flag = np.zeros(n, dtype=bool)
        newest = np.full(n, np.nan)
        ev: dict[str, F64] = {}
        for name, floor, label in NIC_ERRORS:
            rate, when = tick.rate(name)
            newest = np.fmax(newest, when)
            fresh = np.where(tick.t_s - when <= 3.5 * tick.interval_s, rate, np.nan)
            fin = fresh[np.isfinite(fresh)]
            if not fin.size:
                continue
            hit = np.nan_to_num(fresh) > max(floor, self.error_gain * float(np.percentile(fin, 95)))
            flag |= hit
            ev[label] = np.where(hit, fresh, 0.0)
        rate, _ = tick.fresh("node_infiniband_rate_bytes_per_second")
        peer = nanmedian(rate)
        slow = rate < (1.0 - self.rate_loss) * peer
        if slow.sum() <= max(2, 0.25 * np.isfinite(rate).sum()):
            flag |= slow
            ev["link_rate_fraction"] = np.where(slow, rate / peer, 0.0)
        state, _ = tick.fresh("node_infiniband_state_id")
        down = np.isfinite(state) & (state != IB_ACTIVE)
        if down.sum() <= max(2, 0.25 * np.isfinite(state).sum()):
            flag |= down
            ev["port_not_active"] = down.astype(np.float64)
        return flag, ev, newest

    def _nics(self, tick: Tick) -> list[Candidate]:
        topo = tick.topology
        flag, ev, newest = self._nic_evidence(tick)
        expired = np.isfinite(self.last_hit_) & (tick.t_s - self.last_hit_ > self.forget_s)
        self.hits_[expired] = 0
        self.first_[expired] = np.nan
        count_now = flag & (np.nan_to_num(newest, nan=-np.inf) > self.counted_t_)
        self.counted_t_ = np.where(count_now, newest, self.counted_t_)
        self.hits_ += count_now
        self.first_ = np.where(count_now & ~np.isfinite(self.first_), tick.data_t_s, self.first_)
        self.last_hit_ = np.where(count_now, tick.data_t_s, self.last_hit_)
        out = []
        for k in np.flatnonzero(self.hits_ >= self.min_hits):
            facts = {lab: round(float(a[k]), 4) for lab, a in ev.items() if a[k] > 0}
            facts["scrapes_with_evidence"] = int(self.hits_[k])
            out.append(Candidate(
                "nic_degraded", topo.nic_name(int(k)), float(self.first_[k]),
                confidence_of(float(self.hits_[k]), float(self.min_hits)), "major",
                "replace_part",
                f"{topo.nic_name(int(k))}: " + (", ".join(f"{a} {b}" for a, b in facts.items())),
                facts, source=self.name))
        return out

    # -------------------------------------------------------------- switches
    def _port_index(self, tick: Tick) -> tuple[F64, bool]:
        """Median over fresh, busy ports of transmit wait per byte, per switch."""
        s = len(tick.topology.switches)
        sw, wait, t_w = tick.switch_ports("infiniband_switch_port_transmit_wait_total")
        sw_b, data, _ = tick.switch_ports("infiniband_switch_port_transmit_data_bytes_total")
        if not sw.size or sw.size != sw_b.size or not np.array_equal(sw, sw_b):
            return np.full(s, np.nan), False
        ok = (tick.t_s - t_w <= 3.5 * tick.interval_s) & (np.nan_to_num(data) > MIN_BYTES_PER_S)
        index = np.where(ok, wait / np.where(ok, data, 1.0), np.nan)
        return group_median(index, sw, s)[0], True

    def _nic_index(self, tick: Tick) -> tuple[F64, F64]:
        """Per switch: median NIC wait-per-byte below it, and the fraction above the fleet's."""
        topo = tick.topology
        s = len(topo.switches)
        wait, t_w = tick.rate("node_infiniband_port_transmit_wait_total")
        data, _ = tick.rate("node_infiniband_port_data_transmitted_bytes_total")
        ok = (tick.t_s - t_w <= 3.5 * tick.interval_s) & (np.nan_to_num(data) > MIN_BYTES_PER_S)
        index = np.where(ok, wait / np.where(ok, data, 1.0), np.nan)
        med = group_median(index, topo.nic_switch, s)[0]
        fleet = others_median(index, topo.nic_switch, s)[topo.nic_switch]
        high = index > self.congestion_gain * fleet
        hits = np.bincount(topo.nic_switch[high & ok], minlength=s)
        tot = np.bincount(topo.nic_switch[ok], minlength=s)
        return med, np.where(tot > 0, hits / np.maximum(tot, 1), 0.0)

    def _switches(self, tick: Tick, dt: float) -> list[Candidate]:
        topo = tick.topology
        port_idx, have_ports = self._port_index(tick)
        nic_idx, nic_frac = self._nic_index(tick)
        index = port_idx if have_ports else nic_idx
        tiers = np.array([["leaf", "spine", "core"].index(sw.tier) for sw in topo.switches])
        ref = np.full(index.shape, np.nan)
        for tier in np.unique(tiers):
            members = np.flatnonzero(tiers == tier)
            ref[members] = others_median(index[members], np.arange(members.size), members.size)
        ratio = index / np.where(ref > 0, ref, np.nan)
        hot = np.nan_to_num(ratio) >= self.congestion_gain
        leaf_nics = np.bincount(topo.nic_switch, minlength=len(topo.switches)) > 0
        nic_ok = nic_frac >= self.nic_fraction
        hot &= np.where(leaf_nics & np.isfinite(nic_idx), nic_ok, True) if have_ports else nic_ok
        if hot.sum() > max(2, 0.5 * np.isfinite(index).sum()):
            hot[:] = False  # everything at once: a fabric-wide change, not one hotspot
        self.sw_since_ = sustained(self.sw_since_, hot, tick.data_t_s)
        self.sw_base_ = ewma_update(self.sw_base_, index, alpha_for(self.tau_s, dt), frozen=hot)
        # three rate samples at least: a burst shorter than a scrape interval (incast)
        # raises one rate sample, or two when it straddles a scrape, never three
        wait_s = max(self.persist_s, 2.0 * tick.interval_s)
        ready = np.flatnonzero(hot & (tick.data_t_s - self.sw_since_ >= wait_s))
        return [self._congestion(topo.switches[int(s)].name, float(self.sw_since_[s]),
                                 float(ratio[s]), float(nic_frac[s]), have_ports)
                for s in ready]

    def _congestion(self, name: str, since: float, ratio: float, nic_frac: float,
                    from_ports: bool) -> Candidate:
        ev: dict[str, Any] = {"wait_per_byte_ratio": round(ratio, 2),
                              "nics_below_waiting_fraction": round(nic_frac, 3),
                              "measured_on": "switch ports" if from_ports else "NICs below"}
        return Candidate(
            "switch_congestion", name, since, confidence_of(ratio, self.congestion_gain),
            severity_of(ratio, 8.0, 20.0), "reroute",
            f"{name}: transmit_wait per byte {ratio:.1f}x its peers/usual on "
            f"{ev['measured_on']}; {nic_frac:.0%} of NICs below it waiting", ev,
            source=self.name)
