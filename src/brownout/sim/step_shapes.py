"""Job shapes for step logs: step-only scenarios that look like real training jobs.

The fine simulator's jobs are the twin's own shape (many short steps, eight
ranks per node, one stage). Real step logs are not: steps of 50 ms to
minutes, logs that keep every Nth step, one rank per machine or eight,
pipeline stages of one to eight ranks, several jobs at once, static
heterogeneity between ranks (mixed SKUs, placement, NUMA), heavy-tailed
noise, sequence-length imbalance that moves the slowest rank around,
pipeline bubbles counted in ``comm_s``, transient stragglers and restarts.
:func:`draw_shape` draws such a shape, :func:`simulate_steps` turns it into
step records, a topology and the ground truth (spec/findings.md §3).

Healthy spread is calibrated on real jobs: :data:`PAI_STEADY_COV` are the
per-interval cross-worker coefficients of variation of the 65 steady jobs
(median CoV < 0.2) among 100 production jobs of Alibaba PAI ("Alibaba Cluster
Trace Program, cluster-trace-gpu-v2020, mini-batch-time data
(github.com/alibaba/clusterdata)", CC-BY-4.0; Xiao et al., AntMan, OSDI 2020).
The draws of static spread, noise and imbalance below give healthy jobs a
CoV distribution around these numbers (``benchmarks/eval_steps.py`` prints
both).

Truth convention: one slow rank on a node with several ranks is
``gpu_degraded`` at its GPU; every rank of a node slow is ``host_straggler``
at the node; on a node with a single rank GPU and host cannot be told apart
from steps and the label is ``host_straggler`` at the node (as in the PAI
traces' inferred labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from brownout.findings import TruthFault
from brownout.telemetry.steps import StepRecords
from brownout.topology.loader import from_dict
from brownout.topology.model import Topology

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Cross-worker CoV of steady production jobs (PAI, see module docstring):
#: median and 90th percentile over 52,652 intervals of 65 jobs.
PAI_STEADY_COV = {"median": 0.062, "p90": 0.133}
#: Every slowdown shows in at least this many logged records of its ranks (the
#: step-only bar: slow ranks lasting at least max(5 records, 2 minutes)).
MIN_RECORDS = 5
START_S = 1764000000.0


@dataclass(frozen=True)
class SlowRank:
    """One injected slowdown.

    Attributes:
        job: index of the job.
        ranks: the job's ranks that slow down (one rank, or every rank of a node).
        factor: compute-time multiplier (1.4 = 40% slower).
        onset_s, end_s: seconds after the start; ``end_s`` None lasts to the end.
        min_records: it slows at least this many logged records (extended past
            ``end_s`` when the log shows fewer: a heavy-tailed hiccup can
            stretch one record over most of a slowdown drawn in seconds).
    """

    job: int
    ranks: tuple[int, ...]
    factor: float
    onset_s: float
    end_s: float | None
    min_records: int = 0


@dataclass(frozen=True)
class JobShape:
    """The shape of one synchronous job's step log.

    Attributes:
        name: job name.
        nodes: machines it runs on.
        ranks_per_node: ranks (GPUs) per machine.
        stages: pipeline stages (ranks split evenly, in rank order).
        step_s: healthy compute seconds of a step.
        log_every: the log keeps every Nth step.
        static_spread: ranks' static speeds spread over ``[1, 1 + spread]``.
        static_outliers: ranks statically slower by 5-15% on top (mixed SKUs).
        noise_sigma: per-record log-normal noise.
        tail_prob, tail_scale: chance of a heavy-tailed (Pareto) hiccup per
            record, and its size as a fraction of the step.
        seqlen_sigma: per-step, per-rank imbalance of the work itself
            (sequence lengths, MoE routing): moves the slowest rank around.
        stage_extra: the last stage computes this much more, by design.
        bubble: pipeline bubble as a fraction of the step (in ``comm_s``).
        comm_frac: collective time as a fraction of the step.
        restarts: restarts from the last checkpoint (the step number goes back).
        checkpoint_every: steps between checkpoints.
        static: explicit static speed per rank (1.09 = 9% slower); replaces
            the drawn spread and outliers when given.
    """

    name: str = "job0"
    nodes: int = 2
    ranks_per_node: int = 8
    stages: int = 1
    step_s: float = 5.0
    log_every: int = 1
    static_spread: float = 0.08
    static_outliers: int = 0
    noise_sigma: float = 0.02
    tail_prob: float = 0.0
    tail_scale: float = 0.5
    seqlen_sigma: float = 0.0
    stage_extra: float = 0.0
    bubble: float = 0.0
    comm_frac: float = 0.1
    restarts: int = 0
    checkpoint_every: int = 200
    static: tuple[float, ...] = ()

    @property
    def ranks(self) -> int:
        return self.nodes * self.ranks_per_node

    @property
    def record_s(self) -> float:
        """Seconds between two logged steps of a healthy run (about): the slowest
        rank sets the pace, and the last stage computes ``stage_extra`` more."""
        bub = self.bubble if self.stages > 1 else 0.0
        return self.log_every * self.step_s * (1 + self.static_spread) * (
            1 + self.stage_extra) * (1 + bub + self.comm_frac)

    def holds_a_stage(self, ranks: tuple[int, ...]) -> bool:
        """Whether ``ranks`` include every rank of some pipeline stage."""
        stage = np.arange(self.ranks) * self.stages // self.ranks
        return any(set(np.flatnonzero(stage == s).tolist()) <= set(ranks)
                   for s in range(self.stages))


@dataclass(frozen=True)
class StepScenario:
    """Jobs on disjoint machines, for ``duration_s``, with slowdowns."""

    name: str
    jobs: tuple[JobShape, ...]
    duration_s: float
    slow: tuple[SlowRank, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepRun:
    """What a step scenario produced."""

    topology: Topology
    steps: StepRecords
    truth: list[TruthFault]


# ------------------------------------------------------------------ drawing
def draw_job(rng: np.random.Generator, index: int, max_records: int) -> JobShape:
    """One job of a random realistic shape (see the module docstring)."""
    rpn = int(rng.choice([1, 1, 2, 4, 8, 8]))
    nodes = int(rng.integers(4, 13)) if rpn == 1 else int(rng.integers(1, 5))
    nodes = max(nodes, 2) if rpn <= 2 else nodes
    ranks = nodes * rpn
    stage_opts = [s for s in (1, 2, 4, 8) if ranks % s == 0 and ranks // s >= 2]
    stages = int(rng.choice(stage_opts)) if rng.random() < 0.4 else 1
    step_s = float(np.exp(rng.uniform(np.log(0.05), np.log(120.0))))
    log_every = int(rng.choice([1, 1, 5, 10, 50])) if step_s < 10 else 1
    if step_s < 1.0:
        log_every = max(log_every, int(rng.choice([1, 10, 20])))
    return JobShape(
        name=f"job{index}", nodes=nodes, ranks_per_node=rpn, stages=stages, step_s=step_s,
        log_every=log_every, static_spread=float(rng.uniform(0.03, 0.15)),
        static_outliers=int(rng.integers(0, 4)) if rng.random() < 0.3 else 0,
        noise_sigma=float(rng.uniform(0.02, 0.06)),
        tail_prob=float(rng.choice([0.01, 0.02, 0.05])), tail_scale=float(rng.uniform(0.3, 1.0)),
        seqlen_sigma=float(rng.choice([0.0, 0.03, 0.06, 0.09])),
        stage_extra=float(rng.uniform(0.0, 0.3)) if stages > 1 else 0.0,
        bubble=float(rng.uniform(0.05, 0.3)) if stages > 1 else 0.0,
        comm_frac=float(rng.uniform(0.05, 0.3)),
        restarts=int(rng.random() < 0.25), checkpoint_every=int(rng.integers(20, 200)))


def draw_scenario(rng: np.random.Generator, name: str, healthy: bool = False,
                  max_records: int = 60000) -> StepScenario:
    """A step scenario: 1-3 jobs, each with 1-2 slowdowns (one in jobs of fewer than
    eight ranks, where two would be a third of the job; none when ``healthy``)."""
    jobs = [draw_job(rng, j, max_records) for j in range(int(rng.choice([1, 1, 2, 3])))]
    duration = float(max(rng.uniform(2400, 7200), 40 * max(j.record_s for j in jobs)))
    per_job = max_records // len(jobs)
    jobs = [_fit(j, duration, per_job) for j in jobs]
    slow: list[SlowRank] = []
    if not healthy:
        for j, job in enumerate(jobs):
            for _ in range(int(rng.integers(1, 3)) if job.ranks >= 8 else 1):
                got = draw_slowdown(rng, j, job, duration, slow)
                if got is not None:
                    slow.append(got)
    return StepScenario(name, tuple(jobs), duration, tuple(slow))


def _fit(job: JobShape, duration_s: float, max_records: int) -> JobShape:
    """The job logging every Nth step, N large enough to stay within ``max_records``."""
    records = job.ranks * duration_s / job.record_s
    if records <= max_records:
        return job
    return replace(job, log_every=int(np.ceil(job.log_every * records / max_records)))


def draw_slowdown(rng: np.random.Generator, j: int, job: JobShape, duration_s: float,
                  taken: list[SlowRank]) -> SlowRank | None:
    """A slow rank (or node) of ``job``: 1.25x-2.5x, at least max(5 records, 2 min) long.

    Every slowdown of a job strikes a node no other slowdown touched (None when
    none is left): two GPU faults at once on one node would read as its host.
    """
    rpn = job.ranks_per_node
    used = {r // rpn for s in taken if s.job == j for r in s.ranks}  # one slowdown a node
    free_nodes = [n for n in range(job.nodes) if n not in used]
    free_ranks = [r for r in range(job.ranks) if r // rpn not in used]
    if rpn == 1 or (free_nodes and job.nodes > 1 and rng.random() < 0.3):
        if not free_nodes:
            return None
        node = int(rng.choice(free_nodes))
        ranks = tuple(range(node * rpn, (node + 1) * rpn))
    else:
        if not free_ranks:
            return None
        ranks = (int(rng.choice(free_ranks)),)
    min_len = max(5 * job.record_s, 120.0)
    # a whole pipeline stage slow from its first record has neither peers nor a past
    # of its own: nothing in the log tells it from a stage that computes more by design
    from_start = rng.random() < 0.2 and not job.holds_a_stage(ranks)
    lo = 1.3 if from_start else 1.25  # gray failures are mostly mild
    factor = float(rng.uniform(lo, 1.6) if rng.random() < 0.7 else rng.uniform(1.6, 2.5))
    onset = 0.0 if from_start else float(rng.uniform(0.1, 0.6) * duration_s)
    length = float(rng.uniform(1.0, 4.0) * min_len)
    end = None if rng.random() < 0.4 or onset + length >= duration_s else onset + length
    got = SlowRank(j, ranks, factor, onset, end, MIN_RECORDS)
    return None if _crowded(job, got, [s for s in taken if s.job == j]) else got


def _crowded(job: JobShape, new: SlowRank, others: list[SlowRank]) -> bool:
    """Whether ``new``, with the slowdowns of its job that begin within the shortest
    slowdown's length of it (max(5 records, 2 min)), leaves no healthy yardstick:
    more than half of a pipeline stage turning slow at once (but not all of it),
    or more than half of the stages wholly. That holds for one slow node too: a
    node holding most (not all) of a stage that spans nodes unevenly moves the
    stage's median with it (a known blind spot, docs/detection.md "Known weak
    spots"; real layouts keep a stage on whole nodes, tensor parallel inside one).

    Ranks are told slow by their healthy stage peers, a whole stage by the other
    stages; with most of them turning slow together, the log shows a job whose
    few fast ranks got faster as much as one whose many ranks got slower. (One
    found first is a yardstick no longer, so the others stand out after it.)
    """
    inf = float("inf")
    near = max(5 * job.record_s, 120.0)
    slow = set(new.ranks)
    for s in others:
        if (s.onset_s < (new.end_s or inf) and new.onset_s < (s.end_s or inf)
                and abs(s.onset_s - new.onset_s) < near):
            slow |= set(s.ranks)
    if slow == set(new.ranks) and len(new.ranks) == 1:
        return False
    stage = np.arange(job.ranks) * job.stages // job.ranks
    hit = [sum(1 for r in np.flatnonzero(stage == k) if int(r) in slow) / max(
        int(np.sum(stage == k)), 1) for k in range(job.stages)]
    return any(0.5 < h < 1.0 for h in hit) or 2 * sum(h == 1.0 for h in hit) > job.stages


# ------------------------------------------------------------------ simulation
def scenario_topology(sc: StepScenario) -> Topology:
    """Machines of every job, four per rack, one leaf per rack."""
    nodes: list[dict[str, Any]] = []
    for j, job in enumerate(sc.jobs):
        for n in range(job.nodes):
            k = len(nodes)
            nodes.append({"name": f"j{j}n{n:03d}", "rack": f"r{k // 4:02d}", "cooling": "cdu00",
                          "leaf": f"leaf{k // 4:02d}", "gpus": job.ranks_per_node})
    leaves = sorted({str(n["leaf"]) for n in nodes})
    switches = [{"name": "spine00", "tier": "spine"}] + [
        {"name": s, "tier": "leaf", "uplinks": ["spine00"]} for s in leaves]
    return from_dict({"version": 1, "name": sc.name, "nodes": nodes, "switches": switches},
                     f"<{sc.name}>")


def simulate_steps(sc: StepScenario, seed: int) -> StepRun:
    """Step records, topology and truth of a step scenario."""
    rng = np.random.default_rng(seed)
    topo = scenario_topology(sc)
    cols: list[dict[str, Any]] = []
    truth: list[TruthFault] = []
    for j, job in enumerate(sc.jobs):
        mine = [s for s in sc.slow if s.job == j]
        rec, faults = _job_records(rng, job, j, sc.duration_s, mine)
        cols.append(rec)
        truth.extend(faults)
    return StepRun(topo, _to_records(cols, sc, topo), truth)


def _static(rng: np.random.Generator, job: JobShape) -> F64:
    if job.static:
        return np.asarray(job.static, dtype=np.float64)
    speed = 1.0 + rng.uniform(0.0, job.static_spread, job.ranks)
    if job.static_outliers:
        out = rng.choice(job.ranks, size=min(job.static_outliers, job.ranks // 3 or 1),
                         replace=False)
        speed[out] = 1.0 + rng.uniform(0.05, 0.15, out.size)  # at most 15% in all
    return speed


def _compute(rng: np.random.Generator, job: JobShape, k: int) -> F64:
    """Healthy compute seconds, [logged step, rank]."""
    stage = np.arange(job.ranks) * job.stages // job.ranks
    mult = np.where(stage == job.stages - 1, 1.0 + job.stage_extra, 1.0)
    comp = job.step_s * _static(rng, job) * mult * rng.lognormal(
        0.0, job.noise_sigma, (k, job.ranks))
    if job.seqlen_sigma:
        comp *= rng.lognormal(0.0, job.seqlen_sigma, (k, job.ranks))
    if job.tail_prob:
        hit = rng.random((k, job.ranks)) < job.tail_prob
        comp += hit * job.step_s * job.tail_scale * rng.pareto(2.5, (k, job.ranks))
    return comp


def _job_records(rng: np.random.Generator, job: JobShape, j: int, duration_s: float,
                 slow: list[SlowRank]) -> tuple[dict[str, Any], list[TruthFault]]:
    k = max(int(duration_s / job.record_s * 1.3), 8)
    order, gap = _restarts(rng, job, k)
    comp = _compute(rng, job, k)[order]  # in execution order: redone steps appear twice
    healthy_end = START_S + np.cumsum(_durations(comp, job, rng) + gap)
    mask = np.zeros_like(comp, dtype=bool)
    for s in slow:  # a slowdown strikes by time, whichever step runs then
        end = START_S + (s.end_s if s.end_s is not None else np.inf)
        rows = (healthy_end >= START_S + s.onset_s) & (healthy_end - job.record_s < end)
        rows = _at_least(rows, s.min_records)
        cols = np.asarray(s.ranks, dtype=np.int64)
        comp[np.ix_(rows, cols)] *= s.factor
        mask[np.ix_(rows, cols)] = True
    dur = _durations(comp, job, rng)
    end_s = START_S + np.cumsum(dur + gap)
    step = job.log_every * (1 + order.astype(np.int64))
    inside = end_s <= START_S + duration_s
    comp, mask, dur, end_s, step = comp[inside], mask[inside], dur[inside], end_s[inside], \
        step[inside]
    step_dur = dur / job.log_every
    return ({"comp": comp, "step_dur": step_dur, "end": end_s, "step": step, "job": j,
             "shape": job},
            _truth(job, j, slow, mask, end_s=end_s, step_dur=step_dur))


def _at_least(rows: npt.NDArray[np.bool_], n: int) -> npt.NDArray[np.bool_]:
    """``rows`` (one contiguous run), extended forward to at least ``n`` rows."""
    hit = np.flatnonzero(rows)
    if 0 < hit.size < n:
        rows = rows.copy()
        rows[hit[0]:hit[0] + n] = True
    return rows


def _durations(comp: F64, job: JobShape, rng: np.random.Generator) -> F64:
    """Wall seconds between logged steps: slowest rank, bubble, collective."""
    bub = job.bubble if job.stages > 1 else 0.0
    step = comp.max(axis=1) * (1.0 + bub) + job.step_s * job.comm_frac * rng.lognormal(
        0.0, 0.03, comp.shape[0])
    return np.asarray(step * job.log_every, dtype=np.float64)


def _restarts(rng: np.random.Generator, job: JobShape, k: int
              ) -> tuple[npt.NDArray[np.intp], F64]:
    """Execution order of the logged steps, and the idle gap before each.

    A restart after logged step ``at`` waits 1-5 minutes, then computes
    again every step since the last checkpoint (the step number goes back).
    """
    order = np.arange(k)
    gap = np.zeros(k)
    for _ in range(job.restarts if k >= 20 else 0):
        at = int(rng.integers(order.size // 4, 3 * order.size // 4))
        ckpt = max(job.checkpoint_every // job.log_every, 1)
        step_at = int(order[at])
        redo = np.arange(step_at - step_at % ckpt, step_at + 1)
        order = np.concatenate([order[: at + 1], redo, order[at + 1:]])
        extra = np.zeros(redo.size)
        extra[0] = rng.uniform(60.0, 300.0)
        gap = np.concatenate([gap[: at + 1], extra, gap[at + 1:]])
    return order, gap


def _truth(job: JobShape, j: int, slow: list[SlowRank], mask: npt.NDArray[np.bool_], *,
           end_s: F64, step_dur: F64) -> list[TruthFault]:
    out = []
    for s in slow:
        rows = np.flatnonzero(mask[:, s.ranks[0]])  # every slowdown has ranks of its own
        if rows.size == 0:
            continue
        node = s.ranks[0] // job.ranks_per_node
        name = f"j{j}n{node:03d}"
        if len(s.ranks) > 1 or job.ranks_per_node == 1:
            kind, comp = "host_straggler", name
        else:
            kind, comp = "gpu_degraded", f"{name}/gpu{s.ranks[0] % job.ranks_per_node}"
        onset = float(end_s[rows[0]] - step_dur[rows[0]])
        end = None if s.end_s is None else float(end_s[rows[-1]])
        out.append(TruthFault(kind, comp, onset, end,
                              f"{len(s.ranks)} rank(s) of {job.name} at {s.factor:.2f}x"
                              f"{' from the first record' if s.onset_s == 0 else ''}"))
    return out


def _to_records(cols: list[dict[str, Any]], sc: StepScenario, topo: Topology) -> StepRecords:
    parts: dict[str, list[Any]] = {c: [] for c in ("ts", "job", "step", "rank", "node", "gpu",
                                                   "compute_s", "comm_s", "stage")}
    for c in cols:
        job: JobShape = c["shape"]
        k, r = c["comp"].shape
        rank = np.tile(np.arange(r), k)
        node_base = topo.node_index[f"j{c['job']}n000"]
        end = np.repeat(c["end"], r)
        comp = c["comp"].ravel()
        step_dur = np.repeat(c["step_dur"], r)
        parts["ts"].append(end)
        parts["job"].append(np.full(k * r, c["job"]))
        parts["step"].append(np.repeat(c["step"], r))
        parts["rank"].append(rank)
        parts["node"].append(node_base + rank // job.ranks_per_node)
        parts["gpu"].append(rank % job.ranks_per_node)
        parts["compute_s"].append(comp)
        parts["comm_s"].append(np.maximum(step_dur - comp, 0.0))
        stage = rank * job.stages // r if job.stages > 1 else np.full(k * r, -1)
        parts["stage"].append(stage)
    cat = {n: np.concatenate(v) for n, v in parts.items()}
    order = np.argsort(cat["ts"], kind="stable")
    return StepRecords(
        cat["ts"][order], cat["job"][order].astype(np.int32), cat["step"][order].astype(np.int64),
        cat["rank"][order].astype(np.int32), cat["node"][order].astype(np.int32),
        cat["gpu"][order].astype(np.int32), cat["compute_s"][order], cat["comm_s"][order],
        cat["stage"][order].astype(np.int32), tuple(j.name for j in sc.jobs))


def cross_rank_cov(steps: StepRecords) -> F64:
    """Per logged step of each job: std / mean of the ranks' compute (population)."""
    key = steps.job.astype(np.int64) * (1 << 40) + steps.step
    _, idx, counts = np.unique(key, return_inverse=True, return_counts=True)
    n = counts.size
    s1 = np.bincount(idx, steps.compute_s, n)
    s2 = np.bincount(idx, steps.compute_s ** 2, n)
    mean = s1 / counts
    var = np.maximum(s2 / counts - mean ** 2, 0.0)
    ok = counts >= 2
    return np.asarray(np.sqrt(var[ok]) / mean[ok])


def with_slow(sc: StepScenario, *slow: SlowRank) -> StepScenario:
    """The same scenario with these slowdowns added."""
    return replace(sc, slow=sc.slow + slow)
