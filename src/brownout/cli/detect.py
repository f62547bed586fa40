"""``brownout detect``: replay telemetry and step records through the detectors.

Thin wiring (spec/cli.md): read the topology, the recording and the step log,
run the engine, write the findings file atomically, print a table for people.
"""

from __future__ import annotations

import importlib
from typing import Any

import click
import numpy as np

from brownout.detect import default_detectors
from brownout.detect.collectives import HangReport, analyse
from brownout.detect.engine import Engine, EngineConfig
from brownout.detect.flight import flight_findings, merge
from brownout.detect.hang_settings import HangTimeouts, parse_pairs
from brownout.errors import InputError
from brownout.findings import Finding, FindingsFile, write_findings
from brownout.interop.verdicts import Verdict
from brownout.telemetry.flight_recorder import read_dump_dir
from brownout.telemetry.frame import Frame
from brownout.telemetry.problems import Problems
from brownout.telemetry.skew import correct_skew, estimate_skew
from brownout.telemetry.steps import StepRecords, read_steps
from brownout.topology.gpu_models import with_observed_models
from brownout.topology.model import Topology


@click.command(name="detect")
@click.option("--topology", "topology_path", type=click.Path(dir_okay=False),
              help="Topology file (YAML); optional with --flight-recorder alone.")
@click.option("--metrics", "metrics", multiple=True, type=click.Path(),
              help="Recorded telemetry: a file or a directory (repeatable).")
@click.option("--steps", "steps_path", type=click.Path(dir_okay=False),
              help="Step-time log (JSON Lines).")
@click.option("--prometheus", "prometheus", help="Prometheus URL (instead of --metrics).")
@click.option("--start", "start", help="Start of the Prometheus range (unix s or RFC 3339).")
@click.option("--end", "end", help="End of the Prometheus range.")
@click.option("--flight-recorder", "flight_dir", type=click.Path(file_okay=False),
              help="Directory of PyTorch Flight Recorder dumps (<prefix><rank>).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Findings file to write (JSON).")
@click.option("--verdicts", "verdicts", multiple=True, type=click.Path(),
              help="Node-local verdicts: NVSentinel HealthEvents (JSON/JSONL) or Kubernetes "
                   "Nodes with node-problem-detector conditions (kubectl get nodes -o json); "
                   "a file or a directory (repeatable). They add evidence to findings, "
                   "never findings of their own (docs/interop.md).")
@click.option("--tick-s", "tick_s", default=15.0, show_default=True, type=float,
              help="Seconds between detector updates.")
@click.option("--hang", "hang", multiple=True, metavar="KEY=VALUE",
              help="A hang detector timeout (stall_k, stall_floor_s, hang_k, hang_floor_s, "
                   "give_up_s, hold_s; repeatable; docs/detection.md).")
