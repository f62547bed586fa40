"""The goodput ledger: where each job's wall time went (spec/cli.md, goodput).

For every job, wall time (first step start to last step end) splits into
productive time (distinct steps completed x the job's healthy step time) and
losses with exactly the causes of the CLI contract: ``checkpoint``,
``rework``, ``restart``, ``straggler``, ``congestion``, ``other``. The causes
add up to ``wall_s - productive_s`` and none is negative, by construction.

Attribution, per step instance (see :mod:`brownout.recovery.instances`):

- gaps with no step running before a restart (the step number goes back, or
  the gap is much longer than a step) are ``restart``; other gaps ``other``;
- a step computed again after a restart costs one healthy step of ``rework``;
- a step's time above the healthy step time splits into a straggler wait
  (slowest rank's compute above the slowest rank within the healthy spread
  of its stage's median: robust to stragglers that last the whole job), a
  collective slowdown
  (``congestion``: least comm time of any rank above its usual value) and a
  common-mode compute slowdown (every rank alike): ``checkpoint`` when it is
  a short spike, ``other`` when it lasts (unless a finding names its cause);
- what no cause explains is ``other``; steps faster than usual pay back
  ``other`` first.

A log that keeps every Nth step is read with N inferred per job
(:mod:`brownout.recovery.stride`): each instance stands for the steps since
the previous one, and the time between logged steps is their work up to what
N steps at the local step time explain; only time clearly beyond is lost.

The simulator can feed the same function with its step records and its list
of interruptions (:class:`Interruption`), which adds detection delay and time
waiting for healthy capacity as sub-attributions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from brownout.findings import Finding
from brownout.recovery.findings_map import job_findings
from brownout.recovery.groups import rolling_median, run_lengths
from brownout.recovery.instances import Instances, build_instances
from brownout.recovery.stride import log_stride, step_weights
from brownout.telemetry.steps import StepRecords
from brownout.topology.model import Topology

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

CAUSES = ("checkpoint", "rework", "restart", "straggler", "congestion", "other")
SLOWDOWN_CAUSES = ("checkpoint", "straggler", "congestion")


@dataclass(frozen=True)
class LedgerConfig:
    """Settings of the attribution.

    Attributes:
        max_spread: widest healthy spread of compute between ranks of a stage
            (relative to their median); beyond it a rank straggles.
        restart_gap_steps: a gap without steps longer than this many healthy
            steps counts as a restart even if the step number does not go back.
        min_restart_gap_s: ... and longer than this many seconds.
        max_checkpoint_run: a common-mode slowdown lasting more consecutive
            steps than this is not a checkpoint stall.
        noise_mads: a signal (checkpoint spike, lasting slowdown, collective
            slowdown) counts above this many robust deviations of its
            step-to-step noise ...
        min_spike_frac: ... and above this fraction of the median step
            (the straggler wait only needs this one).
    """

    max_spread: float = 0.10
    restart_gap_steps: float = 5.0
    min_restart_gap_s: float = 30.0
    max_checkpoint_run: int = 3
    noise_mads: float = 4.0
    min_spike_frac: float = 0.02


@dataclass(frozen=True)
class Interruption:
    """A fail-stop interruption of a job as the simulator (or a scheduler log) knows it.

    Attributes:
        job: the job's name.
        start_s: when the failure happened (unix seconds).
        detected_s: when it was detected (None: unknown).
        capacity_wait_s: of the restart, seconds spent waiting for healthy
            capacity while failed or suspect nodes were quarantined.
        kind: free text (``gpu_failed``, ``hang``...).
    """

    job: str
    start_s: float
    detected_s: float | None = None
    capacity_wait_s: float = 0.0
    kind: str = "fail_stop"


@dataclass(frozen=True)
class JobLedger:
    """One job's wall time, productive time and losses by cause (seconds).

    ``detail`` holds sub-attributions that are part of some cause, never
    added to the total: ``detection_delay_s`` (loss while a fault was
    undetected), ``quarantine_wait_s`` (restart time waiting for capacity).
    """

    job: str
    wall_s: float
    productive_s: float
    healthy_step_s: float
    steps: int
    instances: int
    restarts: int
    ranks: int
    lost_s: Mapping[str, float]
    detail: Mapping[str, float] = field(default_factory=dict)

    @property
    def ettr(self) -> float:
        """Effective training time ratio: productive over wall time."""
        return self.productive_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def availability(self) -> float:
        """Share of wall time the job was up (not in a restart gap): what dashboards show."""
        return 1.0 - self.lost_s["restart"] / self.wall_s if self.wall_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"wall_s": self.wall_s, "productive_s": self.productive_s, "ettr": self.ettr,
                "availability": self.availability, "healthy_step_s": self.healthy_step_s,
                "steps": self.steps, "restarts": self.restarts, "ranks": self.ranks,
                "lost_s": {c: self.lost_s[c] for c in CAUSES}, "detail": dict(self.detail)}


@dataclass(frozen=True)
class Ledger:
    """Every job's ledger and the cluster totals (GPU-weighted by ranks)."""

    jobs: Mapping[str, JobLedger]

    def _weighted(self, attr: str) -> float:
        return float(sum(getattr(j, attr) * j.ranks for j in self.jobs.values()))

    @property
    def ettr(self) -> float:
        """Cluster ETTR: productive rank-seconds over wall rank-seconds."""
        wall = self._weighted("wall_s")
        return self._weighted("productive_s") / wall if wall > 0 else 0.0

    @property
    def availability(self) -> float:
        """Cluster availability: rank-seconds not in restart gaps over wall rank-seconds."""
        wall = self._weighted("wall_s")
        down = sum(j.lost_s["restart"] * j.ranks for j in self.jobs.values())
        return 1.0 - down / wall if wall > 0 else 0.0

    def lost_s(self) -> dict[str, float]:
        """Seconds lost per cause, summed over jobs (job seconds, not rank-seconds)."""
        return {c: float(sum(j.lost_s[c] for j in self.jobs.values())) for c in CAUSES}

    def cluster_json(self) -> dict[str, Any]:
        wall = sum(j.wall_s for j in self.jobs.values())
        prod = sum(j.productive_s for j in self.jobs.values())
        gpu_h = self._weighted("productive_s") / 3600.0
        return {"wall_s": wall, "productive_s": prod, "ettr": self.ettr,
                "availability": self.availability, "goodput_gpu_h": gpu_h,
                "restarts": sum(j.restarts for j in self.jobs.values()),
                "lost_s": self.lost_s()}

    def to_json(self) -> dict[str, Any]:
        """The ``brownout goodput --json`` object (plus a ``cluster`` summary)."""
        return {"jobs": {name: j.to_json() for name, j in self.jobs.items()},
                "cluster": self.cluster_json()}


