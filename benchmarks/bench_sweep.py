"""A 64-run sweep serially vs on a 2-worker Dask LocalCluster (127.0.0.1), same run.

Each run simulates a small scenario, replays it through the detectors,
scores it and builds the goodput ledger (brownout.sweep.task.run_one).

Run: python benchmarks/bench_sweep.py [--runs 64] [--scenario gpu_failed]
"""

from __future__ import annotations

import argparse
import time

from brownout.sweep.grid import Variant, build_grid, fresh_seeds
from brownout.sweep.runner import run_dask, run_serial


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=64)
    ap.add_argument("--scenario", default="gpu_failed")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    import distributed

    specs = build_grid([args.scenario], fresh_seeds(args.runs), [Variant("default")])
    t0 = time.perf_counter()
    serial = list(run_serial(specs))
    t_serial = time.perf_counter() - t0
    with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        client.submit(sum, [1]).result()  # workers up before timing
        t0 = time.perf_counter()
        dask = list(run_dask(specs, client))
        t_dask = time.perf_counter() - t0
    errors = sum("error" in r for r in serial + dask)
    print(f"{args.runs} runs of {args.scenario}: serial {t_serial:.1f} s, "
          f"Dask LocalCluster x{args.workers} {t_dask:.1f} s, "
          f"speed-up {t_serial / t_dask:.2f}x, errors {errors}")


if __name__ == "__main__":
    main()
