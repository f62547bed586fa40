"""The node state machine: explicit table, reasons on every edge, loud illegal moves."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brownout.errors import GuardrailError
from brownout.policy.states import (
    DRAINING,
    HEALTHY,
    IN_REPAIR,
    QUARANTINED,
    RETURNED,
    STATES,
    SUSPECT,
    TRANSITIONS,
    NodeStates,
    allowed_from,
    shortest_path,
)


def test_every_edge_has_a_reason_and_known_states() -> None:
    for (a, b), reason in TRANSITIONS.items():
        assert a in STATES and b in STATES and a != b
        assert len(reason.split()) >= 3


def test_every_state_reachable_and_can_get_back_to_healthy() -> None:
    for s in STATES:
        if s != HEALTHY:
            assert shortest_path(HEALTHY, s)[-1] == s
            assert shortest_path(s, HEALTHY)[-1] == HEALTHY


def test_the_main_life_cycle_is_recorded_with_reasons() -> None:
    ns = NodeStates()
    for i, s in enumerate((SUSPECT, QUARANTINED, DRAINING, IN_REPAIR, RETURNED, HEALTHY)):
        ns.move("n0001", s, 100.0 + i, cause=f"step{i}")
    hist = ns.history("n0001")
    assert [t.to_state for t in hist] == [SUSPECT, QUARANTINED, DRAINING, IN_REPAIR, RETURNED,
                                          HEALTHY]
    assert all(t.reason == TRANSITIONS[(t.from_state, t.to_state)] for t in hist)
    assert ns.since_s("n0001") == 105.0
    assert ns.state("n0002") == HEALTHY and ns.history("n0002") == []


@pytest.mark.parametrize(("frm", "to"), [(HEALTHY, DRAINING), (HEALTHY, IN_REPAIR),
                                         (SUSPECT, RETURNED), (IN_REPAIR, HEALTHY),
                                         (DRAINING, QUARANTINED), (HEALTHY, HEALTHY)])
def test_illegal_transition_raises_and_changes_nothing(frm: str, to: str) -> None:
    ns = NodeStates()
    for s in shortest_path(HEALTHY, frm):
        ns.move("n1", s, 1.0)
    before = ns.history()
    with pytest.raises(GuardrailError, match=f"{frm} -> {to}"):
        ns.move("n1", to, 2.0)
    assert ns.state("n1") == frm and ns.history() == before


@given(st.lists(st.sampled_from(STATES), max_size=30))
def test_any_sequence_either_follows_the_table_or_raises(targets: list[str]) -> None:
    ns = NodeStates()
    for t in targets:
        frm = ns.state("n")
        if t in allowed_from(frm):
            ns.move("n", t, 0.0)
            assert ns.state("n") == t
        else:
            with pytest.raises(GuardrailError):
                ns.move("n", t, 0.0)
            assert ns.state("n") == frm
    assert all((t.from_state, t.to_state) in TRANSITIONS for t in ns.history())
