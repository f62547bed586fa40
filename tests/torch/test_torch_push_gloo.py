"""A real 4-rank gloo job pushes its steps to a real ``brownout watch`` (steps alone).

The controller is the installed command with a config file (source ``steps``,
one-second ticks); the ranks find it through ``BROWNOUT_URL`` and
``BROWNOUT_INGEST_TOKEN_FILE`` as a launcher would set them, and time both a
plain all-reduce loop and DDP with the timing comm hook. Every record must
arrive, and the dashboard must show both jobs at their last step.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from gloo_ranks import free_port, run_ranks, train

from brownout.topology.generate import generate_topology
from brownout.topology.loader import write_topology

torch = pytest.importorskip("torch.distributed")

WORLD = 4
STEPS = 10


def _train(timer: Any, model: Any, rank: int, ddp: bool) -> None:
    train(timer, model, rank, ddp=ddp, steps=STEPS, batch=(32, 64))


def _worker(rank: int, port: int) -> None:
    import torch as th
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from brownout.torch import StepPusher, StepTimer, register

    th.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=WORLD)
    env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": "0"}
    node = f"n{rank + 1:04d}"
    model = th.nn.Sequential(th.nn.Linear(64, 64), th.nn.ReLU(), th.nn.Linear(64, 1))
    timer = StepTimer.for_rank("unused.jsonl", job="manual", node=node, environ=env)
    assert isinstance(timer.writer, StepPusher)
    _train(timer, model, rank, ddp=False)
    ddp_model = DistributedDataParallel(model)
    timer = StepTimer.for_rank("unused.jsonl", job="ddp", node=node, environ=env)
    register(ddp_model, timer)
    _train(timer, ddp_model, rank, ddp=True)
    dist.barrier()
    dist.destroy_process_group()


@pytest.fixture
def watch(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    write_topology(generate_topology(WORLD, gpus_per_node=1), tmp_path / "topology.yaml")
    port = free_port()
    cfg = {"source": {"kind": "steps", "interval_s": 1}, "topology": "topology.yaml",
           "controller": {"mode": "dry-run", "engine_tick_s": 1},
           "service": {"port": port, "state_dir": str(tmp_path / "state")}}
    (tmp_path / "watch.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.Popen([sys.executable, "-m", "brownout.cli.main", "watch", "--config",
                             str(tmp_path / "watch.yaml")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url, tmp_path / "state" / "ingest-token"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def _metric(text: str, name: str) -> float:
    return next(float(ln.split()[-1]) for ln in text.splitlines() if ln.startswith(name + " "))


@pytest.mark.slow
def test_gloo_ranks_push_every_step_to_watch(watch: tuple[str, Path],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    url, token_file = watch
    monkeypatch.setenv("BROWNOUT_URL", url)
    monkeypatch.setenv("BROWNOUT_INGEST_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    run_ranks(_worker, (free_port(),), WORLD)
    text = httpx.get(url + "/metrics", timeout=5).text
    assert _metric(text, "brownout_intake_records_accepted_total") == 2 * WORLD * STEPS
    assert _metric(text, "brownout_intake_client_dropped_total") == 0
    deadline = time.monotonic() + 20
    jobs: dict[str, Any] = {}
    while time.monotonic() < deadline and len(jobs) < 2:
        jobs = {j["job"]: j for j in httpx.get(url + "/api/dashboard", timeout=5).json()["jobs"]}
        time.sleep(0.2)
    assert {(j["job"], j["ranks"], j["last_step"]) for j in jobs.values()} == {
        ("manual", WORLD, STEPS - 1), ("ddp", WORLD, STEPS - 1)}
