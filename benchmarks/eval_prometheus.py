"""Detection quality through a real Prometheus vs from the recorded files of the same runs.

    python benchmarks/eval_prometheus.py                       # default scenarios, fresh seeds
    python benchmarks/eval_prometheus.py --seed 1234           # reproduce a printed run
    python benchmarks/eval_prometheus.py gpu_failed mixed --speed 90

Each scenario runs live (``LiveCluster``, accelerated, samples stamped with
simulated time) under a fresh Prometheus (Debian's ``prometheus`` must be on
PATH) scraping every endpoint at the simulated 30 s interval. Then
``brownout detect`` reads the run three ways and each result is scored
against the truth:

* ``prom raw``   -- ``--prometheus`` (raw samples via range selectors, the CLI's way);
* ``prom range`` -- ``query_range`` at step = scrape interval (lookback-filled);
* ``files``      -- the recorded files of the same scenario and seed (``brownout
  simulate`` output, telemetry only: no step log on any side).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import pickle
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from brownout.cli.main import main  # noqa: E402
from brownout.detect.engine import Engine  # noqa: E402
from brownout.findings import Finding, read_findings  # noqa: E402
from brownout.scoring import KindScore, score  # noqa: E402
from brownout.sim.run import run_scenario  # noqa: E402
from brownout.sim.scenario import load_scenario  # noqa: E402
from brownout.telemetry.series import SeriesRegistry  # noqa: E402
from brownout.telemetry.sources.prometheus import read_range  # noqa: E402
from brownout.topology.loader import load_topology  # noqa: E402
from integration.live_prom import LiveRun, run_live  # noqa: E402

DEFAULT = ("gpu_overheating", "gpu_failed", "nic_degraded", "telemetry_loss",
           "switch_congestion", "cooling_fault", "mixed")
OOO_WINDOW_S = 3 * 3600.0  # scenarios up to ~2.5 h start more than an hour in the past


def _cli_detect(args: list[str], out: Path) -> list[Finding]:
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["detect", *args, "--out", str(out), "-q"])
    if code != 0:
        raise RuntimeError(f"brownout detect exited {code}")
    return list(read_findings(out).findings)


def _range_detect(run: LiveRun, url: str) -> list[Finding]:
    """The same engine fed by ``query_range`` (step = scrape interval) instead of raw samples."""
    topo = load_topology(run.topology_path)
    frame, _ = read_range(url, f"{run.start_s}", f"{run.end_s + 60}", SeriesRegistry(topo),
                          raw=False, step_s=run.scenario.scrape_interval_s)
    engine = Engine(topo)
    engine.push(frame, None)
    return list(engine.finish().findings)


def _keep_failure(run: LiveRun, url: str, name: str, seed: int) -> None:
    """Save what Prometheus held when detect failed, for whoever fixes it."""
    topo = load_topology(run.topology_path)
    frame, _ = read_range(url, f"{run.start_s}", f"{run.end_s + 60}", SeriesRegistry(topo))
    out = Path(tempfile.gettempdir()) / "brownout-failures" / f"prometheus-{name}-{seed}"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(run.topology_path, out / "topology.yaml")
    with (out / "frame.pkl").open("wb") as fh:
        pickle.dump((frame, run.truth, run.start_s, run.end_s), fh)
    print(f"# detect failed on {name} seed {seed}: Prometheus data kept in {out}", flush=True)


def _one(name: str, seed: int, speed: float, tmp: Path) -> dict[str, KindScore | float]:
    run, server = run_live(load_scenario(name), seed, speed, tmp, slack_s=120.0,
                           ooo_window_s=OOO_WINDOW_S)
    try:
        topo = str(run.topology_path)
        t0 = time.monotonic()
        try:
            raw = _cli_detect(["--topology", topo, "--prometheus", server.url, "--start",
                               f"{run.start_s}", "--end", f"{run.end_s + 60}"],
                              tmp / "prom.json")
        except RuntimeError:
            _keep_failure(run, server.url, name, seed)
            raise
        read_s = time.monotonic() - t0
        ranged = _range_detect(run, server.url)
    finally:
        server.stop()
    run_scenario(run.scenario, seed, tmp / "files", compress=False)
    files = _cli_detect(["--topology", topo, "--metrics", str(tmp / "files" / "metrics")],
                        tmp / "files.json")
    return {"prom raw": score(raw, run.truth).overall,
            "prom range": score(ranged, run.truth).overall,
            "files": score(files, run.truth).overall, "live_s": run.wall_s, "detect_s": read_s}


def _cell(s: KindScore | float) -> str:
    assert isinstance(s, KindScore)
    ttd = "-" if s.ttd_median_s is None else f"{s.ttd_median_s:.0f}s"
    return f"{s.matched}/{s.truth} fp={s.false} ttd={ttd}"


def _totals(rows: list[dict[str, KindScore | float]], key: str) -> str:
    scores = [s for r in rows if isinstance(s := r[key], KindScore)]
    matched = sum(s.matched for s in scores)
    truth = sum(s.truth for s in scores)
    false = sum(s.false for s in scores)
    prec = matched / (matched + false) if matched + false else 1.0
    rec = matched / truth if truth else 1.0
    return f"recall {rec:.3f} precision {prec:.3f} ({matched}/{truth}, {false} false)"


def main_(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="*", default=list(DEFAULT))
    ap.add_argument("--seed", type=int, default=None, help="base seed (default: fresh)")
    ap.add_argument("--speed", type=float, default=60.0, help="simulated s per wall s")
    args = ap.parse_args(argv)
    base = secrets.randbelow(100_000) if args.seed is None else args.seed
    print(f"base seed {base}, speed {args.speed:g}x, scrape every "
          f"{30 / args.speed:.2f} s wall (30 s simulated)")
    print(f"{'scenario':<18} {'seed':>6} {'prom raw':>24} {'prom range':>24} {'files':>24}"
          f" {'live':>6} {'read':>6}")
    rows = []
    for i, name in enumerate(args.scenarios):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                r = _one(name, base + i, args.speed, Path(tmp))
            except RuntimeError as exc:
                print(f"{name:<18} {base + i:>6} FAILED: {exc}", flush=True)
                continue
        rows.append(r)
        print(f"{name:<18} {base + i:>6} {_cell(r['prom raw']):>24} {_cell(r['prom range']):>24}"
              f" {_cell(r['files']):>24} {r['live_s']:>5.0f}s {r['detect_s']:>5.1f}s",
              flush=True)
    for key in ("prom raw", "prom range", "files"):
        print(f"overall {key:<10} {_totals(rows, key)}")
    return 0


if __name__ == "__main__":
    sys.exit(main_())
