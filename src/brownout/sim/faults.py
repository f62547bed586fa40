"""Fault injectors: one per kind of spec/findings.md.

:func:`sample_faults` turns a scenario's fault specs into concrete
:class:`Fault` values (component, onset, repair, magnitudes drawn from the
spec's ranges with the run's generator); :func:`apply_fault` writes one active
fault's effect into the tick's :class:`~brownout.sim.effects.Effects`. Each
fault is built to be realistic and detectable from the evidence the taxonomy
names (see docs/simulator.md for the per-kind model).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from brownout.errors import InputError
from brownout.findings import KINDS, TruthFault
from brownout.sim import nvlink
from brownout.sim.effects import Effects
from brownout.sim.scenario import VARIANTS, FaultSpec, Range
from brownout.telemetry.metrics import HW_POWER_BRAKE, HW_SLOWDOWN
from brownout.topology.component import ComponentRef
from brownout.topology.model import Topology

I64 = npt.NDArray[np.int64]

DEFAULT_MAGNITUDE: dict[str, dict[str, Range]] = {
    "gpu_degraded": {"slowdown": (1.2, 1.6), "sbe_per_min": (5.0, 60.0),
                     "remap_per_hour": (2.0, 10.0), "replays_per_min": (50.0, 1000.0)},
    "gpu_overheating": {"r_th_mult": (1.45, 1.8)},
    "cooling_fault": {"inlet_rise_c": (10.0, 18.0), "tau_min": (4.0, 12.0)},
    "nic_degraded": {"bw_factor": (0.4, 0.7), "errors_per_min": (50.0, 2000.0)},
    "switch_congestion": {"factor": (2.0, 4.0)},
    "host_straggler": {"slowdown": (1.15, 1.5)},
    # links_down: 3-9 of a GPU's 18 links; crc_errors: a marginal link replaying
    "nvlink_degraded": {"bw_factor": (0.5, 0.83), "crc_per_min": (20.0, 600.0),
                        "recoveries_per_hour": (4.0, 30.0)},
    # 1-2 of the domain's 9 switch trays (2 of each GPU's 18 links per tray)
    "nvswitch_fault": {"bw_factor": (0.78, 0.89), "crc_per_min": (3.0, 40.0),
                       "recoveries_per_hour": (6.0, 30.0)},
    # the NCCL watchdog kills a hung job after its timeout (10 to 30 min in practice)
    "rank_hang": {"watchdog_s": (600.0, 1800.0)},
}
VARIANT_MAGNITUDE: dict[str, dict[str, Range]] = {  # overrides of the kind's defaults
    "ecc_storm": {"slowdown": (1.05, 1.2)}, "pcie_replays": {"slowdown": (1.05, 1.25)},
    "crc_errors": {"bw_factor": (0.85, 0.95)}, "links_down": {"crc_per_min": (0.5, 5.0)},
}
RELEVANT = {  # which magnitudes a variant uses (the others are not drawn)
    "clock_cap": ("slowdown",), "power_brake": ("slowdown",),
    "ecc_storm": ("slowdown", "sbe_per_min", "remap_per_hour"),
    "pcie_replays": ("slowdown", "replays_per_min"), "link_speed": ("bw_factor",),
}
GONE_AFTER_S = 75.0
XID_OF = {"xid79": 79, "xid48": 48, "xid95": 95, "xid119": 119, "xid64": 64}
NOTES = {
    "xid79": "GPU has fallen off the bus (Xid 79)",
    "xid48": "double-bit ECC error (Xid 48)",
    "xid95": "uncontained memory error (Xid 95)",
    "xid119": "GSP RPC timeout (Xid 119)",
    "xid64": "row-remapping failure (Xid 64)",
    "clock_cap": "clocks capped by HW slowdown",
    "power_brake": "external power brake asserted",
    "ecc_storm": "correctable ECC / row-remap storm",
    "pcie_replays": "PCIe link replaying",
    "symbol_errors": "bad cable or transceiver: symbol errors",
    "link_speed": "link trained at reduced speed",
    "flapping": "link flapping",
    "crc_errors": "NVLink CRC errors and replays",
    "links_down": "NVLink links down or retrained",
    "stuck_kernel": "a kernel that never ends: its GPU computes while its peers wait",
    "host_hang": "the rank's process stopped (deadlock, GIL): its GPU idles",
    "gpu_error": "device-side error: the rank's GPU stopped finishing work (Xid 43)",
}
HANG_BUSY, HANG_IDLE = 1, 2  # what a hung rank's GPU does (Effects.gpu_hung)


@dataclass(frozen=True)
class Fault:
    """One injected fault.

    Attributes:
        kind, component: as in the truth file.
        index: the component's index (GPU, node, NIC, switch or cooling domain).
        variant: sub-kind, "" when the kind has none.
        onset_s, end_s: absolute unix seconds; ``end_s`` None = never repaired.
        magnitude: drawn magnitudes (e.g. ``slowdown``).
    """

    kind: str
    component: str
    index: int
    variant: str
    onset_s: float
    end_s: float | None
    magnitude: Mapping[str, float] = field(default_factory=dict)

    def truth(self, run_end_s: float) -> TruthFault:
        """The ground-truth line for this fault."""
        end = self.end_s if self.end_s is not None and self.end_s < run_end_s else None
        mags = ", ".join(f"{k}={v:.3g}" for k, v in sorted(self.magnitude.items()))
        note = NOTES.get(self.variant, self.kind.replace("_", " "))
        return TruthFault(self.kind, self.component, round(self.onset_s, 3),
                          None if end is None else round(end, 3),
                          f"{note}{'; ' + mags if mags else ''}")

    def active(self, t_s: float) -> bool:
        return t_s >= self.onset_s and (self.end_s is None or t_s < self.end_s)


@dataclass(frozen=True)
class Candidates:
    """Where faults may land: components in use, by type (indices)."""

    gpus: I64
    nodes: I64
    nics: I64
    switches: I64
    domains: I64
    nvlink_domains: I64 = field(default_factory=lambda: np.zeros(0, np.int64))


def _pick_index(topo: Topology, spec: FaultSpec, comp: str) -> int:
    """Index of an explicitly named component of the right type."""
    ctype = KINDS[spec.kind]
    if topo.component_type(comp) != ctype:
        raise InputError(f"fault {spec.kind}: '{comp}' is not a {ctype} of the topology")
    if ctype == "gpu":
        ref = ComponentRef.parse(comp)
        return topo.gpu_id(ref.host, ref.gpu if ref.gpu is not None else -1)
    if ctype == "nic":
        ref = ComponentRef.parse(comp)
        return topo.nic_index[(topo.node_index[ref.host], ref.part)]
    if ctype == "switch":
        return topo.switch_index[comp]
    if ctype == "cooling":
        return topo.cooling_domains.index(comp)
    if ctype == "nvlink_domain":
        return topo.nvlink_domains.index(comp)
    return topo.node_index[comp]


def _name(topo: Topology, ctype: str, idx: int) -> str:
    if ctype == "gpu":
        return topo.gpu_name(idx)
    if ctype == "nic":
        return topo.nic_name(idx)
    if ctype == "switch":
        return topo.switches[idx].name
    if ctype == "cooling":
        return topo.cooling_domains[idx]
    if ctype == "nvlink_domain":
        return topo.nvlink_domains[idx]
    return topo.nodes[idx].name


def _node_of(topo: Topology, ctype: str, idx: int) -> int:
    if ctype == "gpu":
        return int(topo.gpu_node[idx])
    if ctype == "nic":
        return int(topo.nic_node[idx])
    return idx if ctype == "node" else -1


def _pool(cands: Candidates, ctype: str) -> I64:
    return {"gpu": cands.gpus, "node": cands.nodes, "nic": cands.nics,
            "switch": cands.switches, "cooling": cands.domains,
            "nvlink_domain": cands.nvlink_domains}[ctype]


def _choose(rng: np.random.Generator, topo: Topology, ctype: str, pool: I64, *,
            used: set[tuple[str, int]], used_nodes: set[int]) -> int:
    """A random free component, preferring ones on nodes without another fault."""
    free = [int(i) for i in pool if (ctype, int(i)) not in used]
    fresh = [i for i in free if _node_of(topo, ctype, i) not in used_nodes]
    choice = fresh or free
    if not choice:
        raise InputError(f"no free {ctype} left to place a fault on")
    return choice[int(rng.integers(len(choice)))]


def _draw(rng: np.random.Generator, r: Range) -> float:
    return float(r[0] if r[0] == r[1] else rng.uniform(r[0], r[1]))


def sample_faults(specs: tuple[FaultSpec, ...], topo: Topology, cands: Candidates,
                  start_s: float, rng: np.random.Generator) -> list[Fault]:
    """Concrete faults for a scenario's specs, in onset order.

    Specs with an explicit onset (``onset_s`` lo == hi) and one component
    are what :func:`table_specs` makes from a published failure table.
    """
    out: list[Fault] = []
    used: set[tuple[str, int]] = set()
    used_nodes: set[int] = set()
    for spec in specs:
        if spec.placement:
            continue  # placed relative to other faults, below
        ctype = KINDS[spec.kind]
        n = len(spec.components) or spec.count
        for k in range(n):
            if spec.components:
                idx = _pick_index(topo, spec, spec.components[k])
            else:
                idx = _choose(rng, topo, ctype, _pool(cands, ctype), used=used,
                              used_nodes=used_nodes)
            used.add((ctype, idx))
            used_nodes.add(_node_of(topo, ctype, idx))
            out.append(_one(spec, topo, ctype, idx, start_s=start_s, rng=rng))
    for spec in specs:
        if spec.placement:
            out.extend(_in_failing_cooling(spec, topo, cands, out, rng, used=used))
    return sorted(out, key=lambda f: (f.onset_s, f.component))


def _in_failing_cooling(spec: FaultSpec, topo: Topology, cands: Candidates,
                        placed: list[Fault], rng: np.random.Generator, *,
                        used: set[tuple[str, int]]) -> list[Fault]:
    """GPU faults inside domains with a cooling fault, onset counted from that fault's."""
    cooling = [f for f in placed if f.kind == "cooling_fault"]
    if KINDS[spec.kind] != "gpu" or not cooling:
        raise InputError(f"fault {spec.kind}: placement {spec.placement} needs a GPU fault "
                         "kind and a cooling_fault in the same scenario")
    out = []
    # prefer nodes without another fault (a node whose telemetry is lost hides its GPU)
    used_nodes = {_node_of(topo, ctype, i) for ctype, i in used}
    for _ in range(spec.count):
        dom = cooling[int(rng.integers(len(cooling)))]
        pool = cands.gpus[topo.gpu_cooling()[cands.gpus] == dom.index]
        idx = _choose(rng, topo, "gpu", pool, used=used, used_nodes=used_nodes)
        used.add(("gpu", idx))
        out.append(_one(spec, topo, "gpu", idx, start_s=dom.onset_s, rng=rng))
    return out


