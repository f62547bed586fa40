"""The time-stepped cluster: :class:`Simulation` ties hardware, jobs, faults together.

Each tick (``tick_s``, default 10 s): faults and confounders write the tick's
:class:`~brownout.sim.effects.Effects`; discrete events fire (Xids, crashes,
counter resets); GPUs and the network advance; jobs emit the steps that
complete by the end of the tick; every ``scrape_interval_s`` the exporters are
scraped into the :class:`~brownout.sim.recording.Recording`; then the
``on_tick`` callback runs, where a controller may read telemetry and call
:meth:`Simulation.drain` / :meth:`Simulation.undrain` / :meth:`Simulation.restart_job`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from brownout.clock import ManualClock
from brownout.errors import InputError
from brownout.findings import TruthFault
from brownout.sim import confounders, faults, fleet, hangs, hardware, jobs, nvlink
from brownout.sim.effects import Effects
from brownout.sim.fabric import build_port_map, gpu_link_factor, gpu_nic
from brownout.sim.failure_tables import TABLES, fine_arrivals
from brownout.sim.labels import build_labels
from brownout.sim.physics import compute_slowdown
from brownout.sim.recording import Recording
from brownout.sim.scenario import FaultSpec, Scenario
from brownout.sim.snapshot import scrape
from brownout.telemetry.frame import Frame
from brownout.telemetry.series import SeriesRegistry
from brownout.telemetry.steps import StepRecords
from brownout.topology.generate import generate_topology
from brownout.topology.loader import load_topology
from brownout.topology.model import Topology

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
TickCallback = Callable[["Simulation"], None]


def build_topology(sc: Scenario) -> Topology:
    """The scenario's cluster: its topology file, or a generated one."""
    if sc.topology_file:
        return load_topology(sc.topology_file)
    if sc.layout == "nvl72":
        return nvlink.nvl72_topology(sc.n_nodes, name=sc.name)
    return generate_topology(sc.n_nodes, layout=sc.layout, name=sc.name,
                             gpus_per_node=sc.gpus_per_node, nodes_per_rack=sc.nodes_per_rack,
                             racks_per_cooling=sc.racks_per_cooling,
                             nodes_per_rail_group=sc.nodes_per_rail_group,
                             gpu_model=sc.gpu_model)