def build_ledger(steps: StepRecords, findings: Sequence[Finding] = (),
                 interruptions: Sequence[Interruption] = (),
                 topology: Topology | None = None,
                 config: LedgerConfig | None = None) -> Ledger:
    """The goodput ledger of every job in ``steps``.

    Args:
        steps: step records of one or more jobs (any order of arrival).
        findings: optional findings; they attribute lasting slowdowns to a
            cause and measure detection delay.
        interruptions: optional known interruptions (the simulator's).
        topology: maps switch and cooling findings to the job's nodes.
        config: attribution settings.
    """
    cfg = config or LedgerConfig()
    out: dict[str, JobLedger] = {}
    order = np.argsort(steps.job, kind="stable")
    bounds = np.flatnonzero(np.diff(steps.job[order])) + 1
    for idx in np.split(order, bounds):
        if idx.shape[0] == 0:
            continue
        rec = steps.take(idx)
        name = steps.jobs[int(rec.job[0])]
        inst = build_instances(rec, cfg.max_spread)
        names = _node_names(inst, steps, topology)
        mine = job_findings(findings, names, topology)
        ints = [i for i in interruptions if i.job == name]
        ranks = int(np.unique(rec.rank).shape[0])
        out[name] = job_ledger(name, inst, ranks, mine, ints, config=cfg)
    return Ledger(jobs=dict(sorted(out.items())))


