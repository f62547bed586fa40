"""Shared by the real torch.distributed tests: a free port, the training loop
the ranks run (plain all-reduce or DDP with the comm hook) and starting them.

Ranks are always spawned, never forked: forking a process in which torch has
already started its C++ thread pools (any earlier torch test in the same
pytest run) aborts a rank now and then ("terminate called without an active
exception"), and Python's thread count cannot see those threads.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def train(timer: Any, model: Any, rank: int, *, ddp: bool, steps: int, batch: tuple[int, int],
          slow: tuple[int, float] = (-1, 0.0)) -> None:
    """``steps`` timed steps; rank ``slow[0]`` sleeps ``slow[1]`` s in each step's compute."""
    import torch as th
    import torch.distributed as dist

    opt = th.optim.SGD(model.parameters(), lr=1e-3)
    gen = th.Generator().manual_seed(rank)
    for step in range(steps):
        with timer.step(step):
            loss = model(th.randn(*batch, generator=gen)).pow(2).mean()
            if rank == slow[0]:
                time.sleep(slow[1])  # a slow host: compute takes longer every step
            loss.backward()
            if not ddp:
                with timer.comm():
                    for p in model.parameters():
                        dist.all_reduce(p.grad)
            opt.step()
            opt.zero_grad()
    timer.close()


def run_ranks(worker: Callable[..., None], args: tuple[Any, ...], world: int) -> None:
    """``worker(rank, *args)`` in ``world`` spawned processes; raises if one fails."""
    import torch.multiprocessing as mp

    mp.start_processes(worker, args=args, nprocs=world, join=True, start_method="spawn")
