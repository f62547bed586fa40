"""Soak: ``brownout watch`` reading a 16,384-GPU cluster through a real Prometheus.

Three processes on this machine, loopback only:

- exporters (benchmarks/soak_ingest.py's expositions: dcgm-exporter GPU
  families and node_exporter InfiniBand families, 160 samples per node per
  scrape) behind one HTTP server answering ``/<node>/metrics``. It counts
  every sample it serves, and serves only between ``go`` and ``halt`` (503
  otherwise), so the count covers exactly what the controller should read;
- a real Prometheus (Debian's package) scraping every node every
  ``--interval`` seconds (one target per node, ``honor_labels``, the node as
  ``instance`` as a real relabelling gives it);
- the controller, built by ``brownout watch``'s own wiring
  (``plan_controller`` with ``source: prometheus``: PrometheusSource, engine,
  policy with a dry-run executor, DuckDB store, journal, goodput ledger) and
  ticked by its runner every ``--tick`` seconds, ``--delay`` behind the clock.

After ``--minutes``, the exporters halt; the controller runs until it has
ingested every sample served (at most ``--catchup`` seconds), then stops.
Reported: ingest lag (each fetch: the age of its oldest sample when the
fetch returned, plus the tick), samples
served by the exporters vs stored by Prometheus vs ingested by the
controller (and each series' samples read once: no duplicates), controller
tick time, CPU and RSS of the controller, of Prometheus and of the exporters.

Run:  python benchmarks/soak_prometheus.py                       (16,384 GPUs, 10 min)
      python benchmarks/soak_prometheus.py --gpus 1024 --minutes 2 --json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.integration.prom
from soak_ingest import _render  # the same expositions as the direct-scrape soak

PROMETHEUS = shutil.which("prometheus")


# --------------------------------------------------------------------- exporters
def _exporters(gpus: int, interval_s: float, port_q: Any, served: Any, gate: Any,
               stop: Any) -> None:
    t0 = time.monotonic()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            if len(parts) != 2 or parts[1] != "metrics":
                self.send_error(404)
                return
            if gate.value != 1:  # before go, after halt: no samples
                self.send_error(503)
                return
            body, n = _render(parts[0], int((time.monotonic() - t0) // interval_s), gpus)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            with served.get_lock():
                served.value += n

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a scrape given up by Prometheus (timeout) closes the socket: not news

    srv = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port_q.put(srv.server_address[1])
    stop.wait()
    srv.shutdown()


def prometheus_yaml(nodes: list[str], port: int, interval_s: float) -> str:
    """One target per node on the shared exporter port, told apart by path."""
    out = ["global:", f"  scrape_interval: {interval_s:g}s",
           f"  scrape_timeout: {min(interval_s, 10.0):g}s", "scrape_configs:",
           "  - job_name: soak", "    honor_labels: true", "    static_configs:"]
    for name in nodes:
        out += [f"      - targets: ['127.0.0.1:{port}']",
                f"        labels: {{__metrics_path__: '/{name}/metrics', instance: '{name}:9400'}}"]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------- measuring
def _proc(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MB) of a process from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    cpu = (int(stat[11]) + int(stat[12])) / tck
    rss = int(stat[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return cpu, rss


class Fetches:
    """Wraps PrometheusSource.fetch: per fetch, wall end, samples, oldest/newest stamp;
    and every (series, timestamp) read, to prove each sample was read once."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, int, float, float, float]] = []
        self.keys: list[np.ndarray] = []

    def install(self) -> None:
        from brownout.telemetry.sources.prometheus import PrometheusSource

        original = PrometheusSource.fetch
        rows, keys = self.rows, self.keys

        def fetch(src: Any, until_s: float) -> Any:
            w0 = time.perf_counter()
            frame = original(src, until_s)
            w1 = time.perf_counter()
            n = len(frame)
            if n:
                t = frame.t_s
                rows.append((time.time(), n, float(t.min()), float(t.max()), w1 - w0))
                keys.append(frame.series.astype(np.int64) * 10**7
                            + np.round(t * 1000).astype(np.int64) % 10**7)
            return frame

        PrometheusSource.fetch = fetch  # type: ignore[method-assign]


