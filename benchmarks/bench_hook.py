"""What the training hook adds to a step, pushing to a controller that is up, slow and down.

One run measures, on this machine, a training loop of ``--steps`` steps (each
step ``--work-ms`` of Python work holding the GIL, the hook's worst case: its
background thread competes for the interpreter) five ways:

- ``baseline``: no hook (the peer every ratio is taken against);
- ``file``: :class:`StepLogWriter` (the JSON Lines file);
- ``up``: :class:`StepPusher` to a real ``brownout watch`` (steps alone,
  another process on 127.0.0.1);
- ``slow``: to a server that answers each push only after ``--slow-s``;
- ``down``: to a port where nothing listens (records buffer, then drop).

Per step it times the hook's own calls (``begin`` + ``end``: the added cost)
and the whole step. It prints the median and p99 added cost (limits: 50 us
and 500 us) and the step time's median and p99 as ratios to the baseline.

Run:  python benchmarks/bench_hook.py                (4000 steps of 1 ms each way)
      python benchmarks/bench_hook.py --steps 20000 --json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from brownout.clock import WallClock
from brownout.topology.generate import generate_topology
from brownout.topology.loader import write_topology
from brownout.torch import PushSettings, RankIdentity, StepLogWriter, StepPusher, StepTimer

SLOW_SERVER = r"""
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
DELAY = float(sys.argv[2])
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        n = self.rfile.read(int(self.headers["Content-Length"])).count(b"\n")
        time.sleep(DELAY)
        body = json.dumps({"accepted": n, "rejected": 0, "errors": []}).encode()
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port}")


def start_watch(tmp: Path, stack: ExitStack) -> tuple[str, str]:
    """A real `brownout watch` on steps alone; its URL and ingest token."""
    write_topology(generate_topology(4), tmp / "topology.yaml")
    port = free_port()
    cfg = {"source": {"kind": "steps", "interval_s": 1}, "topology": "topology.yaml",
           "controller": {"mode": "dry-run"},
           "service": {"port": port, "state_dir": str(tmp / "state")}}
    (tmp / "watch.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.Popen([sys.executable, "-m", "brownout.cli.main", "watch", "--config",
                             str(tmp / "watch.yaml")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    stack.callback(lambda: (proc.send_signal(signal.SIGTERM), proc.wait(30)))
    wait_listening(port)
    return f"http://127.0.0.1:{port}", (tmp / "state" / "ingest-token").read_text().strip()


def start_slow(delay_s: float, stack: ExitStack) -> str:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SLOW_SERVER, str(port), str(delay_s)])
    stack.callback(lambda: (proc.kill(), proc.wait(10)))
    wait_listening(port)
    return f"http://127.0.0.1:{port}"


def work(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:  # Python work holding the GIL
        pass


def run_loop(timer: StepTimer | None, steps: int, work_s: float) -> dict[str, np.ndarray]:
    pc = time.perf_counter
    cost, step_s = np.zeros(steps), np.zeros(steps)
    for n in range(steps):
        t0 = pc()
        if timer is not None:
            timer.begin(n)
        t1 = pc()
        work(work_s)
        t2 = pc()
        if timer is not None:
            timer.end()
        t3 = pc()
        cost[n] = (t1 - t0) + (t3 - t2)
        step_s[n] = t3 - t0
    return {"cost": cost, "step": step_s}


def summary(name: str, got: dict[str, np.ndarray], base: dict[str, np.ndarray],
            sink: Any) -> dict[str, Any]:
    b_med, b_p99 = np.median(base["step"]), np.percentile(base["step"], 99)
    out = {"mode": name, "cost_median_us": float(np.median(got["cost"]) * 1e6),
           "cost_p99_us": float(np.percentile(got["cost"], 99) * 1e6),
           "cost_max_us": float(got["cost"].max() * 1e6),
           "step_median_ratio": float(np.median(got["step"]) / b_med),
           "step_p99_ratio": float(np.percentile(got["step"], 99) / b_p99)}
    if isinstance(sink, StepPusher):
        out.update(sent=sink.sent, dropped=sink.dropped, pending=sink.pending)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--work-ms", type=float, default=1.0)
    ap.add_argument("--slow-s", type=float, default=0.5, help="the slow server's answer delay")
    ap.add_argument("--capacity", type=int, default=2000, help="the pusher's queue bound")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    work_s = args.work_ms / 1e3
    ident = RankIdentity("bench", 0, "n0001", 0)
    rows = []
    with ExitStack() as stack, tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        up_url, token = start_watch(tmp, stack)
        sinks: dict[str, Any] = {
            "file": lambda: StepLogWriter(tmp / "steps.jsonl"),
            "up": lambda: StepPusher(PushSettings(up_url, token),
                                     capacity_records=args.capacity),
            "slow": lambda: StepPusher(PushSettings(start_slow(args.slow_s, stack), token),
                                       capacity_records=args.capacity),
            "down": lambda: StepPusher(PushSettings(f"http://127.0.0.1:{free_port()}", token),
                                       capacity_records=args.capacity),
        }
        run_loop(None, min(500, args.steps), work_s)  # warm up
        base = run_loop(None, args.steps, work_s)
        rows.append(summary("baseline", base, base, None))
        for name, make in sinks.items():
            sink = make()
            got = run_loop(StepTimer(sink, ident, WallClock()), args.steps, work_s)
            if isinstance(sink, StepPusher):
                sink.flush(2.0)
            rows.append(summary(name, got, base, sink))
            sink.close(**({"timeout_s": 1.0} if isinstance(sink, StepPusher) else {}))
    report(rows, args)


def report(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    ok = all(r["cost_median_us"] < 50 and r["cost_p99_us"] < 500 for r in rows
             if r["mode"] in ("up", "slow", "down"))
    if args.json:
        print(json.dumps({"rows": rows, "meets_limits": ok, "steps": args.steps,
                          "work_ms": args.work_ms, "cpus": os.cpu_count()}, indent=1))
        return
    print(f"{args.steps} steps of {args.work_ms} ms Python work each; limits: median < 50 us,"
          " p99 < 500 us added per step")
    print(f"{'mode':9} {'median us':>10} {'p99 us':>8} {'max us':>8} {'step med x':>11}"
          f" {'step p99 x':>11}  delivery")
    for r in rows:
        extra = (f"sent {r['sent']}, dropped {r['dropped']}, pending {r['pending']}"
                 if "sent" in r else "")
        print(f"{r['mode']:9} {r['cost_median_us']:10.1f} {r['cost_p99_us']:8.1f}"
              f" {r['cost_max_us']:8.0f} {r['step_median_ratio']:11.4f}"
              f" {r['step_p99_ratio']:11.4f}  {extra}")
    print("meets the limits (up, slow, down):", "yes" if ok else "NO")


if __name__ == "__main__":
    main()
