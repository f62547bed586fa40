"""Build the live controller a :class:`~brownout.service.config.WatchConfig` describes.

Thin by design: pick the feed (simulator, Prometheus, scraped exporters), the
executor and the journal, and hand them to
:class:`~brownout.service.live.LiveController`.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, cast

from brownout.clock import Clock, WallClock
from brownout.detect import default_detectors
from brownout.detect.engine import EngineConfig
from brownout.executors.factory import build_executor
from brownout.interop.live import LiveInterop
from brownout.policy.config import PolicyConfig, load_policy_config
from brownout.policy.journal import Journal
from brownout.policy.ports import Executor
from brownout.service.config import WatchConfig
from brownout.service.feeds import Feed, SimulatorFeed, SourceFeed
from brownout.service.flight import FlightRecorderWatch
from brownout.service.intake import StepIntake
from brownout.service.live import LiveController, LiveSettings
from brownout.service.runner import ScaledClock
from brownout.telemetry.series import SeriesRegistry
from brownout.topology.loader import load_topology
from brownout.topology.model import Topology


@dataclass(frozen=True)
class Plan:
    """A controller ready to be built in its worker thread.

    Attributes:
        factory: builds the controller (call it in the thread that will tick it).
        clock: the controller clock (scaled in simulated time).
        interval_s: wall seconds between ticks.
        topology: the cluster (for the terminal summary).
        intake: the step intake (``POST /api/steps``), None in the simulator.
    """

    factory: Callable[[], LiveController]
    clock: Clock
    interval_s: float
    topology: Topology
    intake: StepIntake | None = None


def policy_config(cfg: WatchConfig) -> PolicyConfig:
    """The policy settings, with the approval mode the watch mode implies."""
    base = load_policy_config(cfg.policy) if cfg.policy else PolicyConfig()
    return base.replace(approval_mode="disruptive" if cfg.mode == "approval" else "off")


class _Discard(io.TextIOBase):
    """A text sink that keeps nothing (the journal already has every action)."""

    def write(self, s: str) -> int:
        return len(s)


def _sink() -> TextIO:
    """Where the dry-run executor's lines go: nowhere."""
    return cast(TextIO, _Discard())


def _executor(cfg: WatchConfig, topology: Topology, sim: object | None) -> Executor:
    if cfg.mode == "dry-run" or cfg.executor == "dry-run":
        from brownout.executors.dryrun import DryRunExecutor
        return DryRunExecutor(out=_sink())
    return build_executor(cfg.executor, topology, _sink(), sim=sim)


def _journal(cfg: WatchConfig, executor: Executor, persistent: bool) -> Journal:
    if not persistent:
        return Journal(":memory:", executor.name)
    cfg.state_path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Journal(cfg.state_path / f"journal-{executor.name}.db", executor.name)


def plan_controller(cfg: WatchConfig, *, persistent: bool = True,
                    wall: Clock | None = None) -> Plan:
    """The controller ``cfg`` describes, not built yet.

    Args:
        cfg: the watch configuration.
        persistent: keep the journal and findings under ``cfg.state_dir``
            (the demo starts fresh each time and keeps nothing).
        wall: the real clock (tests inject one).
    """
    wall = wall or WallClock()
    engine = EngineConfig(tick_s=cfg.engine_tick_s)
    settings = LiveSettings(state_dir=cfg.state_path if persistent else None,
                            delay_s=cfg.delay_s)
    policy = policy_config(cfg)
    if cfg.source == "simulator":
        return _simulator_plan(cfg, engine=engine, settings=settings, policy=policy,
                               persistent=persistent, wall=wall)
    topology = load_topology(cfg.topology)
    intake = StepIntake(topology.node_index, capacity_records=cfg.intake_queue_records,
                        retry_after_s=max(1.0, cfg.interval_s))

    def build() -> LiveController:
        feed = _step_feed(cfg, intake, _source_feed(cfg, topology, wall))
        executor = _executor(cfg, topology, None)
        return LiveController(topology, feed, executor, _journal(cfg, executor, persistent),
                              policy, engine=engine, settings=settings, start_s=wall.now(),
                              interop=live_interop(cfg), hangs=_flight(cfg),
                              detectors=default_detectors(cfg.hangs))

    return Plan(build, wall, cfg.interval_s, topology, intake)