class Simulation:
    """A seeded, reproducible run of one scenario (fine mode).

    Args:
        scenario: what to simulate.
        seed: overrides the scenario's seed.
        topology: overrides the scenario's cluster.
    """

    def __init__(self, scenario: Scenario, seed: int | None = None,
                 topology: Topology | None = None) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.rng = np.random.default_rng(self.seed)
        self.topology = topology or build_topology(scenario)
        self.clock = ManualClock(scenario.start_s)
        self.model = fleet.cluster_model(self.topology)
        self.ports = build_port_map(self.topology)
        self.labels = build_labels(self.topology, self.ports)
        self._routing = hardware.PortRouting.build(self.topology, self.ports)
        self._gpu_nic = gpu_nic(self.topology)
        self.nvlink = nvlink.NvlinkFabric(self.topology)
        self.dt_s, self._scrape_every = _tick_plan(scenario)
        self._init_hardware()
        self._init_jobs()
        self._init_faults()
        self.recording = Recording()
        self.step_log = jobs.StepLog()
        self.ticks = 0
        self.record = True  # keep every scrape (live mode turns this off)

    # ------------------------------------------------------------- setup
    def _init_hardware(self) -> None:
        topo, rng, sc = self.topology, self.rng, self.scenario
        g = topo.n_gpus
        self.inlet_base = rng.uniform(sc.inlet_c[0], sc.inlet_c[1], len(topo.cooling_domains))
        self.gpu_domain = topo.gpu_cooling()
        self.r_th = self.model.r_th_c_per_w * rng.lognormal(0.0, sc.telemetry.r_th_sd, g)
        self.dyn_w = self.model.dynamic_w * (1.0 + rng.normal(0.0, 0.03, g))
        self.gpu_speed = rng.random(g)
        vrng = fleet.variant_rng(self.seed)
        self.inlet_offset = fleet.node_inlet_offset(sc.telemetry, topo, vrng)
        self.bias = fleet.TelemetryBias.draw(sc.telemetry, g, vrng)
        self.gpu = hardware.GpuState.initial(
            self.model, self.inlet_base[self.gpu_domain] + self.inlet_offset, self.r_th)
        self.net = hardware.NetState.initial(topo.n_nics, len(self.ports))
        self.effects = Effects.healthy(topo)
        self.drained = np.zeros(topo.n_nodes, bool)
        self.allocated = np.zeros(topo.n_nodes, bool)
        self.down = np.zeros(topo.n_nodes, bool)
        self.run_since: dict[int, float] = {}  # job index -> start of its current incarnation
        self.struck: set[int] = set()  # rank_hang faults (list index) that hung a job
        self.faults: list[faults.Fault] = []  # drawn in _init_faults, after the jobs start
        n = topo.n_nodes
        phase_max = 0.9 * min(self.dt_s, self.scenario.scrape_interval_s)
        self._phase = (rng.uniform(0, phase_max, n), rng.uniform(0, phase_max, n),
                       rng.uniform(0, phase_max, len(topo.switches)))

    def _init_jobs(self) -> None:
        self.jobs = [jobs.Job(spec, i, float(self.rng.uniform(*spec.spread)))
                     for i, spec in enumerate(self.scenario.jobs)]
        if sum(j.spec.nodes for j in self.jobs) > self.topology.n_nodes:
            raise InputError(f"{self.scenario.source}: jobs need more nodes than the cluster has")
        for job in self.jobs:
            if job.spec.start_s > 0:
                job.status, job.resume_at_s = "waiting", self.clock.now() + job.spec.start_s
            else:
                self._start(job, self.clock.now(), np.zeros(0, np.int64))

    def _init_faults(self) -> None:
        topo, sc = self.topology, self.scenario
        busy_nodes = np.flatnonzero(self.allocated).astype(np.int64)
        busy_gpus = np.flatnonzero(self.allocated[topo.gpu_node]).astype(np.int64)
        multi = [j for j in self.jobs if len(j.nodes) > 1]
        multi_nodes = (np.unique(np.concatenate([j.nodes for j in multi])) if multi
                       else busy_nodes)
        leaves = np.unique(topo.nic_switch[np.isin(topo.nic_node, multi_nodes)])
        cands = faults.Candidates(
            gpus=busy_gpus, nodes=busy_nodes,
            nics=np.flatnonzero(np.isin(topo.nic_node, multi_nodes)).astype(np.int64),
            switches=leaves.astype(np.int64),
            domains=np.unique(topo.node_cooling[busy_nodes]).astype(np.int64),
            nvlink_domains=nvlink.busy_domains(topo, busy_nodes))
        specs, crashes = self._table_failures()
        self.faults = faults.sample_faults(sc.faults + specs, topo, cands, sc.start_s, self.rng)
        self.events = confounders.sample_events(
            sc.confounders, cands, leaves=leaves, jobs=tuple(j.spec.name for j in self.jobs),
            n_gpus=topo.n_gpus, start_s=sc.start_s, rng=self.rng) + crashes
        self.events.sort(key=lambda ev: (ev.at_s, ev.kind, ev.index))
        self.dyn_w = self.dyn_w * confounders.static_power_mult(self.events, topo.n_gpus)
        self.inlet_base = self.inlet_base + confounders.static_inlet_add(
            self.events, len(topo.cooling_domains))
        self.gpu.inlet_c = self.inlet_base[self.gpu_domain] + self.inlet_offset
        hardware.settle(self.gpu, self.model, self._demand(self.effects), self.dyn_w, self.r_th)

    def _table_failures(self) -> tuple[tuple[FaultSpec, ...], list[confounders.Event]]:
        """Failures at a published table's rates (x ``failure_rate_mult``).

        Causes with a fault kind become faults (in the truth); the others
        (software bugs, NCCL timeouts, host parts, maintenance) interrupt a
        random job, which restarts from its checkpoint on the same nodes.
        """
        sc = self.scenario
        if not sc.failure_table:
            return (), []
        if sc.failure_table not in TABLES:
            raise InputError(f"{sc.source}: failure_table must be one of {', '.join(TABLES)}")
        arrivals = fine_arrivals(sc.failure_table, self.topology.n_gpus, sc.duration_s,
                                 sc.failure_rate_mult, self.rng)
        kinds = [(t, c.kind, c.variant) for t, c in arrivals if c.kind is not None]
        names = [j.spec.name for j in self.jobs]
        crashes = [confounders.Event("job_restarts", sc.start_s + t, sc.start_s + t, -1, 0.0,
                                     names[int(self.rng.integers(len(names)))])
                   for t, c in arrivals if c.kind is None and names]
        return faults.table_specs(kinds), crashes

    # ------------------------------------------------------------- control hooks
    def now(self) -> float:
        """Simulated time, unix seconds."""
        return self.clock.now()

    def drain(self, node: str, restart_jobs: bool = True) -> None:
        """Take ``node`` out of scheduling; jobs on it restart elsewhere from checkpoint."""
        i = self._node(node)
        self.drained[i] = True
        if restart_jobs:
            for job in self.jobs:
                if job.status == "running" and i in set(job.nodes.tolist()):
                    self._crash(job, self.now())

    def undrain(self, node: str) -> None:
        """Return ``node`` to scheduling."""
        self.drained[self._node(node)] = False

    def restart_job(self, name: str) -> None:
        """Restart a job from its last checkpoint (it may land on other nodes)."""
        for job in self.jobs:
            if job.spec.name == name:
                self._crash(job, self.now())
                return
        raise InputError(f"no job named '{name}'")

    def _node(self, node: str) -> int:
        i = self.topology.node_index.get(node)
        if i is None:
            raise InputError(f"no node named '{node}' in the topology")
        return i

    # ------------------------------------------------------------- the tick
    @property
    def end_s(self) -> float:
        return self.scenario.start_s + self.scenario.duration_s

    def done(self) -> bool:
        return self.now() >= self.end_s - 1e-9

    def tick(self) -> None:
        """Advance the cluster by one tick."""
        t0 = self.now()
        t1 = t0 + self.dt_s
        e = self.effects
        e.reset()
        faults.apply_faults(e, self.faults, t1, self.dt_s, self.topology)
        confounders.apply_events(e, self.events, t1, self.dt_s)
        self._discrete(e, t0)
        self.gpu.inlet_c = ((self.inlet_base + e.domain_inlet_add)[self.gpu_domain]
                            + self.inlet_offset)
        hardware.gpu_tick(self.gpu, self.model, e, demand=self._demand(e), dyn_w=self.dyn_w,
                          r_th=self.r_th, dt_s=self.dt_s, rng=self.rng)
        self._run_jobs(e, t0, t1)
        self.nvlink.tick(e, self.jobs, self.events, self.gpu.counters, t_s=t1, dt_s=self.dt_s,
                         rng=self.rng)
        hardware.net_tick(self.net, self.topology, self._routing, self.ports, e=e,
                          nic_bytes=self._nic_bytes(), rng=self.rng, dt_s=self.dt_s)
        self.ticks += 1
        self.clock.set(t1)
        if self.record and self.ticks % self._scrape_every == 0:
            self._scrape(t1)

    def _discrete(self, e: Effects, t0: float) -> None:
        for g, code, _ in e.xid_events:
            self.gpu.xid[g] = code
        for node, _ in e.counter_resets:
            topo = self.topology
            self.gpu.reset(np.arange(topo.gpu_offset[node], topo.gpu_offset[node + 1]))
            self.net.reset(np.flatnonzero(topo.nic_node == node))
        for name, at in e.crashes:
            for job in self.jobs:
                if job.spec.name == name and job.status == "running":
                    self._xid_on_crash(job)
                    self._crash(job, max(at, t0))
        for f in hangs.ended(self.faults, t0, self.dt_s):  # the NCCL watchdog kills the job
            for job in self.jobs:
                if job.status == "running" and hangs.hang_of(
                        job, [f], self.run_since.get(job.index, 0.0), f.onset_s) is not None:
                    self._crash(job, f.end_s or t0)
        for f in self.faults:  # a repaired GPU comes back with a clean Xid gauge
            if f.kind == "gpu_failed" and f.end_s is not None and t0 < f.end_s <= t0 + self.dt_s:
                self.gpu.xid[f.index] = 0

    def _xid_on_crash(self, job: jobs.Job) -> None:
        """An application crash often leaves an Xid 13 (graphics exception) behind."""
        if self.rng.random() < 0.5:
            self.gpu.xid[int(self.rng.choice(job.gpus))] = 13

    def _demand(self, e: Effects) -> F64:
        """Utilisation each GPU's job asks for (0 for idle GPUs)."""
        demand = np.zeros(self.topology.n_gpus)
        for job in self.jobs:
            if job.status == "running":
                host = e.node_compute_mult[job.rank_node]
                demand[job.gpus] = 0.985 / host * self.rng.uniform(0.985, 1.0, len(job.gpus))
                hung = self._hang(job, self.now() + self.dt_s)
                if hung is not None:
                    hangs.hang_demand(job, hung, e, demand)
        return demand

    def _hang(self, job: jobs.Job, t_s: float) -> faults.Fault | None:
        return hangs.hang_of(job, self.faults, self.run_since.get(job.index, 0.0), t_s)

    def _run_jobs(self, e: Effects, t0: float, t1: float) -> None:
        slow_gpu = compute_slowdown(self.model, self.gpu.clock_frac) * e.gpu_compute_mult
        link = gpu_link_factor(self.topology, self._gpu_nic, e.nic_bw, e.switch_congestion)
        inp = jobs.StepInputs(slow_gpu, e.node_compute_mult, self.nvlink.link_slow(1.0 / link, e))
        dead = e.gpu_dead | self.gpu.shut_down
        self.down = np.zeros(self.topology.n_nodes, bool)
        np.logical_or.at(self.down, self.topology.gpu_node, dead)
        for job in self.jobs:
            if job.status == "running" and dead[job.gpus].any():
                at = self._failure_time(job, t0, t1)
                hung = self._hang(job, at)  # a hung job wrote its last step at the onset
                jobs.advance(job, min(at, hung.onset_s) if hung else at, inp, self.rng,
                             self.step_log)
                self._crash(job, at)
            if job.status == "running":
                hung = self._hang(job, t1)  # a hung job writes no step after the onset
                if hung is not None:
                    self.struck.add(self.faults.index(hung))
                until = min(t1, self._finish_at(job), hung.onset_s if hung else math.inf)
                jobs.advance(job, until, inp, self.rng, self.step_log)
            elif job.status != "done" and job.resume_at_s <= t1:
                self._start(job, max(job.resume_at_s, t0), job.nodes)
                jobs.advance(job, t1, inp, self.rng, self.step_log)
            if job.status == "running" and self._finish_at(job) <= t1:
                job.status = "done"  # completed: its nodes go idle
                self.allocated[job.nodes] = False

    def _finish_at(self, job: jobs.Job) -> float:
        if job.spec.run_s is None:
            return math.inf
        return self.scenario.start_s + job.spec.start_s + job.spec.run_s

    def _failure_time(self, job: jobs.Job, t0: float, t1: float) -> float:
        gpus = set(job.gpus.tolist())
        onsets = [f.onset_s for f in self.faults
                  if f.kind == "gpu_failed" and f.index in gpus and f.active(t1)]
        return min(max(min(onsets, default=t0), t0), t1)

    def _crash(self, job: jobs.Job, at_s: float) -> None:
        restart = float(self.rng.uniform(*job.spec.restart_s))
        jobs.crash(job, at_s, restart, self.allocated)

    def _start(self, job: jobs.Job, at_s: float, prefer: I64) -> None:
        usable = ~self.allocated & ~self.drained & ~self.down
        if jobs.place(job, self.topology, usable, prefer):
            self.allocated[job.nodes] = True
            jobs.set_static(job, self.gpu_speed)
            self.nvlink.place(job)
            job.status = "running"
            job.next_start_s = at_s
            self.run_since[job.index] = at_s
            hangs.defer(self.faults, job, at_s, self.struck)
        else:
            job.status = "pending"

    def _nic_bytes(self) -> F64:
        """Bytes every NIC moved this tick (training traffic plus a trickle)."""
        per_node = np.full(self.topology.n_nodes, 2e5 * self.dt_s)
        for job in self.jobs:
            if job.status == "running" and job.nic_bytes > 0:
                step_s = job.step_s or (job.spec.compute_s + job.ar_s)
                per_node[job.nodes] += job.nic_bytes * self.dt_s / step_s
        return per_node[self.topology.nic_node]

    def _scrape(self, t_s: float) -> None:
        silent = self.effects.node_silent
        gpu, nic, port = scrape(self, silent)
        self.bias.apply(gpu)
        jit = self.rng.normal(0.0, 0.02, self.topology.n_nodes * 2 + len(self.topology.switches))
        n = self.topology.n_nodes
        stamps = (np.round(t_s + self._phase[0] + jit[:n], 3),
                  np.round(t_s + self._phase[1] + jit[n:2 * n], 3),
                  np.round(t_s + self._phase[2] + jit[2 * n:], 3))
        self.recording.add(t_s, gpu, nic, port, stamps)

    # ------------------------------------------------------------- running
    def run(self, on_tick: TickCallback | None = None,
            progress: Callable[[float], None] | None = None) -> None:
        """Tick until the scenario's end; ``progress`` gets the fraction done."""
        total = max(1, math.ceil(self.scenario.duration_s / self.dt_s))
        while not self.done():
            self.tick()
            if on_tick is not None:
                on_tick(self)
            if progress is not None and self.ticks % 20 == 0:
                progress(min(1.0, self.ticks / total))

    # ------------------------------------------------------------- results
    def truth(self) -> list[TruthFault]:
        """Ground truth: every injected fault whose onset falls within the run.

        A ``rank_hang`` that is over (or the run is) without ever holding a job
        never happened: its onset fell while the job was already hung by another
        rank (or down) and it ended before the job's next incarnation.
        """
        over = self.now() if not self.done() else math.inf
        return [f.truth(self.end_s) for i, f in enumerate(self.faults)
                if f.onset_s < self.end_s and not (
                    f.kind == "rank_hang" and i not in self.struck
                    and (f.end_s or math.inf) <= over)]

    def steps(self) -> StepRecords:
        """Every step record so far, time-ordered, keyed to the topology."""
        ts, job, step, rank, node, gpu, comp, comm, stage = self.step_log.columns()
        return StepRecords(ts, job.astype(np.int32), step, rank.astype(np.int32),
                           node.astype(np.int32), self.topology.gpu_local[gpu].astype(np.int32),
                           comp, comm, stage.astype(np.int32),
                           tuple(j.spec.name for j in self.jobs))

    def frame(self, registry: SeriesRegistry | None = None, start_scrape: int = 0) -> Frame:
        """Telemetry scraped so far (from scrape ``start_scrape`` on) as a Frame."""
        reg = registry or SeriesRegistry(self.topology)
        return self.recording.frame(reg, self.labels, start_scrape)


def _tick_plan(sc: Scenario) -> tuple[float, int]:
    """Tick length dividing the scrape interval, and scrapes every how many ticks."""
    every = max(1, math.ceil(sc.scrape_interval_s / sc.tick_s - 1e-9))
    return sc.scrape_interval_s / every, every
