"""Who this rank is and where its records go: read once from the environment.

The one place of :mod:`brownout.torch` that reads the environment: the
launcher's variables (torchrun, Slurm) for the identity, and ``BROWNOUT_URL``
with ``BROWNOUT_INGEST_TOKEN`` or ``BROWNOUT_INGEST_TOKEN_FILE`` for pushing
to a controller (spec/telemetry.md §5).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from brownout.errors import InputError


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


@dataclass(frozen=True)
class PushSettings:
    """Where the hook pushes its records.

    Attributes:
        url: the controller's base URL (``http://controller:8765``).
        token: the ingest token (``brownout watch --print-ingest-token``).
    """

    url: str
    token: str

    def __repr__(self) -> str:  # never show the token
        return f"PushSettings(url={self.url!r}, token=<hidden>)"


def push_settings_from_env(environ: Mapping[str, str] | None = None) -> PushSettings | None:
    """Push settings when ``BROWNOUT_URL`` is set; None means: write the JSON Lines file.

    Raises:
        InputError: ``BROWNOUT_URL`` is set but is no http(s) URL, or no token is given,
            or the token file cannot be read.
    """
    env = os.environ if environ is None else environ
    url = (env.get("BROWNOUT_URL") or "").strip()
    if not url:
        return None
    if not url.startswith(("http://", "https://")):
        raise InputError(f"BROWNOUT_URL must be an http(s) URL, not {url[:80]!r}")
    token = (env.get("BROWNOUT_INGEST_TOKEN") or "").strip()
    path = env.get("BROWNOUT_INGEST_TOKEN_FILE")
    if not token and path:
        try:
            token = Path(path).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: cannot read the ingest token ({exc})") from exc
    if not token:
        raise InputError("BROWNOUT_URL is set: give the ingest token in BROWNOUT_INGEST_TOKEN"
                         " or BROWNOUT_INGEST_TOKEN_FILE")
    return PushSettings(url.rstrip("/"), token)
