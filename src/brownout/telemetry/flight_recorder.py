"""PyTorch Flight Recorder dumps (spec/telemetry.md section 6), read safely.

When a collective times out, ProcessGroupNCCL writes one dump per rank, named
``<prefix><rank>``: a pickle (or, from ``_dump_nccl_trace_json``, the same
dictionary as JSON) holding ``pg_config`` (process group name -> desc and
member ranks), ``pg_status`` (process-local pg id -> last enqueued and last
completed collective sequence ids) and ``entries`` (recent calls: process
group, sequence ids, op, state, creation time, timeout).

Pickles go through :mod:`brownout.telemetry.safe_pickle` (plain values only,
nothing executed). Every field is then checked for its type; a dump that is
not what it claims gets one :class:`~brownout.errors.ParseError` naming the
file and the field.

``pg_status`` is keyed by the process-local pg id, ``pg_config`` by the
global group name. Entries give the join for the groups they mention; the
rest are paired in creation order (ids and names both grow as groups are
created), and only where that pairing agrees with every entry.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brownout.errors import InputError, ParseError
from brownout.telemetry.safe_pickle import Limits, loads_plain, read_capped

_RANK_SUFFIX = re.compile(r"^(.*?)(\d+)$")
NS = 1e-9


@dataclass(frozen=True)
class FrEntry:
    """One recorded call of one rank.

    Attributes:
        pg_id: the process-local group id (``pg_status``'s key).
        pg_name, pg_desc: the process group (global name, e.g. ``"74"``, and its
            description, e.g. ``EXPERT_MODEL_PARALLEL_GROUP``); the name is
            ``pg_config``'s where the two differ (gloo's default group is
            ``""`` there and ``"0"`` in the entries).
        seq_id: collective sequence id (for point-to-point calls: the p2p one).
        is_p2p: a send or receive rather than a collective.
        op: profiling name, e.g. ``nccl:all_to_all``.
        state: ``scheduled``, ``started`` or ``completed``.
        created_s: unix seconds when the call was enqueued.
        timeout_s: the watchdog timeout of the call.
    """

    pg_id: str
    pg_name: str
    pg_desc: str
    seq_id: int
    is_p2p: bool
    op: str
    state: str
    created_s: float
    timeout_s: float


@dataclass(frozen=True)
class PgState:
    """A process group as one rank saw it.

    Attributes:
        name, desc: the group.
        ranks: its member ranks (global).
        enqueued, completed: last enqueued and completed sequence ids, or
            None when this rank's status could not be joined to the group.
    """

    name: str
    desc: str
    ranks: tuple[int, ...]
    enqueued: int | None
    completed: int | None


@dataclass(frozen=True)
class RankDump:
    """One rank's dump."""

    rank: int
    path: str
    version: str
    groups: Mapping[str, PgState]
    entries: tuple[FrEntry, ...]


@dataclass(frozen=True)
class DumpSet:
    """The dumps of one job (one file prefix), by rank."""

    source: str
    dumps: tuple[RankDump, ...]


def read_dump(path: str | Path, limits: Limits | None = None) -> RankDump:
    """Read and check one dump (pickle or JSON).

    Raises:
        ParseError: the file is unreadable, refused or not a Flight Recorder dump.
    """
    where = str(path)
    raw = _load(Path(path), limits or Limits())
    if not isinstance(raw, dict):
        raise ParseError(where, 0, "not a Flight Recorder dump (top level must be a dict)")
    rank = _rank(Path(path), raw)
    entries = tuple(_entry(e, where, i) for i, e in enumerate(_list(raw, "entries", where)))
    config = _config(raw.get("pg_config"), where)
    status = _status(raw.get("pg_status"), where)
    names = _join(status, config, entries)
    told = {e.pg_id: (e.pg_name, e.pg_desc) for e in entries}
    groups = {}
    for name, (desc, ranks) in config.items():
        pid = next((p for p, n in names.items() if n == name), None)
        e, c = status.get(pid, (None, None)) if pid is not None else (None, None)
        # a group pg_config leaves unnamed (gloo's default) keeps the entries' name
        shown, shown_desc = told.get(pid or "", (pid or name, desc)) if not name else (name, desc)
        groups[shown] = PgState(shown, desc or shown_desc, ranks, e, c)
        names = {p: (shown if n == name else n) for p, n in names.items()}
    entries = tuple(dataclasses.replace(e, pg_name=names[e.pg_id]) if e.pg_id in names else e
                    for e in entries)
    version = raw.get("version", "")
    return RankDump(rank, where, str(version) if isinstance(version, str) else "", groups,
                    entries)


def read_dump_dir(directory: str | Path, limits: Limits | None = None) -> list[DumpSet]:
    """Every dump set under ``directory`` (files named ``<prefix><rank>``, by prefix).

    Files whose names do not end in a rank number (logs, notes) are skipped.

    Raises:
        InputError: the directory cannot be read, or a dump is malformed.
    """
    root = Path(directory)
    if not root.is_dir():
        raise InputError(f"{root}: not a directory of Flight Recorder dumps")
    by_prefix: dict[str, list[RankDump]] = {}
    for path in sorted(root.iterdir()):
        m = _RANK_SUFFIX.match(path.name)
        if m is None or not path.is_file() or path.name.startswith("."):
            continue
        by_prefix.setdefault(m.group(1), []).append(read_dump(path, limits))
    out = []
    for prefix, dumps in sorted(by_prefix.items()):
        ranks = [d.rank for d in dumps]
        if len(set(ranks)) != len(ranks):
            raise InputError(f"{root}: two dumps with prefix {prefix!r} claim the same rank")
        out.append(DumpSet(str(root / prefix), tuple(sorted(dumps, key=lambda d: d.rank))))
    return out