def _one(spec: FaultSpec, topo: Topology, ctype: str, idx: int, *, start_s: float,
         rng: np.random.Generator) -> Fault:
    variants = VARIANTS.get(spec.kind, ("",))
    variant = spec.variant or variants[int(rng.integers(len(variants)))]
    onset = start_s + _draw(rng, spec.onset_s)
    end = None if spec.duration_s is None else onset + _draw(rng, spec.duration_s)
    ranges = {**DEFAULT_MAGNITUDE.get(spec.kind, {}), **VARIANT_MAGNITUDE.get(variant, {}),
              **spec.magnitude}
    if variant in RELEVANT:
        ranges = {k: v for k, v in ranges.items() if k in RELEVANT[variant]}
    mags = {k: round(_draw(rng, r), 4) for k, r in sorted(ranges.items())}
    if spec.kind == "rank_hang" and end is None:  # ends when the watchdog kills the job
        end = onset + mags["watchdog_s"]
    return Fault(spec.kind, _name(topo, ctype, idx), idx, variant, round(onset, 3),
                 None if end is None else round(end, 3), mags)


# ------------------------------------------------------------------ effects
def _cap_for(slowdown: float, mem_bound: float = 0.2) -> float:
    """Clock fraction that makes compute ``slowdown`` times slower."""
    return min(1.0, (1.0 - mem_bound) / max(slowdown - mem_bound, 1e-3))


