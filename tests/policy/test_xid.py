"""Xid actions follow NVIDIA's catalogue (packaged copy)."""

from __future__ import annotations

from brownout.policy.actions import DRAIN_NODE, REBOOT_NODE, RESET_GPU, RESTART_JOB
from brownout.policy.xid import RESOLUTION_ACTIONS, worst_xid_actions, xid_actions
from brownout.telemetry.xid import catalogue


def test_catalogue_is_packaged_and_complete() -> None:
    cat = catalogue()
    assert len(cat) == 172
    assert cat[79].mnemonic == "ROBUST_CHANNEL_GPU_HAS_FALLEN_OFF_THE_BUS"


def test_actions_follow_nvidias_immediate_resolution() -> None:
    for xid, entry in catalogue().items():
        acts = xid_actions(xid)
        assert acts is not None
        if entry.immediate == "RESET_GPU":
            assert RESET_GPU in acts and DRAIN_NODE in acts
            assert acts.index(DRAIN_NODE) < acts.index(RESET_GPU)
        if entry.immediate in ("RESTART_BM", "RESTART_VM"):
            assert REBOOT_NODE in acts
        if entry.immediate == "RESTART_APP":
            assert acts == (RESTART_JOB,)
        if entry.immediate == "IGNORE":
            assert acts == ()
        if entry.immediate and entry.immediate not in RESOLUTION_ACTIONS:
            assert DRAIN_NODE in acts  # unknown advice: keep it out, ask a person


def test_overrides_and_unknown_codes() -> None:
    assert xid_actions(63) == ()
    assert RESET_GPU in (xid_actions(63, {63: "RESET_GPU"}) or ())
    assert xid_actions(99999) is None
    assert worst_xid_actions([13, 79]) == (DRAIN_NODE, RESTART_JOB, REBOOT_NODE, "notify")
    assert worst_xid_actions([99999]) is None
