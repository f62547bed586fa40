"""One rank of the end-to-end training job: CPU torch, gloo, the brownout hook pushing.

Run as ``python e2e_job.py RANK WORLD MASTER_PORT CONTROL_DIR`` with
``BROWNOUT_URL``, ``BROWNOUT_INGEST_TOKEN_FILE``, ``BROWNOUT_NODE`` and
``BROWNOUT_JOB`` set, as a launcher would. Each step computes (a small matmul
plus a sleep of ``E2E_COMPUTE_S``) and all-reduces a tensor inside
``timer.comm()``. The test steers the ranks through files in CONTROL_DIR,
read at the start of every step:

- ``slow``: ``RANK FACTOR``, that rank's compute takes FACTOR times longer;
- ``pause``: ``STEP``, at that step every rank flushes its pusher, writes
  ``stats-RANK.json`` (what it wrote and what the pusher says) and waits
  for ``resume``;
- ``hang``: ``RANK STEP``, that rank stops inside that step, before its
  all-reduce, so its peers wait in the all-reduce; it stays there until killed;
- ``stop``: finish, flush and exit.

Rank 0 writes the step it is at to ``progress``.

Every record the hook is given is also kept here, so the test can compare
what was pushed with what the controller holds.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from brownout.torch import StepPusher, StepTimer, identity_from_env, push_settings_from_env


class TeeSink:
    """Hands each record to the pusher and keeps its identity."""

    def __init__(self, pusher: StepPusher) -> None:
        self.pusher = pusher
        self.kept: list[tuple[str, int, int, float]] = []

    def write(self, record: dict[str, Any]) -> None:
        self.kept.append((record["job"], record["rank"], record["step"], record["ts"]))
        self.pusher.write(record)

    def flush(self) -> bool:
        return self.pusher.flush(30.0)

    def close(self) -> None:
        self.pusher.close(30.0)


def _read(ctl: Path, name: str) -> list[str] | None:
    try:
        return (ctl / name).read_text().split()
    except OSError:
        return None


def _stats(sink: TeeSink) -> dict[str, Any]:
    p = sink.pusher
    return {"records": sink.kept, "sent": p.sent, "dropped": p.dropped, "failed": p.failed,
            "rejected": p.rejected, "pending": p.pending, "last_error": p.last_error}


def _pause(ctl: Path, rank: int, sink: TeeSink) -> None:
    sink.flush()
    tmp = ctl / f".stats-{rank}.json"
    tmp.write_text(json.dumps(_stats(sink)))
    tmp.rename(ctl / f"stats-{rank}.json")
    while not (ctl / "resume").exists():
        time.sleep(0.05)


def _compute_s(ctl: Path, rank: int, base_s: float) -> float:
    slow = _read(ctl, "slow")
    return base_s * float(slow[1]) if slow and int(slow[0]) == rank else base_s


def main() -> None:
    rank, world, port, ctl = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    base_s = float(os.environ.get("E2E_COMPUTE_S", "0.4"))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world, timeout=datetime.timedelta(seconds=900))
    settings = push_settings_from_env()
    assert settings is not None, "BROWNOUT_URL must be set"
    sink = TeeSink(StepPusher(settings, max_backoff_s=1.0, interval_s=0.25))
    timer = StepTimer(sink, identity_from_env(environ={**os.environ, "RANK": str(rank)}))
    grad = torch.zeros(4096)
    w = torch.randn(128, 128)
    paused = False
    step = 0
    while not (ctl / "stop").exists():
        pause = _read(ctl, "pause")
        if pause and not paused and int(pause[0]) == step:
            _pause(ctl, rank, sink)
            paused = True
        if rank == 0:
            (ctl / ".progress").write_text(str(step))
            (ctl / ".progress").rename(ctl / "progress")
        hang = _read(ctl, "hang")
        with timer.step(step):
            t0 = time.monotonic()
            (w @ w).sum()
            time.sleep(max(0.0, _compute_s(ctl, rank, base_s) - (time.monotonic() - t0)))
            if hang and int(hang[0]) == rank and int(hang[1]) <= step:
                (ctl / f"hung-{rank}").write_text(f"{step} {time.time()}")
                while True:  # stuck inside the step: the peers wait in the all-reduce
                    time.sleep(1.0)
            with timer.comm():
                grad.fill_(rank)
                dist.all_reduce(grad)
        step += 1
    timer.close()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
