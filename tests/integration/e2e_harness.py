"""End to end on real components: a 4-rank gloo job, the hook pushing, a real
Prometheus scraping the live twin, ``brownout watch`` and a real slurmctld.

Used by ``test_real_job_e2e.py`` (asserts) and ``benchmarks/e2e_real_job.py``
(repeats, prints medians). :func:`run_e2e` runs the whole story once and
returns what it saw, with the time each detection took:

1. A twin of ``N_NODES`` Slurm-named nodes (``n0001``..) runs live (speed 1,
   samples stamped with wall time); a real Prometheus scrapes it; ``watch``
   reads that Prometheus, takes the job's steps on ``POST /api/steps`` (the
   ingest token) and acts through the slurm executor, in approval mode.
2. The ranks run on ``RANK_NODES`` (``BROWNOUT_NODE``); rank ``SLOW_RANK``
   computes 40 % longer from the start; its GPU's telemetry stays healthy (the
   twin injects nothing: the cause is in the job's process, as a host-side
   slowdown is), so only the steps show it: the time until a finding
   naming its node or GPU is on ``/api/findings``; then it is approved with the operator
   token and the time until slurmctld shows the node drained with
   brownout's reason.
3. ``watch`` is killed with SIGKILL while the ranks keep stepping and started
   again on the same state dir; the ranks pause at a known step and report
   every record they gave the hook and what the pusher says of them.
4. Rank ``HANG_RANK`` stops inside a step before its all-reduce (its peers wait
   in the all-reduce): the time from the job's last record until a
   ``job_stalled`` notice or a ``rank_hang`` finding appears.

Every wait is bounded; only 127.0.0.1 is used; the drained node is resumed
at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

from brownout.sim.live import LiveCluster
from brownout.sim.scenario import scenario_from_dict
from brownout.topology.loader import write_topology

from .live_prom import anchored, free_base, prometheus_yaml, wait_for_scrapes
from .prom import PrometheusServer, free_port

N_NODES = 8
GPUS_PER_NODE = 2
SCRAPE_S = 2.0
WORLD = 4
RANK_NODES = ("n0005", "n0006", "n0007", "n0008")
SLOW_RANK, SLOW_FACTOR = 3, 1.4
HANG_RANK = 1
COMPUTE_S = 0.8  # a step of about 1.1 s (the slowed rank sets the pace)
JOB = "e2e-gloo"
SOURCE_INTERVAL_S = 1.0  # watch reads Prometheus this often ...
DELAY_S = 1.0  # ... this far behind the wall clock
ENGINE_TICK_S = 1.0  # ... and runs the detectors this often
JOB_SCRIPT = Path(__file__).with_name("e2e_job.py")
T = TypeVar("T")


def slurm_ready() -> str:
    """Why the slurm side cannot run here ("" when it can)."""
    if shutil.which("scontrol") is None or shutil.which("sinfo") is None:
        return "scontrol/sinfo not installed: run .ci/slurm/setup.sh (as root) first"
    if os.geteuid() != 0:
        return "draining a Slurm node needs root (SlurmUser=root in .ci/slurm/setup.sh)"
    try:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N"], capture_output=True, text=True,
                             timeout=15, check=True).stdout.split()
    except (subprocess.SubprocessError, OSError):
        return "slurmctld is not answering: run .ci/slurm/setup.sh (as root) first"
    missing = [n for n in RANK_NODES if n not in out]
    return f"slurm lacks nodes {missing}" if missing else ""


def slurm_node(name: str) -> dict[str, str]:
    """``scontrol show node`` of one node as key=value pairs (State, Reason, ...)."""
    out = subprocess.run(["scontrol", "-o", "show", "node", name], capture_output=True,
                         text=True, timeout=15, check=True).stdout
    pairs: dict[str, str] = {}
    key = ""
    for tok in out.split():
        if "=" in tok:
            key, _, val = tok.partition("=")
            pairs[key] = val
        elif key:  # a reason with spaces
            pairs[key] += " " + tok
    return pairs


def resume(name: str) -> None:
    subprocess.run(["scontrol", "update", f"NodeName={name}", "State=RESUME"],
                   capture_output=True, timeout=15, check=False)


def wait_for(what: Callable[[], T | None], timeout_s: float, every_s: float = 0.2) -> T | None:
    """``what()`` once it is truthy, or None after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(every_s)
    return None