class Ticks:
    def __init__(self, ctl_pid: int) -> None:
        self.rows: list[dict[str, float]] = []
        self.pid = ctl_pid

    def __call__(self, st: Any) -> None:
        h = st.health
        self.rows.append({"wall": time.time(), "tick_s": h.detection_lag_s,
                          "ingest_lag_s": h.ingest_lag_s, "samples": h.samples_total,
                          "rss_mb": _proc(self.pid)[1], "degraded": len(h.degraded)})


def _stored(url: str, start_s: float, end_s: float) -> int:
    """Samples Prometheus took from the exporters in [start, end] (its own scrape counts)."""
    q = f"sum(sum_over_time(scrape_samples_scraped{{job='soak'}}[{int(end_s - start_s)}s]))"
    body = httpx.get(f"{url}/api/v1/query", params={"query": q, "time": f"{end_s:.3f}"},
                     timeout=120.0).json()
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus refused {q}: {body}")
    res = body["data"]["result"]
    return int(float(res[0]["value"][1])) if res else 0


# --------------------------------------------------------------------- the run
def run(gpus: int, interval_s: float, minutes: float, tick_s: float, delay_s: float,
        catchup_s: float = 600.0) -> dict[str, Any]:
    from tests.integration.prom import PrometheusServer

    from brownout.service.config import WatchConfig
    from brownout.service.runner import ControllerRunner
    from brownout.service.wiring import plan_controller
    from brownout.topology.generate import generate_topology
    from brownout.topology.loader import write_topology

    tmp = Path(tempfile.mkdtemp(prefix="brownout-soak-prom-"))
    topo = generate_topology(gpus // 8, name="soak")
    write_topology(topo, tmp / "topology.yaml")
    ctx = mp.get_context("spawn")
    served, gate, stop, port_q = ctx.Value("q", 0), ctx.Value("i", 0), ctx.Event(), ctx.Queue()
    exp = ctx.Process(target=_exporters, args=(8, interval_s, port_q, served, gate, stop))
    exp.start()
    port = port_q.get(timeout=60)
    (tmp / "tsdb").mkdir()
    prom = PrometheusServer(tmp / "tsdb", prometheus_yaml([n.name for n in topo.nodes], port,
                                                         interval_s))
    fetches = Fetches()
    fetches.install()
    try:
        cfg = WatchConfig(source="prometheus", url=prom.url, topology=str(tmp / "topology.yaml"),
                          interval_s=tick_s, delay_s=delay_s, mode="dry-run",
                          executor="dry-run", engine_tick_s=interval_s,
                          state_dir=str(tmp / "state"))
        plan = plan_controller(cfg)
        ticks = Ticks(os.getpid())
        runner = ControllerRunner(plan.factory, plan.clock, interval_s=plan.interval_s,
                                  on_tick=ticks)
        runner.start()
        go_s = time.time()
        gate.value = 1
        c0, p0, e0 = _cpu_self(), _proc(prom.proc.pid)[0], _proc(exp.pid)[0]
        time.sleep(minutes * 60)
        gate.value = 2
        halt_s = time.time()
        c1, p1, e1 = _cpu_self(), _proc(prom.proc.pid)[0], _proc(exp.pid)[0]
        rss_prom = _proc(prom.proc.pid)[1]
        caught_up_s = _catch_up(runner, served, catchup_s)
        runner.stop(timeout_s=120)
        final = runner.state()
        stored = _stored(prom.url, go_s - interval_s, halt_s + interval_s)
    finally:
        prom.stop()
        stop.set()
        exp.join(30)
    wall = halt_s - go_s
    fig = _figures(gpus, interval_s, minutes, tick_s, delay_s, ticks, fetches, final,
                   served.value, stored, wall, (c1 - c0, p1 - p0, e1 - e0), rss_prom)
    fig["caught_up_after_halt_s"] = caught_up_s
    return fig


def _catch_up(runner: Any, served: Any, timeout_s: float) -> float | None:
    """Seconds until the controller has ingested every sample served (None: not in time)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if runner.state().health.samples_total >= served.value:
            return round(time.monotonic() - t0, 1)
        time.sleep(1.0)
    return None


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _figures(gpus: int, interval_s: float, minutes: float, tick_s: float, delay_s: float,
             ticks: Ticks, fetches: Fetches, final: Any, served: int, stored: int, wall: float,
             cpu: tuple[float, float, float], rss_prom: float) -> dict[str, Any]:
    rows = ticks.rows[1:]
    tick = np.array([r["tick_s"] for r in rows]) if rows else np.zeros(1)
    f = np.array([(r[0] - r[2], r[4]) for r in fetches.rows]) if fetches.rows else np.zeros((1, 2))
    read_lag = f[:, 0] + np.median(tick)  # oldest sample's age at fetch end, plus the detect
    keys = np.concatenate(fetches.keys) if fetches.keys else np.zeros(0, np.int64)
    ingested = final.health.samples_total
    return {
        "gpus": gpus, "nodes": gpus // 8, "scrape_interval_s": interval_s, "minutes": minutes,
        "tick_s": tick_s, "delay_s": delay_s, "cpus": os.cpu_count(),
        "loadavg_end": round(os.getloadavg()[0], 1), "ticks": final.health.ticks,
        "samples_per_scrape": gpus * 20,
        "samples_served": served, "samples_stored_by_prometheus": stored,
        "samples_ingested": ingested,
        "samples_read_twice": int(keys.shape[0] - np.unique(keys).shape[0]),
        "served_equals_ingested": served == ingested,
        "ingest_lag_p50_s": round(float(np.median(read_lag)), 2),
        "ingest_lag_p99_s": round(float(np.quantile(read_lag, 0.99)), 2),
        "ingest_lag_max_s": round(float(read_lag.max()), 2),
        "ingest_lag_under_interval": bool(read_lag.max() < interval_s),
        "fetch_p50_s": round(float(np.median(f[:, 1])), 2),
        "fetch_max_s": round(float(f[:, 1].max()), 2),
        "tick_p50_s": round(float(np.median(tick)), 2),
        "tick_max_s": round(float(tick.max()), 2),
        "degraded_ticks": sum(1 for r in rows if r["degraded"]),
        "cpu_cores_controller": round(cpu[0] / wall, 2),
        "cpu_cores_prometheus": round(cpu[1] / wall, 2),
        "cpu_cores_exporters": round(cpu[2] / wall, 2),
        "rss_mb_controller_start_end": [round(rows[0]["rss_mb"]), round(rows[-1]["rss_mb"])]
        if rows else None,
        "rss_mb_prometheus": round(rss_prom),
        "peak_rss_mb_controller": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gpus", type=int, default=16384, help="8 per node")
    ap.add_argument("--interval", type=float, default=15.0, help="Prometheus scrape interval, s")
    ap.add_argument("--minutes", type=float, default=10.0, help="minutes of soak")
    ap.add_argument("--tick", type=float, default=5.0, help="controller tick (watch interval_s)")
    ap.add_argument("--delay", type=float, default=3.0, help="watch delay_s")
    ap.add_argument("--catchup", type=float, default=600.0,
                    help="after the exporters halt, wait this long for the controller to read all")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if PROMETHEUS is None:
        print("prometheus is not installed (Debian: apt-get install prometheus)")
        return 2
    fig = run(args.gpus, args.interval, args.minutes, args.tick, args.delay, args.catchup)
    if args.json:
        print(json.dumps(fig))
    else:
        for k, v in fig.items():
            print(f"{k:30} {v}")
    ok = (fig["served_equals_ingested"] and fig["samples_read_twice"] == 0
          and fig["ingest_lag_under_interval"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
