"""Small in-memory clusters for detector tests: healthy noisy telemetry plus hooks.

``Synth`` draws per-scrape arrays of every GPU, NIC and switch-port metric for
a generated topology (with per-GPU static offsets and noise, as real fleets
have); a test mutates the arrays of chosen scrapes to inject a fault, then
builds the :class:`Frame` exactly as a source would (through a
:class:`SeriesRegistry` with dcgm-exporter / node_exporter labels).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from brownout.telemetry.frame import Frame
from brownout.telemetry.series import SeriesRegistry
from brownout.telemetry.steps import StepRecords, build_steps
from brownout.topology.generate import generate_topology
from brownout.topology.model import Topology

T0 = 1_764_000_000.0
GPU_GAUGES = ("DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_SM_CLOCK",
              "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_CLOCKS_EVENT_REASONS",
              "DCGM_FI_DEV_XID_ERRORS", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE")
GPU_COUNTERS = ("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
                "DCGM_FI_DEV_PCIE_REPLAY_COUNTER")
NIC_GAUGES = ("node_infiniband_state_id", "node_infiniband_rate_bytes_per_second")
NIC_COUNTERS = ("node_infiniband_port_data_transmitted_bytes_total",
                "node_infiniband_port_transmit_wait_total", "node_infiniband_symbol_error_total",
                "node_infiniband_port_errors_received_total")
SW_COUNTERS = ("infiniband_switch_port_transmit_wait_total",
               "infiniband_switch_port_transmit_data_bytes_total")
Mutator = Callable[[int, float, dict[str, np.ndarray]], None]


@dataclass
class Synth:
    """A generated cluster and its healthy telemetry, scrape by scrape."""

    n_nodes: int = 8
    layout: str = "tor"
    seed: int = 0
    interval_s: float = 30.0
    racks_per_cooling: int = 1
    topo: Topology = field(init=False)

    def __post_init__(self) -> None:
        self.topo = generate_topology(self.n_nodes, layout=self.layout,
                                      racks_per_cooling=self.racks_per_cooling)
        self.rng = np.random.default_rng(self.seed)
        g, k = self.topo.n_gpus, self.topo.n_nics
        self.r_th = self.rng.uniform(0.055, 0.07, g)
        self.inlet = self.rng.uniform(22, 26, len(self.topo.cooling_domains))
        self.ports = [(s, p) for s in range(len(self.topo.switches)) for p in range(1, 9)]
        self.counters: dict[str, np.ndarray] = {m: np.zeros(g) for m in GPU_COUNTERS}
        self.counters.update({m: np.zeros(k) for m in NIC_COUNTERS})
        self.counters.update({m: np.zeros(len(self.ports)) for m in SW_COUNTERS})
        self._sid_cache: dict[tuple[int, str], np.ndarray] = {}

    def scrape(self, i: int) -> dict[str, np.ndarray]:
        """Healthy gauges and counter increments of scrape ``i`` (mutable by tests)."""
        rng, topo, g, k = self.rng, self.topo, self.topo.n_gpus, self.topo.n_nics
        power = rng.normal(650, 12, g)
        inlet = self.inlet[topo.gpu_cooling()]
        d: dict[str, np.ndarray] = {
            "DCGM_FI_DEV_POWER_USAGE": power,
            "DCGM_FI_DEV_GPU_TEMP": np.round(inlet + power * self.r_th + rng.normal(0, 0.5, g)),
            "DCGM_FI_DEV_SM_CLOCK": rng.normal(1975, 8, g),
            "DCGM_FI_DEV_GPU_UTIL": rng.uniform(92, 100, g),
            "DCGM_FI_DEV_CLOCKS_EVENT_REASONS": np.zeros(g),
            "DCGM_FI_DEV_XID_ERRORS": np.zeros(g),
            "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": rng.uniform(0.55, 0.65, g),
            "node_infiniband_state_id": np.full(k, 4.0),
            "node_infiniband_rate_bytes_per_second": np.full(k, 50e9),
            "+DCGM_FI_DEV_ECC_SBE_VOL_TOTAL": (rng.random(g) < 0.01).astype(float),
            "+DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": np.zeros(g),
            "+DCGM_FI_DEV_PCIE_REPLAY_COUNTER": (rng.random(g) < 0.02).astype(float),
            "+node_infiniband_port_data_transmitted_bytes_total": rng.normal(3e11, 1e10, k),
            "+node_infiniband_port_transmit_wait_total": rng.normal(6e5, 5e4, k),
            "+node_infiniband_symbol_error_total": np.zeros(k),
            "+node_infiniband_port_errors_received_total": np.zeros(k),
            "+infiniband_switch_port_transmit_data_bytes_total":
                rng.normal(3e11, 1e10, len(self.ports)),
            "+infiniband_switch_port_transmit_wait_total": rng.normal(6e5, 5e4, len(self.ports)),
        }
        return d

    def frame(self, registry: SeriesRegistry, n_scrapes: int, mutate: Mutator | None = None,
              jitter_s: float = 2.0) -> Frame:
        """All scrapes as one frame; ``mutate(i, t, arrays)`` edits scrape ``i`` in place.

        A NaN value means the sample is missing (the series did not report).
        """
        ts, ss, vs = [], [], []
        for i in range(n_scrapes):
            t = T0 + i * self.interval_s
            d = self.scrape(i)
            if mutate is not None:
                mutate(i, t, d)
            for key, raw in d.items():
                if key.startswith("reset:"):
                    continue
                name, arr = key, raw
                if key.startswith("+"):
                    name = key[1:]
                    self.counters[name] = self.counters[name] + np.nan_to_num(np.maximum(raw, 0))
                    if f"reset:{name}" in d:
                        self.counters[name] = np.where(d[f"reset:{name}"] > 0, 0.0,
                                                       self.counters[name])
                    arr = np.where(np.isfinite(raw), self.counters[name], np.nan)
                sids = self._sids(registry, name)
                ok = np.isfinite(arr) & (sids >= 0)
                jit = self.rng.uniform(0, jitter_s, ok.sum())
                ts.append(t + jit)
                ss.append(sids[ok])
                vs.append(arr[ok].astype(float))
        return Frame.from_unsorted(np.concatenate(ts), np.concatenate(ss).astype(np.int32),
                                   np.concatenate(vs), registry.table())

    def _sids(self, registry: SeriesRegistry, name: str) -> np.ndarray:
        key = (id(registry), name)
        if key not in self._sid_cache:
            self._sid_cache[key] = self._make_sids(registry, name)
        return self._sid_cache[key]

    def _make_sids(self, registry: SeriesRegistry, name: str) -> np.ndarray:
        topo = self.topo
        if name.startswith("DCGM"):
            return np.array([registry.id_for(name, {
                "gpu": str(topo.gpu_local[g]), "Hostname": topo.nodes[topo.gpu_node[g]].name,
                "modelName": "NVIDIA H100 80GB HBM3"}) for g in range(topo.n_gpus)])
        if name.startswith("node_"):
            return np.array([registry.id_for(name, {
                "device": topo.nic_device[k], "port": "1",
                "instance": f"{topo.nodes[topo.nic_node[k]].name}:9100"})
                for k in range(topo.n_nics)])
        return np.array([registry.id_for(name, {
            "switch": topo.switches[s].name, "port": str(p), "guid": f"0x{s:04x}"})
            for s, p in self.ports])


def steps(topo: Topology, n_steps: int, *, step_s: float = 8.0, seed: int = 0,
          node_slow: dict[int, float] | None = None, gpu_slow: dict[int, float] | None = None,
          stages: int = 1, spread: float = 0.07, checkpoint_every: int = 0,
          slow_from_step: int = 0, nodes: list[int] | None = None) -> StepRecords:
    """A synchronous job over ``nodes`` (default all): per-rank static speed in
    ``[1, 1 + spread]``, per-step sequence-length noise, optional slow nodes/GPUs
    (global GPU id -> factor) from ``slow_from_step`` on, and pipeline stages of
    unequal cost (the last stage computes 30 % more, by design)."""
    rng = np.random.default_rng(seed)
    nodes = list(range(topo.n_nodes)) if nodes is None else nodes
    gpus = np.concatenate([np.arange(topo.gpu_offset[n], topo.gpu_offset[n + 1])
                           for n in nodes])
    speed = 1.0 + rng.uniform(0, spread, gpus.size)
    stage = (np.arange(gpus.size) * stages // gpus.size) if stages > 1 else np.full(gpus.size, -1)
    cost = np.where(stage == stages - 1, 1.3, 1.0) if stages > 1 else np.ones(gpus.size)
    rows: list[dict[str, Any]] = []
    t = T0
    for step in range(n_steps):
        comp = step_s * 0.85 * speed * cost * rng.uniform(0.97, 1.03, gpus.size)
        if step >= slow_from_step:
            for n, f in (node_slow or {}).items():
                comp[topo.gpu_node[gpus] == n] *= f
            for g, f in (gpu_slow or {}).items():
                comp[gpus == g] *= f
        if checkpoint_every and step % checkpoint_every == 0 and step:
            comp = comp + 25.0
        end = comp.max() + step_s * 0.1
        t += end
        for r, g in enumerate(gpus):
            rows.append({"ts": t + rng.uniform(0, 0.05), "job": "job0", "step": step, "rank": r,
                         "node": topo.nodes[topo.gpu_node[g]].name, "gpu": int(topo.gpu_local[g]),
                         "compute_s": float(comp[r]), "comm_s": float(end - comp[r]),
                         **({"stage": int(stage[r])} if stages > 1 else {})})
    return build_steps(rows, topo)
