"""Per-rank step records (spec/telemetry.md §4), held as columns.

:class:`StepRecords` is time-ordered and columnar like a frame; jobs are
interned to small ids. :func:`read_steps` parses the JSON Lines log, reporting
bad lines with file and line number.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from brownout.errors import ParseError
from brownout.telemetry.problems import Problems
from brownout.telemetry.textio import open_text_lines
from brownout.topology.model import Topology

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]

COLUMNS = ("ts", "job", "step", "rank", "node", "gpu", "compute_s", "comm_s", "stage")


@dataclass(frozen=True)
class StepRecords:
    """Step records in time order.

    Attributes:
        ts: unix seconds when the rank finished the step.
        job: index into ``jobs``.
        step, rank: identity within the job.
        node: topology node index (-1 when the node is unknown).
        gpu: GPU index on the node.
        compute_s, comm_s: seconds of compute and of collectives.
        stage: pipeline stage, -1 when not given.
        jobs: job names.
        node_names: node name per record-level node index when no topology
            is given (otherwise the topology's names apply).
    """

    ts: F64
    job: I32
    step: I64
    rank: I32
    node: I32
    gpu: I32
    compute_s: F64
    comm_s: F64
    stage: I32
    jobs: tuple[str, ...]
    node_names: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @classmethod
    def empty(cls) -> StepRecords:
        f, i = np.zeros(0), np.zeros(0, np.int32)
        return cls(f, i, np.zeros(0, np.int64), i, i, i, f, f, i, ())

    def take(self, index: npt.NDArray[np.intp] | slice) -> StepRecords:
        """A subset of rows (a slice is a view)."""
        return StepRecords(self.ts[index], self.job[index], self.step[index], self.rank[index],
                           self.node[index], self.gpu[index], self.compute_s[index],
                           self.comm_s[index], self.stage[index], self.jobs, self.node_names)

    def window(self, start_s: float, end_s: float) -> StepRecords:
        """Records with ``start_s <= ts < end_s``."""
        lo, hi = np.searchsorted(self.ts, [start_s, end_s], side="left")
        return self.take(slice(int(lo), int(hi)))

    @property
    def step_s(self) -> F64:
        """Wall seconds of each rank's step."""
        return self.compute_s + self.comm_s


def build_steps(rows: Iterable[dict[str, Any]], topology: Topology | None = None) -> StepRecords:
    """Columnar, time-ordered records from already-validated dict rows."""
    jobs: dict[str, int] = {}
    nodes: dict[str, int] = dict(topology.node_index) if topology else {}
    cols: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for r in rows:
        cols["ts"].append(r["ts"])
        cols["job"].append(jobs.setdefault(r["job"], len(jobs)))
        cols["step"].append(r["step"])
        cols["rank"].append(r["rank"])
        node = r.get("node")
        if topology is None:
            cols["node"].append(nodes.setdefault(node, len(nodes)) if node else -1)
        else:
            cols["node"].append(nodes.get(node, -1) if node else -1)
        cols["gpu"].append(r.get("gpu", -1))
        cols["compute_s"].append(r["compute_s"])
        cols["comm_s"].append(r["comm_s"])
        stage = r.get("stage")
        cols["stage"].append(-1 if stage is None else stage)  # null: not pipelined
    return _columns(cols, tuple(jobs), () if topology else tuple(nodes))


def _columns(cols: dict[str, list[Any]], jobs: tuple[str, ...],
             node_names: tuple[str, ...]) -> StepRecords:
    ts = np.array(cols["ts"], dtype=np.float64)
    order = np.argsort(ts, kind="stable")

    def arr(name: str, dtype: type) -> Any:
        return np.array(cols[name], dtype=dtype)[order]

    return StepRecords(ts[order], arr("job", np.int32), arr("step", np.int64),
                       arr("rank", np.int32), arr("node", np.int32), arr("gpu", np.int32),
                       arr("compute_s", np.float64), arr("comm_s", np.float64),
                       arr("stage", np.int32), jobs, node_names)


_REQUIRED = {"ts": float, "job": str, "step": int, "rank": int, "compute_s": float,
             "comm_s": float}


def _check_row(row: Any) -> str | None:
    """What is wrong with one parsed row, or None."""
    if not isinstance(row, dict):
        return "not a JSON object"
    for key, kind in _REQUIRED.items():
        v = row.get(key)
        if v is None:
            return f"missing '{key}'"
        if kind is str and not isinstance(v, str):
            return f"'{key}' must be a string"
        if kind is int and (isinstance(v, bool) or not isinstance(v, int)):
            return f"'{key}' must be an integer"
        if kind is float and (isinstance(v, bool) or not isinstance(v, int | float)
                              or not math.isfinite(v)):
            return f"'{key}' must be a finite number"
    if row["compute_s"] < 0 or row["comm_s"] < 0:
        return "compute_s and comm_s must not be negative"
    node, gpu, stage = row.get("node"), row.get("gpu", 0), row.get("stage")
    if node is not None and not isinstance(node, str):
        return "'node' must be a string"
    if isinstance(gpu, bool) or not isinstance(gpu, int):
        return "'gpu' must be an integer"
    if stage is not None and (isinstance(stage, bool) or not isinstance(stage, int)):
        return "'stage' must be an integer"
    for key, limit in _INT_LIMITS.items():  # the columns' integer widths
        v = row.get(key)
        if isinstance(v, int) and not -limit <= v < limit:
            return f"'{key}' is out of range"
    return None


_INT_LIMITS = {"step": 2**63, "rank": 2**31, "gpu": 2**31, "stage": 2**31}


def iter_step_rows(path: str | Path, problems: Problems, strict: bool = False
                   ) -> Iterator[dict[str, Any]]:
    """Valid rows of a step log; bad lines go to ``problems`` (or raise when strict)."""
    where = str(path)
    for lineno, line in open_text_lines(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            problem = f"not valid JSON ({str(exc).split(':')[0]})"
        else:
            bad = _check_row(row)
            if bad is None:
                yield row
                continue
            problem = bad
        if strict:
            raise ParseError(where, lineno, problem)
        problems.malformed(where, lineno, problem)


def read_steps(path: str | Path, topology: Topology | None = None,
               problems: Problems | None = None, strict: bool = False) -> StepRecords:
    """Read a step-time JSON Lines log (plain or gzip) into :class:`StepRecords`.

    Records whose node is not in ``topology`` are kept with node -1 and the
    node is reported once in ``problems``.
    """
    problems = problems if problems is not None else Problems()
    rows = list(iter_step_rows(path, problems, strict))
    if topology is not None:
        for r in rows:
            node = r.get("node")
            if node and node not in topology.node_index:
                problems.unknown_node(str(node), str(path))
    return build_steps(rows, topology)
