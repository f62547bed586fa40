"""Step records from NDJSON bytes, checked column by column (spec/telemetry.md §4-5).

The step intake of the live controller (``POST /api/steps``, ``--steps-dir``)
parses many thousands of lines a second. Each line is decoded once (orjson
when it is installed, else the standard library); the fields are then pulled
into columns and checked with numpy, so a batch costs a few list passes rather
than a dozen Python checks per line. Lines that fail a check are rejected
alone, each with its 1-based line number, a reason code (for counting) and a
one-line message; the good lines of the same batch are kept.

Rules beyond :func:`brownout.telemetry.steps.read_steps`: ``node`` is
required and must be a node of the topology (a record that cannot be placed
is rejected, not kept with node -1).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from brownout.telemetry.steps import StepRecords, _check_row

try:  # optional accelerator: 4x faster decoding; the standard library otherwise
    import orjson

    _loads: Callable[[bytes], Any] = orjson.loads
    _DECODE_ERRORS: tuple[type[Exception], ...] = (orjson.JSONDecodeError, ValueError)
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads
    _DECODE_ERRORS = (ValueError,)

INVALID_JSON = "invalid_json"
INVALID_RECORD = "invalid_record"
UNKNOWN_NODE = "unknown_node"
REASONS = (INVALID_JSON, INVALID_RECORD, UNKNOWN_NODE)

_FLOAT_TYPES = frozenset({float, int})
_INT_TYPES = frozenset({int})
_STR_TYPES = frozenset({str})
#: column -> (default when absent, accepted Python types)
_COLUMNS: dict[str, tuple[Any, frozenset[type]]] = {
    "ts": (None, _FLOAT_TYPES), "job": (None, _STR_TYPES), "step": (None, _INT_TYPES),
    "rank": (None, _INT_TYPES), "node": (None, _STR_TYPES), "gpu": (-1, _INT_TYPES),
    "compute_s": (None, _FLOAT_TYPES), "comm_s": (None, _FLOAT_TYPES),
    "stage": (None, frozenset({int, type(None)})),
}
_INT32 = 2**31


@dataclass(frozen=True)
class LineError:
    """One rejected line.

    Attributes:
        line: 1-based line number in the batch (or file).
        reason: one of :data:`REASONS`.
        error: what is wrong, in one line.
    """

    line: int
    reason: str
    error: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "error": self.error}


@dataclass(frozen=True)
class ParsedLines:
    """The outcome of parsing one batch of lines.

    Attributes:
        records: the good records, in time order.
        rejected: rejected lines by reason.
        errors: the first rejected lines (at most ``max_errors``), in line order.
    """

    records: StepRecords
    rejected: Mapping[str, int] = field(default_factory=dict)
    errors: tuple[LineError, ...] = ()

    @property
    def n_rejected(self) -> int:
        return sum(self.rejected.values())


class _Rejects:
    def __init__(self, max_errors: int) -> None:
        self.max_errors = max_errors
        self.counts: dict[str, int] = {}
        self.errors: list[LineError] = []

    def add(self, line: int, reason: str, error: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        self.errors.append(LineError(line, reason, error))

    def listed(self) -> tuple[LineError, ...]:
        return tuple(sorted(self.errors, key=lambda e: e.line)[:self.max_errors])


def parse_step_lines(data: bytes, node_index: Mapping[str, int], *, first_line: int = 1,
                     max_errors: int = 20) -> ParsedLines:
    """Parse NDJSON step records; blank lines are skipped, bad lines rejected alone.

    Args:
        data: whole lines (a missing final newline is fine).
        node_index: node name -> topology node index.
        first_line: line number of the first line of ``data``.
        max_errors: rejected lines listed in ``errors`` (all are counted).
    """
    rejects = _Rejects(max_errors)
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    rows, numbers = _decode(lines, first_line, rejects)
    records = _columns(rows, numbers, node_index, rejects)
    return ParsedLines(records, dict(rejects.counts), rejects.listed())


def _decode(lines: list[bytes], first_line: int, rejects: _Rejects
            ) -> tuple[list[Any], list[int]]:
    loads = _loads
    try:  # the common case: every line is JSON, one comprehension
        rows = [loads(ln) for ln in lines]
    except _DECODE_ERRORS:
        pass
    else:
        return rows, list(range(first_line, first_line + len(lines)))
    rows, numbers = [], []
    for i, ln in enumerate(lines):
        if not ln.strip():
            continue
        try:
            rows.append(loads(ln))
        except _DECODE_ERRORS as exc:
            rejects.add(first_line + i, INVALID_JSON,
                        f"not valid JSON ({str(exc).split(':')[0][:80]})")
            continue
        numbers.append(first_line + i)
    return rows, numbers


def _columns(rows: list[Any], numbers: list[int], node_index: Mapping[str, int],
             rejects: _Rejects) -> StepRecords:
    """Pull fields into columns; reject rows of the wrong shape; build the records."""
    if not all(type(r) is dict for r in rows):
        keep = [i for i, r in enumerate(rows) if type(r) is dict]
        for i in sorted(set(range(len(rows))) - set(keep)):
            rejects.add(numbers[i], INVALID_RECORD, "not a JSON object")
        rows, numbers = [rows[i] for i in keep], [numbers[i] for i in keep]
    cols = {name: [r.get(name, default) for r in rows]
            for name, (default, _) in _COLUMNS.items()}
    bad = _type_mask(cols, len(rows))
    if bad.any():
        for j in np.flatnonzero(bad):
            rejects.add(numbers[j], INVALID_RECORD, _explain(rows[j]))
        keep_idx = np.flatnonzero(~bad)
        cols = {k: [v[i] for i in keep_idx] for k, v in cols.items()}
        rows = [rows[i] for i in keep_idx]
        numbers = [numbers[i] for i in keep_idx]
    return _arrays(cols, rows, numbers, node_index, rejects)


def _type_mask(cols: dict[str, list[Any]], n: int) -> npt.NDArray[np.bool_]:
    """Rows with a field of the wrong type (or missing)."""
    bad = np.zeros(n, bool)
    for name, (_, types) in _COLUMNS.items():
        col = cols[name]
        if not set(map(type, col)) <= types:
            bad |= np.fromiter((type(v) not in types for v in col), bool, n)
    return bad


def _explain(row: dict[str, Any]) -> str:
    problem = _check_row(row)
    if problem is not None:
        return problem
    return "missing 'node'" if row.get("node") is None else "bad field types"


def _ints(values: list[Any], limit: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Integers as int64 and the mask of those outside ``[-limit, limit)``."""
    try:
        arr = np.array(values, dtype=np.int64)
    except OverflowError:
        out = np.fromiter((not -limit <= v < limit for v in values), bool, len(values))
        return np.array([0 if o else v for v, o in zip(values, out, strict=True)],
                        dtype=np.int64), out
    return arr, (arr < -limit) | (arr >= limit)