@dataclass
class Result:
    """What one run saw (times in seconds; None: it did not happen in time)."""

    step_s: float = float("nan")
    finding: dict[str, Any] | None = None
    finding_after_s: float | None = None  # slow rank started -> finding on /api/findings
    drained: dict[str, str] | None = None
    drain_after_s: float | None = None  # approval -> slurmctld shows the drain
    restart_ready_s: float | None = None  # SIGKILL -> new watch answers
    written: list[tuple[str, int, int]] = field(default_factory=list)
    pusher: dict[str, int] = field(default_factory=dict)
    held_before_kill: int = 0  # records the first watch's intake took, read just before the kill
    held_after: int = 0  # records the restarted watch holds at the pause (its dashboard)
    accepted_after: int = 0  # records its intake took (its /metrics)
    after_kill: int = 0  # records that finished after the kill (only the new watch has them)
    findings_after: list[dict[str, Any]] = field(default_factory=list)
    notices_after: list[dict[str, Any]] = field(default_factory=list)
    actions_after: list[dict[str, Any]] = field(default_factory=list)
    hang: dict[str, Any] | None = None
    hang_after_s: float | None = None  # job's last record -> notice / finding
    hang_timeout_s: float | None = None  # the detector's own timeout (evidence)
    log_tail: str = ""


