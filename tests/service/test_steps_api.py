"""POST /api/steps on a real uvicorn: ingest token, per-line rejects, 429, dedupe, fuzz."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.service.conftest import TOKEN

from brownout.service.app import create_app
from brownout.service.fake import FakeController
from brownout.service.intake import StepIntake
from brownout.service.runner import ControllerRunner

INGEST = "ingest-t0ken-for-tests-only-0123456789"
NDJSON = {"Content-Type": "application/x-ndjson"}
PUSH = {**NDJSON, "Authorization": f"Bearer {INGEST}"}


def record(rank: int = 0, step: int = 1, **over: Any) -> dict[str, Any]:
    base = {"ts": 1_764_000_000.0 + step, "job": "llm", "step": step, "rank": rank,
            "node": f"n{rank % 8 + 1:04d}", "gpu": rank % 8, "compute_s": 0.9, "comm_s": 0.1}
    return {**base, **over}


def body(*rows: Any) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n"
                    for r in rows)


@pytest.fixture
def intake(fake: FakeController) -> StepIntake:
    return StepIntake(fake.topology.node_index, capacity_records=50)


@pytest.fixture
def pusher(runner: ControllerRunner, intake: StepIntake,
           serve: Callable[..., httpx.Client]) -> httpx.Client:
    return serve(create_app(runner, TOKEN, intake=intake, ingest_token=INGEST))


def test_push_needs_a_token_and_the_ingest_token_only_pushes(
        pusher: httpx.Client, runner: ControllerRunner, intake: StepIntake,
        serve: Callable[..., httpx.Client]) -> None:
    data = body(record())
    assert pusher.post("/api/steps", content=data, headers=NDJSON).status_code == 401
    wrong = {**NDJSON, "Authorization": "Bearer not-the-token-at-all-000000"}
    assert pusher.post("/api/steps", content=data, headers=wrong).status_code == 403
    assert intake.stats().accepted_total == 0
    assert pusher.post("/api/steps", content=data, headers=PUSH).status_code == 202
    # the ingest token approves nothing, and reads nothing where reads need a token
    as_ingest = {"Authorization": f"Bearer {INGEST}"}
    assert pusher.post("/api/approvals/x/approve", headers=as_ingest).status_code == 403
    closed = serve(create_app(runner, TOKEN, open_reads=False, intake=intake,
                              ingest_token=INGEST))
    assert closed.get("/api/findings", headers=as_ingest).status_code == 403
    assert closed.get("/api/findings",
                      headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_bad_lines_are_rejected_alone_with_line_numbers(pusher: httpx.Client,
                                                        intake: StepIntake) -> None:
    data = body(record(0), b"{not json", record(1, node="n9999"), record(2, compute_s=-1.0),
                b"", {**record(3), "rank": "three"}, b"[1, 2]", record(4))
    r = pusher.post("/api/steps", content=data, headers=PUSH)
    assert r.status_code == 202
    got = r.json()
    assert (got["accepted"], got["rejected"]) == (2, 5)
    assert [e["line"] for e in got["errors"]] == [2, 3, 4, 6, 7]
    assert "n9999" in got["errors"][1]["error"] and "rank" in got["errors"][3]["error"]
    recs = intake.drain()
    assert recs is not None and sorted(recs.rank.tolist()) == [0, 4]
    rejected = intake.stats().rejected_total
    assert rejected == {"invalid_json": 1, "invalid_record": 3, "unknown_node": 1}


def test_at_most_twenty_errors_are_listed_but_all_counted(pusher: httpx.Client) -> None:
    r = pusher.post("/api/steps", content=b"nope\n" * 50 + body(record()), headers=PUSH)
    got = r.json()
    assert (got["accepted"], got["rejected"], len(got["errors"])) == (1, 50, 20)


def test_full_intake_answers_429_and_takes_nothing(pusher: httpx.Client,
                                                   intake: StepIntake) -> None:
    first = body(*(record(r, step=1) for r in range(40)))
    assert pusher.post("/api/steps", content=first, headers=PUSH).status_code == 202
    second = body(*(record(r, step=2) for r in range(20)))  # 40 + 20 > 50
    r = pusher.post("/api/steps", content=second, headers=PUSH)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    s = intake.stats()
    assert (s.accepted_total, s.queue_records, s.refused_batches_total) == (40, 40, 1)
    recs = intake.drain()
    assert recs is not None and set(recs.step.tolist()) == {1}  # nothing of the refused batch
    assert pusher.post("/api/steps", content=second, headers=PUSH).status_code == 202


def test_a_record_pushed_twice_counts_once(pusher: httpx.Client, intake: StepIntake) -> None:
    data = body(record(0), record(1), record(0))  # a repeat inside the batch too
    assert pusher.post("/api/steps", content=data, headers=PUSH).json()["duplicates"] == 1
    again = pusher.post("/api/steps", content=data, headers=PUSH).json()
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (3, 3, 0)
    other_ts = body(record(0, ts=1_764_000_999.0))  # same job/rank/step, another time: new
    assert pusher.post("/api/steps", content=other_ts, headers=PUSH).json()["duplicates"] == 0
    recs = intake.drain()
    assert recs is not None and len(recs) == 3
    assert intake.stats().duplicate_total == 4


def test_oversized_wrong_type_and_dropped_header(pusher: httpx.Client,
                                                 intake: StepIntake) -> None:
    big = b" " * (8 << 20) + b"\n"
    assert pusher.post("/api/steps", content=big, headers=PUSH).status_code == 413
    plain = {**PUSH, "Content-Type": "application/x-www-form-urlencoded"}
    assert pusher.post("/api/steps", content=body(record()), headers=plain).status_code == 415
    bad = {**PUSH, "Brownout-Dropped-Records": "-3"}
    assert pusher.post("/api/steps", content=body(record()), headers=bad).status_code == 400
    ok = {**PUSH, "Brownout-Dropped-Records": "17"}
    assert pusher.post("/api/steps", content=body(record()), headers=ok).status_code == 202
    assert intake.stats().client_dropped_total == 17


def test_metrics_show_the_intake(pusher: httpx.Client) -> None:
    pusher.post("/api/steps", content=body(record(0), b"x", record(1, node="zz")), headers=PUSH)
    text = pusher.get("/metrics").text
    assert "brownout_intake_records_accepted_total 1" in text
    assert 'brownout_intake_records_rejected_total{reason="invalid_json"} 1' in text
    assert 'brownout_intake_records_rejected_total{reason="unknown_node"} 1' in text
    assert "brownout_intake_queue_records 1" in text
    assert "brownout_intake_lag_seconds" in text


LINE = st.one_of(
    st.binary(max_size=80),
    st.builds(lambda d: json.dumps(d).encode(), st.dictionaries(
        st.sampled_from(["ts", "job", "step", "rank", "node", "gpu", "compute_s", "comm_s",
                         "stage", "x"]),
        st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                  st.floats(allow_nan=True), st.text(max_size=8),
                  st.sampled_from(["n0001", "llm"]), st.lists(st.integers(), max_size=2)))),
    st.builds(lambda r: json.dumps(r).encode(), st.builds(
        record, st.integers(0, 7), st.integers(0, 10**6))),
)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(lines=st.lists(LINE, max_size=12), sep=st.sampled_from([b"\n", b"\r\n"]))
def test_fuzzed_bodies_never_get_a_5xx(pusher: httpx.Client, intake: StepIntake,
                                       lines: list[bytes], sep: bytes) -> None:
    body = sep.join(lines)
    r = pusher.post("/api/steps", content=body, headers=PUSH)
    assert r.status_code in (202, 429), r.text
    if r.status_code == 202:
        got = r.json()  # a generated line may hold newlines itself: count the body's lines
        assert got["accepted"] + got["rejected"] <= body.count(b"\n") + 1
    intake.drain()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


def test_print_ingest_token_is_0600_and_not_the_api_token(state_dir: Path) -> None:
    cmd = [sys.executable, "-m", "brownout.cli.main", "watch", "--state-dir", str(state_dir)]
    a = subprocess.run([*cmd, "--print-ingest-token"], capture_output=True, text=True,
                       timeout=60, check=True)
    again = subprocess.run([*cmd, "--print-ingest-token"], capture_output=True, text=True,
                           timeout=60, check=True)
    api = subprocess.run([*cmd, "--print-token"], capture_output=True, text=True, timeout=60,
                         check=True)
    token = a.stdout.strip().splitlines()[-1]
    path = state_dir / "ingest-token"
    assert token == path.read_text().strip() == again.stdout.strip().splitlines()[-1]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(token) >= 32
    assert token != api.stdout.strip() and token not in a.stderr