def _node_names(inst: Instances, steps: StepRecords, topology: Topology | None) -> set[str]:
    if topology is not None:
        return {topology.nodes[i].name for i in inst.node_ids}
    return {steps.node_names[i] for i in inst.node_ids if i < len(steps.node_names)}


def job_ledger(name: str, inst: Instances, ranks: int, findings: Sequence[Finding] = (),
               interruptions: Sequence[Interruption] = (), *,
               config: LedgerConfig | None = None) -> JobLedger:
    """Ledger of one job from its instances."""
    cfg = config or LedgerConfig()
    end, n = inst.end_s, len(inst)
    wall = float(end[-1] - inst.start_s) if n else 0.0
    w = step_weights(inst.step, inst.epoch).astype(np.float64)
    covered = float(w[~inst.repeat].sum())
    sig = _signals(inst, float(np.median(inst.dur_s)) if n else 0.0, findings, cfg)
    healthy = float(np.median(inst.dur_s - sig[1] - sig[2])) if n else 0.0
    if covered and wall > 0:
        healthy = min(healthy, wall / covered)
    interval = np.diff(np.concatenate(([inst.start_s], end)))
    dur = np.clip(inst.dur_s, 0.0, interval)
    own = dur - np.minimum(sig[0], dur)  # a logged step's time, less its checkpoint spike
    unlogged, tail, restart_mask = _unlogged(inst, interval - dur, w, own=own, healthy=healthy,
                                             cfg=cfg)
    gap = interval - dur - unlogged - tail
    restart_mask |= _restart_gaps(inst, gap, healthy, cfg)
    sig = _extrapolated(sig, w, unlogged - (w - 1) * healthy, restart=restart_mask, own=own,
                       healthy=healthy, cfg=cfg)
    parts = _slowdowns(sig, dur + unlogged - w * healthy)
    lost = {"restart": float(gap[restart_mask].sum()),
            "rework": float(w[inst.repeat].sum()) * healthy + float(tail.sum()),
            **{c: float(parts[c].sum()) for c in SLOWDOWN_CAUSES}}
    lost = _balance(lost, wall - covered * healthy)
    detail = _detail(inst, dur + unlogged - w * healthy, gap * restart_mask, findings,
                     interruptions, hi_s=end - dur - unlogged)
    restarts = max(int(restart_mask.sum()), len(interruptions))
    return JobLedger(job=name, wall_s=wall, productive_s=covered * healthy,
                     healthy_step_s=healthy, steps=int(covered), instances=n,
                     restarts=restarts, ranks=ranks, lost_s=lost, detail=detail)


def _unlogged(inst: Instances, between: F64, w: F64, *, own: F64, healthy: float,
              cfg: LedgerConfig) -> tuple[F64, F64, B]:
    """Seconds of work of the unlogged steps before each instance, seconds of
    unlogged work lost to a restart, and where the rest of the time between
    is a restart.

    ``w - 1`` unlogged steps at the job's step time there (the largest of
    the rolling median of logged steps, the logged steps at both ends of
    the interval less their checkpoint spikes, and the healthy step) explain
    up to that much of the time ``between`` two logged steps. After a
    restart (new run) or where the rest exceeds the restart gap, only that
    much is work; otherwise the whole time between is work, its excess over
    healthy steps attributed like a slow step's. Before a restart (either
    kind) the job also ran, after its last logged step, steps that the
    restart threw away: ``(N - 1) / 2`` on average (rework). All zero when
    every step is logged (``w`` all 1).
    """
    zero = np.zeros_like(between)
    if not bool(np.any(w > 1)):
        return zero, zero, np.zeros(between.shape[0], dtype=bool)
    ends = np.maximum(own, np.concatenate(([0.0], own[:-1])))
    rate = np.maximum(np.maximum(rolling_median(own, 2 * cfg.max_checkpoint_run + 3), ends),
                      healthy)
    expected = np.minimum((w - 1) * rate, between)
    new_run = np.concatenate(([False], inst.epoch[1:] > inst.epoch[:-1]))
    long_gap = between - expected > max(cfg.restart_gap_steps * healthy, cfg.min_restart_gap_s)
    restart = (new_run & (between > expected)) | long_gap
    lost_tail = (log_stride(inst.step, inst.epoch) - 1) / 2.0 * rate
    tail = np.where(restart, np.minimum(lost_tail, between - expected), 0.0)
    return np.where(restart, expected, between), tail, restart


