"""Scenario files: what cluster to simulate, for how long, with which faults.

A scenario is a YAML document (see docs/simulator.md for every field). Built-in
scenarios live in ``brownout/sim/scenarios/*.yaml``; a user names one of them or
passes the path of their own file. Ranges are written ``[lo, hi]`` (a value is
drawn uniformly from them with the run's seed) or as a single number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from brownout.errors import InputError
from brownout.findings import KINDS
from brownout.yamldoc import Doc, parse_yaml

Range = tuple[float, float]
MODES = ("fine", "coarse")
CONFOUNDERS = (
    "fleet_shift", "app_xids", "exporter_restarts", "power_cap", "diurnal",
    "job_restarts", "incast", "idle_nodes", "nvlink_phase", "warm_loop",
)
PLACEMENTS = ("", "failing_cooling")
VARIANTS: dict[str, tuple[str, ...]] = {
    "gpu_failed": ("xid79", "xid48", "xid95", "xid119", "xid64"),
    "gpu_degraded": ("clock_cap", "power_brake", "ecc_storm", "pcie_replays"),
    "nic_degraded": ("symbol_errors", "link_speed", "flapping"),
    "nvlink_degraded": ("crc_errors", "links_down"),
    "rank_hang": ("stuck_kernel", "host_hang", "gpu_error"),
}


@dataclass(frozen=True)
class JobSpec:
    """One synchronous data-parallel training job.

    Attributes:
        name: job name in the step log.
        nodes: whole nodes it occupies (8 ranks each).
        compute_s: healthy per-step compute time of the fastest rank.
        allreduce_gb: gigabytes each rank all-reduces per step.
        checkpoint_every_steps: steps between checkpoints.
        checkpoint_stall_s: seconds every rank stalls while a checkpoint is written.
        restart_s: seconds from a crash until the job runs again.
        spread: healthy static spread of rank speeds (max/min - 1).
        start_s: seconds after the run's start when the job is submitted.
        run_s: how long it runs before it completes (None: past the run's end).
        stages: pipeline stages (ranks split into contiguous groups; 1 = pure DP).
        stage_extra: extra compute of the last stage by design (0.15 = 15% more).
    """

    name: str
    nodes: int
    compute_s: float = 8.0
    allreduce_gb: float = 100.0
    checkpoint_every_steps: int = 150
    checkpoint_stall_s: float = 25.0
    restart_s: Range = (180.0, 420.0)
    spread: Range = (0.05, 0.08)
    start_s: float = 0.0
    run_s: float | None = None
    stages: int = 1
    stage_extra: float = 0.0


@dataclass(frozen=True)
class FaultSpec:
    """Faults of one kind to inject.

    Attributes:
        kind: a kind of spec/findings.md.
        count: how many (ignored when ``components`` is given).
        components: explicit component identifiers (topology names).
        variant: sub-kind (e.g. ``ecc_storm``); drawn at random when None.
        onset_s: window the onset is drawn from, seconds after the start.
        duration_s: repair after this long; None means never repaired.
        magnitude: named ranges, by kind (see docs/simulator.md).
        placement: "" (anywhere in use) or ``failing_cooling`` (a GPU of a domain with a
            ``cooling_fault`` of this scenario; ``onset_s`` then counts from that
            fault's onset).
    """

    kind: str
    count: int = 1
    components: tuple[str, ...] = ()
    variant: str | None = None
    onset_s: Range = (600.0, 1800.0)
    duration_s: Range | None = None
    magnitude: Mapping[str, Range] = field(default_factory=dict)
    placement: str = ""


@dataclass(frozen=True)
class TelemetrySpec:
    """How the cluster's exporters report (fleet variants; see docs/simulator.md).

    Attributes:
        profiling: whether DCGM profiling fields (``DCGM_FI_PROF_*``) are exported.
        temp_sd_c: per-GPU static temperature sensor offset (standard deviation, degC).
        power_sd: per-GPU static power reading scale error (standard deviation, fraction).
        inlet_sd_c: per-node static inlet offset (position in the rack; degC).
        r_th_sd: per-GPU spread of thermal resistance (lognormal sigma; default 0.07).
    """

    profiling: bool = True
    temp_sd_c: float = 0.0
    power_sd: float = 0.0
    inlet_sd_c: float = 0.0
    r_th_sd: float = 0.07


@dataclass(frozen=True)
class ConfounderSpec:
    """Something that looks odd but is no fault (never in the truth).

    Attributes:
        kind: one of :data:`CONFOUNDERS`.
        count: how many events (where that makes sense).
        at_s: window event times are drawn from, seconds after the start.
        params: named ranges, by kind.
    """

    kind: str
    count: int = 1
    at_s: Range = (0.0, 3600.0)
    params: Mapping[str, Range] = field(default_factory=dict)


@dataclass(frozen=True)
class TraceEntry:
    """One fault of a replayed failure trace (coarse mode).

    Attributes:
        node: the node it struck.
        start_s, end_s: seconds after the scenario start; ``end_s`` None if never repaired.
        kind: a fault kind of spec/findings.md, or None for causes outside the taxonomy.
        variant: sub-kind ("" if none).
        cause: the trace's own root-cause text.
    """

    node: str
    start_s: float
    end_s: float | None
    kind: str | None
    variant: str
    cause: str


@dataclass(frozen=True)
class Scenario:
    """A complete simulation setup (see docs/simulator.md)."""

    name: str
    description: str = ""
    mode: str = "fine"
    seed: int = 0
    n_nodes: int = 16
    layout: str = "tor"
    topology_file: str | None = None
    gpus_per_node: int = 8
    nodes_per_rack: int = 4
    racks_per_cooling: int = 2
    nodes_per_rail_group: int = 16
    start_s: float = 1764000000.0
    duration_s: float = 3600.0
    scrape_interval_s: float = 30.0
    tick_s: float = 10.0
    inlet_c: Range = (22.0, 26.0)
    jobs: tuple[JobSpec, ...] = ()
    faults: tuple[FaultSpec, ...] = ()
    confounders: tuple[ConfounderSpec, ...] = ()
    failure_table: str | None = None
    failure_trace: tuple[TraceEntry, ...] = ()
    failure_rate_mult: float = 1.0
    source: str = "<scenario>"
    gpu_model: str = "NVIDIA H100 80GB HBM3"
    telemetry: TelemetrySpec = TelemetrySpec()


# ------------------------------------------------------------------ parsing
def _job(raw: Any, where: str, i: int) -> JobSpec:
    d = Doc(raw, where, f"jobs[{i}]").only(
        "name", "nodes", "compute_s", "allreduce_gb", "checkpoint_every_steps",
        "checkpoint_stall_s", "restart_s", "restart_min", "spread", "start_s", "start_min",
        "run_s", "run_min", "stages", "stage_extra")
    run = d.seconds("run", None)
    return JobSpec(
        name=d.text("name", f"job{i}") or f"job{i}", nodes=max(1, d.integer("nodes", 1)),
        compute_s=d.num("compute_s", 8.0), allreduce_gb=d.num("allreduce_gb", 100.0),
        checkpoint_every_steps=max(1, d.integer("checkpoint_every_steps", 150)),
        checkpoint_stall_s=d.num("checkpoint_stall_s", 25.0, positive=False),
        restart_s=d.seconds("restart", (180.0, 420.0)) or (180.0, 420.0),
        spread=d.span("spread", (0.05, 0.08)) or (0.05, 0.08),
        start_s=(d.seconds("start", (0.0, 0.0)) or (0.0, 0.0))[0],
        run_s=None if run is None else run[0], stages=max(1, d.integer("stages", 1)),
        stage_extra=d.num("stage_extra", 0.0, positive=False),
    )


def _fault(raw: Any, where: str, i: int) -> FaultSpec:
    d = Doc(raw, where, f"faults[{i}]").only(
        "kind", "count", "component", "components", "variant", "onset_s", "onset_min",
        "duration_s", "duration_min", "magnitude", "placement")
    kind = d.text("kind", None, tuple(KINDS))
    if kind is None:
        raise d.fail("kind", "is required")
    variant = d.text("variant", None, VARIANTS.get(kind, ()) or ("",))
    comps = raw.get("components") or ([raw["component"]] if raw.get("component") else [])
    if not isinstance(comps, list) or not all(isinstance(c, str) for c in comps):
        raise d.fail("components", "must be a list of component names")
    return FaultSpec(
        kind=kind, count=d.integer("count", 1), components=tuple(comps), variant=variant,
        onset_s=d.seconds("onset", (600.0, 1800.0)) or (600.0, 1800.0),
        duration_s=d.seconds("duration", None), magnitude=d.ranges("magnitude"),
        placement=d.text("placement", "", PLACEMENTS) or "",
    )


def _telemetry(raw: Any, where: str) -> TelemetrySpec:
    d = Doc(raw or {}, where, "telemetry").only(
        "profiling", "temp_sd_c", "power_sd", "inlet_sd_c", "r_th_sd")
    prof = d.raw.get("profiling", True)
    if not isinstance(prof, bool):
        raise d.fail("profiling", f"must be true or false, got {prof!r}")
    return TelemetrySpec(profiling=prof, temp_sd_c=d.num("temp_sd_c", 0.0, positive=False),
                         power_sd=d.num("power_sd", 0.0, positive=False),
                         inlet_sd_c=d.num("inlet_sd_c", 0.0, positive=False),
                         r_th_sd=d.num("r_th_sd", 0.07, positive=False))


def _confounder(raw: Any, where: str, i: int) -> ConfounderSpec:
    d = Doc(raw, where, f"confounders[{i}]").only(
        "kind", "count", "at_s", "at_min", "params")
    kind = d.text("kind", None, CONFOUNDERS)
    if kind is None:
        raise d.fail("kind", "is required")
    return ConfounderSpec(kind=kind, count=d.integer("count", 1),
                          at_s=d.seconds("at", (0.0, 3600.0)) or (0.0, 3600.0),
                          params=d.ranges("params"))


def _trace(raw: Any, where: str, i: int) -> TraceEntry:
    d = Doc(raw, where, f"failure_trace[{i}]").only(
        "node", "start_h", "start_s", "end_h", "end_s", "kind", "variant", "cause")
    start = d.seconds("start", None) if "start_s" in raw else d.span("start_h", None, 3600.0)
    if start is None:
        raise d.fail("start_h", "is required")
    end = d.span("end_h", None, 3600.0) if "end_h" in raw else d.span("end_s", None)
    node = d.text("node", None)
    if node is None:
        raise d.fail("node", "is required")
    return TraceEntry(node, start[0], None if end is None else end[0],
                      d.text("kind", None, tuple(KINDS)), d.text("variant", "") or "",
                      d.text("cause", "") or "")


def scenario_from_dict(raw: Any, where: str = "<scenario>") -> Scenario:
    """Validate a parsed scenario document.

    Raises:
        InputError: naming the file, the field and what is wrong with it.
    """
    d = Doc(raw, where, "scenario").only(
        "name", "description", "mode", "seed", "cluster", "start", "duration_s", "duration_min",
        "duration_days", "scrape_interval_s", "tick_s", "jobs", "faults", "confounders",
        "failure_table", "failure_trace", "failure_rate_mult", "telemetry")
    cl = Doc(raw.get("cluster") or {}, where, "cluster").only(
        "nodes", "layout", "topology", "gpus_per_node", "nodes_per_rack", "racks_per_cooling",
        "nodes_per_rail_group", "inlet_c", "gpu_model")
    if "duration_days" in raw:
        days = d.num("duration_days", 1.0)
        raw = {**raw, "duration_s": days * 86400.0}
        d = Doc(raw, where, "scenario")
    duration = d.seconds("duration", (3600.0, 3600.0)) or (3600.0, 3600.0)
    return Scenario(
        name=d.text("name", Path(where).stem) or "scenario",
        description=d.text("description", "") or "", mode=d.text("mode", "fine", MODES),
        seed=d.integer("seed", 0), n_nodes=max(1, cl.integer("nodes", 16)),
        layout=cl.text("layout", "tor", ("tor", "rail", "nvl72")),
        topology_file=_beside(cl.text("topology", None), where),
        gpus_per_node=max(1, cl.integer("gpus_per_node", 8)),
        nodes_per_rack=max(1, cl.integer("nodes_per_rack", 4)),
        racks_per_cooling=max(1, cl.integer("racks_per_cooling", 2)),
        nodes_per_rail_group=max(1, cl.integer("nodes_per_rail_group", 16)),
        start_s=d.num("start", 1764000000.0), duration_s=duration[1],
        scrape_interval_s=d.num("scrape_interval_s", 30.0), tick_s=d.num("tick_s", 10.0),
        inlet_c=cl.span("inlet_c", (22.0, 26.0)) or (22.0, 26.0),
        jobs=tuple(_job(j, where, i) for i, j in enumerate(d.items("jobs"))),
        faults=tuple(_fault(f, where, i) for i, f in enumerate(d.items("faults"))),
        confounders=tuple(_confounder(c, where, i)
                          for i, c in enumerate(d.items("confounders"))),
        failure_table=d.text("failure_table", None),
        failure_rate_mult=d.num("failure_rate_mult", 1.0),
        failure_trace=tuple(_trace(t, where, i) for i, t in enumerate(d.items("failure_trace"))),
        source=where, gpu_model=cl.text("gpu_model", "NVIDIA H100 80GB HBM3") or "",
        telemetry=_telemetry(raw.get("telemetry"), where),
    )


def _beside(path: str | None, where: str) -> str | None:
    """A relative topology path is relative to the scenario file that names it."""
    if path is None or Path(path).is_absolute() or where.startswith("<"):
        return path
    return str(Path(where).parent / path)


def _builtin_dir() -> Any:
    return resources.files("brownout.sim").joinpath("scenarios")


def list_scenarios() -> list[str]:
    """Names of the built-in scenarios, sorted."""
    return sorted(p.name[:-5] for p in _builtin_dir().iterdir() if p.name.endswith(".yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a built-in scenario by name, or a scenario YAML file by path.

    Raises:
        InputError: unknown name, unreadable file, invalid YAML or fields.
    """
    text, where = scenario_text(str(name_or_path))
    return scenario_from_dict(parse_yaml(text, where), where)


def scenario_text(name: str) -> tuple[str, str]:
    """The YAML text of a scenario file or built-in name, and where it came from.

    A path to a file, or any name ending in .yaml/.yml, is read as a file; any
    other name is a built-in scenario (a directory that happens to share its
    name does not shadow it).
    """
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: cannot be read ({exc})") from exc
    res = _builtin_dir().joinpath(f"{name}.yaml")
    if not res.is_file():
        raise InputError(f"unknown scenario '{name}' (built in: {', '.join(list_scenarios())})")
    return res.read_text(encoding="utf-8"), f"<builtin>/{name}.yaml"
