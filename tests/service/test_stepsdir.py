"""--steps-dir: new files, appended and partial lines, rotation, truncation, a full intake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from brownout.service.intake import StepIntake
from brownout.service.stepsdir import StepsDirFollower
from brownout.topology.generate import generate_topology

TOPO = generate_topology(4)


def line(step: int, rank: int = 0, **over: Any) -> bytes:
    rec = {"ts": 1_764_000_000.0 + step, "job": "llm", "step": step, "rank": rank,
           "node": f"n{rank % 4 + 1:04d}", "gpu": 0, "compute_s": 0.9, "comm_s": 0.1, **over}
    return json.dumps(rec).encode() + b"\n"


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as fh:
        fh.write(data)


class Harness:
    def __init__(self, root: Path, capacity: int = 10_000) -> None:
        self.intake = StepIntake(TOPO.node_index, capacity_records=capacity)
        self.follower = StepsDirFollower(root, self.intake, grace_polls=1)
        self.steps: list[tuple[int, int]] = []

    def poll(self) -> list[tuple[int, int]]:
        self.follower.poll()
        got = self.intake.drain()
        new = [] if got is None else list(zip(got.rank.tolist(), got.step.tolist(),
                                              strict=True))
        self.steps.extend(new)
        return new


@pytest.fixture
def root(tmp_path: Path) -> Path:
    d = tmp_path / "steps"
    d.mkdir()
    return d


def test_new_files_appended_lines_and_partial_lines(root: Path) -> None:
    h = Harness(root)
    assert h.poll() == []
    (root / "job-a").mkdir()
    a = root / "job-a" / "rank0.jsonl"
    append(a, line(1) + line(2))
    (root / "notes.txt").write_bytes(line(99))  # not *.jsonl: ignored
    assert sorted(h.poll()) == [(0, 1), (0, 2)]
    full = line(3)
    append(a, full[:20])  # the writer is half-way through a line
    assert h.poll() == []
    append(a, full[20:] + line(4))
    assert sorted(h.poll()) == [(0, 3), (0, 4)]
    b = root / "rank1.jsonl"
    append(b, line(1, rank=1))
    assert h.poll() == [(1, 1)]
    assert h.follower.followed() == (str(a), str(b))


def test_rotation_by_rename_loses_and_repeats_nothing(root: Path) -> None:
    h = Harness(root)
    log = root / "steps.jsonl"
    append(log, line(1))
    h.poll()
    append(log, line(2))  # written after the last poll, then the file is rotated away
    log.rename(root / "steps.jsonl.1")
    append(root / "steps.jsonl.1", line(3))  # the writer still holds the old file briefly
    append(log, line(4))  # ... and then reopens the name
    for _ in range(4):
        h.poll()
    assert sorted(s for _, s in h.steps) == [1, 2, 3, 4]
    assert h.follower.followed() == (str(log),)  # the rotated file was closed after the grace


def test_rename_to_another_jsonl_name_goes_on(root: Path) -> None:
    h = Harness(root)
    append(root / "a.jsonl", line(1))
    h.poll()
    (root / "a.jsonl").rename(root / "b.jsonl")
    append(root / "b.jsonl", line(2))
    h.poll()
    assert sorted(s for _, s in h.steps) == [1, 2]


def test_truncation_rereads_without_counting_twice(root: Path) -> None:
    h = Harness(root)
    log = root / "steps.jsonl"
    append(log, line(1) + line(2) + line(3))
    h.poll()
    log.write_bytes(b"")  # copy-truncate
    append(log, line(4))
    h.poll()
    log.write_bytes(line(5) + line(6) + line(7) + line(8))  # rewritten in place, longer
    h.poll()
    assert sorted(s for _, s in h.steps) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert h.intake.stats().duplicate_total == 0


def test_bad_lines_are_named_by_file_and_line(root: Path) -> None:
    h = Harness(root)
    log = root / "steps.jsonl"
    append(log, line(1) + b"garbage\n" + line(2, rank=1, node="zz"))
    append(log, line(3))
    h.poll()
    assert [s for _, s in h.steps] == [1, 3]
    [problem] = h.follower.degraded()
    assert "2 line(s) refused" in problem and f"{log}:3:" in problem
    assert h.intake.stats().rejected_total["unknown_node"] == 1


def test_a_full_intake_keeps_the_lines_for_a_later_poll(root: Path) -> None:
    h = Harness(root, capacity=5)
    append(root / "big.jsonl", b"".join(line(s) for s in range(8)))  # 8 > 5: refused
    h.follower.poll()
    assert h.intake.drain() is None and h.intake.stats().refused_batches_total == 1
    h.follower.read_bytes = len(line(0)) * 4  # smaller reads fit
    for _ in range(3):
        h.poll()
    assert sorted(s for _, s in h.steps) == list(range(8))


def test_records_arrive_in_time_order_across_files(root: Path) -> None:
    h = Harness(root)
    append(root / "r0.jsonl", b"".join(line(s, rank=0) for s in (1, 3, 5)))
    append(root / "r1.jsonl", b"".join(line(s, rank=1) for s in (2, 4)))
    h.follower.poll()
    got = h.intake.drain()
    assert got is not None and bool(np.all(np.diff(got.ts) >= 0))
