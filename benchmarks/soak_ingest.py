"""Soak: ingest a 16,384-GPU cluster at a 15 s scrape interval while the API serves clients.

Three processes on this machine, loopback only:

- exporters: one HTTP server answering ``/<node>/metrics`` for every node of
  the cluster (dcgm-exporter GPU families and node_exporter InfiniBand
  families, labels as the real exporters write them; NIC series carry the
  ``instance="<node>:9100"`` label a Prometheus relabelling adds). Values move
  every scrape; counters grow. It counts every sample it serves.
- the controller: ``brownout watch``'s wiring with the real ScrapeSource
  (every node scraped each tick), the detection engine, the policy with a
  dry-run executor, the DuckDB store for findings, and the real uvicorn API on
  127.0.0.1, ticking every ``--interval`` wall seconds.
- clients (from benchmarks/load_api.py): ``--clients`` concurrent HTTP clients
  polling the read endpoints and answering approvals with the token.

Reported: per-tick duration (scrape + parse + detect + decide: the ingest lag
of each scrape), the controller's reported ingest lag, CPU of the controller
process (cores), its resident memory (RSS over time, peak VmHWM), API latency
p50/p99, and the "nothing dropped silently" check: samples served by the
exporters == samples ingested + samples reported dropped (scrape failures
show in the health's ``degraded`` list and are counted here).

Run:  python benchmarks/soak_ingest.py                    (16,384 GPUs, 600 s)
      python benchmarks/soak_ingest.py --gpus 1024 --duration 60 --json
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_api import _load, _pct  # the API client load of the service benchmark

GPU_FAMILIES = {  # name: (kind, base, spread per GPU, counter step per scrape)
    "DCGM_FI_DEV_GPU_TEMP": ("gauge", 45.0, 8.0, 0.0),
    "DCGM_FI_DEV_MEMORY_TEMP": ("gauge", 50.0, 8.0, 0.0),
    "DCGM_FI_DEV_POWER_USAGE": ("gauge", 600.0, 60.0, 0.0),
    "DCGM_FI_DEV_SM_CLOCK": ("gauge", 1980.0, 0.0, 0.0),
    "DCGM_FI_DEV_GPU_UTIL": ("gauge", 97.0, 2.0, 0.0),
    "DCGM_FI_DEV_CLOCKS_EVENT_REASONS": ("gauge", 0.0, 0.0, 0.0),
    "DCGM_FI_DEV_XID_ERRORS": ("gauge", 0.0, 0.0, 0.0),
    "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL": ("counter", 0.0, 0.0, 0.0),
    "DCGM_FI_DEV_PCIE_REPLAY_COUNTER": ("counter", 0.0, 0.0, 0.0),
    "DCGM_FI_DEV_THERMAL_VIOLATION": ("counter", 0.0, 0.0, 0.0),
    "DCGM_FI_DEV_POWER_VIOLATION": ("counter", 0.0, 0.0, 0.0),
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": ("gauge", 0.6, 0.05, 0.0),
}
NIC_FAMILIES = {
    "node_infiniband_port_data_transmitted_bytes_total": ("counter", 0.0, 0.0, 3.0e11),
    "node_infiniband_port_data_received_bytes_total": ("counter", 0.0, 0.0, 3.0e11),
    "node_infiniband_port_transmit_wait_total": ("counter", 0.0, 0.0, 1.0e5),
    "node_infiniband_port_errors_received_total": ("counter", 0.0, 0.0, 0.0),
    "node_infiniband_symbol_error_total": ("counter", 0.0, 0.0, 0.0),
    "node_infiniband_link_downed_total": ("counter", 0.0, 0.0, 0.0),
    "node_infiniband_state_id": ("gauge", 4.0, 0.0, 0.0),
    "node_infiniband_rate_bytes_per_second": ("gauge", 5.0e10, 0.0, 0.0),
}


# --------------------------------------------------------------------- exporters
def _render(node: str, k: int, gpus: int) -> tuple[bytes, int]:
    """The exposition of one node at scrape ``k``: (body, number of samples)."""
    lines: list[str] = []
    for name, (kind, base, spread, step) in GPU_FAMILIES.items():
        lines.append(f"# TYPE {name} {kind}")
        for g in range(gpus):
            v = base + spread * (((g * 7 + k) % 11) / 10.0 - 0.5) + step * k
            lines.append(f'{name}{{gpu="{g}",UUID="GPU-{node}-{g}",device="nvidia{g}",'
                         f'modelName="NVIDIA H100 80GB HBM3",Hostname="{node}"}} {v:g}')
    for name, (kind, base, spread, step) in NIC_FAMILIES.items():
        lines.append(f"# TYPE {name.removesuffix('_total')} {kind}")
        for d in range(gpus):
            v = base + spread + step * k
            lines.append(f'{name}{{device="mlx5_{d}",port="1",instance="{node}:9100"}} {v:.0f}')
    n = len(lines) - len(GPU_FAMILIES) - len(NIC_FAMILIES)
    return ("\n".join(lines) + "\n").encode(), n


def _exporters(n_nodes: int, gpus: int, interval_s: float, port_q: Any, served: Any,
               stop: Any) -> None:
    t0 = time.monotonic()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body in separate writes: no 40 ms stall

        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            if len(parts) != 2 or parts[1] != "metrics":
                self.send_error(404)
                return
            k = int((time.monotonic() - t0) // interval_s)
            body, n = _render(parts[0], k, gpus)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            with served.get_lock():
                served.value += n

        def log_message(self, *args: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port_q.put(srv.server_address[1])
    stop.wait()
    srv.shutdown()


# --------------------------------------------------------------------- measuring
def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Ticks:
    """Per-tick figures recorded by the runner's on_tick callback."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []
        self.degraded: list[str] = []

    def __call__(self, st: Any) -> None:
        h = st.health
        self.rows.append({"wall": time.monotonic(), "tick_s": h.detection_lag_s,
                          "ingest_lag_s": h.ingest_lag_s, "samples": h.samples_total,
                          "rss_mb": _rss_mb()})
        self.degraded.extend(h.degraded)