def _gpu_failed(e: Effects, f: Fault, t: float, dt: float, topo: Topology) -> None:
    g = f.index
    e.gpu_dead[g] = True
    # dcgm-exporter still reports the Xid for a scrape or two before the GPU vanishes
    e.gpu_gone[g] = f.variant == "xid79" and t >= f.onset_s + GONE_AFTER_S
    e.gpu_remap_failure[g] = f.variant == "xid64"
    if f.onset_s >= t - dt:
        e.xid_events.append((g, XID_OF.get(f.variant, 79), f.onset_s))
        if f.variant == "xid48":
            e.gpu_dbe_rate[g] = 1.0 / dt


def _gpu_degraded(e: Effects, f: Fault, t: float, dt: float, topo: Topology) -> None:
    g, m, v = f.index, f.magnitude, f.variant
    if v in ("clock_cap", "power_brake"):
        e.gpu_cap[g] = min(e.gpu_cap[g], _cap_for(m["slowdown"]))
        e.gpu_reasons[g] |= HW_SLOWDOWN if v == "clock_cap" else HW_POWER_BRAKE | HW_SLOWDOWN
        return
    e.gpu_compute_mult[g] *= m["slowdown"]
    if v == "ecc_storm":
        e.gpu_sbe_rate[g] += m["sbe_per_min"] / 60.0
        e.gpu_remap_rate[g] += m["remap_per_hour"] / 3600.0
        if f.onset_s >= t - dt:
            e.xid_events.append((g, 63, f.onset_s + 1.0))
    else:
        e.gpu_pcie_rate[g] += m["replays_per_min"] / 60.0