class Stack:
    """Prometheus + live twin + ``brownout watch`` + the job's ranks, in ``tmp``."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ctl = tmp / "ctl"
        self.ctl.mkdir()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state = tmp / "state"
        self.server: PrometheusServer | None = None
        self.live: LiveCluster | None = None
        self.watch: subprocess.Popen[bytes] | None = None
        self.ranks: list[subprocess.Popen[bytes]] = []
        self.log = (tmp / "watch.log").open("ab")

    # -- telemetry ------------------------------------------------------------------------------
    def start_telemetry(self, minutes: float) -> Path:
        sc = scenario_from_dict({
            "name": "e2e-twin", "duration_min": minutes, "scrape_interval_s": SCRAPE_S,
            "tick_s": SCRAPE_S,
            "cluster": {"nodes": N_NODES, "gpus_per_node": GPUS_PER_NODE, "layout": "tor",
                        "nodes_per_rack": N_NODES},
            "jobs": [{"name": "twin", "nodes": N_NODES, "compute_s": 8.0,
                      "allreduce_gb": 10}]})
        probe = LiveCluster(sc, speed=1.0)
        probe.port_base = free_base(N_NODES + 1)
        (self.tmp / "tsdb").mkdir()
        self.server = PrometheusServer(self.tmp / "tsdb", prometheus_yaml(probe, SCRAPE_S))
        wait_for_scrapes(self.server.url, N_NODES + 1)
        self.live = LiveCluster(anchored(sc, 1.0, time.time()), speed=1.0, timestamps=True)
        topo = self.tmp / "topology.yaml"
        write_topology(self.live.sim.topology, topo)
        names = [n.name for n in self.live.sim.topology.nodes]
        assert set(RANK_NODES) <= set(names), names
        self.live.start(probe.port_base)
        return topo

    # -- the controller -------------------------------------------------------------------------
    def write_config(self, topo: Path) -> None:
        assert self.server is not None
        (self.tmp / "policy.yaml").write_text(yaml.safe_dump(
            {"max_fleet_fraction": 0.25, "max_group_fraction": 1.0}))
        cfg = {"source": {"kind": "prometheus", "url": self.server.url,
                          "interval_s": SOURCE_INTERVAL_S, "delay_s": DELAY_S},
               "topology": str(topo),
               "controller": {"mode": "approval", "executor": "slurm",
                              "policy": str(self.tmp / "policy.yaml"),
                              "engine_tick_s": ENGINE_TICK_S},
               "service": {"host": "127.0.0.1", "port": self.port,
                           "state_dir": str(self.state)}}
        (self.tmp / "watch.yaml").write_text(yaml.safe_dump(cfg))

    def start_watch(self, timeout_s: float = 60.0) -> float:
        """Start ``brownout watch``; seconds until it answers."""
        t0 = time.monotonic()
        self.watch = subprocess.Popen(
            [sys.executable, "-m", "brownout.cli.main", "watch", "--config",
             str(self.tmp / "watch.yaml")], stdout=self.log, stderr=subprocess.STDOUT)
        ok = wait_for(self._answers, timeout_s)
        if not ok:
            raise RuntimeError("brownout watch did not answer: " + self.log_tail())
        return time.monotonic() - t0

    def _answers(self) -> bool:
        assert self.watch is not None
        if self.watch.poll() is not None:
            raise RuntimeError(f"watch exited with {self.watch.returncode}: {self.log_tail()}")
        try:
            return httpx.get(self.url + "/api/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def kill_watch(self) -> None:
        assert self.watch is not None
        self.watch.send_signal(signal.SIGKILL)
        self.watch.wait(timeout=30)

    @property
    def token(self) -> str:
        return (self.state / "api-token").read_text().strip()

    def get(self, path: str) -> Any:
        try:
            r = httpx.get(self.url + path, timeout=3.0,
                          headers={"Authorization": f"Bearer {self.token}"})
            return r.json() if r.status_code == 200 else None
        except (httpx.HTTPError, ValueError, OSError):
            return None

    def approve(self, key: str) -> int:
        r = httpx.post(f"{self.url}/api/approvals/{key}/approve", timeout=15.0,
                       headers={"Authorization": f"Bearer {self.token}"})
        return r.status_code

    def accepted(self) -> int:
        """``brownout_intake_records_accepted_total`` of the running watch."""
        try:
            text = httpx.get(self.url + "/metrics", timeout=3.0).text
        except httpx.HTTPError:
            return -1
        name = "brownout_intake_records_accepted_total "
        return next((int(float(ln.split()[-1])) for ln in text.splitlines()
                     if ln.startswith(name)), -1)

    def job_records(self) -> int | None:
        dash = self.get("/api/dashboard") or {}
        jobs = {j["job"]: j for j in dash.get("jobs", [])}
        return int(jobs[JOB]["records"]) if JOB in jobs else None

    # -- the job --------------------------------------------------------------------------------
    def start_job(self) -> None:
        port = free_port()
        for rank in range(WORLD):
            env = {**os.environ, "BROWNOUT_URL": self.url, "BROWNOUT_JOB": JOB,
                   "BROWNOUT_INGEST_TOKEN_FILE": str(self.state / "ingest-token"),
                   "BROWNOUT_NODE": RANK_NODES[rank], "LOCAL_RANK": "0",
                   "E2E_COMPUTE_S": str(COMPUTE_S)}
            self.ranks.append(subprocess.Popen(
                [sys.executable, str(JOB_SCRIPT), str(rank), str(WORLD), str(port),
                 str(self.ctl)], env=env, stdout=self.log, stderr=subprocess.STDOUT))

    def progress(self) -> int:
        """The step rank 0 is at."""
        return int((self.ctl / "progress").read_text())

    def control(self, name: str, text: str) -> None:
        tmp = self.ctl / f".{name}"
        tmp.write_text(text)
        tmp.rename(self.ctl / name)

    def log_tail(self) -> str:
        self.log.flush()
        return (self.tmp / "watch.log").read_bytes()[-3000:].decode(errors="replace")

    def stop(self) -> None:
        for p in [*self.ranks, self.watch]:
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(timeout=30)
        if self.live is not None:
            self.live.stop()
        if self.server is not None:
            self.server.stop()
        self.log.close()


def _names_node(f: dict[str, Any], node: str) -> bool:
    comp = str(f.get("component", ""))
    return comp == node or comp.startswith(node + "/")


def _slow_phase(st: Stack, res: Result, timeout_s: float) -> None:
    node = RANK_NODES[SLOW_RANK]
    t0 = time.monotonic()
    found = wait_for(lambda: [f for f in (st.get("/api/findings") or {}).get("findings", [])
                              if _names_node(f, node)], timeout_s, 0.25)
    if not found:
        return
    res.finding, res.finding_after_s = found[0], time.monotonic() - t0
    waiting = wait_for(lambda: [a for a in (st.get("/api/approvals") or {}).get("pending", [])
                                if a.get("node") == node], 30.0)
    if not waiting:
        return
    t1 = time.monotonic()
    if st.approve(waiting[0]["key"]) != 200:
        return

    def drained() -> dict[str, str] | None:
        shown = slurm_node(node)
        return shown if "DRAIN" in shown.get("State", "") and \
            shown.get("Reason", "").startswith("brownout[") else None

    res.drained = wait_for(drained, 30.0, 0.25)
    res.drain_after_s = time.monotonic() - t1 if res.drained else None


def _restart_phase(st: Stack, res: Result) -> None:
    time.sleep(3.0)  # the job keeps stepping into the new watch's life
    res.held_before_kill = st.accepted()
    kill_s = time.time()
    t0 = time.monotonic()
    st.kill_watch()
    time.sleep(2.0)  # down for a while: records pile up in the ranks' pushers
    st.start_watch()
    res.restart_ready_s = time.monotonic() - t0
    time.sleep(4.0)
    st.control("pause", str(st.progress() + 8))
    stats = [wait_for(lambda r=r: _json(st.ctl / f"stats-{r}.json"), 120.0)
             for r in range(WORLD)]
    for s in stats:
        assert s is not None, "a rank did not reach the pause: " + st.log_tail()
        res.written += [(j, r, k) for j, r, k, _ in s["records"]]
        res.after_kill += sum(1 for *_, ts in s["records"] if ts > kill_s)
        for k in ("sent", "dropped", "failed", "rejected", "pending"):
            res.pusher[k] = res.pusher.get(k, 0) + int(s[k])
    time.sleep(3.0)  # the last pushes reach the engine
    res.held_after = st.job_records() or 0
    res.accepted_after = st.accepted()


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _hang_phase(st: Stack, res: Result, timeout_s: float) -> None:
    st.control("hang", f"{HANG_RANK} {st.progress() + 4}")
    st.control("resume", "")
    hung = wait_for((st.ctl / f"hung-{HANG_RANK}").exists, 60.0)
    if not hung:
        return

    def seen() -> dict[str, Any] | None:
        notes = (st.get("/api/notices") or {}).get("notices", [])
        finds = (st.get("/api/findings") or {}).get("findings", [])
        got = [n for n in notes if n.get("kind") == "job_stalled"] + \
            [f for f in finds if f.get("kind") == "rank_hang"]
        return got[0] if got else None

    got = wait_for(seen, timeout_s, 0.25)
    if got is None:
        return
    at = time.time()
    res.hang = got
    last = {j["job"]: j for j in (st.get("/api/dashboard") or {}).get("jobs", [])}
    last_ts = float(last[JOB]["last_ts_s"]) if JOB in last else float("nan")
    res.hang_after_s = at - last_ts
    ev = got.get("evidence") or {}
    res.hang_timeout_s = float(ev["timeout_s"]) if "timeout_s" in ev else None


@contextmanager
def stack(tmp: Path) -> Iterator[Stack]:
    st = Stack(tmp)
    try:
        yield st
    finally:
        st.stop()
        resume(RANK_NODES[SLOW_RANK])


def run_e2e(tmp: Path, detect_timeout_s: float = 120.0) -> Result:
    """The whole story once (see the module's docstring)."""
    res = Result()
    with stack(tmp) as st:
        resume(RANK_NODES[SLOW_RANK])
        st.write_config(st.start_telemetry(minutes=12))
        st.start_watch()
        st.control("slow", f"{SLOW_RANK} {SLOW_FACTOR}")
        st.start_job()
        _slow_phase(st, res, detect_timeout_s)
        jobs = {j["job"]: j for j in (st.get("/api/dashboard") or {}).get("jobs", [])}
        res.step_s = float(jobs[JOB]["step_s"]) if JOB in jobs else float("nan")
        _restart_phase(st, res)
        _hang_phase(st, res, detect_timeout_s)
        # well after the restart (the hang's timeout): what the new watch re-detected
        res.findings_after = (st.get("/api/findings") or {}).get("findings", [])
        res.notices_after = (st.get("/api/notices") or {}).get("notices", [])
        res.actions_after = (st.get("/api/actions") or {}).get("actions", [])
        res.log_tail = st.log_tail()
    return res
