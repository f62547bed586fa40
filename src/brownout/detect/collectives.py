"""Who holds a hung job: the rank(s) that never joined, or never finished, a collective.

Input: the Flight Recorder dumps of one job (:class:`~brownout.telemetry.
flight_recorder.DumpSet`). For every process group that only runs
collectives (groups with point-to-point calls are skipped: a send's sequence
ids are not comparable across members), each member's last enqueued (``e``)
and last completed (``c``) collective sequence ids are compared.

- **Never finished.** A collective completes on every member or on none, so
  when a peer has completed sequence id ``s`` and this rank enqueued ``s``
  but has not completed it, this rank's GPU stopped finishing work (a
  device-side error leaves its stream stuck while its CPU keeps queueing).
- **Never joined.** Peers have enqueued ``s = max(c) + 1`` and wait in it;
  a member whose ``e < s`` never called it. It holds the job only if it is
  not itself waiting: a rank with a pending call of its own (one that no
  peer has completed, a collective or a send/receive) is a victim of
  someone else's hang, and is not named.
- **No dump.** Every member that wrote a dump waits in ``s``, and some
  members wrote none (a dead process writes nothing): those are named.

Looking only at who failed to *enqueue* misses the first kind: that is the
rank NVRx's current reference misses in its ``gpu_error_1st`` case.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from brownout.telemetry.flight_recorder import DumpSet, FrEntry, RankDump

NEVER_JOINED = "never_joined"
NEVER_FINISHED = "never_finished"
NO_DUMP = "no_dump"
MIN_LAG = 2  # collectives a never-finished rank trails a peer by, in a single group


@dataclass(frozen=True)
class StuckRank:
    """One rank that holds its peers, with the collective they wait in.

    Attributes:
        rank: the global rank.
        how: ``never_joined``, ``never_finished`` or ``no_dump``.
        process_group, pg_desc: the group of the collective.
        collective_seq_id: its sequence id in that group.
        op: its op (``nccl:all_to_all``), ``""`` when no dump names it.
        waiting_ranks: the peers that wait in it (the stuck ranks left out).
        onset_s: when the first of them (or this rank) entered it.
        enqueued, completed: this rank's last enqueued and completed ids in
            the group (-1 without a dump).
        peers_completed: the most any member completed there.
        hows: every way this rank lags, over all its groups.
        groups: every group where it lags.
    """

    rank: int
    how: str
    process_group: str
    pg_desc: str
    collective_seq_id: int
    op: str
    waiting_ranks: tuple[int, ...]
    onset_s: float
    enqueued: int
    completed: int
    peers_completed: int
    hows: tuple[str, ...]
    groups: tuple[str, ...]


@dataclass(frozen=True)
class HangReport:
    """What one dump set says.

    Attributes:
        source: the dump set (directory and prefix).
        t_s: the earliest time the dumps can have been written (the first
            watchdog timeout, or the newest entry, whichever is later); NaN
            when the dumps hold no entries.
        ranks: the ranks that wrote a dump.
        stuck: the ranks that hold the job, by rank.
    """

    source: str
    t_s: float
    ranks: tuple[int, ...]
    stuck: tuple[StuckRank, ...]


@dataclass(frozen=True)
class _Incident:
    rank: int
    how: str
    group: str
    seq: int  # the collective the peers wait in, or the first one this rank did not finish
    waiting: tuple[int, ...]
    enqueued: int
    completed: int
    top_completed: int


def analyse(ds: DumpSet) -> HangReport:
    """The stuck ranks of one dump set (see the module docstring)."""
    dumps = {d.rank: d for d in ds.dumps}
    p2p = {e.pg_name for d in ds.dumps for e in d.entries if e.is_p2p}
    members, desc = _groups(ds.dumps)
    incidents: list[_Incident] = []
    for g in sorted(members):
        if g not in p2p:
            incidents.extend(_group_incidents(g, members[g], dumps))
    finished = _surely_unfinished(incidents)
    waiting = {r for r in dumps if _is_waiting(dumps[r], members, dumps, p2p)}
    culprits = finished | {i.rank for i in incidents
                           if i.how in (NEVER_JOINED, NO_DUMP) and i.rank not in waiting}
    stuck = tuple(_stuck(r, [i for i in incidents if i.rank == r], culprits, desc, dumps)
                  for r in sorted(culprits))
    return HangReport(ds.source, _dump_time(ds.dumps), tuple(sorted(dumps)), stuck)


def _surely_unfinished(incidents: list[_Incident]) -> set[int]:
    """Ranks whose GPU stopped finishing work: behind a peer's completed id by at
    least ``MIN_LAG`` collectives, or behind in two groups or more. One collective
    behind in one group can be the watchdog not having seen a completion yet (seen
    on live gloo dumps taken seconds after the hang)."""
    lag: dict[int, list[int]] = {}
    for i in incidents:
        if i.how == NEVER_FINISHED:
            lag.setdefault(i.rank, []).append(i.top_completed - i.completed)
    return {r for r, lags in lag.items() if max(lags) >= MIN_LAG or len(lags) >= 2}


def _groups(dumps: Iterable[RankDump]) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    members: dict[str, tuple[int, ...]] = {}
    desc: dict[str, str] = {}
    for d in dumps:
        for name, pg in d.groups.items():
            members.setdefault(name, pg.ranks)
            if pg.desc and not desc.get(name):
                desc[name] = pg.desc
    return members, desc


def _counters(g: str, ranks: tuple[int, ...], dumps: dict[int, RankDump]
              ) -> dict[int, tuple[int, int]]:
    out = {}
    for r in ranks:
        pg = dumps[r].groups.get(g) if r in dumps else None
        if pg is not None and pg.enqueued is not None and pg.completed is not None:
            out[r] = (pg.enqueued, pg.completed)
    return out


def _group_incidents(g: str, ranks: tuple[int, ...], dumps: dict[int, RankDump]
                     ) -> list[_Incident]:
    seen = _counters(g, ranks, dumps)
    if len(ranks) < 2 or not seen:
        return []
    top = max(c for _, c in seen.values())
    s = top + 1  # the collective the peers wait in
    waiting = tuple(r for r, (e, c) in sorted(seen.items()) if c < s <= e)
    out = []
    for r, (e, c) in sorted(seen.items()):
        if c < top and e > c:  # a peer completed what this rank enqueued and did not
            joined = e >= s and bool(waiting)
            out.append(_Incident(r, NEVER_FINISHED, g, s if joined else c + 1,
                                 waiting if joined else (), e, c, top))
        if waiting and e < s:
            out.append(_Incident(r, NEVER_JOINED, g, s, waiting, e, c, top))
    absent = [r for r in ranks if r not in dumps]
    if waiting and absent and len(waiting) == len(seen):
        out += [_Incident(r, NO_DUMP, g, s, waiting, -1, -1, top) for r in absent]
    return out


def _is_waiting(d: RankDump, members: dict[str, tuple[int, ...]],
                dumps: dict[int, RankDump], p2p: set[str]) -> bool:
    """Whether a rank has a pending call that no peer has completed (it waits too)."""
    for e in d.entries:
        if e.state == "completed":
            continue
        if e.is_p2p or e.pg_name in p2p:
            return True
        seen = _counters(e.pg_name, members.get(e.pg_name, ()), dumps)
        if not seen or e.seq_id > max(c for _, c in seen.values()):
            return True
    return False


def _stuck(rank: int, mine: list[_Incident], culprits: set[int], desc: dict[str, str],
           dumps: dict[int, RankDump]) -> StuckRank:
    def peers(i: _Incident) -> tuple[int, ...]:
        return tuple(r for r in i.waiting if r not in culprits)

    def onset(i: _Incident) -> float:
        waited = _entry_time(i.group, i.seq, i.waiting, dumps)
        return min(waited, _entry_time(i.group, i.completed + 1, (rank,), dumps))

    best = min(mine, key=lambda i: (-len(peers(i)), onset(i), _num_key(i.group)))
    return StuckRank(
        rank, best.how, best.group, desc.get(best.group, ""), best.seq,
        _op(best.group, best.seq, (*best.waiting, rank), dumps), peers(best), onset(best),
        best.enqueued, best.completed, best.top_completed,
        tuple(sorted({i.how for i in mine})),
        tuple(sorted({i.group for i in mine}, key=_num_key)))


def _num_key(s: str) -> tuple[int, int | str]:
    return (0, int(s)) if s.isdigit() else (1, s)


def _find(g: str, seq: int, ranks: Iterable[int], dumps: dict[int, RankDump]
          ) -> list[FrEntry]:
    return [e for r in ranks if r in dumps for e in dumps[r].entries
            if e.pg_name == g and e.seq_id == seq and not e.is_p2p]


def _entry_time(g: str, seq: int, ranks: Iterable[int], dumps: dict[int, RankDump]) -> float:
    found = _find(g, seq, ranks, dumps)
    return min((e.created_s for e in found), default=math.inf)


def _op(g: str, seq: int, ranks: Iterable[int], dumps: dict[int, RankDump]) -> str:
    found = _find(g, seq, ranks, dumps)
    return found[0].op if found else ""


def _dump_time(dumps: Iterable[RankDump]) -> float:
    entries = [e for d in dumps for e in d.entries]
    if not entries:
        return math.nan
    newest = max(e.created_s for e in entries)
    pending = [e.created_s + e.timeout_s for e in entries if e.state != "completed"]
    return max(newest, min(pending, default=newest))


__all__ = ["NEVER_FINISHED", "NEVER_JOINED", "NO_DUMP", "HangReport", "StuckRank", "analyse"]
