"""Thermal: one GPU hot for its own reasons, or a cooling domain losing capacity.

Per GPU (``gpu_overheating``): the temperature is compared with the other
GPUs of the same node (same inlet air or coolant), corrected for power with a
slope fitted across the fleet each tick. The residual is then compared with
the GPU's own baseline (chassis position makes some GPUs always a few degrees
warmer). A GPU is hot when its excess stays above ``hot_c``, or earlier when
it is above ``warn_c`` and rising (trend-based early warning), or when
thermal clock-event bits accompany a smaller excess. Idle GPUs are judged
against their usual place among their node's idle GPUs (:mod:`.idle_place`),
and a GPU reaching its limit far ahead of its working peers, in a job's
warm-up too, is named at once (:mod:`.limit_gap`).

Per cooling domain (``cooling_fault``): the power-corrected median
temperature of the domain is compared with the other domains' (diurnal and
facility changes move all of them) and with its own past; most of the
domain's GPUs must be warmer than their own baselines. A fleet-wide step in
the same minute is a ``fleet_shift`` notice and re-anchors the baselines.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from brownout.detect.api import Candidate, Detector, confidence_of, severity_of
from brownout.detect.baselines import StateBaselines
from brownout.detect.fleet_shift import FleetShift
from brownout.detect.idle_place import IDLE_DEFAULTS, IdlePlaces, IdleSettings
from brownout.detect.limit_gap import GAP_DEFAULTS, LimitGap, LimitGapSettings
from brownout.detect.robust import (
    MAD_TO_SD,
    alpha_for,
    ewma_update,
    group_median,
    nanmedian,
    others_fraction,
    others_median,
    percentile,
    place_spread,
    sustained,
    window_median,
)
from brownout.detect.tick import Tick
from brownout.telemetry.metrics import HW_THERMAL, SW_THERMAL
from brownout.topology.gpu_models import gpu_limits

F64 = npt.NDArray[np.float64]


class ThermalDetector(Detector):
    """Hot GPUs (vs node peers and own past) and warming cooling domains.

    Args:
        hot_c: excess over the GPU's own baseline residual that makes it hot.
        place_settle_s: a GPU's usual place among its node's GPUs starts after it
            has been busy this long (a job's warm-up, its node's GPUs joining);
            until then it is hot only beyond the fleet's spread of places.
        warn_c: smaller excess that counts when the trend is rising ...
        trend_c_per_min: ... at least this fast.
        domain_c: excess of a cooling domain (vs other domains / own past).
        domain_fraction: fraction of a domain's GPUs that must be warmer than usual.
        shift_c: move of every domain within ``shift_window_s`` read as a fleet shift.
        tau_s: time constant of the baselines.
        persist_s: how long a GPU condition must hold.
        domain_persist_s: how long a domain condition must hold.
        steady_tau_s: power must have been stable over about this long to judge heat.
        busy_fraction: GPUs below this fraction of the fleet's busy power (its p90,
            held at its recent peak: see ``busy_hold_s``) are not judged.
        busy_hold_s: the fleet's busy power decays from its peak with this time
            constant. A hung job's GPUs spin at 100 % utilisation and a fraction of
            their power; where that job is most of the fleet, the p90 falls with it,
            and the spinning GPUs would read as busy: their places among their node's
            GPUs learned at a load they never compute at.
        shift_window_s: window over which a fleet-wide move counts as one shift.
        single_domain_c: with one cooling domain there are no peer domains, and a
            facility change looks alike: only a larger own-past excess counts.
        z_min: a GPU's excess must also be this many robust standard deviations
            of the fleet's excesses (noisy sensors need more).
        domain_trend_c_per_min: a domain at half of ``domain_c`` and rising this
            fast counts already (early warning).
        recover_s: a domain that was warming stays out of the other domains'
            reference this long (a repaired loop's GPUs take several of its time
            constants, minutes each, to settle); a domain reported within this
            long (or warm since, in its tail) is not reported anew unless it
            grows the domain threshold warmer than it was while reported.
        throttle_drop: a GPU throttling for heat whose power and clock stay this
            fraction below its node peers' sheds heat worse than they do ...
        throttle_window_s: ... as the median over about this long (at least 3
            scrapes; at least 2 of them at the limit) ...
        throttle_persist_s: ... and held this long (at least 2 scrapes). A GPU that
            usually runs ``b`` degC hotter than its node peers at the same power
            has a thermal resistance about ``b / rise_c`` above theirs, so where
            its peers sit less than ``b`` below the limit it is expected to draw
            less there: the drop is counted beyond that.
        rise_c: a GPU's typical die rise above its coolant at full load (SXM
            parts run 35-45 degC over their inlet at the power limit).
        off_load_fraction: a GPU drawing less than this fraction of its node
            peers' power runs cooler for that: its usual place is not learned.
        idle: the usual place among the node's idle GPUs (:mod:`.idle_place`).
        limit_gap: a GPU at its limit far ahead of its working peers (:mod:`.limit_gap`).
    """

    name = "thermal"

    def __init__(self, *, hot_c: float = 7.0, place_settle_s: float = 300.0,
                 warn_c: float = 5.0, trend_c_per_min: float = 0.8,
                 domain_c: float = 3.0, domain_fraction: float = 0.6, shift_c: float = 4.0,
                 tau_s: float = 1200.0, persist_s: float = 45.0,
                 domain_persist_s: float = 60.0, steady_tau_s: float = 90.0,
                 busy_fraction: float = 0.5, busy_hold_s: float = 3600.0,
                 shift_window_s: float = 150.0,
                 single_domain_c: float = 4.0, z_min: float = 6.0,
                 domain_trend_c_per_min: float = 0.5, throttle_drop: float = 0.25,
                 throttle_window_s: float = 120.0, throttle_persist_s: float = 120.0,
                 rise_c: float = 40.0, off_load_fraction: float = 0.75,
                 recover_s: float = 1200.0, idle: IdleSettings = IDLE_DEFAULTS,
                 limit_gap: LimitGapSettings = GAP_DEFAULTS) -> None:
        self.hot_c = hot_c
        self.place_settle_s = place_settle_s
        self.warn_c = warn_c
        self.trend_c_per_min = trend_c_per_min
        self.domain_c = domain_c
        self.domain_fraction = domain_fraction
        self.shift_c = shift_c
        self.tau_s = tau_s
        self.persist_s = persist_s
        self.domain_persist_s = domain_persist_s
        self.steady_tau_s = steady_tau_s
        self.busy_fraction = busy_fraction
        self.busy_hold_s = busy_hold_s
        self.shift_window_s = shift_window_s
        self.single_domain_c = single_domain_c
        self.z_min = z_min
        self.domain_trend_c_per_min = domain_trend_c_per_min
        self.recover_s = recover_s
        self.throttle_drop = throttle_drop
        self.throttle_window_s = throttle_window_s
        self.throttle_persist_s = throttle_persist_s
        self.rise_c = rise_c
        self.off_load_fraction = off_load_fraction
        self.idle = idle
        self.limit_gap = limit_gap

    def _init(self, tick: Tick) -> None:
        n, d = tick.topology.n_gpus, len(tick.topology.cooling_domains)
        self.base_resid_ = np.full(n, np.nan)
        self.base_raw_ = np.full(n, np.nan)
        self.provisional_ = np.zeros(n, dtype=bool)  # baseline started at the thermal limit
        self.busy_since_ = np.full(n, np.nan)  # busy without a break since (a usual place
        # starts only once a job's warm-up is over and its node's GPUs are all at work)
        self.raw_ = np.full(n, np.nan)
        self.resid_ = np.full(n, np.nan)
        self.prev_excess_ = np.full(n, np.nan)
        self.trend_ = np.zeros(n)
        self.hot_since_ = np.full(n, np.nan)
        self.onset_ = np.full(n, np.nan)
        self.active_ = np.zeros(n, dtype=bool)
        self.gpu_base_ = StateBaselines(n)
        self.idle_ = IdlePlaces(self.idle, tick.topology.gpu_node, tick.topology.n_nodes)
        self.gap_ = LimitGap(self.limit_gap, n)
        self.dom_since_ = np.full(d, np.nan)
        self.warming_ = np.zeros(d, dtype=bool)
        self.warm_at_ = np.full(d, -np.inf)  # last data time each domain was warming
        self.tail_at_ = np.full(d, -np.inf)  # last data time reported, or warm in its tail
        self.peak_ex_ = np.full(d, -np.inf)  # its warmest excess while reported
        self.dom_ex_ = np.full(d, np.nan)  # each domain's excess when last seen
        self.seen_at_ = np.full(d, -np.inf)  # last data time each domain was seen
        self.dom_prev_ = np.full(d, np.nan)
        self.dom_trend_ = np.zeros(d)
        self.power_avg_ = np.full(n, np.nan)
        self.busy_w_ = float("nan")  # the fleet's busy power, held at its recent peak
        self.limits_ = gpu_limits(tick.topology)
        self.throttle_since_ = np.full(n, np.nan)
        # power and clock vs node peers at the last scrapes at the limit
        k = max(3, int(np.ceil(self.throttle_window_s / max(tick.interval_s, 1.0))))
        self.tp_hist_ = np.full((k, 2, n), np.nan)
        self.tp_pos_ = 0
        self.shift_ = FleetShift(self.shift_c, self.shift_window_s, self.name)
        self.last_t_ = float("nan")

    def update(self, tick: Tick) -> list[Candidate]:
        if not hasattr(self, "base_resid_"):
            self._init(tick)
        temp, _ = tick.fresh("DCGM_FI_DEV_GPU_TEMP")
        if not np.isfinite(temp).any():
            return []
        power, _ = tick.fresh("DCGM_FI_DEV_POWER_USAGE")
        dt = tick.t_s - self.last_t_ if np.isfinite(self.last_t_) else tick.interval_s
        self.last_t_ = tick.t_s
        steady = self._steady(power, dt)
        slope = _power_slope(tick, np.where(steady, temp, np.nan), power)
        level = temp - slope * np.nan_to_num(power - nanmedian(power))
        util, _ = tick.fresh("DCGM_FI_DEV_GPU_UTIL")
        busy_w = self._busy_w(power, dt)
        busy = (power >= self.busy_fraction * busy_w) & ~(util < 50.0)
        out = self._model_notice(tick)
        out += self.shift_.update(tick, temp, steady)
        if self.shift_.jump_c is not None and len(tick.topology.cooling_domains) == 1:
            self.gpu_base_.shift(self.shift_.jump_c)  # no peer domains: re-anchor the own past
        bits_f, _ = tick.fresh("DCGM_FI_DEV_CLOCKS_EVENT_REASONS")
        throttling = (np.nan_to_num(bits_f).astype(np.int64) & (SW_THERMAL | HW_THERMAL)) != 0
        # judge GPUs at a steady load (a job starting heats GPUs at their own pace), or
        # already throttling for heat (their power swings with the throttle)
        at_limit = throttling | (temp >= self.limits_.max_operating_c - 1.0)
        # a GPU drawing far less than its node peers (clocks capped for another reason)
        # runs cooler for that: no usual place is learned from such a reading
        node_w, _ = group_median(np.where(busy, power, np.nan), tick.topology.gpu_node,
                                 tick.topology.n_nodes)
        off_load = power < self.off_load_fraction * node_w[tick.topology.gpu_node]
        # at rest: idle, or spinning in a hung job's collective (busy by utilisation, at a
        # fraction of the power of work); each state has its own places
        idle = util < self.idle.util_pct
        spin = ~idle & (power < self.idle.rest_fraction * busy_w)
        self.idle_.update((temp, level), (idle & ~at_limit, spin & ~at_limit),
                          ~(idle | spin) & np.isfinite(power), tick.data_t_s,
                          busy_place_c=self.base_raw_)
        out += self._gpus(tick, (temp, level), busy & (steady | throttling),
                          (at_limit, off_load), dt)
        # at the throttle point power is the symptom: a GPU throttled to half its peers'
        # power is still busy when its utilisation says so
        out += self._throttle_point(tick, (temp, power), at_limit,
                                    busy | (throttling & ~(util < 50.0)), dt)
        out += self.gap_.update(tick, (temp, level), at_limit, self.base_raw_,
                                self.limits_.max_operating_c, resting=spin)
        # a GPU held at its limit counts too: its power swings with the throttle, and
        # its clamped temperature still bounds its domain's heat from below (without
        # it a domain hot enough to throttle would fall silent mid-fault)
        out += self._domains(tick, (np.where(steady | at_limit, temp, np.nan), power), busy,
                             dt, (steady, slope))
        return out

    def _busy_w(self, power: F64, dt: float) -> float:
        """The fleet's busy power: its p90 now, or its recent peak decayed by
        ``busy_hold_s`` where that is higher (a hung job spinning at a fraction of its
        power, or a fleet gone idle, is not the fleet's load)."""
        held = self.busy_w_ * np.exp(-dt / self.busy_hold_s)
        self.busy_w_ = float(np.fmax(percentile(power, 90.0), held))
        return self.busy_w_

    def _steady(self, power: F64, dt: float) -> npt.NDArray[np.bool_]:
        """GPUs whose power has been stable for about a thermal time constant."""
        avg = ewma_update(self.power_avg_, power, alpha_for(self.steady_tau_s, dt))
        steady: npt.NDArray[np.bool_] = np.abs(power - self.power_avg_) <= 0.1 * np.maximum(
            power, 100.0)
        self.power_avg_ = avg
        return steady

    def _gpus(self, tick: Tick, temp_level: tuple[F64, F64], busy: npt.NDArray[np.bool_],
              unusual: tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]], dt: float
              ) -> list[Candidate]:
        topo = tick.topology
        temp, level = temp_level
        at_limit, off_load = unusual
        excess = self._excess(tick, temp, level, busy)
        step = np.nan_to_num(excess - self.prev_excess_) / max(dt, 1.0) * 60.0
        self.trend_ = 0.7 * self.trend_ + 0.3 * step
        self.prev_excess_ = excess
        bits_f, _ = tick.fresh("DCGM_FI_DEV_CLOCKS_EVENT_REASONS")
        thermal_bits = (np.nan_to_num(bits_f).astype(np.int64) & (SW_THERMAL | HW_THERMAL)) != 0
        fin = excess[np.isfinite(excess)]
        sd = MAD_TO_SD * float(np.median(np.abs(fin - np.median(fin)))) if fin.size > 8 else 0.0
        hot_c = max(self.hot_c, 1.4 * self.z_min * sd)
        warn_c = max(self.warn_c, self.z_min * sd)
        peers_bits = others_fraction(thermal_bits, topo.gpu_node, topo.n_nodes)
        enter = (excess >= hot_c) | ((excess >= warn_c) & (
            (self.trend_ >= self.trend_c_per_min) | thermal_bits))
        # no usual place yet (first busy, warming up): hot only beyond the fleet's
        # spread of usual places, never by a warm-up's rise
        placeless = ~np.isfinite(self.base_raw_)
        if (placeless & enter).any():  # the spread costs a median over the fleet
            enter &= ~placeless | (excess >= hot_c + self._place_spread())
        self.busy_since_ = sustained(self.busy_since_, busy, tick.data_t_s)
        self.hot_since_ = sustained(self.hot_since_, enter, tick.data_t_s)
        idle_in, idle_held = self.idle_.hot(tick.data_t_s, tick.interval_s)  # idle GPUs
        new = (enter & (tick.t_s - self.hot_since_ >= self.persist_s)) | idle_held
        self.onset_ = np.where(new & ~self.active_, np.fmin(self.hot_since_,
                                                            self.idle_.hot_since), self.onset_)
        # once raised, a GPU stays hot while it stays warm (a throttling GPU oscillates)
        # or goes silent (a thermal shutdown)
        idle_ex, idle_c = self.idle_.excess, self.idle_.bar_c
        keep = self.active_ & ((excess >= warn_c / 2) | (idle_ex >= idle_c / 2)
                               | ~np.isfinite(temp))
        self.active_ = new | keep
        self._learn_place(tick, (at_limit, off_load), self.active_ | enter | thermal_bits, dt)
        self.idle_.learn(self.active_ | idle_in, dt)
        ready = np.flatnonzero(self.active_)
        idle = ~np.isfinite(excess) & np.isfinite(idle_ex)
        excess, word = np.where(idle, idle_ex, excess), np.where(idle, "idle ", "")
        return [Candidate(
            "gpu_overheating", topo.gpu_name(int(g)), float(self.onset_[g]),
            confidence_of(float(excess[g]), idle_c if idle[g] else self.warn_c),
            severity_of(float(temp[g]), float(self.limits_.max_operating_c[g]) - 4.0,
                        float(self.limits_.max_operating_c[g])), "investigate",
            (f"{topo.gpu_name(int(g))} {word[g]}at {temp[g]:.1f} degC, {excess[g]:.1f} degC above "
             f"its usual place among its node's {word[g]}GPUs at similar power"
             + (f", rising {self.trend_[g]:.1f} degC/min" if self.trend_[g] > 0.3 else "")
             if np.isfinite(temp[g]) else f"{topo.gpu_name(int(g))} silent since it read hot "
             "(a thermal shutdown, or its exporter lost)"),
            {"temp_c": round(float(temp[g]), 1), "excess_c": round(float(excess[g]), 2),
             "idle": bool(idle[g]),
             "trend_c_per_min": round(float(self.trend_[g]), 2),
             "thermal_bits": bool(thermal_bits[g]),
             "node_peers_throttling": round(float(peers_bits[g]), 3)},
            source=self.name) for g in ready]

    def _learn_place(self, tick: Tick, unusual: tuple[npt.NDArray[np.bool_], npt.NDArray[
                     np.bool_]], frozen: npt.NDArray[np.bool_], dt: float) -> None:
        """Learn each GPU's usual place among its node's GPUs, never from clamped readings.

        At the thermal limit the firmware holds a GPU's temperature, so its
        place among its peers says nothing about its cooling; when a quarter
        of its peers are held there, their median is clamped too. A baseline
        first seen in such a state is provisional (it must start somewhere: a
        GPU may sit at its limit from the first scrape) and starts over at the
        first unclamped reading; while clamped, no baseline learns. The same
        holds for a GPU drawing far less power than its node peers (its clocks
        capped for another reason): its place at its peers' load is not seen.
        """
        at_limit, off_load = unusual
        clamped = at_limit | off_load | (others_fraction(
            at_limit, tick.topology.gpu_node, tick.topology.n_nodes) >= 0.25)
        seen = np.isfinite(self.raw_)
        restart = self.provisional_ & seen & ~clamped
        for base in (self.base_raw_, self.base_resid_):
            base[restart] = np.nan
        self.provisional_ = (self.provisional_ & ~restart) | (
            seen & clamped & ~np.isfinite(self.base_raw_))
        alpha = alpha_for(self.tau_s, dt)
        frozen = frozen | (clamped & np.isfinite(self.base_raw_))
        early = ~np.isfinite(self.base_raw_) & ~(
            tick.data_t_s - self.busy_since_ >= self.place_settle_s)
        raw, resid = (np.where(early, np.nan, x) for x in (self.raw_, self.resid_))
        self.base_raw_ = ewma_update(self.base_raw_, raw, alpha, frozen=frozen)
        self.base_resid_ = ewma_update(self.base_resid_, resid, alpha, frozen=frozen)

    def _place_spread(self) -> float:
        """Three robust standard deviations of the learned usual places (static
        heterogeneity: thermal interface, sensor, position), at least 2 degC."""
        spread = place_spread(self.base_raw_, 2.0)  # NaN with fewer than 8 places
        return spread if np.isfinite(spread) else 3.0 * 2.0

    def _model_notice(self, tick: Tick) -> list[Candidate]:
        """Once: the GPU models no table entry matches (their limits are a generic guess)."""
        if not self.limits_.unknown or getattr(self, "noticed_", False):
            return []
        self.noticed_ = True
        names = ", ".join(self.limits_.unknown)
        return [Candidate(
            "unknown_gpu_model", tick.cluster, tick.t_s, 0.9, "minor", "investigate",
            f"GPU model(s) not in brownout's table: {names}; thermal limits and clocks are "
            "taken from a generic default (Hopper SXM); peer comparisons are unaffected",
            {"models": list(self.limits_.unknown)}, notice=True, source=self.name)]

    def _throttle_point(self, tick: Tick, temp_power: tuple[F64, F64],
                        at_limit: npt.NDArray[np.bool_], eligible: npt.NDArray[np.bool_],
                        dt: float) -> list[Candidate]:
        """A GPU throttling for heat at much lower clock and power than its node's peers.

        Once a GPU reaches its thermal limit its temperature stops rising and
        its clock and power drop instead; inside a cooling domain that is itself
        failing, every GPU nears that limit, so a GPU with a bad thermal
        interface shows as the one drawing far less power at a lower clock
        than its node's peers at a similar temperature (it may even read a
        little cooler: its clock fell further). Power at the limit falls with
        the thermal resistance, so a peer-to-peer spread of a few percent
        becomes a drop of a quarter or more. Ratios are the median of the
        last scrapes at the limit (clocks at the throttle point move from
        scrape to scrape; a median ignores a single one, and follows a new
        level within half its window, where an average would carry the
        GPU's healthy ratios for minutes).
        """
        topo = tick.topology
        temp, power = temp_power
        clock, _ = tick.fresh("DCGM_FI_DEV_SM_CLOCK")
        hot = np.where(eligible & at_limit, 1.0, 0.0)
        bits_f, _ = tick.fresh("DCGM_FI_DEV_CLOCKS_EVENT_REASONS")
        bits = (np.nan_to_num(bits_f).astype(np.int64) & (SW_THERMAL | HW_THERMAL)) != 0
        out = []
        peers = {}
        for name, values in (("clock", clock), ("power", power), ("temp", temp)):
            med, cnt = group_median(values, topo.gpu_node, topo.n_nodes)
            med[cnt < 4] = np.nan
            peers[name] = med[topo.gpu_node]
        now = np.vstack([power / peers["power"], clock / peers["clock"]])
        self.tp_pos_ = (self.tp_pos_ + 1) % len(self.tp_hist_)  # ring buffer
        self.tp_hist_[self.tp_pos_] = now
        self.tp_hist_[:, :, hot == 0] = np.nan  # judged only at the throttle point; else forgotten
        judged = np.flatnonzero(hot > 0)  # few GPUs: the median is taken over those only
        ratio_p, ratio_c = np.full((2, topo.n_gpus), np.nan)
        ratio_p[judged], ratio_c[judged] = window_median(self.tp_hist_[:, :, judged])
        # a GPU that always ran b degC hotter than its peers (its interface or place)
        # would sit b - headroom over the limit at their load, so it is expected to
        # shed about that much less there; only a drop beyond that counts
        headroom = np.clip(np.nan_to_num(self.limits_.max_operating_c - peers["temp"]), 0.0, None)
        # (at the same power: a GPU that runs warm because it draws more power than its
        # peers, e.g. one held at its power cap, has no worse thermal resistance for it)
        usual = np.minimum(1.0, (self.rise_c + headroom) / (
            self.rise_c + np.clip(np.nan_to_num(self.base_resid_), 0.0, None)))
        low = ((hot > 0) & (ratio_c <= 1.0 - self.throttle_drop)
               & (ratio_p <= (1.0 - self.throttle_drop) * usual)
               & (temp >= peers["temp"] - 5.0))
        self.throttle_since_ = sustained(self.throttle_since_, low, tick.data_t_s)
        need_s = max(self.throttle_persist_s, 2.0 * tick.interval_s)
        ready = np.flatnonzero(low & (tick.t_s - self.throttle_since_ >= need_s))
        for g in ready:
            name = topo.gpu_name(int(g))
            out.append(Candidate(
                "gpu_overheating", name, float(self.throttle_since_[g]),
                confidence_of(1.0 - float(ratio_p[g]), 0.2),
                severity_of(float(temp[g]), float(self.limits_.max_operating_c[g]) - 4.0,
                            float(self.limits_.max_operating_c[g])), "investigate",
                f"{name} throttling for heat at {temp[g]:.0f} degC with {ratio_p[g]:.0%} of its "
                f"node peers' power and {ratio_c[g]:.0%} of their clock: it sheds heat worse "
                "than its peers (thermal interface, airflow)",
                {"temp_c": round(float(temp[g]), 1), "power_ratio": round(float(ratio_p[g]), 3),
                 "clock_ratio": round(float(ratio_c[g]), 3), "throttle_point": True,
                 "thermal_bits": bool(bits[g])},
                source=self.name))
        return out

    def _excess(self, tick: Tick, temp: F64, level: F64, busy: npt.NDArray[np.bool_]) -> F64:
        """How much hotter than usual each busy GPU is among its node's GPUs.

        The smaller of two views counts: raw temperature, and temperature
        corrected for power (a GPU drawing more power than its peers may run
        warmer; one drawing less must not look hot through the correction).
        """
        topo = tick.topology
        out = []
        for values in (temp, level):
            med, count = group_median(np.where(busy, values, np.nan), topo.gpu_node,
                                      topo.n_nodes)
            resid = values - med[topo.gpu_node]
            resid[(count[topo.gpu_node] < 3) | ~busy] = np.nan
            out.append(resid)
        self.raw_, self.resid_ = out
        excess: F64 = np.minimum(self.raw_ - np.nan_to_num(self.base_raw_),
                                 self.resid_ - np.nan_to_num(self.base_resid_))
        return excess

    def _domains(self, tick: Tick, temp_power: tuple[F64, F64], busy: npt.NDArray[np.bool_],
                 dt: float, steady_slope: tuple[npt.NDArray[np.bool_], float]
                 ) -> list[Candidate]:
        """Each domain's move from its GPUs' own past, against the other domains' moves.

        Every steady GPU is compared with its own baseline for its load state,
        moved to its power now along its degrees per watt (``slope``, the
        fleet's fitted between node peers, where a GPU has no slope of its own:
        see :mod:`brownout.detect.baselines`): a hung job's GPUs spinning at a
        fraction of their usual power cool for that, not for their loop's
        sake, and a loop losing capacity warms its GPUs at the same power. A
        domain's excess is the median
        of its GPUs' deviations minus the median of the other domains' (a
        facility change or diurnal drift moves all of them). Without peer
        domains the own past alone is the reference (re-anchored after a
        confirmed shift).
        """
        topo = tick.topology
        temp, power = temp_power
        steady, slope = steady_slope
        dom_of = topo.gpu_cooling()
        n_dom = len(topo.cooling_domains)
        need = self.domain_c if n_dom > 1 else self.single_domain_c
        dev = self.gpu_base_.deviation(temp, busy, power, slope)
        lvl, cnt = group_median(dev, dom_of, n_dom)
        lvl[cnt < 4] = np.nan
        # a failing domain is no reference, nor one recovering from a failure (its GPUs
        # cool for many minutes, and baselines learned meanwhile are off), nor one far
        # colder than its own past: unless most of the domains seen now are odd, then
        # it is the fleet (domains not seen now, all idle or unsteady, do not count)
        seen = np.isfinite(lvl)
        recovering = tick.data_t_s - self.warm_at_ < self.recover_s
        odd = seen & (self.warming_ | recovering | (np.nan_to_num(lvl) <= -need / 2))
        few = odd.sum() <= max(1, 0.25 * seen.sum())
        peers = np.where(odd & few, np.nan, lvl)
        ref = others_median(peers, np.arange(n_dom), n_dom) if n_dom >= 2 else np.zeros(n_dom)
        ex = lvl - ref
        gpu_rel = dev - ref[dom_of]
        # most GPUs must share the move: each warmer than half the domain's excess
        half = np.clip(np.nan_to_num(ex), need / 2, need)[dom_of] / 2
        warm = _fraction(gpu_rel >= half, np.isfinite(gpu_rel), dom_of, n_dom)
        seen_ex = np.isfinite(ex)
        self.dom_ex_[seen_ex] = ex[seen_ex]
        self.seen_at_[seen_ex] = tick.data_t_s
        is_open = np.isfinite(self.dom_since_)
        reported = is_open & (tick.t_s - self.dom_since_ >= self.domain_persist_s)
        # a domain reported failing: its GPUs' baselines do not learn it, and a GPU first
        # seen in a state there (a job stopped: idle for the first time) joins at the
        # domain's excess, not at the fleet's (else the loop would look healed)
        frozen = ((np.nan_to_num(ex, nan=-np.inf) >= need / 2) | (reported & ~seen_ex))[dom_of]
        join = np.where(reported, np.nan_to_num(self.dom_ex_), 0.0)[dom_of]
        join[~steady] = np.nan  # a reading held at the limit (or still moving) starts none
        self.gpu_base_.update(temp, busy, frozen, alpha=alpha_for(self.tau_s, dt), join_c=join,
                              power=power, fleet_c_per_w=slope)
        self.warming_ = np.nan_to_num(ex, nan=-np.inf) >= need / 2
        self.warm_at_[self.warming_] = tick.data_t_s
        rate = np.nan_to_num(ex - self.dom_prev_) / max(dt, 1.0) * 60.0
        self.dom_trend_ = 0.7 * self.dom_trend_ + 0.3 * rate
        self.dom_prev_ = ex
        # early warning: half the excess, still rising as a losing loop's coolant does
        # (an inlet ramp of 10 degC over 12 min still climbs 0.7 degC/min at half way)
        rising = (ex >= need / 2) & (self.dom_trend_ >= self.domain_trend_c_per_min)
        # once entered, a domain stays bad while it stays half warm (its rise may pause
        # between two sensor steps)
        held = is_open & (ex >= need / 2)
        bad = ((ex >= need) | rising | held) & (warm >= self.domain_fraction)
        bad &= held | ~self._tail(tick, ex, need)
        # unseen (no steady GPUs: a job stopped, its GPUs cooling) is no sign of repair
        bad |= reported & ~seen_ex & (tick.data_t_s - self.seen_at_ < self.recover_s)
        if n_dom == 1 and self.shift_.pending is not None:
            bad[:] = False  # a possible fleet shift: wait until it has held or kept rising
        self.dom_since_ = sustained(self.dom_since_, bad, tick.data_t_s)
        ready = np.flatnonzero(bad & (tick.t_s - self.dom_since_ >= self.domain_persist_s))
        self._remember_reported(tick, ready, ex)
        return [self._domain_candidate(tick, int(d), float(warm[d]), bool(seen_ex[d]))
                for d in ready]

    def _domain_candidate(self, tick: Tick, d: int, warm: float, seen: bool) -> Candidate:
        ex = float(self.dom_ex_[d])
        name = tick.topology.cooling_domains[d]
        return Candidate(
            "cooling_fault", name, float(self.dom_since_[d]), confidence_of(ex, self.domain_c),
            severity_of(ex, 6.0, 10.0), "fix_cooling",
            f"cooling domain {name}: GPUs {ex:.1f} degC warmer than usual relative to the "
            "other domains at the same load, " + (f"{warm:.0%} of them warming" if seen else
                                                  "when last seen (no steady GPU now)"),
            {"domain_excess_c": round(ex, 2), "fraction_warming": round(warm, 3),
             "seen": seen}, source=self.name)


    def _tail(self, tick: Tick, ex: F64, need: float) -> npt.NDArray[np.bool_]:
        """Domains whose warmth is the tail of a fault reported lately, not a new one.

        A repaired loop's coolant cools back with the loop's time constant
        (minutes), so its GPUs stay warm for a while after the repair, and
        often unseen (a job stopped meanwhile): seen again warm, that is the
        same fault ending, never a second one. A new fault on top of the
        tail must make the domain ``need`` warmer than it ever was while
        reported (the excess when first seen again may be anywhere between).
        """
        lately = tick.data_t_s - self.tail_at_ < self.recover_s
        ex_f = np.nan_to_num(ex, nan=-np.inf)
        out: npt.NDArray[np.bool_] = lately & ~(ex_f >= self.peak_ex_ + need)
        # still warm: the tail goes on (a slow loop stays warm for many minutes)
        self.tail_at_[out & (ex_f >= need / 2)] = tick.data_t_s
        return out

    def _remember_reported(self, tick: Tick, ready: npt.NDArray[np.intp], ex: F64) -> None:
        """Last time and warmest excess of each domain reported (a new episode restarts)."""
        old = tick.data_t_s - self.tail_at_[ready] >= self.recover_s
        self.peak_ex_[ready] = np.fmax(np.where(old, -np.inf, self.peak_ex_[ready]), ex[ready])
        self.tail_at_[ready] = tick.data_t_s


def _fraction(flag: npt.NDArray[np.bool_], valid: npt.NDArray[np.bool_],
              group: npt.NDArray[np.int32], n: int) -> F64:
    hits = np.bincount(group[valid & flag], minlength=n)
    tot = np.bincount(group[valid], minlength=n)
    return np.where(tot > 0, hits / np.maximum(tot, 1), 0.0)


def _power_slope(tick: Tick, temp: F64, power: F64) -> float:
    """Degrees per watt between GPUs of the same node (least squares, bounded)."""
    topo = tick.topology
    ok = np.isfinite(temp) & np.isfinite(power)
    if ok.sum() < 16:
        return 0.06
    t_med, _ = group_median(np.where(ok, temp, np.nan), topo.gpu_node, topo.n_nodes)
    p_med, _ = group_median(np.where(ok, power, np.nan), topo.gpu_node, topo.n_nodes)
    dt = (temp - t_med[topo.gpu_node])[ok]
    dp = (power - p_med[topo.gpu_node])[ok]
    keep = np.abs(dt) < 6.0
    den = float(np.sum(dp[keep] ** 2))
    if den < 1e3:
        return 0.06
    return float(np.clip(np.sum(dp[keep] * dt[keep]) / den, 0.0, 0.15))
