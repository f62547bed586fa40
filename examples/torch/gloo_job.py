"""A small CPU data-parallel job (gloo) that reports its steps with ``brownout.torch``.

A smoke test of the step intake and of the Flight Recorder set-up before a
real job uses them (README, "Use it on a real cluster"). Run it under
torchrun with the environment the README gives::

    BROWNOUT_URL=http://127.0.0.1:8765 BROWNOUT_INGEST_TOKEN_FILE=state/ingest-token \\
    TORCH_FR_BUFFER_SIZE=2000 TORCH_FR_DUMP_TEMP_FILE=/tmp/fr-dumps/smoke_ \\
    torchrun --nproc-per-node 4 examples/torch/gloo_job.py --steps 120 --slow-rank 2

Each rank trains a small MLP on random data and all-reduces its gradients;
``--slow-rank R`` makes rank R compute ``--slow-factor`` times longer (a
straggler); ``--hang-rank R`` makes rank R skip the gradient all-reduce of
the last step, so its peers wait in it. Gloo has no watchdog that dumps on a
timeout as NCCL's does (``TORCH_NCCL_DUMP_ON_TIMEOUT``), so ``--hang-wait``
seconds into the wait every rank writes the Flight Recorder dump the watchdog
would write, to ``$TORCH_FR_DUMP_TEMP_FILE<rank>`` (older PyTorch:
``$TORCH_NCCL_DEBUG_INFO_TEMP_FILE<rank>``), and exits. It does so before the
collective timeout (``--timeout-s``): past it, gloo counts the collective as
finished (with an error) and the dump no longer shows who was waiting. The node
each rank reports is ``BROWNOUT_NODE`` or, when ``--nodes`` is given, the
``rank // ranks-per-node``-th name of that comma-separated list (one machine
standing in for several).
"""

from __future__ import annotations

import argparse
import datetime
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist

from brownout.torch import StepTimer


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--job", default="smoke")
    p.add_argument("--step-file", default="steps-{rank}.jsonl",
                   help="where the records go when BROWNOUT_URL is not set")
    p.add_argument("--work-s", type=float, default=0.25, help="compute seconds per step")
    p.add_argument("--slow-rank", type=int, default=-1)
    p.add_argument("--slow-factor", type=float, default=1.4)
    p.add_argument("--hang-rank", type=int, default=-1)
    p.add_argument("--hang-wait", type=float, default=10.0)
    p.add_argument("--timeout-s", type=float, default=60.0, help="collective timeout")
    p.add_argument("--nodes", default="", help="node names, comma-separated")
    p.add_argument("--ranks-per-node", type=int, default=1)
    return p.parse_args()


def _node(args: argparse.Namespace, rank: int) -> str | None:
    names = [n for n in args.nodes.split(",") if n]
    return names[rank // args.ranks_per_node] if names else None


def _dump_and_exit(rank: int, wait_s: float) -> None:
    """What the NCCL watchdog does on a timeout: every rank writes its dump."""
    import torch._C._distributed_c10d as c10d

    time.sleep(wait_s)
    prefix = os.environ.get("TORCH_FR_DUMP_TEMP_FILE") or os.environ.get(
        "TORCH_NCCL_DEBUG_INFO_TEMP_FILE", "")
    if prefix:
        Path(f"{prefix}{rank}").write_bytes(c10d._dump_fr_trace())
    os._exit(0)  # the collective never finishes: leave without tearing down the group (exit 0:
    # torchrun would kill the ranks still writing their dumps on the first failure)


def main() -> None:
    args = _args()
    # a collective this late times out (the NCCL watchdog dumps then)
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=args.timeout_s))
    rank = dist.get_rank()
    torch.manual_seed(rank)
    model = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 1))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    timer = StepTimer.for_rank(args.step_file, job=args.job, node=_node(args, rank))
    work_s = args.work_s * (args.slow_factor if rank == args.slow_rank else 1.0)
    for step in range(args.steps):
        last = step == args.steps - 1
        with timer.step(step):
            t0 = time.perf_counter()
            loss = model(torch.randn(64, 256)).pow(2).mean()
            loss.backward()
            time.sleep(max(0.0, work_s - (time.perf_counter() - t0)))  # the step's compute
            if last and args.hang_rank >= 0:
                if rank != args.hang_rank:
                    dist.all_reduce(torch.ones(1), async_op=True)  # the hung rank never joins
                timer.close()  # what was recorded reaches the controller
                _dump_and_exit(rank, args.hang_wait)
            with timer.comm():
                for p in model.parameters():
                    assert p.grad is not None
                    dist.all_reduce(p.grad)
            opt.step()
            opt.zero_grad()
    timer.close()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
