"""GPU fragmentation: free GPUs that pending job shapes cannot use.

The measure follows Weng et al., "Beware of Fragmentation" (USENIX ATC'23):
for a task shape, a node's free GPU capacity is fragmented when the task
cannot be placed there, and on a node where it fits, the partially free GPUs
too small for it are fragmented. The expected fragmentation weighs shapes by
their frequency in the workload.

The workload is the Alibaba ``openb`` trace (``cluster-trace-gpu-v2023``):
the code reads CSV files whose path the user gives (the trace carries no
licence that allows copying it here). :func:`replay` places its pods in
arrival order under a policy and samples the fragmentation as it goes.
Capacity is in milli-GPUs (1000 = one whole GPU), as in the trace.
"""

from __future__ import annotations

import csv
import heapq
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from brownout.errors import ParseError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
WHOLE = 1000
POLICIES = ("first_fit", "best_fit", "frag_aware")


@dataclass(frozen=True)
class Pods:
    """GPU pods of a trace: request and lifetime (seconds from trace start)."""

    num_gpu: I64
    gpu_milli: I64
    start_s: F64
    end_s: F64


@dataclass(frozen=True)
class Shapes:
    """Distinct task shapes (GPUs, milli-GPU per GPU) and their frequencies."""

    num_gpu: I64
    gpu_milli: I64
    weight: F64

    @classmethod
    def of(cls, pods: Pods) -> Shapes:
        keys, counts = np.unique(np.stack([pods.num_gpu, pods.gpu_milli], 1), axis=0,
                                 return_counts=True)
        return cls(keys[:, 0], keys[:, 1], counts / counts.sum())


def read_nodes(path: str | Path) -> I64:
    """GPUs per node from ``openb_node_list_gpu_node.csv`` (columns sn, ..., gpu, ...)."""
    rows = _rows(path, ("gpu",))
    return np.array([int(r["gpu"]) for r in rows], dtype=np.int64)


def read_pods(path: str | Path) -> Pods:
    """GPU pods of an ``openb_pod_list_*.csv`` (pods without GPUs are left out).

    Pods without times (the ``multigpu`` lists) start in file order, one per second,
    and never end.
    """
    rows = _rows(path, ("num_gpu", "gpu_milli"))
    num = np.array([int(r["num_gpu"]) for r in rows], dtype=np.int64)
    milli = np.array([int(r["gpu_milli"]) for r in rows], dtype=np.int64)
    timed = rows and "creation_time" in rows[0]
    start = np.array([float(r["creation_time"]) if timed else i for i, r in enumerate(rows)])
    end = np.array([float(r["deletion_time"] or "inf") if timed else np.inf for r in rows])
    gpu = (num > 0) & (milli > 0)
    milli = np.where(num > 1, WHOLE, milli)  # multi-GPU pods take whole GPUs
    return Pods(num[gpu], np.minimum(milli[gpu], WHOLE), start[gpu], end[gpu])


def _rows(path: str | Path, need: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with Path(path).open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in need if c not in (reader.fieldnames or [])]
            if missing:
                raise ParseError(str(path), 1, f"missing column(s) {', '.join(missing)}")
            rows = list(reader)
    except OSError as exc:
        raise ParseError(str(path), 0, f"cannot be read ({exc.strerror or exc})") from exc
    for i, r in enumerate(rows, 2):
        if any(not (r.get(c) or "").strip().lstrip("-").isdigit() for c in need):
            raise ParseError(str(path), i, f"{', '.join(need)} must be integers")
    return rows


def node_fragmentation(free: npt.NDArray[np.int64], shapes: Shapes) -> F64:
    """Expected fragmented milli-GPUs per node (rows of ``free``: milli free per GPU,
    -1 for GPUs a node does not have)."""
    real = np.maximum(free, 0)
    total = real.sum(axis=1).astype(np.float64)
    whole = (free == WHOLE).sum(axis=1)
    out = np.zeros(free.shape[0])
    for num, milli, w in zip(shapes.num_gpu, shapes.gpu_milli, shapes.weight, strict=True):
        if milli >= WHOLE:
            frag = np.where(whole >= num, total - whole * WHOLE, total)
        else:
            usable = free >= milli
            frag = np.where(usable.any(axis=1), np.where(usable, 0, real).sum(axis=1), total)
        out += w * frag
    return out


def fits(free: npt.NDArray[np.int64], num: int, milli: int) -> B:
    """Nodes where a task of ``num`` GPUs x ``milli`` fits."""
    if milli >= WHOLE or num > 1:
        return np.asarray((free == WHOLE).sum(axis=1) >= num)
    return np.asarray((free >= milli).any(axis=1))


def take(rows: npt.NDArray[np.int64], num: int, milli: int) -> npt.NDArray[np.int64]:
    """Free vectors (one row per node) after placing the task on each node:
    whole GPUs first by index; a fractional task on the fullest GPU that holds it."""
    out = np.array(rows, dtype=np.int64, copy=True, ndmin=2)
    if milli >= WHOLE or num > 1:
        whole = out == WHOLE
        out[whole & (np.cumsum(whole, axis=1) <= num)] = 0
    else:
        cand = np.where(out >= milli, out, np.iinfo(np.int64).max)
        out[np.arange(out.shape[0]), np.argmin(cand, axis=1)] -= milli
    return out


