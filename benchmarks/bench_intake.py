"""Pushed step intake at scale: a 16,384-rank job into one `brownout watch`, detection live.

Two processes on this machine, loopback only:

- the controller: the real ``brownout watch`` (steps alone, no telemetry), a
  topology of ``--gpus`` GPUs (8 a node), dry-run mode, ticking every
  ``--interval`` seconds, the engine every ``--engine-tick`` seconds;
- the job: one synchronous job of ``--gpus`` ranks whose steps last
  ``ranks / --rate`` seconds (3 steps a second at 50,000 records/s: a
  16,384-rank job at one-second steps with 3x headroom), its records stamped
  with the wall clock as real ranks stamp them, pushed as NDJSON over
  ``--connections`` kept-alive connections in batches of ``--batch`` records.
  One node turns slow (+40 % compute) ``--slow-after`` seconds in.

Reported: records pushed and taken per second (sustained over ``--duration``
after a warm-up), push latency (request sent -> ``202``) p50/p99/max, 429s,
the intake queue's wait, the controller's CPU (cores) and peak RSS, tick
duration (the health's detection lag) and ingest lag, and whether and when the
slow node was found (``host_straggler``). Limits: >= 50,000 records/s,
p99 push latency < 1 s, and detection keeping up: the slow node found, and
neither the ingest lag (controller clock - newest step consumed) nor the
intake queue's wait (sampled each second from ``/metrics``) above one engine
tick plus two controller ticks.

Run:  python benchmarks/bench_intake.py                      (16,384 ranks, 50,000/s, 120 s)
      python benchmarks/bench_intake.py --rate 16384 --duration 180 --json
      python benchmarks/bench_intake.py --in-process --duration 180   (CPU per record and
      per tick, no HTTP, simulated clock: figures the machine's load does not distort)
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from brownout.topology.generate import generate_topology
from brownout.topology.loader import write_topology

LINE = ('{"ts":%.4f,"job":"big","step":%d,"rank":%d,"node":"%s","gpu":%d,'
        '"compute_s":%.4f,"comm_s":%.4f}')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_watch(tmp: Path, args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], int, str]:
    topo = generate_topology(args.gpus // 8)
    write_topology(topo, tmp / "topology.yaml")
    port = free_port()
    cfg = {"source": {"kind": "steps", "interval_s": args.interval},
           "topology": "topology.yaml",
           "controller": {"mode": "dry-run", "engine_tick_s": args.engine_tick},
           "service": {"port": port, "state_dir": str(tmp / "state")},
           "steps": {"queue_records": args.queue}}
    (tmp / "watch.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.Popen([sys.executable, "-m", "brownout.cli.main", "watch", "--config",
                             str(tmp / "watch.yaml")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            get(port, "/api/health")
            break
        except OSError:
            time.sleep(0.2)
    token = (tmp / "state" / "ingest-token").read_text().strip()
    return proc, port, token


def get(port: int, path: str) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    data = conn.getresponse().read()
    conn.close()
    return data.decode() if path == "/metrics" else json.loads(data)


class Job:
    """Some ranks of a synchronous job, step by step, stamped with the wall clock."""

    def __init__(self, ranks: np.ndarray, step_s: float, slow_node: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.ranks, self.step_s = ranks, step_s
        self.speed = 1.0 + rng.uniform(0, 0.05, len(ranks))
        self.node = [f"n{r // 8 + 1:04d}" for r in ranks.tolist()]
        self.slow = ranks // 8 == slow_node
        self.rng = rng

    def lines(self, step: int, end_s: float, slow: bool) -> list[bytes]:
        n = len(self.ranks)
        comp = self.step_s * 0.8 * self.speed * self.rng.uniform(0.98, 1.02, n)
        if slow:
            comp = np.where(self.slow, comp * 1.4, comp)
        comm = np.maximum(0.0, self.step_s - comp)
        ts = end_s + self.rng.uniform(0, 0.01, n)
        node, ranks, out = self.node, self.ranks.tolist(), []
        for i, r in enumerate(ranks):
            out.append((LINE % (ts[i], step, r, node[i], r % 8, comp[i], comm[i])).encode())
        return out


class Pusher:
    """``connections`` threads posting queued bodies; latencies and 429s recorded."""

    def __init__(self, port: int, token: str, connections: int) -> None:
        self.port, self.token = port, token
        self.bodies: queue.Queue[tuple[bytes, int] | None] = queue.Queue(maxsize=64)
        self.latency_s: list[float] = []
        self.accepted = self.refused = self.errors = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True)
                        for _ in range(connections)]
        for t in self.threads:
            t.start()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"Content-Type": "application/x-ndjson",
                   "Authorization": f"Bearer {self.token}"}
        while (item := self.bodies.get()) is not None:
            body, _ = item
            while True:
                t0 = time.perf_counter()
                try:
                    conn.request("POST", "/api/steps", body, headers)
                    resp = conn.getresponse()
                    data = resp.read()
                except (OSError, http.client.HTTPException):
                    conn.close()  # counted, reconnected, sent again (the intake dedupes)
                    with self.lock:
                        self.errors += 1
                    continue
                dt = time.perf_counter() - t0
                if resp.status == 429:
                    with self.lock:
                        self.refused += 1
                    time.sleep(float(resp.getheader("Retry-After") or 1))
                    continue
                with self.lock:
                    self.latency_s.append(dt)
                    if resp.status == 202:
                        self.accepted += json.loads(data)["accepted"]
                    else:
                        self.errors += 1
                break

    def stop(self) -> None:
        for _ in self.threads:
            self.bodies.put(None)
        for t in self.threads:
            t.join(60)


def push_part(args: argparse.Namespace, port: int, token: str, part: int, t_start: float,
              out: Any) -> None:
    """One generator process: every ``args.procs``-th rank, paced by the wall clock."""
    ranks = np.arange(part, args.gpus, args.procs)
    job = Job(ranks, args.gpus / args.rate, args.slow_node, seed=part)
    pusher = Pusher(port, token, args.connections)
    onset, t_mark = t_start + args.slow_after, t_start + args.warmup
    end = t_mark + args.duration
    step, pushed, pushed0, lat0, acc0 = 0, 0, None, 0, 0
    while (step_end := t_start + (step + 1) * job.step_s) < end:
        if time.time() < step_end:
            time.sleep(min(0.05, step_end - time.time()))
            continue
        lines = job.lines(step, step_end, step_end >= onset)
        for i in range(0, len(lines), args.batch):
            chunk = lines[i:i + args.batch]
            pusher.bodies.put((b"\n".join(chunk) + b"\n", len(chunk)))
        pushed += len(lines)
        step += 1
        if pushed0 is None and step_end >= t_mark:
            pushed0, lat0, acc0 = pushed, len(pusher.latency_s), pusher.accepted
    behind = time.time() - end
    pusher.stop()
    out.put({"pushed": pushed - (pushed0 or 0), "accepted": pusher.accepted - acc0,
             "latency_s": pusher.latency_s[lat0:], "refused": pusher.refused,
             "errors": pusher.errors, "behind_s": behind, "drained_at": time.time()})


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def metric(text: str, name: str) -> float:
    return next(float(ln.split()[-1]) for ln in text.splitlines() if ln.startswith(name + " "))


def drive(args: argparse.Namespace, port: int, token: str, pid: int) -> dict[str, Any]:
    out: Any = mp.Queue()
    t_start = time.time() + 1.0
    procs = [mp.Process(target=push_part, args=(args, port, token, i, t_start, out))
             for i in range(args.procs)]
    for p in procs:
        p.start()
    t_mark = t_start + args.warmup
    while time.time() < t_mark:
        time.sleep(0.05)
    cpu0, health, queue_lag = cpu_s(pid), [], []
    while time.time() < t_mark + args.duration:
        health.append(get(port, "/api/health"))
        queue_lag.append(metric(get(port, "/metrics"), "brownout_intake_lag_seconds"))
        time.sleep(1.0)
    cpu = cpu_s(pid) - cpu0
    parts = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(60)
    wall = max(p["drained_at"] for p in parts) - t_mark  # until every push was answered
    lat = np.concatenate([np.array(p["latency_s"]) for p in parts])
    time.sleep(args.interval * 2 + 1)  # the last pushes reach the engine
    onset_ts = t_start + args.slow_after
    found = [f for f in get(port, "/api/findings")["findings"]
             if f["kind"] == "host_straggler"]
    text = get(port, "/metrics")
    ticks = [h["detection_lag_s"] or 0.0 for h in health if h.get("ticks", 0) > 2]
    lags = [h["ingest_lag_s"] or 0.0 for h in health if h.get("ticks", 0) > 2]
    return {
        "ranks": args.gpus, "target_rate": args.rate, "duration_s": round(wall, 1),
        "pushed_per_s": sum(p["pushed"] for p in parts) / wall,
        "accepted_per_s": sum(p["accepted"] for p in parts) / wall,
        "generator_behind_s": round(max(p["behind_s"] for p in parts), 2),
        "push_p50_s": float(np.percentile(lat, 50)), "push_p99_s": float(np.percentile(lat, 99)),
        "push_max_s": float(lat.max()), "pushes": len(lat),
        "refused_429": sum(p["refused"] for p in parts),
        "errors": sum(p["errors"] for p in parts),
        "controller_cpu_cores": cpu / args.duration,
        "controller_cpu_us_per_record": cpu / max(1, sum(p["accepted"] for p in parts)) * 1e6,
        "controller_peak_rss_mb": peak_rss_mb(pid),
        "tick_s_max": max(ticks, default=float("nan")),
        "tick_s_median": float(np.median(ticks)) if ticks else float("nan"),
        "ingest_lag_s_max": max(lags, default=float("nan")),
        "queue_lag_s_max": max(queue_lag, default=float("nan")),
        "queue_last_wait_s": metric(text, "brownout_intake_last_wait_seconds"),
        "accepted_total": metric(text, "brownout_intake_records_accepted_total"),
        "rejected_total": sum(float(ln.split()[-1]) for ln in text.splitlines()
                              if ln.startswith("brownout_intake_records_rejected_total{")),
        "slow_node": f"n{args.slow_node + 1:04d}",
        "found": sorted({f["component"] for f in found}),
        "detected_after_onset_s": (min(f["detected_at"] for f in found) - onset_ts)
        if found else None,
    }


def in_process(args: argparse.Namespace) -> dict[str, Any]:
    """CPU cost (``time.process_time``) of the intake and of the controller's ticks, no HTTP.

    The same job is pushed straight into the wiring's intake, and the
    controller ticked, on a simulated clock: figures that the machine's load
    does not distort.
    """
    from brownout.clock import ManualClock
    from brownout.recovery.running import RunningLedger
    from brownout.service.config import WatchConfig
    from brownout.service.wiring import plan_controller

    ledger_s: list[float] = []
    build = RunningLedger.ledger  # the live ledger's refresh, timed on its own

    def timed(*a: Any, **k: Any) -> Any:
        t = time.process_time()
        out = build(*a, **k)
        ledger_s.append(time.process_time() - t)
        return out

    RunningLedger.ledger = timed  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as d:
        write_topology(generate_topology(args.gpus // 8), Path(d) / "t.yaml")
        t0 = 1_764_000_000.0
        cfg = WatchConfig(source="steps", topology=str(Path(d) / "t.yaml"), mode="dry-run",
                          state_dir=str(Path(d) / "s"), interval_s=args.interval,
                          engine_tick_s=args.engine_tick)
        plan = plan_controller(cfg, persistent=False, wall=ManualClock(t0))
        assert plan.intake is not None
        ctl = plan.factory()
        job = Job(np.arange(args.gpus), args.gpus / args.rate, args.slow_node)
        step, n, intake_s, ticks, found_at = 0, 0, 0.0, [], None
        for k in range(1, int(args.duration / args.interval) + 1):
            now = t0 + k * args.interval
            while (end := t0 + (step + 1) * job.step_s) <= now:
                lines = job.lines(step, end, end >= t0 + args.slow_after)
                for i in range(0, len(lines), args.batch):
                    body = b"\n".join(lines[i:i + args.batch]) + b"\n"
                    c = time.process_time()
                    plan.intake.submit(body)
                    intake_s += time.process_time() - c
                n, step = n + len(lines), step + 1
            c = time.process_time()
            st = ctl.tick(now)
            ticks.append(time.process_time() - c)
            if found_at is None and any(f.finding.kind == "host_straggler" for f in st.findings):
                found_at = now - (t0 + args.slow_after)
        ctl.close()
    RunningLedger.ledger = build  # type: ignore[method-assign]
    tick = np.array(ticks)
    return {"records": n, "intake_cpu_us_per_record": intake_s / n * 1e6,
            "intake_records_per_core_s": n / intake_s,
            "tick_cpu_cores": float(tick.sum()) / args.duration,
            "tick_cpu_s_max": float(tick.max()),
            "ledger_refresh_cpu_s": [round(x, 2) for x in ledger_s],
            "tick_cpu_cores_without_ledger": (float(tick.sum()) - sum(ledger_s))
            / args.duration, "found_after_onset_s": found_at}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gpus", type=int, default=16_384)
    ap.add_argument("--rate", type=float, default=50_000.0, help="records per second")
    ap.add_argument("--duration", type=float, default=120.0)
    ap.add_argument("--warmup", type=float, default=10.0)
    ap.add_argument("--slow-after", type=float, default=5.0)
    ap.add_argument("--slow-node", type=int, default=123)
    ap.add_argument("--interval", type=float, default=2.0, help="controller tick (s)")
    ap.add_argument("--engine-tick", type=float, default=15.0, help="detector tick (s)")
    ap.add_argument("--batch", type=int, default=4096, help="records per push")
    ap.add_argument("--connections", type=int, default=2, help="per generator process")
    ap.add_argument("--procs", type=int, default=2, help="generator processes")
    ap.add_argument("--queue", type=int, default=1_000_000, help="intake queue bound")
    ap.add_argument("--in-process", action="store_true",
                    help="measure CPU per record and per tick without HTTP (simulated clock)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.in_process:
        res = in_process(args)
        print(json.dumps(res, indent=1) if args.json else
              "\n".join(f"{k:30} {v}" for k, v in res.items()))
        return
    with tempfile.TemporaryDirectory() as d:
        proc, port, token = start_watch(Path(d), args)
        try:
            res = drive(args, port, token, proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    res["detection_keeps_up"] = bool(
        res["slow_node"] in res["found"]
        and max(res["ingest_lag_s_max"], res["queue_lag_s_max"])
        <= args.engine_tick + 2 * args.interval)
    res["meets_limits"] = bool(res["accepted_per_s"] >= 50_000 and res["push_p99_s"] < 1.0
                               and res["detection_keeps_up"])
    if args.json:
        print(json.dumps(res, indent=1))
        return
    for k, v in res.items():
        print(f"{k:26} {v:.4g}" if isinstance(v, float) else f"{k:26} {v}")


if __name__ == "__main__":
    main()