@click.option("--strict", is_flag=True, help="Fail on the first malformed input line.")
@click.option("--quiet", "-q", is_flag=True, help="Do not print the findings table.")
def command(  # noqa: PLR0917 - click passes every option positionally
        topology_path: str | None, metrics: tuple[str, ...], steps_path: str | None,
            prometheus: str | None, start: str | None, end: str | None,
            flight_dir: str | None, out: str, verdicts: tuple[str, ...], tick_s: float,
            hang: tuple[str, ...], strict: bool, quiet: bool) -> int:
    """Replay telemetry and step records through the detectors; write findings."""
    from brownout.cli.common import load_inputs, report_problems

    if not metrics and not steps_path and not prometheus and not flight_dir:
        raise InputError("detect needs --metrics, --prometheus, --steps or --flight-recorder")
    if tick_s <= 0:
        raise InputError(f"--tick-s must be positive, got {tick_s}")
    timeouts = HangTimeouts.parse(parse_pairs(hang), "--hang")
    hangs = _flight_reports(flight_dir) if flight_dir else []
    if topology_path is None:
        if metrics or steps_path or prometheus:
            raise InputError("--topology is needed with --metrics, --prometheus or --steps")
        return _flight_only(hangs, out, quiet)
    topo, registry, frame, problems = load_inputs(topology_path, metrics, strict)
    node_verdicts = _read_verdicts(verdicts)  # before the replay: bad input fails fast
    skews = estimate_skew(frame, topo.n_nodes)  # exporters' clocks (Prometheus stamps its own)
    frame = correct_skew(frame, skews)
    if prometheus:
        frame = _prometheus_frame(prometheus, start, end, registry, problems)
    steps = read_steps(steps_path, topo, problems, strict) if steps_path else None
    topo, model_diffs = with_observed_models(topo, registry.gpu_models)
    engine = Engine(topo, default_detectors(timeouts), config=EngineConfig(tick_s=tick_s))
    engine.push(frame if (metrics or prometheus) else None, steps)
    result = engine.finish()
    problems.counter_resets += engine.state.counter_resets  # counted once, where rates are made
    notices = (_problem_notices(topo, problems, frame, steps) + _skew_notices(topo, skews, frame)
               + _model_notices(topo, model_diffs, frame))
    notices += _ledger_notices(topo, steps, result)
    result = FindingsFile(result.cluster, result.findings, result.notices + notices)
    if node_verdicts is not None:
        result = _with_verdicts(result, node_verdicts, frame, steps)
    if flight_dir:
        result = merge(result, flight_findings(hangs, steps, topo))
    write_findings(result, out)
    report_problems(problems)
    if not quiet:
        click.echo(format_findings(result))
    return 0


def _read_verdicts(paths: tuple[str, ...]) -> list[Verdict] | None:
    if not paths:
        return None
    from brownout.interop.read import read_verdicts
    return read_verdicts(paths)


def _with_verdicts(result: FindingsFile, verdicts: list[Verdict], frame: Frame,
                   steps: StepRecords | None) -> FindingsFile:
    """Join node-local verdicts into the findings (evidence and confidence only)."""
    from brownout.interop.join import corroborate

    t0 = frame.start_s if len(frame) else (float(steps.ts[0]) if steps and len(steps) else 0.0)
    return corroborate(result, verdicts, undated_s=t0)


def _ledger_notices(topo: Topology, steps: StepRecords | None, result: FindingsFile
                   ) -> tuple[Finding, ...]:
    """Jobs whose straggler time (as ``brownout goodput`` counts it) no finding names."""
    if steps is None or not len(steps):
        return ()
    from brownout.recovery.ledger import build_ledger
    from brownout.recovery.ledger_check import straggler_notices

    ledger = build_ledger(steps, topology=topo)
    return tuple(straggler_notices(steps, ledger, result.findings, topo))


def _flight_reports(directory: str) -> list[HangReport]:
    """The analysis of every dump set under ``directory`` (a bad dump is bad input)."""
    sets = read_dump_dir(directory)
    if not sets:
        raise InputError(f"{directory}: no Flight Recorder dumps (files named <prefix><rank>)")
    return [analyse(ds) for ds in sets]


def _flight_only(hangs: list[HangReport], out: str, quiet: bool) -> int:
    """Findings of the dumps alone: ranks are named rank<N>."""
    result = FindingsFile("", flight_findings(hangs, None, None))
    write_findings(result, out)
    if not quiet:
        click.echo(format_findings(result))
    return 0


def _prometheus_frame(url: str, start: str | None, end: str | None, registry: object,
                      problems: Problems) -> Frame:
    """Frame of a Prometheus range (the source lives with the other sources)."""
    if not start or not end:
        raise InputError("--prometheus needs --start and --end")
    try:
        prom = importlib.import_module("brownout.telemetry.sources.prometheus")
    except ImportError as exc:
        raise InputError("--prometheus is not available in this build") from exc
    frame, more = prom.read_range(url, start, end, registry)
    problems.merge(more)
    assert isinstance(frame, Frame)
    return frame