@dataclass(frozen=True)
class FragReport:
    """Fragmentation over a replay, for one policy."""

    policy: str
    placed: int
    failed: int
    mean_frag_ratio: float
    mean_frag_gpus: float
    samples: int
    alloc_at_first_failure: float
    frag_gpus_at_first_failure: float


def replay(gpus_per_node: I64, pods: Pods, policy: str = "first_fit", *,
           shapes: Shapes | None = None, sample_every: int = 50,
           departures: bool = True) -> FragReport:
    """Place the pods in arrival order (freeing GPUs as pods end) under ``policy``.

    With ``departures=False`` pods never end, and the cluster fills up as in
    Weng et al.'s evaluation: the share of GPUs allocated when the first pod
    no longer fits, and the fragmented GPUs then, say how well a policy packs.

    Policies: ``first_fit`` (lowest node index), ``best_fit`` (the node with the
    least free capacity that holds the task), ``frag_aware`` (the node whose
    expected fragmentation grows least, Weng et al.'s FGD rule).
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}")
    shapes = shapes or Shapes.of(pods)
    width = int(gpus_per_node.max()) if gpus_per_node.size else 0
    free = np.where(np.arange(width)[None, :] < gpus_per_node[:, None], WHOLE, -1)
    frag = node_fragmentation(free, shapes)
    held: list[tuple[float, int, int, npt.NDArray[np.int64]]] = []  # a heap by end time
    placed = failed = 0
    ratios, gpus = [], []
    first_fail: tuple[float, float] | None = None
    capacity = float(np.maximum(free, 0).sum())
    for i in np.argsort(pods.start_s, kind="stable"):
        _release(held, float(pods.start_s[i]), free, frag, shapes)
        num, milli = int(pods.num_gpu[i]), int(pods.gpu_milli[i])
        node = _choose(free, frag, shapes, (num, milli), policy=policy)
        if node < 0:
            failed += 1
            if first_fail is None:
                first_fail = (1 - np.maximum(free, 0).sum() / capacity, frag.sum() / WHOLE)
        else:
            before = free[node].copy()
            free[node] = take(free[node], num, milli)[0]
            frag[node] = node_fragmentation(free[node:node + 1], shapes)[0]
            end_s = float(pods.end_s[i]) if departures else np.inf
            heapq.heappush(held, (end_s, int(i), node, before - free[node]))
            placed += 1
        if (placed + failed) % sample_every == 0:
            total = np.maximum(free, 0).sum()
            ratios.append(frag.sum() / total if total else 0.0)
            gpus.append(frag.sum() / WHOLE)
    at_fail = first_fail or (1 - np.maximum(free, 0).sum() / capacity, frag.sum() / WHOLE)
    return FragReport(policy, placed, failed, float(np.mean(ratios)) if ratios else 0.0,
                      float(np.mean(gpus)) if gpus else 0.0, len(ratios),
                      float(at_fail[0]), float(at_fail[1]))


def _release(held: list[tuple[float, int, int, npt.NDArray[np.int64]]], now_s: float,
             free: npt.NDArray[np.int64], frag: F64, shapes: Shapes) -> None:
    """Give back the GPUs of pods that ended by ``now_s``."""
    while held and held[0][0] <= now_s:
        _, _, node, used = heapq.heappop(held)
        free[node] += used
        frag[node] = node_fragmentation(free[node:node + 1], shapes)[0]


def _choose(free: npt.NDArray[np.int64], frag: F64, shapes: Shapes, task: tuple[int, int],
            *, policy: str) -> int:
    num, milli = task
    ok = np.flatnonzero(fits(free, num, milli))
    if ok.shape[0] == 0:
        return -1
    if policy == "first_fit":
        return int(ok[0])
    if policy == "best_fit":
        return int(ok[np.argmin(np.maximum(free[ok], 0).sum(axis=1))])
    after = take(free[ok], num, milli)
    delta = node_fragmentation(after, shapes) - frag[ok]
    return int(ok[np.argmin(delta)])


def main(argv: list[str] | None = None) -> int:
    """``python -m brownout.recovery.fragmentation NODES.csv PODS.csv [--departures]``."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m brownout.recovery.fragmentation",
                                 description="Fragmentation of an openb-format trace.")
    ap.add_argument("nodes_csv")
    ap.add_argument("pods_csv")
    ap.add_argument("--departures", action="store_true",
                    help="free GPUs when pods end (default: pods stay; the cluster fills up)")
    args = ap.parse_args(argv)
    gpus, pods = read_nodes(args.nodes_csv), read_pods(args.pods_csv)
    sys.stdout.write(f"{gpus.shape[0]} nodes, {int(gpus.sum())} GPUs, "
                     f"{pods.num_gpu.shape[0]} GPU pods\n")
    for policy in POLICIES:
        r = replay(gpus, pods, policy, departures=args.departures)
        sys.stdout.write(f"{policy:11s} placed {r.placed:5d} refused {r.failed:4d}  "
                         f"alloc at first refusal {r.alloc_at_first_failure:.1%}  "
                         f"fragmented GPUs then {r.frag_gpus_at_first_failure:.0f}  "
                         f"mean frag ratio {r.mean_frag_ratio:.2%}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
