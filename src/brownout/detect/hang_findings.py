"""The ``rank_hang`` finding of a stuck rank that a Flight Recorder report names.

Used by the hang detector live (reports handed to the engine) and by a
replay's ``--flight-recorder`` findings (:mod:`brownout.detect.flight`).
"""

from __future__ import annotations

import math

from brownout.detect.api import Candidate
from brownout.detect.collectives import HangReport, StuckRank


def rank_hang(s: StuckRank, rep: HangReport, component: str, job: str = "") -> Candidate:
    """The ``rank_hang`` candidate of one stuck rank of a Flight Recorder report."""
    verb = {"never_joined": "never joined", "never_finished": "never finished",
            "no_dump": "wrote no dump for"}.get(s.how, s.how)
    waiting = ", ".join(str(r) for r in s.waiting_ranks) or "none"
    onset = s.onset_s if math.isfinite(s.onset_s) else rep.t_s
    return Candidate(
        "rank_hang", component, onset, 0.9 if s.how != "no_dump" else 0.7, "critical",
        "restart_job",
        f"rank {s.rank} {verb} {s.op or 'the collective'} #{s.collective_seq_id} of process "
        f"group {s.process_group} ({s.pg_desc}); ranks {waiting} wait in it",
        {"rank": s.rank, "process_group": s.process_group, "pg_desc": s.pg_desc,
         "collective_seq_id": s.collective_seq_id, "op": s.op,
         "waiting_ranks": list(s.waiting_ranks), "how": s.how, "hows": list(s.hows),
         "last_enqueued": s.enqueued, "last_completed": s.completed,
         "peers_completed": s.peers_completed, "lagging_groups": list(s.groups),
         "dumps": rep.source, **({"job": job} if job else {}), "from": "flight recorder"},
        source="hangs", component_type="" if "/" in component else "rank")