def _step_feed(cfg: WatchConfig, intake: StepIntake, telemetry: Feed | None) -> Feed:
    from brownout.service.stepfeed import StepFeed
    from brownout.service.stepsdir import StepsDirFollower

    follower = StepsDirFollower(Path(cfg.steps_dir).expanduser(), intake) if cfg.steps_dir \
        else None
    return StepFeed(intake, telemetry, follower)


def _simulator_plan(cfg: WatchConfig, *, engine: EngineConfig, settings: LiveSettings,
                    policy: PolicyConfig, persistent: bool, wall: Clock) -> Plan:
    from brownout.sim import Simulation, build_topology, load_scenario

    scenario = load_scenario(cfg.scenario)
    topology = build_topology(scenario)
    # accelerated time: leave a person at least ten wall minutes to answer an approval
    policy = policy.replace(approval_ttl_s=max(policy.approval_ttl_s, 600.0 * cfg.speed))
    clock = ScaledClock(wall, scenario.start_s, wall.now(), cfg.speed)

    def build() -> LiveController:
        sim = Simulation(scenario, cfg.seed, topology)
        feed: Feed = SimulatorFeed(sim, SeriesRegistry(topology))
        executor = _executor(cfg, topology, sim)
        return LiveController(topology, feed, executor, _journal(cfg, executor, persistent),
                              policy, engine=engine, settings=settings, start_s=sim.now(),
                              interop=live_interop(cfg), hangs=_flight(cfg),
                              detectors=default_detectors(cfg.hangs))

    return Plan(build, clock, cfg.interval_s / cfg.speed, topology)


def _source_feed(cfg: WatchConfig, topology: Topology, wall: Clock) -> Feed | None:
    if cfg.source == "steps":
        return None  # step-only detection
    registry = SeriesRegistry(topology)
    if cfg.source == "prometheus":
        from brownout.telemetry.sources.prometheus import PrometheusSource
        start = wall.now() - cfg.delay_s - cfg.interval_s
        # raw samples (range selectors), not query_range's grid: each scrape is read once
        # at its own timestamp whatever the tick, so samples served == samples ingested
        # bounded chunks: a controller that fell behind catches up a minute at a time
        return SourceFeed(PrometheusSource(cfg.url, registry, start, step_s=cfg.interval_s,
                                           chunk_s=max(60.0, 4 * cfg.interval_s), retries=2,
                                           raw=True), "prometheus")
    from brownout.telemetry.sources.scrape import ScrapeSource
    return SourceFeed(ScrapeSource(list(cfg.targets), registry, wall), "scrape")


def live_interop(cfg: WatchConfig) -> LiveInterop | None:
    """Verdict sources and publishers the config asks for (docs/interop.md), or None."""
    wants_k8s = cfg.verdicts_kubernetes or cfg.publish_kubernetes
    if not (cfg.verdicts or wants_k8s or cfg.nvsentinel):
        return None
    from brownout.interop.live import (
        ConditionPublisher,
        HealthEventPublisher,
        Publisher,
        VerdictSource,
    )
    from brownout.interop.read import read_verdicts

    sources: list[VerdictSource] = []
    publishers: list[Publisher] = []
    if cfg.verdicts:
        sources.append(lambda: read_verdicts(cfg.verdicts))
    if wants_k8s:
        from brownout.interop.k8s import KubernetesPublisher, core_api
        k8s = KubernetesPublisher(core_api(cfg.kubeconfig or None))
        if cfg.verdicts_kubernetes:
            sources.append(k8s.node_verdicts)
        if cfg.publish_kubernetes:
            publishers.append(ConditionPublisher(k8s))
    if cfg.nvsentinel:
        from brownout.interop.grpc_sink import NvsentinelSink
        publishers.append(HealthEventPublisher(NvsentinelSink(cfg.nvsentinel),
                                               cfg.nvsentinel_remediate))
    return LiveInterop(sources, publishers)


def _flight(cfg: WatchConfig) -> FlightRecorderWatch | None:
    """The Flight Recorder directory to follow, if one is configured."""
    return FlightRecorderWatch(cfg.flight_recorder) if cfg.flight_recorder else None


def token_path(cfg: WatchConfig) -> Path:
    """Where the API token lives."""
    return cfg.state_path / "api-token"


def ingest_token_path(cfg: WatchConfig) -> Path:
    """Where the ingest token (may only push steps) lives, beside the API token."""
    return cfg.state_path / "ingest-token"
