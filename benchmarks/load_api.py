"""Load test of the service: concurrent API clients while a 1,024-GPU cluster is ingested live.

The controller runs the simulator in live mode (accelerated time) on a
1,024-GPU cluster (128 nodes, the ``mixed`` fault scenario), behind the real
uvicorn server on 127.0.0.1. A separate process runs ``--clients`` concurrent
HTTP clients (httpx, asyncio) for ``--duration`` seconds, each hitting the
read endpoints in turn, and (with the token) answering approvals. Reported:
p50/p99 latency per endpoint and overall, throughput, errors, and two "nothing
lost" checks: every sample the twin emitted was ingested, and the live
findings equal those of an offline replay of the same data.

Run:  python benchmarks/load_api.py            (60 s, 50 clients, 128 nodes)
      python benchmarks/load_api.py --duration 5 --clients 20 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import sys
import time
from collections import defaultdict
from typing import Any

import httpx

from brownout.clock import WallClock
from brownout.detect.engine import EngineConfig, replay
from brownout.executors.simulator import SimulatorExecutor
from brownout.policy.config import PolicyConfig
from brownout.policy.journal import Journal
from brownout.service.auth import load_or_create_token
from brownout.service.feeds import SimulatorFeed
from brownout.service.live import LiveController
from brownout.service.runner import ControllerRunner, ScaledClock
from brownout.service.server import service
from brownout.sim import Simulation, load_scenario
from brownout.telemetry.series import SeriesRegistry
from brownout.topology.generate import generate_topology

ENDPOINTS = ("/api/dashboard", "/api/findings", "/api/health", "/metrics", "/api/fleet/live",
             "/api/nodes", "/api/journal", "/api/goodput", "/api/approvals",
             "/api/findings?kind=gpu_degraded&status=open")


async def _client(base: str, token: str, stop_at: float, i: int,
                  out: dict[str, list[float]], errors: list[str]) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=30.0) as c:
        k = i
        while time.monotonic() < stop_at:
            path = ENDPOINTS[k % len(ENDPOINTS)]
            k += 1
            t0 = time.perf_counter()
            try:
                r = await c.get(path)
                dt = time.perf_counter() - t0
                if r.status_code != 200:
                    errors.append(f"{path}: HTTP {r.status_code}")
                out[path.split("?")[0]].append(dt)
                if path == "/api/approvals" and i % 10 == 0:
                    await _answer(c, r.json(), auth, out, errors)
            except httpx.HTTPError as exc:
                errors.append(f"{path}: {type(exc).__name__}")


async def _answer(c: httpx.AsyncClient, body: dict[str, Any], auth: dict[str, str],
                  out: dict[str, list[float]], errors: list[str]) -> None:
    for a in body.get("pending", [])[:1]:
        t0 = time.perf_counter()
        r = await c.post(f"/api/approvals/{a['key']}/approve", headers=auth)
        out["POST approve"].append(time.perf_counter() - t0)
        if r.status_code not in (200, 409):  # 409: another client answered first
            errors.append(f"approve: HTTP {r.status_code}")


def _load(base: str, token: str, clients: int, duration_s: float, q: Any) -> None:
    out: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []

    async def main() -> None:
        stop_at = time.monotonic() + duration_s
        await asyncio.gather(*(_client(base, token, stop_at, i, out, errors)
                               for i in range(clients)))

    asyncio.run(main())
    q.put((dict(out), errors))


def _pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1000


def run(duration_s: float, clients: int, nodes: int, speed: float,
        state_dir: str) -> dict[str, Any]:
    """Run the load test; returns the figures."""
    scenario = load_scenario("mixed")
    topo = generate_topology(nodes, nodes_per_rack=4, racks_per_cooling=2, name="load")
    holder: dict[str, Any] = {}

    def build() -> LiveController:
        sim = Simulation(scenario, 7, topo)
        holder["sim"] = sim
        journal = Journal(":memory:", "simulator")
        return LiveController(topo, SimulatorFeed(sim, SeriesRegistry(topo)),
                              SimulatorExecutor(sim), journal,
                              PolicyConfig(approval_mode="disruptive"),
                              engine=EngineConfig(tick_s=15.0), start_s=sim.now())

    wall = WallClock()
    clock = ScaledClock(wall, scenario.start_s, wall.now(), speed)
    runner = ControllerRunner(build, clock, interval_s=0.5)
    runner.start()
    token = load_or_create_token(f"{state_dir}/api-token")
    server = service(runner, token, "127.0.0.1", 0)
    base = server.start().rstrip("/")
    q: Any = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(target=_load,
                                           args=(base, token, clients, duration_s, q))
    t0 = time.monotonic()
    proc.start()
    lat, errors = q.get(timeout=duration_s + 120)
    proc.join(30)
    wall_s = time.monotonic() - t0
    server.stop()
    runner.stop()  # no tick after this: the last snapshot covers every datum emitted
    final = runner.state()
    return _figures(lat, errors, final, holder["sim"], topo, wall_s, clients, duration_s)


def _figures(lat: dict[str, list[float]], errors: list[str], st: Any, sim: Simulation,
             topo: Any, wall_s: float, clients: int, duration_s: float) -> dict[str, Any]:
    every = [x for xs in lat.values() for x in xs]
    frame = sim.frame(SeriesRegistry(topo))
    offline = replay(topo, frame, sim.steps(), EngineConfig(tick_s=15.0))
    live_keys = {(f.finding.kind, f.finding.component, f.finding.detected_at)
                 for f in st.findings}
    off_keys = {(f.kind, f.component, f.detected_at) for f in offline.findings
                if f.detected_at <= st.health.now_s - 15.0}
    return {
        "clients": clients, "duration_s": duration_s, "gpus": topo.n_gpus,
        "requests": len(every), "errors": len(errors), "error_examples": errors[:5],
        "requests_per_s": round(len(every) / wall_s, 1),
        "p50_ms": round(_pct(every, 50), 2), "p99_ms": round(_pct(every, 99), 2),
        "per_endpoint": {k: {"n": len(v), "p50_ms": round(_pct(v, 50), 2),
                             "p99_ms": round(_pct(v, 99), 2)} for k, v in sorted(lat.items())},
        "simulated_s": round(st.health.now_s - st.health.started_s, 1),
        "controller_ticks": st.health.ticks,
        "samples_emitted": len(frame), "samples_ingested": st.health.samples_total,
        "step_records_emitted": len(sim.steps()), "step_records_ingested": st.health.steps_total,
        "findings_live": len(live_keys), "findings_offline_replay": len(off_keys),
        "findings_lost": len(off_keys - live_keys),
        "findings_extra": len({k for k in live_keys - off_keys if k[2] <= st.health.now_s - 15}),
        "actions": len(st.actions),
        "last_detection_lag_s": round(st.health.detection_lag_s, 3),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--nodes", type=int, default=128, help="8 GPUs each")
    ap.add_argument("--speed", type=float, default=30.0, help="simulated s per wall s")
    ap.add_argument("--state-dir", default=None, help="token dir (default: a temp dir)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        fig = run(args.duration, args.clients, args.nodes, args.speed, args.state_dir or tmp)
    if args.json:
        print(json.dumps(fig))
    else:
        for k, v in fig.items():
            print(f"{k:26} {v}")
    ok = fig["errors"] == 0 and fig["findings_lost"] == 0 and (
        fig["samples_emitted"] == fig["samples_ingested"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

