"""A lone slow rank whose GPU reports telemetry: a host-side ``host_straggler`` when the GPU
looks healthy for the whole time the rank is slow, and only then.

Without such a rule a rank held back by its host (CPU, data loader) is never named; with a
careless one, heat, a power cap or a crashed job's idle GPUs are blamed on the host.
"""

from __future__ import annotations

import numpy as np
import pytest

from brownout.detect.engine import replay
from brownout.findings import FindingsFile
from brownout.telemetry.metrics import SW_THERMAL
from brownout.telemetry.series import SeriesRegistry
from brownout.telemetry.steps import StepRecords, build_steps

from .synth import T0, Mutator, Synth, steps

SEEDS = [1, 2, 3]
Arrays = dict[str, np.ndarray]


def detect(syn: Synth, st: StepRecords, mutate: Mutator | None = None, n: int = 62
           ) -> FindingsFile:
    return replay(syn.topo, syn.frame(SeriesRegistry(syn.topo), n, mutate), st)


def host_findings(ff: FindingsFile) -> list[tuple[str, str]]:
    return [(f.kind, f.component) for f in ff.findings if f.kind == "host_straggler"]


def onset_of(st: StepRecords, step: int) -> float:
    return float(st.ts[st.step == step].min())


@pytest.mark.parametrize("seed", SEEDS)
def test_lone_slow_rank_on_a_healthy_gpu_is_a_host_straggler_within_minutes(seed: int) -> None:
    syn = Synth(seed=seed)
    g = 20 + 3 * seed
    st = steps(syn.topo, 220, seed=seed, gpu_slow={g: 1.35}, slow_from_step=60)
    ff = detect(syn, st)
    node = syn.topo.nodes[int(syn.topo.gpu_node[g])].name
    assert [(f.kind, f.component) for f in ff.findings] == [("host_straggler", node)]
    f = ff.findings[0]
    assert f.evidence["lone_rank"] == syn.topo.gpu_name(g)
    assert f.detected_at - onset_of(st, 60) <= 300, f.detected_at - onset_of(st, 60)


@pytest.mark.parametrize("seed", SEEDS)
def test_gpu_at_its_thermal_limit_is_not_blamed_on_the_host(seed: int) -> None:
    """The GPU sits at its throttle point; the scrapes catch full clocks (the firmware
    drops them for moments), now and then a throttled one: the heat explains the rank."""
    syn = Synth(seed=seed)
    g = 20 + 3 * seed
    node = syn.topo.gpu_node == syn.topo.gpu_node[g]

    def hot(i: int, t: float, d: Arrays) -> None:
        if i >= 18:  # a warm node (no GPU far above its peers); g at its limit
            d["DCGM_FI_DEV_GPU_TEMP"][node] = 84.0
            d["DCGM_FI_DEV_GPU_TEMP"][g] = 87.0  # the H100's maximum operating temperature
            if i % 4 == 0:
                d["DCGM_FI_DEV_SM_CLOCK"][g] = 1500.0
                d["DCGM_FI_DEV_CLOCKS_EVENT_REASONS"][g] = SW_THERMAL

    st = steps(syn.topo, 220, seed=seed, gpu_slow={g: 1.35}, slow_from_step=60)
    assert host_findings(detect(syn, st, hot)) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_gpu_correcting_errors_at_full_clock_is_not_blamed_on_the_host(seed: int) -> None:
    """Bursts of corrected ECC errors slow the GPU's work at full clock, with no
    reason bit (too intermittent for a GPU finding yet): its error counter is the
    cause, not the host."""
    syn = Synth(seed=seed)
    g = 20 + 3 * seed
    st = steps(syn.topo, 220, seed=seed, gpu_slow={g: 1.35}, slow_from_step=60)

    def storm(i: int, t: float, d: Arrays) -> None:
        if t >= onset_of(st, 60) - 30 and i % 3 == 0:
            d["+DCGM_FI_DEV_ECC_SBE_VOL_TOTAL"][g] = 6.0  # 0.2 per second

    assert host_findings(detect(syn, st, storm)) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_a_stopped_jobs_slow_rank_is_not_judged_on_later_telemetry(seed: int) -> None:
    """Job 0 stops while its slow rank's GPU is throttling; its GPUs then idle, looking
    healthy, while job 1 keeps stepping. The old records are no evidence of a host fault."""
    syn = Synth(seed=seed)
    g = 3 + seed  # on node 0, in job 0 (nodes 0-3)
    a = steps(syn.topo, 110, seed=seed, gpu_slow={g: 1.4}, slow_from_step=40, nodes=[0, 1, 2, 3])
    b = steps(syn.topo, 220, seed=seed + 7, nodes=[4, 5, 6, 7])
    stop = float(a.ts.max())
    job0 = syn.topo.gpu_node < 4

    def mutate(i: int, t: float, d: Arrays) -> None:
        if t > stop:  # job 0's GPUs idle
            d["DCGM_FI_DEV_SM_CLOCK"][job0] = 345.0
            d["DCGM_FI_DEV_GPU_UTIL"][job0] = 0.0
            d["DCGM_FI_DEV_POWER_USAGE"][job0] = 90.0
        elif t > onset_of(a, 40):  # throttling while it ran
            d["DCGM_FI_DEV_SM_CLOCK"][g] = 1480.0
            d["DCGM_FI_DEV_CLOCKS_EVENT_REASONS"][g] = SW_THERMAL

    st = build_steps([*_rows(a, syn, "job0"), *_rows(b, syn, "job1")], syn.topo)
    assert host_findings(detect(syn, st, mutate)) == []


