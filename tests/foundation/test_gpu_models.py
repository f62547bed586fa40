"""The GPU-model table: every common spelling finds its model; unknown ones a default."""

from __future__ import annotations

import numpy as np
import pytest

from brownout.topology.generate import generate_topology
from brownout.topology.gpu_models import (
    GENERIC,
    SOURCES,
    TABLE,
    gpu_limits,
    spec_for,
    with_observed_models,
)


@pytest.mark.parametrize(("name", "key"), [
    ("NVIDIA H100 80GB HBM3", "H100-SXM-80GB"),        # NVML / dcgm-exporter modelName
    ("NVIDIA-H100-80GB-HBM3", "H100-SXM-80GB"),        # Kubernetes product label
    ("NVIDIA H100", "H100-SXM-80GB"),                  # Slurm gres type h100
    ("NVIDIA H800", "H100-SXM-80GB"),
    ("NVIDIA A100-SXM4-40GB", "A100-SXM4-40GB"),
    ("A100-SXM4-80GB", "A100-SXM4-80GB"),
    ("NVIDIA H200", "H200-SXM-141GB"),
    ("NVIDIA B200", "B200-SXM-180GB"),
    ("NVIDIA GB200", "GB200-186GB"),
])
def test_every_spelling_finds_its_model(name: str, key: str) -> None:
    assert spec_for(name).key == key


@pytest.mark.parametrize("name", ["NVIDIA H100 PCIe", "NVIDIA H100 NVL", "Tesla V100-SXM2-32GB",
                                  "", "NVIDIA A100 80GB PCIe"])
def test_unknown_or_other_form_factors_get_the_generic_default(name: str) -> None:
    assert spec_for(name) is GENERIC and not GENERIC.known


def test_every_entry_is_sourced_and_consistent() -> None:
    for spec in TABLE:
        assert any(spec.key.startswith(k) for k in SOURCES), spec.key
        assert spec.max_operating_c < spec.slowdown_c < spec.shutdown_c
        assert spec.idle_sm_clock_mhz < spec.max_sm_clock_mhz
    assert spec_for("NVIDIA A100-SXM4-80GB").max_operating_c == 85.0
    assert spec_for("NVIDIA B200").power_limit_w == 1000.0


def test_limits_follow_each_nodes_model_and_name_unknown_ones() -> None:
    topo = generate_topology(2, gpu_model="NVIDIA A100-SXM4-80GB")
    lim = gpu_limits(topo, ["NVIDIA A100-SXM4-80GB", "Mystery GPU 9000"])
    assert lim.power_limit_w.shape == (16,)
    assert np.all(lim.power_limit_w[:8] == 400.0) and np.all(lim.power_limit_w[8:] == 700.0)
    assert lim.unknown == ("Mystery GPU 9000",)


def test_model_name_label_wins_over_a_default_topology_model() -> None:
    topo = generate_topology(2)  # H100 by default, as the loader defaults it
    out, diffs = with_observed_models(topo, {0: "NVIDIA A100-SXM4-40GB", 1: "Mystery GPU"})
    assert out.nodes[0].gpu_model == "NVIDIA A100-SXM4-40GB"
    assert out.nodes[1].gpu_model == topo.nodes[1].gpu_model  # unknown label: topology stands
    assert diffs == {"n0001": (topo.nodes[0].gpu_model, "NVIDIA A100-SXM4-40GB")}
    same, none = with_observed_models(topo, {})
    assert same is topo and none == {}
