"""NVIDIA's Xid catalogue and what each resolution means for the policy.

The catalogue (:mod:`brownout.telemetry.xid`) gives each Xid NVIDIA's
*immediate resolution*. This module
maps those resolutions to brownout actions; anything the policy does not
recognise is escalated to a person (drain, restart the job, open a ticket)
rather than ignored.
"""

from __future__ import annotations

from brownout.policy.actions import (
    DRAIN_NODE,
    NOTIFY,
    ORDER,
    REBOOT_NODE,
    RESET_GPU,
    RESTART_JOB,
)
from brownout.telemetry.xid import catalogue

#: NVIDIA immediate resolution -> brownout actions (in execution order)
RESOLUTION_ACTIONS: dict[str, tuple[str, ...]] = {
    "IGNORE": (),                                            # informational
    "RESTART_APP": (RESTART_JOB,),                           # the app faulted, not the GPU
    "RESET_GPU": (DRAIN_NODE, RESTART_JOB, RESET_GPU, NOTIFY),
    "RESTART_BM": (DRAIN_NODE, RESTART_JOB, REBOOT_NODE, NOTIFY),   # reboot bare metal
    "RESTART_VM": (DRAIN_NODE, RESTART_JOB, REBOOT_NODE, NOTIFY),
    "WORKFLOW_XID_48": (DRAIN_NODE, RESTART_JOB, RESET_GPU, NOTIFY),  # DBE: reset, check remap
    "WORKFLOW_NVLINK_ERR": (DRAIN_NODE, RESTART_JOB, RESET_GPU, NOTIFY),
    "WORKFLOW_NVLINK5_ERR": (DRAIN_NODE, RESTART_JOB, RESET_GPU, NOTIFY),
    "CONTACT_SUPPORT": (DRAIN_NODE, RESTART_JOB, NOTIFY),    # hardware: out until RMA/triage
    "CHECK_MECHANICALS": (DRAIN_NODE, RESTART_JOB, NOTIFY),
    "UPDATE_SWFW": (NOTIFY,),
    "WORKFLOW_XID_45": (),                                   # preemptive cleanup: sympathetic
    "XID_154": (),                                           # informs about another Xid
    "CHECK_UVM": (RESTART_JOB,),                             # driver memory manager: software
}
#: a resolution this table does not know: keep the node out and ask a person
UNKNOWN_RESOLUTION: tuple[str, ...] = (DRAIN_NODE, RESTART_JOB, NOTIFY)


def xid_actions(xid: int, overrides: dict[int, str] | None = None) -> tuple[str, ...] | None:
    """Actions for one Xid, or None when the code is not in the catalogue.

    Args:
        xid: the Xid code.
        overrides: code -> resolution replacing the catalogue (policy config).
    """
    resolution = (overrides or {}).get(xid)
    if resolution is None:
        entry = catalogue().get(xid)
        if entry is None:
            return None
        resolution = entry.immediate
    return RESOLUTION_ACTIONS.get(resolution, UNKNOWN_RESOLUTION)


def worst_xid_actions(xids: list[int], overrides: dict[int, str] | None = None
                      ) -> tuple[str, ...] | None:
    """The union of the actions of several Xids (the most severe wins), in order."""
    seen: dict[str, None] = {}
    known = False
    for x in xids:
        acts = xid_actions(x, overrides)
        if acts is not None:
            known = True
            seen.update(dict.fromkeys(acts))
    if not known:
        return None
    return tuple(sorted(seen, key=ORDER.__getitem__))
