"""One rank of a 4-rank gloo job that hangs: run by test_flight_recorder_gloo.py.

Usage: python fr_gloo_job.py RANK WORLD DIR HUNG_RANK. Five all-reduces, then
every rank but HUNG_RANK enters a sixth one that HUNG_RANK never calls; after
a moment each rank writes its Flight Recorder dump (``torch._C._distributed_c10d.
_dump_fr_trace``, the pickle the NCCL watchdog writes on a timeout) to
``DIR/_dump_<rank>``. Needs ``TORCH_FR_BUFFER_SIZE`` set.
"""

from __future__ import annotations

import datetime
import os
import sys
import time
from pathlib import Path

import torch
import torch._C._distributed_c10d as c10d
import torch.distributed as dist


def main() -> None:
    rank, world, out, hung = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    dist.init_process_group("gloo", init_method=f"file://{out}/store", rank=rank,
                            world_size=world, timeout=datetime.timedelta(seconds=60))
    x = torch.ones(4)
    for _ in range(5):
        dist.all_reduce(x)
    if rank != hung:
        dist.all_reduce(x, async_op=True)  # waits for the hung rank, which never comes
    time.sleep(2.0)
    with (Path(out) / f"_dump_{rank}").open("wb") as fh:
        fh.write(c10d._dump_fr_trace())  # the dump PyTorch writes on a timeout
    os._exit(0)  # the all-reduce never finishes: leave without tearing down the group


if __name__ == "__main__":
    main()
