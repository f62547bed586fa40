"""One conformance test that every detector passes (scikit-learn's check_estimator spirit)."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

from brownout.detect import default_detectors
from brownout.detect.api import Candidate, Detector
from brownout.detect.engine import Engine
from brownout.detect.tick import Tick
from brownout.findings import ACTIONS, KINDS, SEVERITIES
from brownout.telemetry.series import SeriesRegistry

from .synth import Synth, steps

DETECTORS = [type(d) for d in default_detectors()]


class Spy(Detector):
    """Wraps a detector; records what it saw and said, tick by tick."""

    name = "spy"

    def __init__(self, inner: Detector) -> None:
        self.inner = inner
        self.seen: list[tuple[float, float, list[Candidate]]] = []

    def update(self, tick: Tick) -> list[Candidate]:
        late = tick.frame.t_s[tick.frame.t_s > tick.t_s]
        assert late.size == 0, "engine fed a sample from the future"
        assert not (tick.steps.ts > tick.t_s).any(), "engine fed a step record from the future"
        out = self.inner.update(tick)
        self.seen.append((tick.t_s, tick.data_t_s, out))
        return out


def faulty_run(seed: int, detector: Detector) -> Spy:
    """A small cluster with one of every easy fault, through one detector."""
    syn = Synth(n_nodes=8, seed=seed, racks_per_cooling=1)
    reg = SeriesRegistry(syn.topo)

    def mutate(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        if i >= 20:
            d["DCGM_FI_DEV_GPU_TEMP"][3] += 20  # one hot GPU
            d["DCGM_FI_DEV_SM_CLOCK"][9] = 1300  # one slow GPU
            d["+node_infiniband_symbol_error_total"][5] = 900
        if i == 30:
            d["DCGM_FI_DEV_XID_ERRORS"][12] = 79
        if i >= 40:
            for name, arr in d.items():
                if name.startswith(("DCGM", "+DCGM")):
                    arr[48:56] = np.nan  # node 7 goes silent

    frame = syn.frame(reg, 60, mutate)
    spy = Spy(detector)
    engine = Engine(syn.topo, [spy])
    engine.push(frame, steps(syn.topo, 220, seed=seed, node_slow={2: 1.4}, slow_from_step=80))
    engine.finish()
    return spy


@pytest.mark.parametrize("cls", DETECTORS, ids=lambda c: c.__name__)
def test_constructor_only_stores_keyword_settings(cls: type[Detector]) -> None:
    params = inspect.signature(cls.__init__).parameters
    assert all(p.kind is p.KEYWORD_ONLY for n, p in params.items() if n != "self")
    assert all(p.default is not p.empty for n, p in params.items() if n != "self")
    det = cls()
    assert vars(det) == det.get_params()
    assert not [a for a in vars(det) if a.endswith("_")]
    clone = cls(**det.get_params())
    assert clone.get_params() == det.get_params()


@pytest.mark.parametrize("cls", DETECTORS, ids=lambda c: c.__name__)
def test_learned_state_ends_in_underscore_and_candidates_are_valid(cls: type[Detector]) -> None:
    det = cls()
    spy = faulty_run(3, det)
    params = set(det.get_params())
    assert all(a.endswith("_") for a in vars(det) if a not in params)
    assert {a: getattr(det, a) for a in params} == cls().get_params()  # settings untouched
    for t_s, data_t_s, cands in spy.seen:
        assert data_t_s <= t_s
        for c in cands:
            assert c.notice or c.kind in KINDS
            assert c.severity in SEVERITIES
            assert c.action in ACTIONS
            assert 0.0 <= c.confidence <= 1.0
            assert c.onset_s <= data_t_s + 1e-6, "onset after the data that shows it"
            assert c.summary


@pytest.mark.parametrize("cls", DETECTORS, ids=lambda c: c.__name__)
def test_deterministic(cls: type[Detector]) -> None:
    def said(spy: Spy) -> list[Any]:
        return [(t, sorted((c.kind, c.component) for c in cs)) for t, _, cs in spy.seen]

    assert said(faulty_run(5, cls())) == said(faulty_run(5, cls()))


@pytest.mark.parametrize("cls", DETECTORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("seed", [11, 12])
def test_healthy_noisy_cluster_raises_nothing(cls: type[Detector], seed: int) -> None:
    syn = Synth(n_nodes=8, seed=seed, layout="rail" if seed % 2 else "tor")
    reg = SeriesRegistry(syn.topo)
    spy = Spy(cls())
    engine = Engine(syn.topo, [spy])
    engine.push(syn.frame(reg, 60), steps(syn.topo, 220, seed=seed, checkpoint_every=50))
    result = engine.finish()
    assert [(f.kind, f.component) for f in result.findings] == []


@pytest.mark.parametrize("cls", DETECTORS, ids=lambda c: c.__name__)
def test_no_data_at_all_is_no_crash(cls: type[Detector]) -> None:
    syn = Synth(n_nodes=2)
    engine = Engine(syn.topo, [cls()])
    assert engine.finish().findings == ()
    empty_metrics = Engine(syn.topo, [cls()])
    empty_metrics.push(None, steps(syn.topo, 30))
    assert empty_metrics.finish().findings == ()