def _rows(st: StepRecords, syn: Synth, job: str) -> list[dict[str, object]]:
    topo = syn.topo
    return [{"ts": float(st.ts[i]), "job": job, "step": int(st.step[i]),
             "rank": int(st.rank[i]), "node": topo.nodes[int(st.node[i])].name,
             "gpu": int(st.gpu[i]), "compute_s": float(st.compute_s[i]),
             "comm_s": float(st.comm_s[i])} for i in range(len(st))]


@pytest.mark.parametrize("seed", SEEDS)
def test_lone_slow_rank_on_a_node_gone_blind_is_no_gpu_guess(seed: int) -> None:
    """The node's telemetry stops (exporter down): its slow rank's cause could be heat
    or a cap that nothing shows now. The blind spot is reported, not a guessed GPU fault."""
    syn = Synth(seed=seed)
    g = 20 + 3 * seed
    node = int(syn.topo.gpu_node[g])

    def blind(i: int, t: float, d: Arrays) -> None:
        if i >= 10:
            for name, arr in d.items():
                if name.lstrip("+").startswith("DCGM"):
                    arr[syn.topo.gpu_node == node] = np.nan

    st = steps(syn.topo, 220, seed=seed, gpu_slow={g: 1.35}, slow_from_step=60)
    found = {(f.kind, f.component) for f in detect(syn, st, blind).findings}
    assert found == {("telemetry_loss", syn.topo.nodes[node].name)}, found


def _one_node_jobs(syn: Synth, seed: int, slow: dict[int, float]) -> StepRecords:
    """Job 0 on nodes 0-3; jobs 1 and 2 each on one node (5 and 6), the nodes in
    ``slow`` slowed from step 60 on (of 200 steps)."""
    a = steps(syn.topo, 200, seed=seed, nodes=[0, 1, 2, 3])
    b = steps(syn.topo, 200, seed=seed + 1, nodes=[5], node_slow={5: slow.get(5, 1.0)},
              slow_from_step=60)
    c = steps(syn.topo, 200, seed=seed + 2, nodes=[6], node_slow={6: slow.get(6, 1.0)},
              slow_from_step=60)
    rows = [*_rows(a, syn, "job0"), *_rows(b, syn, "job1"), *_rows(c, syn, "job2")]
    return build_steps(sorted(rows, key=lambda r: float(r["ts"])), syn.topo)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", SEEDS)
def test_one_node_job_slower_than_its_own_past_on_healthy_gpus_is_its_host(seed: int) -> None:
    """A job on one node has no peers: every rank slows alike. Its own past is the
    reference, and healthy GPUs put the cause on the host."""
    syn = Synth(seed=seed)
    st = _one_node_jobs(syn, seed, {5: 1.3})
    ff = detect(syn, st)
    assert host_findings(ff) == [("host_straggler", syn.topo.nodes[5].name)], ff.findings
    f = next(f for f in ff.findings if f.kind == "host_straggler")
    assert f.evidence["one_node_job"] and f.evidence["job"] == "job1"
    onset = float(st.ts[(st.step == 60) & (st.node == 5)].min())
    assert 0 <= f.detected_at - onset <= 300, f.detected_at - onset


@pytest.mark.parametrize("seed", SEEDS)
def test_one_node_job_slowed_by_its_gpus_or_with_every_job_is_not_its_host(seed: int) -> None:
    """Its GPUs throttle (the cause shows in their clocks), or both one-node jobs slow
    at once (a change of every job, not of one node): no host straggler."""
    syn = Synth(seed=seed)
    five = syn.topo.gpu_node == 5

    def throttled(i: int, t: float, d: Arrays) -> None:
        if t > T0 + 480:
            d["DCGM_FI_DEV_SM_CLOCK"][five] = 1480.0
            d["DCGM_FI_DEV_CLOCKS_EVENT_REASONS"][five] = SW_THERMAL

    assert host_findings(detect(syn, _one_node_jobs(syn, seed, {5: 1.3}), throttled)) == []
    assert host_findings(detect(Synth(seed=seed), _one_node_jobs(syn, seed, {5: 1.3, 6: 1.3}))
                         ) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_host_slow_while_half_its_gpus_throttle_for_heat_is_still_its_host(seed: int) -> None:
    """Half of a node's GPUs throttle for heat (a failing loop). When only their ranks
    are slow, heat explains the node; when the ranks on its cool GPUs are slow too,
    something else slows the host as well, and it is named."""
    syn = Synth(seed=seed)
    n = 2 + seed
    gpus = np.arange(syn.topo.gpu_offset[n], syn.topo.gpu_offset[n + 1])
    hot = gpus[:4]
    for slow, named in (({int(g): 1.3 for g in hot}, []),
                        ({int(g): 1.3 for g in gpus}, [("host_straggler",
                                                        syn.topo.nodes[n].name)])):
        st = steps(syn.topo, 220, seed=seed, gpu_slow=slow, slow_from_step=60)

        def throttle(i: int, t: float, d: Arrays, st: StepRecords = st) -> None:
            if t >= onset_of(st, 60) - 30:
                d["DCGM_FI_DEV_CLOCKS_EVENT_REASONS"][hot] = SW_THERMAL
                d["DCGM_FI_DEV_SM_CLOCK"][hot] = 1500.0

        assert host_findings(detect(Synth(seed=seed), st, throttle)) == named, slow
