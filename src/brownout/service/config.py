"""Configuration of ``brownout watch`` and ``brownout demo``: one value object, named defaults.

A YAML file holds the same fields, grouped (see docs/service.md)::

    source: {kind: prometheus, url: http://prometheus:9090, interval_s: 15, delay_s: 30}
    topology: /etc/brownout/topology.yaml
    controller: {mode: approval, executor: slurm, policy: /etc/brownout/policy.yaml}
    service: {host: 127.0.0.1, port: 8765, state_dir: /var/lib/brownout}
    steps: {dir: /shared/steps, queue_records: 1000000}
    hangs: {stall_k: 10, stall_floor_s: 60, hang_k: 4, hang_floor_s: 45}

Unknown keys are refused, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brownout.detect.hang_settings import HangTimeouts
from brownout.errors import InputError, ParseError
from brownout.yamldoc import read_yaml, refuse_unknown

SOURCE_KINDS = ("simulator", "prometheus", "scrape", "steps")
MODES = ("approval", "dry-run", "automatic")
EXECUTORS = ("dry-run", "simulator", "slurm", "kubernetes")
DEFAULT_STATE_DIR = Path("~/.local/state/brownout")


@dataclass(frozen=True)
class WatchConfig:
    """Everything ``brownout watch`` needs.

    Attributes:
        source: ``simulator`` (in process), ``prometheus``, ``scrape``, or ``steps``
            (no telemetry: step records pushed or followed, step-only detection).
        scenario: simulator scenario name or file.
        seed: simulator seed (None: the scenario's).
        speed: simulated seconds per wall second (simulator only).
        url: Prometheus base URL (``prometheus``).
        targets: exporter ``/metrics`` URLs (``scrape``).
        interval_s: seconds between controller ticks (controller clock).
        delay_s: run this far behind real time, so late scrapes are in.
        topology: topology YAML (required unless the source is the simulator).
        flight_recorder: directory of PyTorch Flight Recorder dumps ("" for none).
        mode: ``approval`` (disruptive actions wait for a person), ``dry-run``
            (journal only) or ``automatic``.
        executor: ``dry-run``, ``simulator``, ``slurm`` or ``kubernetes``.
        policy: policy YAML (docs/policy.md), None for the defaults.
        engine_tick_s: seconds between detector updates.
        host, port: where the service listens (loopback by default).
        state_dir: token, journal and findings live here.
        verdicts: files or directories of node-local verdicts, re-read each minute
            (docs/interop.md).
        verdicts_kubernetes: read node-problem-detector conditions from the API server.
        publish_kubernetes: publish findings as node conditions and Events.
        nvsentinel: NVSentinel platform connector to send HealthEvents to ("": none).
        nvsentinel_remediate: mark them EXECUTE_REMEDIATION (default STORE_ONLY).
        kubeconfig: kubeconfig for the interop client ("": in-cluster, then default).
        steps_dir: follow the step logs (``*.jsonl``) under this directory ("" for none).
        intake_queue_records: step records queued for the controller at most
            (a full intake answers pushes with 429).
        hangs: the hang detector's timeouts (docs/detection.md).
    """

    source: str = "simulator"
    scenario: str = "mixed"
    seed: int | None = None
    speed: float = 30.0
    url: str = ""
    targets: tuple[str, ...] = ()
    interval_s: float = 15.0
    delay_s: float = 0.0
    topology: str = ""
    flight_recorder: str = ""
    mode: str = "approval"
    executor: str = "dry-run"
    policy: str = ""
    engine_tick_s: float = 15.0
    host: str = "127.0.0.1"
    port: int = 8765
    state_dir: str = str(DEFAULT_STATE_DIR)
    verdicts: tuple[str, ...] = ()
    verdicts_kubernetes: bool = False
    publish_kubernetes: bool = False
    nvsentinel: str = ""
    nvsentinel_remediate: bool = False
    kubeconfig: str = ""
    steps_dir: str = ""
    intake_queue_records: int = 1_000_000
    hangs: HangTimeouts = field(default_factory=HangTimeouts)

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem:
            raise InputError(f"watch config: {problem}")

    def replace(self, **changes: Any) -> WatchConfig:
        """A copy with some fields changed (``None`` values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir).expanduser()


def _problem(c: WatchConfig) -> str:
    checks = [
        (c.source in SOURCE_KINDS, f"source must be one of {', '.join(SOURCE_KINDS)}"),
        (c.mode in MODES, f"mode must be one of {', '.join(MODES)}"),
        (c.executor in EXECUTORS, f"executor must be one of {', '.join(EXECUTORS)}"),
        (c.speed > 0, "speed must be > 0"),
        (c.interval_s > 0, "interval_s must be > 0"),
        (c.engine_tick_s > 0, "engine_tick_s must be > 0"),
        (c.delay_s >= 0, "delay_s must be >= 0"),
        (0 <= c.port <= 65535, "port must be 0..65535"),
        (c.source != "prometheus" or c.url.startswith(("http://", "https://")),
         "source prometheus needs url: http(s)://HOST:PORT"),
        (c.source != "scrape" or bool(c.targets), "source scrape needs targets: [URL, ...]"),
        (c.source == "simulator" or bool(c.topology),
         f"source {c.source} needs topology: PATH"),
        (c.executor != "simulator" or c.source == "simulator",
         "executor simulator needs source simulator"),
        (not c.steps_dir or c.source != "simulator",
         "steps dir needs a real cluster's source (prometheus, scrape or steps)"),
        (c.intake_queue_records >= 1, "intake queue_records must be >= 1"),
    ]
    return next((msg for ok, msg in checks if not ok), "")


#: YAML layout: section -> {yaml key: field name}
SECTIONS: dict[str, dict[str, str]] = {
    "source": {"kind": "source", "scenario": "scenario", "seed": "seed", "speed": "speed",
               "url": "url", "targets": "targets", "interval_s": "interval_s",
               "delay_s": "delay_s", "flight_recorder": "flight_recorder"},
    "controller": {"mode": "mode", "executor": "executor", "policy": "policy",
                   "engine_tick_s": "engine_tick_s"},
    "service": {"host": "host", "port": "port", "state_dir": "state_dir"},
    "interop": {"verdicts": "verdicts", "verdicts_kubernetes": "verdicts_kubernetes",
                "publish_kubernetes": "publish_kubernetes", "nvsentinel": "nvsentinel",
                "nvsentinel_remediate": "nvsentinel_remediate", "kubeconfig": "kubeconfig"},
    "steps": {"dir": "steps_dir", "queue_records": "intake_queue_records"},
}


def load_watch_config(path: str | Path) -> WatchConfig:
    """Read a watch config file.

    Raises:
        ParseError: unreadable file, bad YAML, an unknown key or a bad value.
    """
    where = str(path)
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ParseError(where, 0, "a watch config is a mapping (source:, controller:, ...)")
    try:
        return WatchConfig(**_fields(raw, Path(path).parent))
    except InputError as exc:
        raise ParseError(where, 0, str(exc)) from exc
    except (TypeError, ValueError) as exc:
        raise ParseError(where, 0, f"bad value ({exc})") from exc


def _fields(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "topology":
            out["topology"] = str(base / str(value))
            continue
        if key == "hangs":
            if not isinstance(value, dict):
                raise InputError("hangs must be a mapping of " + ", ".join(
                    HangTimeouts().params()))
            out["hangs"] = HangTimeouts.parse(value, "hangs")
            continue
        refuse_unknown({key: value}, ("topology", "hangs", *SECTIONS), "watch config",
                       "sections")
        names = SECTIONS[key]
        if not isinstance(value, dict):
            raise InputError(f"{key} must be a mapping of {', '.join(names)}")
        refuse_unknown(value, names, "watch config", key)
        for k, v in value.items():
            out[names[k]] = _coerce(names[k], v, base)
    return out


def _coerce(name: str, value: Any, base: Path) -> Any:
    default = {f.name: f.default for f in dataclasses.fields(WatchConfig)}[name]
    if name == "targets":
        if not isinstance(value, list):
            raise InputError("source.targets must be a list of URLs")
        return tuple(str(v) for v in value)
    if name == "verdicts":
        if not isinstance(value, list):
            raise InputError("interop.verdicts must be a list of paths")
        return tuple(str(base / str(v)) for v in value)
    if isinstance(default, bool) and isinstance(value, bool):
        return value
    if name in ("policy", "steps_dir", "flight_recorder") and value:
        return str(base / str(value))
    if name == "seed":
        return None if value is None else int(value)
    if isinstance(default, bool) or value is None:
        raise InputError(f"{name}: a value is required")
    if isinstance(default, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(default, float) and not isinstance(value, bool):
        return float(value)
    return str(value)