# --------------------------------------------------------------------- the run
def run(gpus: int, interval_s: float, duration_s: float, clients: int) -> dict[str, Any]:
    from brownout.clock import WallClock
    from brownout.executors.dryrun import DryRunExecutor
    from brownout.policy.config import PolicyConfig
    from brownout.policy.journal import Journal
    from brownout.service.auth import load_or_create_token
    from brownout.service.feeds import SourceFeed
    from brownout.service.live import LiveController, LiveSettings
    from brownout.service.runner import ControllerRunner
    from brownout.service.server import service
    from brownout.telemetry.series import SeriesRegistry
    from brownout.telemetry.sources.scrape import ScrapeSource
    from brownout.topology.generate import generate_topology

    n_nodes = gpus // 8
    topo = generate_topology(n_nodes, name="soak")
    ctx = mp.get_context("spawn")
    served, stop, port_q = ctx.Value("q", 0), ctx.Event(), ctx.Queue()
    exp = ctx.Process(target=_exporters, args=(n_nodes, 8, interval_s, port_q, served, stop))
    exp.start()
    port = port_q.get(timeout=60)
    urls = [f"http://127.0.0.1:{port}/{n.name}/metrics" for n in topo.nodes]
    tmp = tempfile.mkdtemp(prefix="brownout-soak-")
    holder: dict[str, Any] = {}

    def build() -> LiveController:
        wall = WallClock()
        src = ScrapeSource(urls, SeriesRegistry(topo), wall, timeout_s=10.0)
        holder["source"] = src
        return LiveController(topo, SourceFeed(src, "scrape"), DryRunExecutor(out=io.StringIO()),
                              Journal(":memory:", "dry-run"), PolicyConfig(),
                              settings=LiveSettings(state_dir=Path(tmp)), start_s=wall.now())

    ticks = Ticks()
    runner = ControllerRunner(build, WallClock(), interval_s=interval_s, on_tick=ticks)
    cpu0, w0 = _cpu_s(), time.monotonic()
    runner.start()
    token = load_or_create_token(f"{tmp}/api-token")
    server = service(runner, token, "127.0.0.1", 0)
    base = server.start().rstrip("/")
    q: Any = ctx.Queue()
    load = ctx.Process(target=_load, args=(base, token, clients, duration_s, q))
    load.start()
    lat, errors = q.get(timeout=duration_s + 300)
    load.join(30)
    server.stop()
    runner.stop(timeout_s=120)
    wall_s, cpu_s = time.monotonic() - w0, _cpu_s() - cpu0
    stop.set()
    exp.join(30)
    final = runner.state()
    problems = holder["source"].problems
    return _figures(gpus, interval_s, duration_s, clients, ticks, lat, errors, final,
                    served.value, problems, wall_s, cpu_s)