def _gpu_overheating(e: Effects, f: Fault, t: float, dt: float, topo: Topology) -> None:
    e.gpu_rth_mult[f.index] *= f.magnitude["r_th_mult"]


def _cooling_fault(e: Effects, f: Fault, t: float, dt: float, topo: Topology) -> None:
    tau = f.magnitude["tau_min"] * 60.0
    e.domain_inlet_add[f.index] += f.magnitude["inlet_rise_c"] * (
        1.0 - math.exp(-(t - f.onset_s) / tau))


def _nic_degraded(e: Effects, f: Fault, t: float, dt: float, topo: Topology) -> None:
    k, m = f.index, f.magnitude
    errs = m.get("errors_per_min", 0.0) / 60.0
    if f.variant == "link_speed":
        frac = 0.5 if m["bw_factor"] >= 0.35 else 0.25
        e.nic_rate_frac[k] = frac
        e.nic_bw[k] = min(e.nic_bw[k], frac)
        e.nic_recovery_rate[k] += 1.0 / 3600.0
        return
    e.nic_bw[k] = min(e.nic_bw[k], m["bw_factor"])
    e.nic_symbol_rate[k] += errs
    e.nic_rxerr_rate[k] += errs * 0.1
    e.nic_recovery_rate[k] += errs / 2000.0
    if f.variant == "flapping":
        e.nic_down_rate[k] += 1.0 / 600.0


def _switch_congestion(e: Effects, f: Fault, t: float, dt: float, topo: Topology) -> None:
    e.switch_congestion[f.index] *= f.magnitude["factor"]


def _host_straggler(e: Effects, f: Fault, t: float, dt: float, topo: Topology) -> None:
    e.node_compute_mult[f.index] *= f.magnitude["slowdown"]


def _rank_hang(e: Effects, f: Fault, t: float, dt: float, topo: Topology) -> None:
    e.gpu_hung[f.index] = HANG_BUSY if f.variant == "stuck_kernel" else HANG_IDLE
    if f.variant == "gpu_error" and f.onset_s >= t - dt:
        e.xid_events.append((f.index, 43, f.onset_s))


def _telemetry_loss(e: Effects, f: Fault, t: float, dt: float, topo: Topology) -> None:
    e.node_silent[f.index] = True


def _nvlink_degraded(e: Effects, f: Fault, t: float, dt: float, topo: Topology) -> None:
    nvlink.degrade(e, f.index, f.magnitude)


def _nvswitch_fault(e: Effects, f: Fault, t: float, dt: float, topo: Topology) -> None:
    nvlink.degrade(e, nvlink.domain_gpus(topo, f.index), f.magnitude)


APPLY: dict[str, Callable[[Effects, Fault, float, float, Topology], None]] = {
    "gpu_failed": _gpu_failed, "gpu_degraded": _gpu_degraded,
    "gpu_overheating": _gpu_overheating, "cooling_fault": _cooling_fault,
    "nic_degraded": _nic_degraded, "switch_congestion": _switch_congestion,
    "host_straggler": _host_straggler, "telemetry_loss": _telemetry_loss,
    "nvlink_degraded": _nvlink_degraded, "nvswitch_fault": _nvswitch_fault,
    "rank_hang": _rank_hang,
}


def apply_faults(e: Effects, faults: list[Fault], t_s: float, dt_s: float,
                 topo: Topology) -> None:
    """Write the effect of every fault active at ``t_s`` into ``e``.

    A cooling fault keeps warming its domain's inlet after repair only as the
    coolant recovers (exponential decay with the same time constant).
    """
    for f in faults:
        if f.active(t_s):
            APPLY[f.kind](e, f, t_s, dt_s, topo)
        elif f.kind == "cooling_fault" and f.end_s is not None and t_s >= f.end_s:
            tau = f.magnitude["tau_min"] * 60.0
            peak = f.magnitude["inlet_rise_c"] * (1.0 - math.exp(-(f.end_s - f.onset_s) / tau))
            e.domain_inlet_add[f.index] += peak * math.exp(-(t_s - f.end_s) / tau)


def table_specs(arrivals: list[tuple[float, str, str]]) -> tuple[FaultSpec, ...]:
    """One single-fault spec per (seconds from start, kind, variant) arrival."""
    out = []
    for t, kind, variant in arrivals:
        ok = variant in VARIANTS.get(kind, ())
        out.append(FaultSpec(kind=kind, count=1, variant=variant if ok else None,
                             onset_s=(t, t)))
    return tuple(out)
