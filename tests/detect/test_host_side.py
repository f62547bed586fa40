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

from .synth import Mutator, Synth, steps

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