def _figures(gpus: int, interval_s: float, duration_s: float, clients: int, ticks: Ticks,
             lat: dict[str, list[float]], errors: list[str], final: Any, served: int,
             problems: Any, wall_s: float, cpu_s: float) -> dict[str, Any]:
    every = [x for xs in lat.values() for x in xs]
    rows = ticks.rows[1:]  # the first snapshot is the controller's start, before any scrape
    tick_s = sorted(r["tick_s"] for r in rows)
    lag = sorted(r["ingest_lag_s"] for r in rows if r["ingest_lag_s"] == r["ingest_lag_s"])
    gaps = [b["wall"] - a["wall"] for a, b in itertools.pairwise(rows)]
    dropped = problems.malformed_count + problems.dropped_nonfinite + problems.dropped_sentinel
    return {
        "gpus": gpus, "nodes": gpus // 8, "interval_s": interval_s, "duration_s": duration_s,
        "wall_s": round(wall_s, 1), "clients": clients, "cpus": os.cpu_count(),
        "loadavg_end": os.getloadavg()[0],
        "ticks": final.health.ticks, "ticks_expected": int(wall_s // interval_s),
        "samples_per_scrape": served // max(final.health.ticks, 1),
        "tick_p50_s": round(_pct(tick_s, 50) / 1000, 2),
        "tick_p99_s": round(_pct(tick_s, 99) / 1000, 2), "tick_max_s": round(max(tick_s), 2),
        "tick_gap_max_s": round(max(gaps), 2) if gaps else None,
        "ingest_lag_p99_s": round(_pct(lag, 99) / 1000, 2) if lag else None,
        "cpu_cores_controller": round(cpu_s / wall_s, 2),
        "rss_mb_start": round(rows[0]["rss_mb"], 0) if rows else None,
        "rss_mb_end": round(rows[-1]["rss_mb"], 0) if rows else None,
        "vmhwm_mb": round(_hwm_mb(), 0),
        "requests": len(every), "errors": len(errors), "error_examples": errors[:5],
        "p50_ms": round(_pct(every, 50), 1), "p99_ms": round(_pct(every, 99), 1),
        "samples_served": served, "samples_ingested": final.health.samples_total,
        "samples_reported_dropped": dropped,
        "scrape_failures_reported": sum(1 for d in ticks.degraded if "scrape" in d),
        "nothing_dropped_silently": served == final.health.samples_total + dropped,
        "findings": len(final.findings),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gpus", type=int, default=16384, help="8 per node")
    ap.add_argument("--interval", type=float, default=15.0, help="scrape interval, wall s")
    ap.add_argument("--duration", type=float, default=600.0, help="seconds of soak")
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    fig = run(args.gpus, args.interval, args.duration, args.clients)
    if args.json:
        print(json.dumps(fig))
    else:
        for k, v in fig.items():
            print(f"{k:28} {v}")
    ok = fig["errors"] == 0 and fig["nothing_dropped_silently"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