def _arrays(cols: dict[str, list[Any]], rows: list[dict[str, Any]], numbers: list[int],
            node_index: Mapping[str, int], rejects: _Rejects) -> StepRecords:
    ts = np.array(cols["ts"], dtype=np.float64)
    compute = np.array(cols["compute_s"], dtype=np.float64)
    comm = np.array(cols["comm_s"], dtype=np.float64)
    step, bad_step = _ints(cols["step"], 2**63)
    rank, bad_rank = _ints(cols["rank"], _INT32)
    gpu, bad_gpu = _ints(cols["gpu"], _INT32)
    stage_vals = [-1 if s is None else s for s in cols["stage"]]
    stage, bad_stage = _ints(stage_vals, _INT32)
    bad = ~(np.isfinite(ts) & np.isfinite(compute) & np.isfinite(comm))
    bad |= (compute < 0) | (comm < 0) | bad_step | bad_rank | bad_gpu | bad_stage
    for i in np.flatnonzero(bad):
        rejects.add(numbers[i], INVALID_RECORD, _explain(rows[i]))
    node = np.array(list(map(node_index.get, cols["node"], repeat(-1))), dtype=np.int64)
    unknown = (node < 0) & ~bad
    for i in np.flatnonzero(unknown):
        rejects.add(numbers[i], UNKNOWN_NODE,
                    f"node {str(cols['node'][i])[:64]!r} is not in the topology")
    good = ~(bad | unknown)
    jobs = {name: i for i, name in enumerate(dict.fromkeys(cols["job"]))}  # first-seen order
    job = np.array(list(map(jobs.__getitem__, cols["job"])), dtype=np.int64)
    order = np.flatnonzero(good)
    order = order[np.argsort(ts[order], kind="stable")]
    return StepRecords(ts[order], job[order].astype(np.int32), step[order],
                       rank[order].astype(np.int32), node[order].astype(np.int32),
                       gpu[order].astype(np.int32), compute[order], comm[order],
                       stage[order].astype(np.int32), tuple(jobs))


def concat_records(parts: Sequence[StepRecords]) -> StepRecords:
    """Many batches as one, jobs re-interned by name, in time order (one stable sort)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return StepRecords.empty()
    if len(parts) == 1:
        return parts[0]
    jobs: dict[str, int] = {}
    job_cols = []
    for p in parts:
        remap = np.array([jobs.setdefault(name, len(jobs)) for name in p.jobs], dtype=np.int32)
        job_cols.append(remap[p.job])

    def cat(col: str) -> Any:
        return np.concatenate([getattr(p, col) for p in parts])

    ts = cat("ts")
    order = np.argsort(ts, kind="stable")  # sorted runs: a linear merge
    return StepRecords(ts[order], np.concatenate(job_cols)[order], cat("step")[order],
                       cat("rank")[order], cat("node")[order], cat("gpu")[order],
                       cat("compute_s")[order], cat("comm_s")[order], cat("stage")[order],
                       tuple(jobs), parts[0].node_names)