def _extrapolated(sig: tuple[F64, F64, F64], w: F64, excess_u: F64, *, restart: B,
                  own: F64, healthy: float, cfg: LedgerConfig) -> tuple[F64, F64, F64]:
    """Signals of an instance plus those of the unlogged steps it stands for.

    The logged steps at both ends of an interval sample the unlogged steps
    between them: their straggler and collective waits are ``w - 1`` times
    the mean of the two ends' (a slowdown that starts or ends inside the
    interval counts half of it, on average right). What the unlogged time
    holds beyond that and beyond their local step time is a checkpoint when
    it is a short spike over the job's noise (the same test as a logged
    step's).
    """
    ckpt, strag, cong = sig
    if not bool(np.any(w > 1)):
        return sig
    local = rolling_median(own, 2 * cfg.max_checkpoint_run + 3)
    spike_s = np.where(restart, 0.0, excess_u - (w - 1) * np.maximum(local - healthy, 0.0))
    high = _above_noise(spike_s, 0.0, healthy, cfg) & (w > 1)
    spike = high & (run_lengths(high) <= cfg.max_checkpoint_run)
    clear = ckpt <= 0.0
    return (ckpt + np.maximum(spike_s, 0.0) * spike,
            strag + (w - 1) * _ends_mean(strag, clear), cong + (w - 1) * _ends_mean(cong, clear))


def _ends_mean(x: F64, clear: B) -> F64:
    """Per instance, the mean of its value and the previous instance's, over the
    ends that are ``clear`` (a checkpoint spike hides a straggler: every rank
    waits alike); both ends when neither is."""
    prev_x = np.concatenate((x[:1], x[:-1]))
    prev_ok = np.concatenate((clear[:1], clear[:-1]))
    both = ~clear & ~prev_ok
    num = x * (clear | both) + prev_x * (prev_ok | both)
    return num / ((clear | both).astype(np.float64) + (prev_ok | both))


def _restart_gaps(inst: Instances, gap: F64, healthy: float, cfg: LedgerConfig) -> B:
    """Gaps that precede a restart: a new epoch begins, or the gap is long."""
    new_epoch = np.concatenate(([False], inst.epoch[1:] > inst.epoch[:-1]))
    long_gap = gap > max(cfg.restart_gap_steps * healthy, cfg.min_restart_gap_s)
    return (new_epoch & (gap > 0)) | long_gap


def _signals(inst: Instances, h0: float, findings: Sequence[Finding], cfg: LedgerConfig
             ) -> tuple[F64, F64, F64]:
    """Per-instance checkpoint, straggler and congestion seconds, before scaling.

    Each signal counts only above its noise (estimated from step-to-step
    differences, which a lasting shift does not disturb) and above a share
    of the step time ``h0``. The collective's baseline is its lower quartile,
    so a congestion or a bad link lasting most of the job still shows.
    """
    local = rolling_median(inst.common_s, 2 * cfg.max_checkpoint_run + 3)
    high = _above_noise(inst.common_s - local, 0.0, h0, cfg)
    spike = high & (run_lengths(high) <= cfg.max_checkpoint_run)
    ckpt = np.maximum(inst.common_s - local, 0.0) * spike
    lasting = np.maximum(local, 0.0) * _above_noise(local, 0.0, h0, cfg)
    wait = inst.cmax_s - inst.chealthy_s
    strag = wait * (wait > cfg.min_spike_frac * h0)
    base = float(np.quantile(inst.coll_s, 0.25)) if len(inst) else 0.0
    cong = np.maximum(inst.coll_s - base, 0.0) * _above_noise(inst.coll_s, base, h0, cfg)
    extra_strag, extra_cong = _lasting_by_findings(inst, lasting, findings)
    return ckpt, strag + extra_strag, cong + extra_cong


