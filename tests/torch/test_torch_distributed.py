"""The training hook on real torch.distributed (gloo, CPU): one slowed rank is named.

Four processes, one per fake node n0001..n0004, train a tiny model twice:
with explicit ``timer.comm()`` blocks around ``all_reduce`` and with DDP and
the timing comm hook. Rank 2 sleeps in its compute every step. All ranks
append to one shared log (O_APPEND); brownout then reads the log and its
straggler detector must name rank 2's GPU on node n0003.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gloo_ranks import free_port, run_ranks, train

from brownout.telemetry.problems import Problems
from brownout.telemetry.steps import StepRecords, read_steps
from brownout.topology.generate import generate_topology

torch = pytest.importorskip("torch.distributed")  # skip cleanly where torch is absent

WORLD = 4
STEPS = 14
SLOW_RANK = 2
SLOW_S = 0.1  # well above what CPU contention on a busy 2-core runner adds to a step


def _train(timer: Any, model: Any, rank: int, ddp: bool) -> None:
    train(timer, model, rank, ddp=ddp, steps=STEPS, batch=(64, 256), slow=(SLOW_RANK, SLOW_S))


def _worker(rank: int, port: int, log: str) -> None:
    import torch as th
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from brownout.torch import RankIdentity, StepLogWriter, StepTimer, register

    th.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=WORLD)
    node = f"n{rank + 1:04d}"
    th.manual_seed(0)
    model = th.nn.Sequential(th.nn.Linear(256, 256), th.nn.ReLU(), th.nn.Linear(256, 256),
                         th.nn.ReLU(), th.nn.Linear(256, 1))
    _train(StepTimer(StepLogWriter(log, flush_every=5), RankIdentity("manual", rank, node, 0)),
           model, rank, ddp=False)
    ddp_model = DistributedDataParallel(model)
    timer = StepTimer(StepLogWriter(log, flush_every=5), RankIdentity("ddp", rank, node, 0))
    register(ddp_model, timer)
    _train(timer, ddp_model, rank, ddp=True)
    dist.barrier()
    dist.destroy_process_group()


pytestmark = pytest.mark.slow  # four real gloo processes: ~30 s of setup


@pytest.fixture(scope="module")
def run_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    log = tmp_path_factory.mktemp("steps") / "steps.jsonl"
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    run_ranks(_worker, (free_port(), str(log)), WORLD)
    return log


def _job(recs: StepRecords, name: str) -> StepRecords:
    return recs.take(np.flatnonzero(recs.job == recs.jobs.index(name)))


def test_log_is_complete_and_well_formed(run_log: Path) -> None:
    problems = Problems()
    recs = read_steps(run_log, generate_topology(WORLD, gpus_per_node=1), problems, strict=True)
    assert problems.malformed_count == 0
    assert len(recs) == 2 * WORLD * STEPS
    assert sorted(recs.jobs) == ["ddp", "manual"]
    assert set(recs.node.tolist()) == {0, 1, 2, 3}  # every rank's node is in the topology


@pytest.mark.parametrize("job", ["manual", "ddp"])
def test_slow_rank_computes_longer_and_peers_wait(run_log: Path, job: str) -> None:
    recs = _job(read_steps(run_log, generate_topology(WORLD, gpus_per_node=1)), job)
    late = recs.step >= 2  # the first steps carry start-up costs
    compute = [float(np.median(recs.compute_s[(recs.rank == r) & late])) for r in range(WORLD)]
    comm = [float(np.median(recs.comm_s[(recs.rank == r) & late])) for r in range(WORLD)]
    others = [r for r in range(WORLD) if r != SLOW_RANK]
    assert compute[SLOW_RANK] > max(compute[r] for r in others) + 0.5 * SLOW_S
    assert min(comm[r] for r in others) > comm[SLOW_RANK] + 0.5 * SLOW_S


@pytest.mark.parametrize("job", ["manual", "ddp"])
def test_brownout_names_the_slow_ranks_node(run_log: Path, job: str) -> None:
    from brownout.detect.engine import EngineConfig, replay
    from brownout.detect.stragglers import StragglerDetector

    topo = generate_topology(WORLD, gpus_per_node=1)
    recs = _job(read_steps(run_log, topo), job)
    # the run lasts about a second: the detector's windows are scaled to it, persistence
    # too (half a second: a rank's start-up, 2-5x its peers' 2 ms steps for its first
    # 5 records, is 5 records long, which the record count alone now judges)
    detector = StragglerDetector(window_s=60.0, recent_s=30.0, persist_s=0.5, tau_s=60.0)
    findings = replay(topo, None, recs, EngineConfig(tick_s=0.05), [detector]).findings
    named = {f.component for f in findings}
    assert named, "no finding"
    assert named <= {"n0003", "n0003/gpu0"}, [(f.kind, f.component) for f in findings]
