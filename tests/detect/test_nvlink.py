"""NVLink detection on GB200 NVL72 twins with fresh seeds (printed on failure).

The full quality bar (precision and recall >= 0.97 per NVLink kind over many
fresh scenarios) is ``python benchmarks/eval_nvlink.py``; this is its fast floor.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import numpy as np
import pytest

from brownout.detect.engine import replay
from brownout.detect.nvlink import NvlinkDetector
from brownout.scoring import score
from brownout.sim import run_scenario, scenario_from_dict
from brownout.telemetry.series import SeriesRegistry

from .synth import Synth


def nvl72(faults: list[dict[str, Any]]) -> dict[str, Any]:
    """Three NVL72 racks: one job across two of them, one in the third, spare trays."""
    return {"name": "nvl-test", "cluster": {"nodes": 54, "layout": "nvl72"},
            "duration_min": 35, "scrape_interval_s": 30,
            "jobs": [{"name": "big", "nodes": 30, "compute_s": 7.0, "allreduce_gb": 100},
                     {"name": "small", "nodes": 16, "compute_s": 6.0, "allreduce_gb": 80}],
            "faults": faults,
            "confounders": [{"kind": "nvlink_phase", "count": 2, "at_min": [4, 25]},
                            {"kind": "exporter_restarts", "at_min": [4, 25]},
                            {"kind": "app_xids", "at_min": [4, 25]}]}


def run(doc: dict[str, Any], seed: int) -> tuple[list[Any], list[Any]]:
    r = run_scenario(scenario_from_dict(doc, "<test>"), seed=seed)
    found = replay(r.topology, r.frame(), r.steps).findings
    return list(found), r.truth


@pytest.mark.slow  # two 216-GPU twins end to end: ~6 s of CPU, more on a shared machine
def test_nvlink_faults_found_at_the_right_component_on_fresh_seeds() -> None:
    faults = [{"kind": "nvlink_degraded", "variant": "links_down", "onset_min": [5, 20]},
              {"kind": "nvlink_degraded", "variant": "crc_errors", "onset_min": [5, 20]},
              {"kind": "nvswitch_fault", "onset_min": [5, 20]}]
    notes, matched, truth_n, false = [], 0, 0, 0
    for seed in [secrets.randbelow(2**31) for _ in range(2)]:
        found, truth = run(nvl72(faults), seed)
        r = score(found, truth)
        matched, truth_n, false = (matched + r.overall.matched, truth_n + r.overall.truth,
                                   false + r.overall.false)
        notes.append({"seed": seed, "missed": [(truth[i].kind, truth[i].component)
                                               for i in r.missed_truth],
                      "false": [(found[i].kind, found[i].component)
                                for i in r.false_findings]})
    report = json.dumps(notes)
    assert truth_n == 6, report
    assert matched >= 5 and false == 0, report


@pytest.mark.slow
def test_phase_changes_and_idle_domains_raise_nothing() -> None:
    seed = secrets.randbelow(2**31)
    found, _ = run(nvl72([]), seed)
    assert found == [], f"seed {seed}: {[(f.kind, f.component) for f in found]}"


def test_constructor_only_stores_settings() -> None:
    d = NvlinkDetector(window_s=300.0, bw_drop=0.2)
    assert d.get_params()["window_s"] == 300.0 and d.get_params()["bw_drop"] == 0.2
    assert not [a for a in vars(d) if a.endswith("_")]


def test_errors_counted_during_a_telemetry_gap_are_no_burst() -> None:
    crc = "DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL"
    syn = Synth(n_nodes=4, seed=3)
    syn.counters[crc] = np.zeros(syn.topo.n_gpus)
    silent, erring = 5, 20  # GPU 5 goes quiet, then returns with its counter far on; 20 errs

    def mutate(i: int, t: float, d: dict[str, np.ndarray]) -> None:
        d["+" + crc] = np.zeros(syn.topo.n_gpus)
        d["+" + crc][erring] = 30.0 if i >= 10 else 0.0  # 60 CRC errors a minute
        if 10 <= i < 30:
            for key in [k for k in d if "DCGM" in k]:
                d[key][silent] = np.nan
        if i == 30:
            d["+" + crc][silent] = 3000.0  # what accumulated unseen
    frame = syn.frame(SeriesRegistry(syn.topo), 60, mutate)
    found = replay(syn.topo, frame, None, detectors=[NvlinkDetector()]).findings
    assert [(f.kind, f.component) for f in found] == [
        ("nvlink_degraded", syn.topo.gpu_name(erring))]