def _slowdowns(sig: tuple[F64, F64, F64], excess_s: F64) -> dict[str, F64]:
    """Signals scaled down together where they explain more than the step's
    excess over the healthy step time (``excess_s``)."""
    excess = np.maximum(excess_s, 0.0)
    cands = np.stack(sig)
    total = cands.sum(axis=0)
    scale = np.where(total > excess, excess / np.where(total > 0, total, 1.0), 1.0)
    cands *= scale
    return dict(zip(SLOWDOWN_CAUSES, cands, strict=True))


def _above_noise(x: F64, base: float, h0: float, cfg: LedgerConfig) -> B:
    """Where ``x`` exceeds ``base`` by more than its noise and a share of the step."""
    if x.shape[0] < 2:
        return np.zeros(x.shape[0], dtype=bool)
    sigma = 1.4826 * float(np.median(np.abs(np.diff(x)))) / np.sqrt(2.0)
    return np.asarray(x - base > max(cfg.noise_mads * sigma, cfg.min_spike_frac * h0))


CONGESTION_KINDS = frozenset({"switch_congestion", "nic_degraded"})
STRAGGLER_KINDS = frozenset({"gpu_degraded", "gpu_overheating", "host_straggler",
                             "cooling_fault"})


def _lasting_by_findings(inst: Instances, lasting: F64, findings: Sequence[Finding]
                         ) -> tuple[F64, F64]:
    """Lasting common-mode slowdown named by a finding active at the step."""
    strag, cong = np.zeros_like(lasting), np.zeros_like(lasting)
    for f in findings:
        active = (inst.end_s >= f.onset) & (lasting > 0)
        if f.kind in CONGESTION_KINDS:
            cong[active] = lasting[active]
        elif f.kind in STRAGGLER_KINDS:
            strag[active & (cong == 0)] = lasting[active & (cong == 0)]
    return strag, cong


def _balance(lost: dict[str, float], total_s: float) -> dict[str, float]:
    """Add ``other`` so the causes sum to ``total_s``; never a negative cause.

    When the named causes exceed the total (steps faster than the healthy
    median pay back), the slowdown causes shrink first, then restart and
    rework, proportionally.
    """
    total_s = max(total_s, 0.0)
    named = sum(lost.values())
    if named <= total_s:
        return {**_ordered(lost), "other": total_s - named}
    deficit = named - total_s
    for group in (SLOWDOWN_CAUSES, ("restart", "rework")):
        have = sum(lost[c] for c in group)
        if have <= 0:
            continue
        cut = min(deficit, have)
        for c in group:
            lost[c] -= cut * lost[c] / have
        deficit -= cut
    return {**_ordered({c: max(v, 0.0) for c, v in lost.items()}), "other": 0.0}


def _ordered(lost: dict[str, float]) -> dict[str, float]:
    return {c: lost[c] for c in CAUSES if c in lost}


def _detail(inst: Instances, excess: F64, restart_gap: F64, findings: Sequence[Finding],
            interruptions: Sequence[Interruption], *, hi_s: F64) -> dict[str, float]:
    """Sub-attributions: detection delay and waiting for quarantined capacity."""
    undetected = np.zeros(len(inst), dtype=bool)
    for f in findings:
        undetected |= (inst.end_s >= f.onset) & (inst.end_s <= f.detected_at)
    slow = float(np.maximum(excess, 0.0)[undetected].sum())
    known = sum(max(i.detected_s - i.start_s, 0.0) for i in interruptions
                if i.detected_s is not None)
    hi = hi_s
    lo = hi - restart_gap
    gap_delay = 0.0
    for f in findings:
        if f.kind == "gpu_failed":
            overlap = np.minimum(hi, f.detected_at) - np.maximum(lo, f.onset)
            gap_delay += float(np.clip(overlap, 0.0, None).sum())
    return {"detection_delay_s": slow + max(known, gap_delay),
            "quarantine_wait_s": float(sum(i.capacity_wait_s for i in interruptions)),
            "repeated_steps": float(step_weights(inst.step, inst.epoch)[inst.repeat].sum())}
