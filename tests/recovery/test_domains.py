"""NVLink-domain-aware placement and tray-failure recovery (issue 15 item 3)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brownout.errors import InputError
from brownout.policy.ownership import out_of_pool
from brownout.recovery.domains import (
    JobShape,
    RecoveryCosts,
    TrayFailure,
    check_shape,
    choose_recovery,
    groups_spanning,
    job_shape_from_dict,
    node_domains,
    place_groups,
    rank_domains,
)
from brownout.recovery.placement import ClusterView, first_fit
from brownout.topology.generate import generate_topology
from brownout.topology.model import Topology
from brownout.topology.rack_scale import rack_scale_topology

NVL = rack_scale_topology(6)  # 6 NVL72 domains of 18 trays (4 GPUs each)
DOM = node_domains(NVL)
STATES = ("healthy", "healthy", "healthy", "suspect", "quarantined", "in_repair", "returned")


def view(free: np.ndarray | None = None, state: tuple[str, ...] | None = None,
         topo: Topology = NVL) -> ClusterView:
    n = topo.n_nodes
    return ClusterView(topo, np.ones(n, bool) if free is None else free,
                       state or ("healthy",) * n, np.full(len(topo.cooling_domains), 40.0))


def test_a_job_states_its_nvlink_group_as_tp_times_ep() -> None:
    shape = job_shape_from_dict({"name": "moe", "nodes": 32, "tensor_parallel": 4,
                                 "expert_parallel": 16, "min_groups": 1}, "jobs.yaml: jobs[0]")
    assert (shape.group_gpus, shape.group_nodes(4), shape.groups(4)) == (64, 16, 2)
    with pytest.raises(InputError, match=r"jobs.yaml: jobs\[1\]: job tensor_parallel"):
        job_shape_from_dict({"nodes": 4, "tensor_parallel": 0}, "jobs.yaml: jobs[1]")
    with pytest.raises(InputError, match="larger than any NVLink domain"):
        check_shape(JobShape("big", 40, tensor_parallel=80), 4, 18)
    with pytest.raises(InputError, match="not whole groups"):
        check_shape(JobShape("odd", 5, tensor_parallel=8), 4, 18)


def test_groups_stay_in_one_domain_where_first_fit_splits_them() -> None:
    shape = JobShape("moe", 64, tensor_parallel=4, expert_parallel=16)  # 4 groups of 16 trays
    placed = place_groups(shape, view())
    assert placed is not None and len(placed.groups) == 4
    assert groups_spanning(placed.groups, NVL) == 0 and placed.domains == 4
    blind = first_fit(64, view())
    assert blind is not None
    blind_groups = tuple(blind.nodes[i:i + 16] for i in range(0, 64, 16))
    assert groups_spanning(blind_groups, NVL) >= 3  # 18-tray domains: 16-tray groups slide


def test_out_of_service_and_foreign_drained_nodes_are_never_spares() -> None:
    states = out_of_pool({n.name: "healthy" for n in NVL.nodes}, ["n0001", "n0020"])
    st_tuple = tuple(states[n.name] for n in NVL.nodes)
    placed = place_groups(JobShape("j", 104, tensor_parallel=8),
                          view(state=st_tuple))  # 2-tray groups: all 52 the fleet can hold
    assert placed is not None and not {0, 19} & set(placed.nodes)
    assert place_groups(JobShape("j", 106, tensor_parallel=8), view(state=st_tuple)) is None


def test_spare_domains_rank_healthy_before_degraded() -> None:
    state = ["healthy"] * NVL.n_nodes
    for i in (0, 1, 2, 20):  # domain 0: three trays in repair; domain 1: one suspect
        state[i] = "in_repair" if i < 3 else "suspect"
    order = rank_domains(view(state=tuple(state)))
    assert order[-2:] == [1, 0]
    placed = place_groups(JobShape("j", 16, tensor_parallel=64), view(state=tuple(state)))
    assert placed is not None and {int(DOM[i]) for i in placed.nodes} == {2}


def test_nodes_without_a_domain_keep_groups_inside_the_node() -> None:
    h100 = generate_topology(8)
    ok = place_groups(JobShape("tp8", 8, tensor_parallel=8), view(topo=h100))
    assert ok is not None and groups_spanning(ok.groups, h100) == 0
    assert place_groups(JobShape("tp16", 8, tensor_parallel=16), view(topo=h100)) is None


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1),
       jobs=st.lists(st.tuples(st.sampled_from([1, 2, 4, 8, 16, 32, 64]),
                               st.sampled_from([1, 2, 4]), st.integers(1, 6)),
                     min_size=1, max_size=8))
def test_no_nvlink_bound_group_ever_spans_two_domains(
        seed: int, jobs: list[tuple[int, int, int]]) -> None:
    """Random job mixes on a random fleet: every group of every placed job sits in
    one domain, and a job is refused only when the domains truly cannot hold it."""
    rng = np.random.default_rng(seed)
    state = tuple(STATES[i] for i in rng.integers(0, len(STATES), NVL.n_nodes))
    free = rng.random(NVL.n_nodes) > 0.2
    for tp, ep, n_groups in jobs:
        shape = JobShape("j", n_groups * max(1, -(-tp * ep // 4)), tp, ep)
        placed = place_groups(shape, view(free, state))
        usable = free & np.array([s in ("healthy", "returned", "suspect") for s in state])
        g = shape.group_nodes(4)
        capacity = sum(int(usable[d == DOM].sum()) // g for d in range(6))
        if placed is None:
            assert capacity < n_groups
            continue
        assert groups_spanning(placed.groups, NVL) == 0
        assert all(len(grp) == g for grp in placed.groups) and len(placed.groups) == n_groups
        chosen = np.array(placed.nodes)
        assert usable[chosen].all() and len(set(placed.nodes)) == len(chosen)
        free = free.copy()
        free[chosen] = False


COSTS = RecoveryCosts(restart_s=240.0, regrow_s=300.0)


def test_recovery_reforms_in_domain_when_a_spare_tray_is_there() -> None:
    f = TrayFailure(groups=8, reform_in_domain=True, spare_domain=True, can_shrink=True,
                    repair_s=20 * 3600.0)
    assert choose_recovery(f, COSTS).option == "shrink"


@pytest.mark.parametrize(("repair_s", "spare", "can_shrink", "want"), [
    (240.0, False, True, "wait"),          # a reset fixes it soon: waiting is cheapest
    (20 * 3600.0, False, True, "shrink"),  # long repair, no spare domain: drop one replica
    (20 * 3600.0, True, True, "move"),     # a spare domain: full speed at once
    (20 * 3600.0, False, False, "wait"),   # not elastic, no spare: nothing else to do
])
def test_recovery_weighs_expected_goodput(repair_s: float, spare: bool, can_shrink: bool,
                                          want: str) -> None:
    f = TrayFailure(8, False, spare, can_shrink, repair_s)
    choice = choose_recovery(f, COSTS)
    assert choice.option == want
    assert choice.loss_s[want] == min(choice.loss_s.values())
    assert choice.goodput_gpu_h(512, COSTS, repair_s) >= 0.0  # waiting delivers nothing
