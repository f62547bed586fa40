"""Placement: health, heat and topology; exports; fragmentation on an openb-schema trace."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from brownout.errors import InputError, ParseError
from brownout.recovery.export import AVOID_WEIGHT, k8s_labels, slurm_lines, slurm_weights
from brownout.recovery.fragmentation import (
    POLICIES,
    WHOLE,
    Shapes,
    node_fragmentation,
    read_nodes,
    read_pods,
    replay,
)
from brownout.recovery.placement import (
    ClusterView,
    first_fit,
    leaves_of,
    place_job,
)
from brownout.topology.generate import generate_topology

SEEDS = [0, 1, 2, 3, 4, 5]
TOPO = generate_topology(128)  # 1,024 GPUs: 32 leaves of 4 nodes, 8 cooling domains


def _view(rng: np.random.Generator, busy: float = 0.3, suspect: float = 0.05,
          quarantined: float = 0.05, hot: int = 1) -> ClusterView:
    n = TOPO.n_nodes
    states = rng.choice(["healthy", "suspect", "quarantined", "returned"], n,
                        p=[1 - suspect - quarantined - 0.02, suspect, quarantined, 0.02])
    temps = rng.uniform(55, 62, len(TOPO.cooling_domains))
    temps[rng.choice(len(temps), hot, replace=False)] = 84.0
    return ClusterView(TOPO, rng.random(n) > busy, tuple(str(s) for s in states), temps)


@pytest.mark.parametrize("seed", SEEDS)
def test_never_places_on_nodes_out_of_service_or_busy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    view = _view(rng, quarantined=0.2)
    for n in (1, 3, 8, 20):
        p = place_job(n, view)
        assert p is not None
        nodes = np.array(p.nodes)
        assert len(set(p.nodes)) == n
        assert view.free[nodes].all()
        assert not {view.state[i] for i in p.nodes} & {"quarantined", "draining", "in_repair"}


@pytest.mark.parametrize("seed", SEEDS)
def test_avoids_hot_domains_and_suspects_while_it_can(seed: int) -> None:
    rng = np.random.default_rng(seed)
    view = _view(rng, busy=0.2, suspect=0.1, hot=2)
    p = place_job(16, view)
    assert p is not None
    assert p.hot == 0
    assert p.suspect == 0
    ff = first_fit(16, view)
    assert ff is not None
    assert ff.hot + ff.suspect >= p.hot + p.suspect


@pytest.mark.parametrize("seed", SEEDS)
def test_spans_no_more_leaves_than_first_fit_and_the_minimum_when_free(seed: int) -> None:
    rng = np.random.default_rng(seed)
    view = _view(rng, busy=0.4, suspect=0.0, quarantined=0.0, hot=0)
    for n in (2, 4, 7, 12):
        p, ff = place_job(n, view), first_fit(n, view)
        assert p is not None and ff is not None
        assert p.leaves <= ff.leaves
        assert leaves_of(p.nodes, TOPO) == p.leaves
    empty = ClusterView(TOPO, np.ones(TOPO.n_nodes, bool), ("healthy",) * TOPO.n_nodes,
                        np.full(len(TOPO.cooling_domains), 60.0))
    for n in (1, 4, 5, 9, 16):
        placed = place_job(n, empty)
        assert placed is not None
        assert placed.leaves == -(-n // 4)


def test_uses_suspect_or_hot_nodes_only_when_nothing_else_fits() -> None:
    n = TOPO.n_nodes
    states = ["suspect"] * n
    states[:6] = ["healthy"] * 6
    view = ClusterView(TOPO, np.ones(n, bool), tuple(states),
                       np.full(len(TOPO.cooling_domains), 60.0))
    p = place_job(8, view)
    assert p is not None
    assert p.suspect == 2
    assert place_job(n + 1, view) is None


def test_spreads_heat_to_cooler_emptier_domains() -> None:
    n = TOPO.n_nodes
    free = np.ones(n, bool)
    free[:12] = False  # cdu01 (nodes 0-15) is mostly busy
    temps = np.full(len(TOPO.cooling_domains), 60.0)
    temps[1] = 66.0  # cdu02 warmer than the rest, not hot
    view = ClusterView(TOPO, free, ("healthy",) * n, temps)
    p = place_job(4, view)
    assert p is not None
    domains = {int(TOPO.node_cooling[i]) for i in p.nodes}
    assert domains.isdisjoint({0, 1})


def test_bad_views_are_refused() -> None:
    n = TOPO.n_nodes
    temps = np.full(len(TOPO.cooling_domains), 60.0)
    with pytest.raises(InputError, match="unknown node state"):
        ClusterView(TOPO, np.ones(n, bool), ("sick",) * n, temps)
    with pytest.raises(InputError):
        ClusterView(TOPO, np.ones(n - 1, bool), ("healthy",) * n, temps)


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_exports_rank_nodes_like_the_placement(seed: int) -> None:
    rng = np.random.default_rng(seed)
    view = _view(rng)
    weights = slurm_weights(view)
    for i, node in enumerate(TOPO.nodes):
        state = view.state[i]
        if state == "quarantined":
            assert weights[node.name] == AVOID_WEIGHT
        else:
            assert 1 <= weights[node.name] <= 100
    cool = view.cooling_temp_c[TOPO.node_cooling] < 70
    healthy_cool = [TOPO.nodes[i].name for i in range(TOPO.n_nodes)
                    if view.state[i] == "healthy" and cool[i]]
    suspects = [TOPO.nodes[i].name for i in range(TOPO.n_nodes) if view.state[i] == "suspect"]
    if healthy_cool and suspects:
        assert max(weights[x] for x in healthy_cool) < min(weights[x] for x in suspects)
    lines = slurm_lines(view)
    pattern = re.compile(r"scontrol update NodeName=[A-Za-z0-9._,-]+ Weight=\d+\Z")
    assert all(pattern.match(line) for line in lines)
    named = [n for line in lines for n in line.split()[2].split("=")[1].split(",")]
    assert sorted(named) == sorted(node.name for node in TOPO.nodes)
    labels = k8s_labels(view)
    value = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?\Z")
    for node_labels in labels.values():
        assert all(value.match(v) for v in node_labels.values())
    hot_nodes = [n for n, lab in labels.items() if lab["brownout.io/thermal"] == "hot"]
    assert len(hot_nodes) == 16


# fragmentation -------------------------------------------------------------------------

def _write_trace(tmp: Path, rng: np.random.Generator, n_nodes: int, n_pods: int
                 ) -> tuple[Path, Path]:
    """A tiny trace in the openb CSV schema (the real one may not be copied here)."""
    nodes = tmp / "openb_node_list_gpu_node.csv"
    with nodes.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sn", "cpu_milli", "memory_mib", "gpu", "model"])
        for i in range(n_nodes):
            w.writerow([f"openb-node-{i:04d}", 64000, 262144, rng.choice([2, 4, 8]), "V100M16"])
    pods = tmp / "openb_pod_list_default.csv"
    with pods.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec", "qos",
                    "pod_phase", "creation_time", "deletion_time", "scheduled_time"])
        for i in range(n_pods):
            num = int(rng.choice([0, 1, 1, 1, 2, 4, 8]))
            milli = int(rng.choice([250, 500, 1000])) if num == 1 else (1000 if num else 0)
            t = i * 10
            w.writerow([f"openb-pod-{i:04d}", 8000, 16384, num, milli, "", "LS", "Running", t,
                        t + int(rng.integers(50, 3000)), t])
    return nodes, pods


@pytest.mark.parametrize("seed", SEEDS)
def test_replay_of_an_openb_schema_trace(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    nodes_csv, pods_csv = _write_trace(tmp_path, rng, 30, 400)
    gpus, pods = read_nodes(nodes_csv), read_pods(pods_csv)
    assert gpus.shape == (30,)
    assert (pods.num_gpu > 0).all() and (pods.gpu_milli <= WHOLE).all()
    reports = {p: replay(gpus, pods, p, departures=False, sample_every=10) for p in POLICIES}
    for r in reports.values():
        assert r.placed + r.failed == pods.num_gpu.shape[0]
        assert 0 <= r.mean_frag_ratio <= 1
        assert 0 < r.alloc_at_first_failure <= 1
    # packing policies fill the cluster further before the first pod is refused
    for policy in ("best_fit", "frag_aware"):
        assert (reports[policy].alloc_at_first_failure
                >= reports["first_fit"].alloc_at_first_failure - 0.01)


def test_fragmentation_measure_on_a_hand_made_cluster() -> None:
    free = np.array([[1000, 1000, 0, 0], [500, 0, 0, 0], [1000, -1, -1, -1]])
    shapes = Shapes(np.array([2, 1]), np.array([1000, 600]), np.array([0.5, 0.5]))
    frag = node_fragmentation(free, shapes)
    # node 0: 2 whole fit the 2-GPU shape (0 fragmented); the 600 fits (0)
    # node 1: 500 free fits neither: 500 each; node 2: 1000 free can't take 2 GPUs, fits 600
    assert frag.tolist() == pytest.approx([0.0, 500.0, 500.0])


def test_bad_trace_files_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "pods.csv"
    bad.write_text("name,num_gpu,gpu_milli\np0,1,abc\n")
    with pytest.raises(ParseError, match=r"pods.csv:2"):
        read_pods(bad)
    with pytest.raises(ParseError, match="missing column"):
        read_nodes(bad)
