"""Cost of the live goodput ledger at 16,384 ranks, against rebuilding it from the records.

A synchronous 16,384-rank job at one-second steps (a checkpoint stall every
100 steps, one straggling rank) delivers its step records to
:class:`brownout.recovery.running.RunningLedger` the way ``brownout watch``
does: a batch per controller tick (15 s), a ledger refresh every 60 s.
Printed (CPU time of the thread, so other load on the machine does not
count): per-tick ``add`` time, per-refresh time (settling the new records and
the attribution), resident memory, and the peer: what the live controller did
before (``build_ledger`` over every record of the window at each refresh) on
the same records. Then the attribution alone over a full day's window
(86,400 one-second steps, few ranks: its cost does not depend on ranks).

Run:  python benchmarks/bench_live_ledger.py [--ranks 16384] [--minutes 5]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

from brownout.recovery.ledger import build_ledger
from brownout.recovery.running import RunningLedger, RunningSettings
from brownout.telemetry.steps import StepRecords

T0_S = 1_764_000_000.0


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def batch(ranks: int, first: int, n: int, step_s: float, rng: np.random.Generator
          ) -> StepRecords:
    """Records of steps ``first .. first+n-1`` of one job, every rank."""
    steps = np.repeat(np.arange(first, first + n, dtype=np.int64), ranks)
    rank = np.tile(np.arange(ranks, dtype=np.int32), n)
    comp = 0.8 * step_s * (1 + 0.005 * rng.standard_normal(steps.shape[0]))
    comp[(steps % 100 == 0)] += 5.0  # checkpoint stall, every rank
    comp[(rank == 7) & (steps % 1000 < 200)] *= 1.4  # a straggling rank
    end = T0_S + steps * step_s + (steps // 100) * 5.0
    ts = end + rng.uniform(0, 0.002, steps.shape[0])
    comm = np.maximum(ts - (end - step_s) - comp, 0.0)
    order = np.argsort(ts, kind="stable")
    z = np.zeros(steps.shape[0], np.int32)
    return StepRecords(ts[order], z, steps[order], rank[order], (rank // 8)[order],
                       (rank % 8)[order], comp[order], comm[order], z - 1, ("llm",))


def live_run(ranks: int, minutes: float, tick_s: float, refresh_s: float) -> dict[str, float]:
    rng = np.random.default_rng(0)
    led = RunningLedger(settings=RunningSettings(settle_s=30.0))
    add_ms, refresh_ms, kept = [], [], []
    next_refresh = refresh_s
    rss0 = _rss_mb()
    for k in range(int(minutes * 60 / tick_s)):
        rec = batch(ranks, 1 + k * int(tick_s), int(tick_s), 1.0, rng)
        kept.append(rec)
        w0 = time.thread_time()
        led.add(rec, float(rec.ts[-1]))
        add_ms.append(1000 * (time.thread_time() - w0))
        if (k + 1) * tick_s >= next_refresh:
            next_refresh += refresh_s
            w0 = time.thread_time()
            ledger = led.ledger(float(rec.ts[-1]))
            refresh_ms.append(1000 * (time.thread_time() - w0))
    lagging = ledger.jobs["llm"].steps
    pending = led.counts()["llm"]["pending"]
    rss = _rss_mb()
    led.flush()
    job = led.ledger(np.inf).jobs["llm"]
    every = _concat(kept)
    w0 = time.thread_time()
    peer = build_ledger(every).jobs["llm"]
    peer_ms = 1000 * (time.thread_time() - w0)
    return {"records": sum(len(r) for r in kept), "add_ms_p50": float(np.median(add_ms)),
            "add_ms_max": max(add_ms), "refresh_ms_p50": float(np.median(refresh_ms)),
            "refresh_ms_max": max(refresh_ms), "rss_mb_delta": rss - rss0,
            "pending": pending, "lagging_steps": lagging, "steps_in_ledger": job.steps,
            "peer_rebuild_ms": peer_ms, "peer_steps": peer.steps,
            "ettr": job.ettr, "peer_ettr": peer.ettr}


def _concat(parts: list[StepRecords]) -> StepRecords:
    cols = ("ts", "job", "step", "rank", "node", "gpu", "compute_s", "comm_s", "stage")
    return StepRecords(*(np.concatenate([getattr(p, c) for p in parts]) for c in cols),
                       jobs=("llm",))


def day_window(ranks: int = 8, steps: int = 86_400) -> dict[str, float]:
    rng = np.random.default_rng(1)
    led = RunningLedger(settings=RunningSettings(settle_s=30.0))
    for first in range(1, steps + 1, 3600):
        rec = batch(ranks, first, min(3600, steps + 1 - first), 1.0, rng)
        led.add(rec, float(rec.ts[-1]))
        led.settle(float(rec.ts[-1]))
    led.flush()
    w0 = time.thread_time()
    job = led.ledger(np.inf).jobs["llm"]
    return {"instances": job.instances, "attribution_ms": 1000 * (time.thread_time() - w0)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ranks", type=int, default=16384)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--tick", type=float, default=15.0, help="controller tick, s")
    ap.add_argument("--refresh", type=float, default=60.0, help="ledger refresh, s")
    args = ap.parse_args()
    c0 = resource.getrusage(resource.RUSAGE_SELF)
    live = live_run(args.ranks, args.minutes, args.tick, args.refresh)
    day = day_window()
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    print(f"ranks {args.ranks}, {args.minutes:g} min of 1 s steps, tick {args.tick:g} s, "
          f"refresh {args.refresh:g} s: {live['records']:,} records")
    print(f"add per tick:      p50 {live['add_ms_p50']:.0f} ms, max {live['add_ms_max']:.0f} ms")
    print(f"refresh:           p50 {live['refresh_ms_p50']:.0f} ms, max "
          f"{live['refresh_ms_max']:.0f} ms (settle + attribution)")
    per_tick = live["add_ms_p50"] + live["refresh_ms_p50"] * args.tick / args.refresh
    print(f"mean cost per {args.tick:g} s tick: {per_tick:.0f} ms "
          f"({per_tick / 10 / args.tick:.1f}% of one core)")
    print(f"held: {live['pending']:,} pending records; RSS +{live['rss_mb_delta']:.0f} MB")
    print(f"peer (rebuild from every record, as before): {live['peer_rebuild_ms']:.0f} ms "
          f"per refresh at {args.minutes:g} min of records, growing with the window; ratio "
          f"{live['peer_rebuild_ms'] / live['refresh_ms_p50']:.1f}x")
    print(f"before the last refresh settled: {live['lagging_steps']} steps (the settle time); "
          f"flushed: steps {live['steps_in_ledger']} vs {live['peer_steps']}, "
          f"ETTR {live['ettr']:.6f} vs {live['peer_ettr']:.6f}")
    print(f"a day's window ({day['instances']:,} instances): attribution "
          f"{day['attribution_ms']:.0f} ms")
    print(f"CPU {c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime:.1f} s, peak RSS "
          f"{c1.ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
