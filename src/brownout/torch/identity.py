"""Who this rank is: read once from the launcher's environment (torchrun, Slurm).

The one place of :mod:`brownout.torch` that reads the environment.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RankIdentity:
    """Identity of one rank in the step log.

    Attributes:
        job: job name (all ranks of a job must agree).
        rank: global rank.
        node: topology node name the rank runs on.
        gpu: GPU index on that node.
        stage: pipeline stage, or None.
        dp_rank: data-parallel index, or None.
    """

    job: str
    rank: int
    node: str
    gpu: int
    stage: int | None = None
    dp_rank: int | None = None


def _first(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name)
        if value:
            return value
    return None


def identity_from_env(job: str | None = None, environ: Mapping[str, str] | None = None,
                      node: str | None = None) -> RankIdentity:
    """Rank identity from torchrun's and Slurm's variables.

    ``RANK`` / ``SLURM_PROCID`` give the rank, ``LOCAL_RANK`` / ``SLURM_LOCALID``
    the GPU, ``SLURMD_NODENAME`` (else the host name) the node, and
    ``BROWNOUT_JOB`` / ``SLURM_JOB_NAME`` / ``TORCHELASTIC_RUN_ID`` the job.
    """
    env = os.environ if environ is None else environ
    return RankIdentity(
        job=job or _first(env, "BROWNOUT_JOB", "SLURM_JOB_NAME", "TORCHELASTIC_RUN_ID")
        or "job",
        rank=int(_first(env, "RANK", "SLURM_PROCID") or 0),
        node=node or _first(env, "BROWNOUT_NODE", "SLURMD_NODENAME") or socket.gethostname(),
        gpu=int(_first(env, "LOCAL_RANK", "SLURM_LOCALID") or 0),
    )