def _load(path: Path, limits: Limits) -> Any:
    """The dump's plain value: JSON when it starts with ``{``, otherwise a pickle."""
    where = str(path)
    data = read_capped(path, limits)
    if data.lstrip()[:1] != b"{":
        return loads_plain(data, where, limits)
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ParseError(where, 0, f"not valid JSON ({' '.join(str(exc).split())[:100]})"
                         ) from None


def _rank(path: Path, raw: Mapping[str, Any]) -> int:
    m = _RANK_SUFFIX.match(path.name)
    from_name = int(m.group(2)) if m else None
    inside = raw.get("rank")
    if isinstance(inside, int) and not isinstance(inside, bool):
        if from_name is not None and inside != from_name:
            raise ParseError(str(path), 0, f"rank {inside} inside, {from_name} in the name")
        return inside
    if from_name is None:
        raise ParseError(str(path), 0, "no rank: the name must end in the rank number")
    return from_name


def _list(raw: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise ParseError(where, 0, f"'{key}' must be a list")
    return value


def _int(v: Any, where: str, field: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ParseError(where, 0, f"{field} must be an integer")
    return v


def _num(v: Any, where: str, field: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ParseError(where, 0, f"{field} must be a number")
    return float(v)


def _entry(e: Any, where: str, i: int) -> FrEntry:
    label = f"entries[{i}]"
    if not isinstance(e, dict):
        raise ParseError(where, 0, f"{label} must be a dict")
    pg = e.get("process_group")
    if not (isinstance(pg, tuple | list) and len(pg) == 2 and all(isinstance(x, str) for x in pg)):
        raise ParseError(where, 0, f"{label}.process_group must be (name, desc)")
    is_p2p = e.get("is_p2p", False)
    op, state = e.get("profiling_name", ""), e.get("state", "")
    if not isinstance(op, str) or not isinstance(state, str) or not isinstance(is_p2p, bool):
        raise ParseError(where, 0, f"{label}: profiling_name, state and is_p2p have bad types")
    seq = e.get("p2p_seq_id" if is_p2p else "collective_seq_id")
    pid = e.get("pg_id")
    return FrEntry(
        pg_id=str(pid) if isinstance(pid, int | str) and not isinstance(pid, bool) else "",
        pg_name=pg[0], pg_desc=pg[1], seq_id=_int(seq, where, f"{label} sequence id"),
        is_p2p=is_p2p, op=op, state=state,
        created_s=_int(e.get("time_created_ns"), where, f"{label}.time_created_ns") * NS,
        timeout_s=_num(e.get("timeout_ms", 0), where, f"{label}.timeout_ms") / 1000.0)


def _ranks(value: Any, where: str, name: str) -> tuple[int, ...]:
    if isinstance(value, str):  # written as a string, "[12, 13, 14, 15]": JSON, never eval
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, list) or not all(
            isinstance(r, int) and not isinstance(r, bool) for r in value):
        raise ParseError(where, 0, f"pg_config[{name!r}].ranks must be a list of ranks")
    return tuple(value)


def _config(raw: Any, where: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    if not isinstance(raw, dict):
        raise ParseError(where, 0, "'pg_config' must be a dict")
    out = {}
    for name, cfg in raw.items():
        if not isinstance(name, str) or not isinstance(cfg, dict):
            raise ParseError(where, 0, "'pg_config' must map names to dicts")
        desc = cfg.get("desc", "")
        out[name] = (desc if isinstance(desc, str) else "", _ranks(cfg.get("ranks"), where, name))
    return out


def _status(raw: Any, where: str) -> dict[str, tuple[int, int]]:
    if not isinstance(raw, dict):
        raise ParseError(where, 0, "'pg_status' must be a dict")
    out = {}
    for pid, st in raw.items():
        if not isinstance(st, dict):
            raise ParseError(where, 0, f"pg_status[{pid!r}] must be a dict")
        out[str(pid)] = (_int(st.get("last_enqueued_collective"), where,
                              f"pg_status[{pid!r}].last_enqueued_collective"),
                         _int(st.get("last_completed_collective"), where,
                              f"pg_status[{pid!r}].last_completed_collective"))
    return out


def _sort_key(s: str) -> tuple[int, int | str]:
    return (0, int(s)) if s.isdigit() else (1, s)


def _join(status: Mapping[str, Any], config: Mapping[str, Any], entries: tuple[FrEntry, ...]
          ) -> dict[str, str]:
    """pg id -> ``pg_config`` name: in creation order where the entries agree, else theirs.

    Entries naming a group ``pg_config`` does not know (gloo's default group)
    cannot contradict the pairing.
    """
    known = {e.pg_id: e.pg_name for e in entries if e.pg_id}
    ids, names = sorted(status, key=_sort_key), sorted(config, key=_sort_key)
    if len(ids) == len(names):
        paired = dict(zip(ids, names, strict=True))
        if all(paired.get(p) == n for p, n in known.items() if n in config):
            return paired
    return {p: n for p, n in known.items() if p in status and n in config}


__all__ = ["DumpSet", "FrEntry", "PgState", "RankDump", "read_dump", "read_dump_dir"]
