"""The intake's parts without HTTP: the column parser against the line reader, the key set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from brownout.service.dedupe import SeenKeys
from brownout.service.intake import IntakeFullError, StepIntake
from brownout.telemetry.problems import Problems
from brownout.telemetry.step_lines import concat_records, parse_step_lines
from brownout.telemetry.steps import read_steps
from brownout.topology.generate import generate_topology

TOPO = generate_topology(4)
FIELD = st.one_of(st.none(), st.booleans(), st.integers(-2**65, 2**65),
                  st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4),
                  st.sampled_from(["n0001", "n0003", "zz"]))


@st.composite
def rows(draw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"ts": draw(st.floats(0, 1e10)), "job": draw(st.sampled_from("ab")),
                           "step": draw(st.integers(0, 50)), "rank": draw(st.integers(0, 9)),
                           "node": draw(st.sampled_from(["n0001", "n0002", "n0004"])),
                           "gpu": draw(st.integers(0, 7)), "compute_s": draw(st.floats(0, 9)),
                           "comm_s": draw(st.floats(0, 9))}
    if draw(st.booleans()):
        row["stage"] = draw(st.one_of(st.none(), st.integers(0, 3)))
    for key in draw(st.lists(st.sampled_from(sorted(row)), max_size=2)):
        row[key] = draw(FIELD)  # a field of any type, often wrong
    return row


@settings(max_examples=60, deadline=None)
@given(st.lists(rows(), max_size=12))
def test_columns_agree_with_the_line_reader(tmp_path_factory: Any, data: list[dict[str, Any]]
                                            ) -> None:
    """The vectorised checks keep exactly the records the per-line reader keeps and places."""
    text = "".join(json.dumps(r) + "\n" for r in data)
    path: Path = tmp_path_factory.mktemp("s") / "s.jsonl"
    path.write_text(text)
    ref = read_steps(path, TOPO, Problems())
    placed = ref.take(np.flatnonzero(ref.node >= 0))  # the intake refuses what it cannot place
    got = parse_step_lines(text.encode(), TOPO.node_index)
    assert len(got.records) + got.n_rejected == len(data)

    def key(r: Any) -> list[tuple[Any, ...]]:
        return sorted(zip(r.ts.tolist(), [r.jobs[j] for j in r.job], r.rank.tolist(),
                          r.step.tolist(), r.node.tolist(), r.gpu.tolist(), r.stage.tolist(),
                          r.compute_s.tolist(), strict=True))

    assert key(got.records) == key(placed)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(0, 400), max_size=40), max_size=30))
def test_seen_keys_never_invent_and_never_forget_recent_keys(batches: list[list[int]]) -> None:
    gen, gens = 64, 3
    seen = SeenKeys(generation_keys=gen, generations=gens, merge_keys=8)
    taken: list[int] = []  # keys added, oldest first
    for batch in batches:
        fresh = seen.fresh(np.array(batch, dtype=np.uint64)).tolist()
        earlier: set[int] = set()
        recent = set(taken[-(gens - 1) * gen:])
        for k, f in zip(batch, fresh, strict=True):
            if not f:  # called a repeat: it was taken before, or earlier in this batch
                assert k in earlier or k in taken
            if k in earlier or k in recent:  # a recent repeat is always recognised
                assert not f
            earlier.add(k)
        new = [k for k, f in zip(batch, fresh, strict=True) if f]
        seen.add(np.array(new, dtype=np.uint64))
        taken.extend(new)
    assert len(seen) <= gens * gen + 8 + 40  # bounded


def test_intake_full_takes_nothing_and_a_retry_is_not_a_duplicate() -> None:
    intake = StepIntake(TOPO.node_index, capacity_records=3)
    line = b'{"ts":%d,"job":"j","step":%d,"rank":0,"node":"n0001","compute_s":1,"comm_s":0}\n'
    batch = b"".join(line % (i, i) for i in range(4))
    try:
        intake.submit(batch)
    except IntakeFullError as exc:
        assert exc.retry_after_s > 0
    else:
        raise AssertionError("a batch larger than the queue must be refused")
    assert intake.drain() is None and intake.stats().accepted_total == 0
    assert intake.submit(batch[:len(batch) // 2]).duplicates == 0  # nothing was remembered


def test_concat_keeps_time_order_and_job_names() -> None:
    a = parse_step_lines(b'{"ts":3,"job":"x","step":1,"rank":0,"node":"n0001","compute_s":1,'
                         b'"comm_s":0}\n', TOPO.node_index).records
    b = parse_step_lines(b'{"ts":1,"job":"y","step":1,"rank":0,"node":"n0002","compute_s":1,'
                         b'"comm_s":0}\n{"ts":5,"job":"x","step":2,"rank":0,"node":"n0001",'
                         b'"compute_s":1,"comm_s":0}\n', TOPO.node_index).records
    c = concat_records([a, b])
    assert c.ts.tolist() == [1, 3, 5]
    assert [c.jobs[j] for j in c.job] == ["y", "x", "x"]
