"""The goodput ledger against Google's ml-goodput-measurement, over many random timelines.

Each timeline (steps, periodic checkpoint saves, a crash part-way through a
step, restart and start-up, re-done steps; see tests/recovery/peer_timeline.py)
is fed to brownout's ledger as step records and to the library's recorder and
calculator through an in-memory logger. Printed: relative error of each shared
cause (brownout vs library: rework / wasted progress, restart / infrastructure
recovery + the restart's training preparation, checkpoint / unproductive save
time), wall vs total elapsed time, and, on timelines with a straggler among
kept steps, how the library's productive time exceeds ours (its definition
counts a slow step as productive), as a ratio of our straggler loss. Also the
time each takes per timeline.

Run:  python benchmarks/eval_goodput_peer.py [--seeds 200]   (needs the dev extra)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.recovery.peer_timeline import draw_spec, generate  # noqa: E402
from tests.recovery.test_goodput_peer import library_figures, ours  # noqa: E402

CAUSES = ("rework", "restart", "checkpoint")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=200)
    args = ap.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ml_goodput_measurement.src import goodput as lib
    errs: dict[str, list[float]] = {c: [] for c in (*CAUSES, "wall")}
    ratio: list[float] = []
    t_ours, t_lib, zero_abs = 0.0, 0.0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for straggler in (False, True):
                rng = np.random.default_rng(seed + (10**6 if straggler else 0))
                tl = generate(draw_spec(rng, straggler=straggler), rng)
                w0 = time.perf_counter()
                g = library_figures(lib, tl, Path(tmp) / f"{seed}-{straggler}")
                w1 = time.perf_counter()
                b = ours(tl)
                w2 = time.perf_counter()
                t_lib, t_ours = t_lib + w1 - w0, t_ours + w2 - w1
                for c in CAUSES:
                    if g[c] > 0:
                        errs[c].append((b.lost_s[c] - g[c]) / g[c])
                    else:  # e.g. a crash right after a save: nothing to re-do
                        zero_abs = max(zero_abs, abs(b.lost_s[c]))
                errs["wall"].append((b.wall_s - g["total_s"]) / g["total_s"])
                if straggler:
                    ratio.append((g["productive_s"] - b.productive_s) / b.lost_s["straggler"])
    n = 2 * args.seeds
    print(f"timelines: {n} ({args.seeds} with a straggler)")
    print(f"{'cause':12} {'mean err':>10} {'mean |err|':>11} {'p95 |err|':>10} {'worst':>9}")
    for c, e in errs.items():
        a = np.abs(e)
        print(f"{c:12} {np.mean(e):10.4%} {a.mean():11.4%} {np.quantile(a, 0.95):10.4%} "
              f"{a.max():9.4%}")
    print(f"where the library's figure is 0, ours is at most {zero_abs:.3f} s")
    r = np.array(ratio)
    print(f"library productive - ours, over our straggler loss: median {np.median(r):.3f}, "
          f"5-95% {np.quantile(r, 0.05):.3f}-{np.quantile(r, 0.95):.3f}")
    print(f"time per timeline: brownout {1000 * t_ours / n:.1f} ms, library "
          f"{1000 * t_lib / n:.1f} ms (ratio {t_lib / t_ours:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
