"""The engine: causal, one finding per fault with a lifecycle, live equals replay."""

from __future__ import annotations

import numpy as np
import pytest

from brownout.detect.engine import Engine, EngineConfig, replay
from brownout.telemetry.frame import Frame
from brownout.telemetry.series import SeriesRegistry

from .synth import Synth, steps


def clock_fault(start: int, stop: int, g: int = 9):  # type: ignore[no-untyped-def]
    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        if start <= i < stop:
            d["DCGM_FI_DEV_SM_CLOCK"][g] = 1300
    return m


@pytest.mark.parametrize("seed", [4, 5])
def test_causal_truncating_after_detection_changes_nothing(seed: int) -> None:
    syn = Synth(seed=seed)
    frame = syn.frame(SeriesRegistry(syn.topo), 60, clock_fault(20, 60))
    st = steps(syn.topo, 220, seed=seed, node_slow={4: 1.35}, slow_from_step=70)
    full = replay(syn.topo, frame, st)
    assert {f.kind for f in full.findings} == {"gpu_degraded", "host_straggler"}
    for f in full.findings:
        cut = f.detected_at
        part = replay(syn.topo, frame.window(-np.inf, np.nextafter(cut, np.inf)),
                      st.window(-np.inf, np.nextafter(cut, np.inf)))
        again = [g for g in part.findings if (g.kind, g.component) == (f.kind, f.component)]
        assert again, f"{f.kind} needs data after its detected_at"
        assert again[0].detected_at == f.detected_at


def test_one_finding_per_fault_resolved_when_evidence_clears_then_new() -> None:
    syn = Synth(seed=6)
    reg = SeriesRegistry(syn.topo)

    def m(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        if 10 <= i < 30 or 55 <= i < 80:
            d["DCGM_FI_DEV_SM_CLOCK"][9] = 1300
    engine = Engine(syn.topo, config=EngineConfig(resolve_after_s=180))
    engine.push(syn.frame(reg, 90, m))
    events = engine.advance(engine.end_of_data_s() + 15)
    opened = [e for e in events if e.what == "opened"]
    resolved = [e for e in events if e.what == "resolved"]
    assert [(e.finding.kind, e.finding.component) for e in opened] == [
        ("gpu_degraded", syn.topo.gpu_name(9))] * 2
    assert len(resolved) == 2  # the second episode ends before the recording does
    assert opened[0].t_s < resolved[0].t_s < opened[1].t_s < resolved[1].t_s
    ff = engine.result()
    assert len(ff.findings) == 2
    life = ff.findings[0].lifecycle
    assert life is not None and life.resolved_at_s == resolved[0].t_s
    assert life.updates > 5  # one finding, many ticks


def test_live_push_in_pieces_equals_replay() -> None:
    syn = Synth(seed=7)
    frame = syn.frame(SeriesRegistry(syn.topo), 50, clock_fault(15, 50, g=20))
    st = steps(syn.topo, 180, seed=7, node_slow={1: 1.4}, slow_from_step=50)
    whole = replay(syn.topo, frame, st)
    live = Engine(syn.topo)
    t = frame.start_s
    while t < frame.end_s + 60:
        nxt = t + 45.0
        sel = (frame.t_s >= t) & (frame.t_s < nxt)
        live.push(Frame(frame.t_s[sel], frame.series[sel], frame.value[sel], frame.table),
                  st.take(np.flatnonzero((st.ts >= t) & (st.ts < nxt))))
        live.advance(t)  # the service runs ticks up to "now", never past it
        t = nxt
    got = live.finish()
    assert [(f.kind, f.component, f.detected_at) for f in got.findings] == [
        (f.kind, f.component, f.detected_at) for f in whole.findings]
