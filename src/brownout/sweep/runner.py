"""Run a sweep grid: serially, on a local process pool, or on a Dask distributed cluster.

Dask is the engine for going past one machine (users scale it with
dask-jobqueue on Slurm or dask-kubernetes); ``--scheduler tcp://HOST:PORT``
submits the same pure task there. Results stream back as they finish; a run
that raises is recorded with its error, never silently dropped.
"""

from __future__ import annotations

import concurrent.futures as cf
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from brownout.sweep.grid import RunSpec
from brownout.sweep.task import run_one

Task = Callable[[RunSpec], dict[str, Any]]


def _safe(task: Task, spec: RunSpec) -> dict[str, Any]:
    try:
        return task(spec)
    except Exception as exc:  # one failed run must not sink the sweep
        return {"scenario": spec.scenario, "seed": spec.seed, "variant": spec.variant.name,
                "error": f"{type(exc).__name__}: {exc}",
                "trace": traceback.format_exc(limit=3)}


def run_serial(specs: list[RunSpec], task: Task = run_one) -> Iterator[dict[str, Any]]:
    """One after another in this process."""
    for spec in specs:
        yield _safe(task, spec)


def run_pool(specs: list[RunSpec], workers: int, task: Task = run_one
             ) -> Iterator[dict[str, Any]]:
    """On a local process pool of ``workers`` processes."""
    with cf.ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_safe, task, s) for s in specs]
        for fut in cf.as_completed(futures):
            yield fut.result()


def run_dask(specs: list[RunSpec], scheduler: Any, task: Task = run_one
             ) -> Iterator[dict[str, Any]]:
    """On a Dask distributed cluster.

    Args:
        scheduler: a ``tcp://HOST:PORT`` address, or a ``distributed.Client``
            or ``LocalCluster`` already made.
    """
    from distributed import Client, as_completed

    own = not isinstance(scheduler, Client)
    client = Client(scheduler) if own else scheduler  # type: ignore[no-untyped-call]
    try:
        futures = client.map(_safe, [task] * len(specs), specs, pure=False)
        for fut in as_completed(futures):  # type: ignore[no-untyped-call]
            yield fut.result()
    finally:
        if own:
            client.close()