def _problem_notices(topo: Topology, problems: Problems, frame: Frame,
                     steps: StepRecords | None) -> tuple[Finding, ...]:
    """What was odd about the input, as notices (scoring ignores them)."""
    t = frame.start_s if len(frame) else (float(steps.ts[0]) if steps and len(steps) else 0.0)
    out: list[tuple[str, str, dict[str, Any]]] = []
    if problems.unknown_nodes or problems.unknown_components:
        names = sorted(problems.unknown_nodes) + sorted(problems.unknown_components)
        out.append(("unknown_series", f"{len(names)} node(s)/component(s) not in the topology "
                    f"were ignored: {', '.join(names[:10])}", {"ignored": names[:50]}))
    if problems.malformed_count:
        out.append(("malformed_input", f"{problems.malformed_count} malformed input lines "
                    "skipped", {"examples": problems.malformed_lines}))
    if problems.counter_resets:
        out.append(("exporter_restart", f"{problems.counter_resets} counter resets detected "
                    "(exporter restarts or wraps); rates across them use the new value, never "
                    "a negative rate", {"counter_resets": problems.counter_resets}))
    if problems.dropped_nonfinite or problems.dropped_sentinel:
        out.append(("dropped_samples", f"{problems.dropped_nonfinite} NaN/Inf and "
                    f"{problems.dropped_sentinel} DCGM sentinel samples dropped",
                    {"nonfinite": problems.dropped_nonfinite,
                     "sentinel": problems.dropped_sentinel}))
    return tuple(Finding(
        id=f"n-input-{i + 1}", kind=kind, component=topo.name, component_type="cluster",
        onset=t, detected_at=t, confidence=1.0, severity="minor", summary=summary,
        evidence=ev, recommended_action="fix_telemetry") for i, (kind, summary, ev)
        in enumerate(out))


def _skew_notices(topo: Topology, skews: np.ndarray, frame: Frame) -> tuple[Finding, ...]:
    """One notice naming every node whose clock was found off, and by how much."""
    skewed = np.flatnonzero(skews)
    if not skewed.size:
        return ()
    offsets = {topo.nodes[i].name: round(float(skews[i]), 1) for i in skewed}
    listed = ", ".join(f"{n} {o:+.0f} s" for n, o in list(offsets.items())[:10])
    t = frame.start_s if len(frame) else 0.0
    return (Finding(id="n-clock-skew", kind="clock_skew", component=topo.name,
                    component_type="cluster", onset=t, detected_at=t, confidence=0.9,
                    severity="minor", summary=f"{len(offsets)} node clock(s) off; samples "
                    f"re-aligned before detection: {listed}", evidence={"offset_s": offsets},
                    recommended_action="fix_telemetry"),)


def _model_notices(topo: Topology, diffs: dict[str, tuple[str, str]], frame: Frame
                   ) -> tuple[Finding, ...]:
    """One notice when dcgm-exporter's modelName contradicts the topology's gpu_model."""
    if not diffs:
        return ()
    listed = ", ".join(f"{n}: {a!r} -> {b!r}" for n, (a, b) in list(diffs.items())[:5])
    t = frame.start_s if len(frame) else 0.0
    return (Finding(id="n-gpu-model", kind="gpu_model_mismatch", component=topo.name,
                    component_type="cluster", onset=t, detected_at=t, confidence=0.9,
                    severity="minor", summary=f"{len(diffs)} node(s) report another GPU model "
                    f"than the topology names; the reported one is used: {listed}",
                    evidence={"nodes": {n: list(v) for n, v in diffs.items()}},
                    recommended_action="investigate"),)


def format_findings(ff: FindingsFile) -> str:
    """A table for people: one line per finding, then the notices."""
    if not ff.findings and not ff.notices:
        return "no findings"
    lines = [f"{'kind':<18} {'component':<18} {'severity':<8} {'conf':>4}  summary"]
    for f in ff.findings:
        lines.append(f"{f.kind:<18} {f.component:<18} {f.severity:<8} {f.confidence:>4.2f}  "
                     f"{f.summary}")
    lines.extend(f"notice: {n.kind}: {n.summary}" for n in ff.notices)
    lines.append(f"{len(ff.findings)} finding(s), {len(ff.notices)} notice(s)")
    return "\n".join(lines)


__all__ = ["command", "format_findings"]
