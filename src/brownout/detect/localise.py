"""Localiser: correlated candidates become one finding at the component at fault.

Rules, applied to each tick's candidates over the topology:

1. A cooling domain with a ``cooling_fault`` (now or still open) explains
   the lone slow ranks among its GPUs (their step-based ``gpu_degraded``) and
   the mild ``gpu_overheating`` of its hottest GPUs. A GPU far hotter than
   its node peers (which share its coolant) is still reported, and so is one
   above its usual place among its node's idle GPUs, or held at its limit far
   ahead of its working peers (the loop warms a node's GPUs alike). It explains
   a step-based ``host_straggler`` of a node of the domain whose GPU
   telemetry is missing, too: heat cannot be ruled out there.
2. One finding per GPU, the most specific cause winning:
   ``gpu_failed`` > ``gpu_overheating`` > ``gpu_degraded`` (a GPU slowed by
   heat is overheating, not degraded).
3. A node whose GPUs are themselves flagged is not a host straggler.
4. A step-based ``gpu_degraded`` on a node with a ``host_straggler`` is part
   of it; a step-based ``host_straggler`` of one lone slow rank (its GPU
   looked healthy) is dropped once a GPU detector flags that GPU.
5. A step-based slow rank (or most of a node's ranks, or the lone rank of a
   host-side ``host_straggler``) whose GPU reported thermal clock-event bits
   in the last minutes is slowed by heat: the thermal detector names the
   cause (unless two or more of the node's slow ranks run on GPUs that did
   not throttle: then something else slows the host too). A GPU that
   vanishes after throttling for heat (or while its overheating finding is
   open) shut itself down for heat: not a separate
   ``gpu_failed``.
6. When one kind is raised on a large fraction of the fleet at once, it is a
   fleet-wide change (telemetry, firmware, facility), reported as a single
   ``fleet_shift`` notice at cluster level and never as hardware findings.
7. A GPU whose only fail-slow evidence is NVLink errors has degraded NVLink,
   not a degraded GPU: the NVLink detector names it (``nvlink_degraded`` at
   the GPU, or ``nvswitch_fault`` at its domain when the whole domain errs).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from brownout.detect.api import Candidate
from brownout.detect.tick import Tick
from brownout.telemetry.metrics import HW_THERMAL, SW_THERMAL
from brownout.topology.component import ComponentRef
from brownout.topology.gpu_models import gpu_limits
from brownout.topology.model import Topology

GPU_RANK = {"gpu_failed": 0, "gpu_overheating": 1, "gpu_degraded": 2}


class Localiser:
    """Applies the rules of the module docstring.

    Args:
        topology: the cluster.
        fleet_fraction: a kind raised on more than this fraction of its
            components (and more than ``fleet_min``) is a fleet-wide shift.
        fleet_min: smallest count that can be a fleet-wide shift.
        own_heat_c: inside a failing cooling domain, the hottest GPUs warm a
            little more than their node peers (leakage grows with heat); only
            an excess above this is a GPU hot for its own reasons.
        thermal_memory_s: how long thermal clock-event bits explain a GPU's
            slowness or silence (a step-based level looks back two minutes).
    """

    def __init__(self, topology: Topology, fleet_fraction: float = 0.25,
                 fleet_min: int = 8, own_heat_c: float = 12.0,
                 thermal_memory_s: float = 300.0) -> None:
        self.topology = topology
        self.fleet_fraction = fleet_fraction
        self.fleet_min = fleet_min
        self.own_heat_c = own_heat_c
        self.thermal_memory_s = thermal_memory_s
        self._thermal_t = np.zeros(0)
        self._node_cooling = {n.name: n.cooling for n in topology.nodes}
        self._max_operating_c = gpu_limits(topology).max_operating_c

    def _node(self, gpu: str) -> str:
        return ComponentRef.parse(gpu).host

    def resolve(self, cands: list[Candidate], tick: Tick,
                open_keys: set[tuple[str, str]] | None = None) -> list[Candidate]:
        """This tick's findings and notices after applying the rules.

        Args:
            cands: every detector's candidates of this tick.
            tick: the tick (for the GPUs' own telemetry).
            open_keys: (kind, component) of findings still open from earlier ticks.
        """
        open_keys = open_keys or set()
        notices = [c for c in cands if c.notice]
        found = self._fleet([c for c in cands if not c.notice], tick, notices)
        cooling = {c.component for c in found if c.kind == "cooling_fault"}
        cooling |= {comp for kind, comp in open_keys if kind == "cooling_fault"}
        found = [c for c in found if not self._in_cooling_fault(c, cooling)]
        found = [c for c in found if not self._blind_in_cooling_fault(c, cooling, tick)]
        found = self._thermal_symptoms(found, tick)
        found = [c for c in found if not self._in_cooling_fault(c, cooling)]
        hot = {comp for kind, comp in open_keys if kind == "gpu_overheating"}
        found = [c for c in found if not (c.kind == "gpu_failed" and c.component in hot
                                          and "silent_s" in c.evidence)]
        found = [c for c in found if not _nvlink_only(c)]
        found = self._one_per_gpu(found)
        flagged_gpus: dict[str, int] = defaultdict(int)
        for c in found:
            if c.kind in GPU_RANK and c.source != "stragglers":
                flagged_gpus[self._node(c.component)] += 1
        found = [c for c in found if not (c.kind == "host_straggler"
                                           and flagged_gpus[c.component] >= 2)]
        gpus = {c.component for c in found if c.kind in GPU_RANK and c.source != "stragglers"}
        gpus |= {comp for kind, comp in open_keys if kind in GPU_RANK}
        found = [c for c in found if c.evidence.get("lone_rank") not in gpus]
        hosts = {c.component for c in found if c.kind == "host_straggler"}
        hosts |= {comp for kind, comp in open_keys if kind == "host_straggler"}
        found = [c for c in found if not (c.kind == "gpu_degraded" and c.source == "stragglers"
                                          and self._node(c.component) in hosts)]
        return found + notices

    def _recently_hot(self, tick: Tick) -> npt.NDArray[np.bool_]:
        """GPUs that showed thermal clock-event bits within ``thermal_memory_s``."""
        if self._thermal_t.shape[0] != self.topology.n_gpus:
            self._thermal_t = np.full(self.topology.n_gpus, -np.inf)
        bits, _ = tick.fresh("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", 5 * tick.interval_s)
        now_hot = (np.nan_to_num(bits).astype(np.int64) & (SW_THERMAL | HW_THERMAL)) != 0
        self._thermal_t[now_hot] = tick.t_s
        # a last reading at the model's throttle point counts as thermal too (a GPU
        # can pass its limit and shut down between two scrapes)
        temp, when = tick.value("DCGM_FI_DEV_GPU_TEMP")
        at_limit = np.nan_to_num(temp) >= self._max_operating_c - 1.0
        self._thermal_t[at_limit] = np.fmax(self._thermal_t[at_limit], when[at_limit])
        recent: npt.NDArray[np.bool_] = tick.t_s - self._thermal_t <= self.thermal_memory_s
        return recent

    def _thermal_symptoms(self, found: list[Candidate], tick: Tick) -> list[Candidate]:
        """Slowness or silence of GPUs that were throttling for heat is a thermal symptom."""
        hot = self._recently_hot(tick)
        topo = self.topology
        out = []
        for c in found:
            if c.source == "stragglers" and self._lone_gpu_hot(c, hot):
                continue
            if c.kind in ("gpu_degraded", "gpu_failed") and (
                    c.source == "stragglers" or "silent_s" in c.evidence):
                ref = ComponentRef.parse(c.component)
                g = topo.gpu_id(ref.host, ref.gpu if ref.gpu is not None else -1)
                last = float(c.evidence.get("last_sample_at", tick.t_s))
                if hot[g] or last - self._thermal_t[g] <= self.thermal_memory_s:
                    if c.kind == "gpu_failed":
                        out.append(self._shut_down_for_heat(c, g, hot))
                    continue
            if c.source == "stragglers" and c.kind == "host_straggler":
                n = topo.node_index[c.component]
                lo, hi = int(topo.gpu_offset[n]), int(topo.gpu_offset[n + 1])
                cool = [g for g in c.evidence.get("slow_gpus", []) if 0 <= g < hi - lo
                        and not hot[lo + g]]  # slow on GPUs that did not throttle
                if hot[lo:hi].sum() * 2 >= hi - lo and len(cool) < 2:
                    continue
            out.append(c)
        return out

    def _lone_gpu_hot(self, c: Candidate, hot: npt.NDArray[np.bool_]) -> bool:
        """A host-side host straggler (one slow rank) whose GPU was recently hot."""
        lone = c.evidence.get("lone_rank")
        if c.kind != "host_straggler" or not lone:
            return False
        ref = ComponentRef.parse(str(lone))
        g = self.topology.gpu_id(ref.host, ref.gpu if ref.gpu is not None else -1)
        return g >= 0 and bool(hot[g])

    def _shut_down_for_heat(self, c: Candidate, g: int, hot: npt.NDArray[np.bool_]
                            ) -> Candidate:
        """A GPU that throttled for heat and then vanished reached its thermal shutdown."""
        topo = self.topology
        n = int(topo.gpu_node[g])
        lo, hi = int(topo.gpu_offset[n]), int(topo.gpu_offset[n + 1])
        peers = (float(hot[lo:hi].sum()) - float(hot[g])) / max(hi - lo - 1, 1)
        return replace(
            c, kind="gpu_overheating", confidence=0.8, action="investigate",
            summary=f"{c.component} throttled for heat, then went silent while its node "
                    "still reports: a thermal shutdown",
            evidence={**c.evidence, "thermal_shutdown": True, "thermal_bits": True,
                      "node_peers_throttling": round(peers, 3)})

    def _in_cooling_fault(self, c: Candidate, cooling: set[str]) -> bool:
        if not cooling:
            return False
        if c.kind == "gpu_overheating":  # only a strong outlier is hot for its own reasons
            # (idle, or at its limit far ahead of its working peers, the loop's warmth
            # moves every GPU of a node alike: an excess over the peers is the GPU's own)
            alone = c.evidence.get("throttle_point") or c.evidence.get("idle") or c.evidence.get(
                "limit_gap") or (
                c.evidence.get("thermal_bits")
                and float(c.evidence.get("node_peers_throttling", 1.0)) < 0.5)
            excess = float(c.evidence.get("excess_c") or 0.0)  # silent (NaN): none known
            return (self._node_cooling.get(self._node(c.component)) in cooling and not alone
                    and not excess >= self.own_heat_c)
        if c.kind == "gpu_degraded" and c.source == "stragglers":
            return self._node_cooling.get(self._node(c.component)) in cooling
        return False

    def _blind_in_cooling_fault(self, c: Candidate, cooling: set[str], tick: Tick) -> bool:
        """A step-based host straggler in a failing cooling domain, its GPUs unseen."""
        if not (cooling and c.kind == "host_straggler" and c.source == "stragglers"
                and self._node_cooling.get(c.component) in cooling):
            return False
        _, seen = tick.fresh("DCGM_FI_DEV_SM_CLOCK", 5 * tick.interval_s)
        n = self.topology.node_index[c.component]
        return not seen[int(self.topology.gpu_offset[n]):int(self.topology.gpu_offset[n + 1])].any()

    @staticmethod
    def _one_per_gpu(found: list[Candidate]) -> list[Candidate]:
        best: dict[str, Candidate] = {}
        rest = []
        for c in found:
            if c.kind not in GPU_RANK:
                rest.append(c)
                continue
            cur = best.get(c.component)
            if cur is None or (GPU_RANK[c.kind], -c.confidence) < (GPU_RANK[cur.kind],
                                                                   -cur.confidence):
                best[c.component] = c
        return rest + list(best.values())

    def _fleet(self, found: list[Candidate], tick: Tick,
               notices: list[Candidate]) -> list[Candidate]:
        by_kind: dict[str, list[Candidate]] = defaultdict(list)
        for c in found:
            by_kind[c.kind].append(c)
        topo = self.topology
        sizes = {"gpu": topo.n_gpus, "node": topo.n_nodes, "nic": topo.n_nics,
                 "switch": len(topo.switches), "cooling": len(topo.cooling_domains)}
        out = []
        for kind, cs in by_kind.items():
            ctype = {"gpu_failed": "gpu", "gpu_degraded": "gpu", "gpu_overheating": "gpu",
                     "nic_degraded": "nic", "host_straggler": "node",
                     "nvlink_degraded": "gpu",
                     "telemetry_loss": "node"}.get(kind)
            limit = max(self.fleet_min, self.fleet_fraction * sizes.get(ctype or "", 0))
            if ctype is None or kind == "gpu_failed" or len(cs) <= limit:
                out.extend(cs)
                continue
            notices.append(Candidate(
                "fleet_shift", tick.cluster, min(c.onset_s for c in cs), 0.8, "minor",
                "investigate",
                f"{len(cs)} components raised {kind} at once: a fleet-wide change, "
                "not that many faults", {"kind": kind, "components": len(cs)},
                notice=True, source="localiser"))
        return out


NON_NVLINK_EVIDENCE = ("slow_clock", "power_brake", "hw_slowdown", "row_remap_failure")


def _nvlink_only(c: Candidate) -> bool:
    """A GPU-health ``gpu_degraded`` whose only evidence is NVLink errors (rule 7)."""
    if c.kind != "gpu_degraded" or c.source != "gpu_health":
        return False
    rates = [k for k in c.evidence if k.endswith("_per_s")]
    return rates == ["nvlink_crc_per_s"] and not any(
        c.evidence.get(k) for k in NON_NVLINK_EVIDENCE)
