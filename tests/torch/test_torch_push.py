"""The hook's push mode against the real service: delivered, buffered while down, drops counted."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from brownout.clock import ManualClock
from brownout.errors import InputError
from brownout.service.app import create_app
from brownout.service.fake import FakeController
from brownout.service.intake import StepIntake
from brownout.service.runner import ControllerRunner
from brownout.service.server import HttpServer
from brownout.topology.generate import generate_topology
from brownout.torch import (
    PushSettings,
    RankIdentity,
    StepPusher,
    StepTimeCallbackLogic,
    StepTimer,
    push_settings_from_env,
)

TOKEN = "operator-t0ken-for-tests-0123456789abc"
INGEST = "ingest-t0ken-for-tests-0123456789abcd"
TOPO = generate_topology(4)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Controller:
    """The real app (fake controller behind it) with a step intake, on a real port."""

    def __init__(self, port: int, capacity: int = 100_000) -> None:
        self.intake = StepIntake(TOPO.node_index, capacity_records=capacity)
        self.runner = ControllerRunner(lambda: FakeController(TOPO), ManualClock(0.0), 0.05)
        self.runner.start()
        self.server = HttpServer(create_app(self.runner, TOKEN, intake=self.intake,
                                            ingest_token=INGEST), "127.0.0.1", port)
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        self.runner.stop()


@pytest.fixture
def controllers() -> Iterator[Callable[..., Controller]]:
    started: list[Controller] = []

    def start(port: int, **kw: Any) -> Controller:
        started.append(Controller(port, **kw))
        return started[-1]

    yield start
    for c in started:
        c.stop()


def timer_for(pusher: StepPusher, rank: int = 0) -> StepTimer:
    return StepTimer(pusher, RankIdentity("llm", rank, f"n{rank % 4 + 1:04d}", 0),
                     ManualClock(1_764_000_000.0))


def run_steps(timer: StepTimer, steps: range) -> None:
    for n in steps:
        with timer.step(n):
            pass


def wait_for(cond: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert cond()


def test_records_are_delivered(controllers: Callable[..., Controller]) -> None:
    port = free_port()
    ctl = controllers(port)
    pusher = StepPusher(PushSettings(f"http://127.0.0.1:{port}", INGEST), interval_s=0.05)
    timer = timer_for(pusher)
    run_steps(timer, range(30))
    assert pusher.flush() and pusher.sent == 30 and pusher.dropped == 0
    recs = ctl.intake.drain()
    assert recs is not None and recs.step.tolist() == list(range(30))
    timer.close()


def test_buffers_while_down_delivers_on_reconnect_and_reports_drops(
        controllers: Callable[..., Controller]) -> None:
    port = free_port()  # nothing listens yet: the controller is down
    pusher = StepPusher(PushSettings(f"http://127.0.0.1:{port}", INGEST), capacity_records=50,
                        interval_s=0.05, max_backoff_s=0.2)
    timer = timer_for(pusher, rank=1)
    t0 = time.perf_counter()
    run_steps(timer, range(80))
    assert time.perf_counter() - t0 < 0.5  # the steps never waited for the network
    wait_for(lambda: "Connection refused" in pusher.last_error or "Errno" in pusher.last_error)
    assert pusher.dropped == 30 and pusher.sent == 0 and pusher.pending == 50
    ctl = controllers(port)  # the controller comes up
    wait_for(lambda: pusher.pending == 0)
    assert pusher.sent == 50
    recs = ctl.intake.drain()
    assert recs is not None and recs.step.tolist() == list(range(50))  # the oldest kept
    assert ctl.intake.stats().client_dropped_total == 30  # drops reported once
    run_steps(timer, range(80, 85))
    assert pusher.flush() and ctl.intake.stats().client_dropped_total == 30
    pusher.close()


def test_a_full_controller_is_retried_after_retry_after(
        controllers: Callable[..., Controller]) -> None:
    port = free_port()
    ctl = controllers(port, capacity=10)
    pusher = StepPusher(PushSettings(f"http://127.0.0.1:{port}", INGEST), batch_records=10,
                        interval_s=0.05)
    run_steps(timer_for(pusher), range(15))
    wait_for(lambda: ctl.intake.stats().refused_batches_total >= 1)
    assert ctl.intake.drain() is not None  # the controller catches up
    wait_for(lambda: pusher.pending == 0)
    recs = ctl.intake.drain()
    assert pusher.sent == 15 and recs is not None and len(recs) == 5
    pusher.close()


def test_refusals_are_counted_not_retried(controllers: Callable[..., Controller]) -> None:
    port = free_port()
    controllers(port)
    wrong = StepPusher(PushSettings(f"http://127.0.0.1:{port}", "wrong-token-0123456789abcdef"),
                       interval_s=0.05)
    run_steps(timer_for(wrong), range(3))
    wait_for(lambda: wrong.pending == 0)
    assert wrong.failed == 3 and "HTTP 403" in wrong.last_error and INGEST not in repr(wrong)
    unknown = StepPusher(PushSettings(f"http://127.0.0.1:{port}", INGEST), interval_s=0.05)
    t = StepTimer(unknown, RankIdentity("llm", 0, "not-a-node", 0), ManualClock(0.0))
    run_steps(t, range(2))
    assert unknown.flush() and unknown.rejected == 2 and unknown.sent == 0
    wrong.close()
    unknown.close()


def test_lightning_callback_pushes_and_flushes_at_train_end(
        controllers: Callable[..., Controller]) -> None:
    port = free_port()
    ctl = controllers(port)
    pusher = StepPusher(PushSettings(f"http://127.0.0.1:{port}", INGEST), interval_s=60.0)
    cb = StepTimeCallbackLogic(timer_for(pusher))
    trainer = SimpleNamespace(global_step=0, strategy=None)
    for step in range(4):
        trainer.global_step = step
        cb.on_train_batch_start(trainer, None, None, step)
        cb.on_train_batch_end(trainer, None, None, None, step)
    cb.on_train_end(trainer, None)  # the interval is long: only the flush delivers
    recs = ctl.intake.drain()
    assert recs is not None and recs.step.tolist() == [0, 1, 2, 3]
    cb.teardown(trainer, None, "fit")


def test_environment_chooses_push_and_reads_the_token_file(tmp_path: Path) -> None:
    assert push_settings_from_env({}) is None
    tok = tmp_path / "ingest-token"
    tok.write_text(INGEST + "\n")
    env = {"BROWNOUT_URL": "http://127.0.0.1:9/", "BROWNOUT_INGEST_TOKEN_FILE": str(tok),
           "RANK": "3", "LOCAL_RANK": "1", "BROWNOUT_NODE": "n0002", "BROWNOUT_JOB": "j"}
    settings = push_settings_from_env(env)
    assert settings == PushSettings("http://127.0.0.1:9", INGEST)
    assert INGEST not in repr(settings)
    timer = StepTimer.for_rank(tmp_path / "unused-{rank}.jsonl", environ=env)
    assert isinstance(timer.writer, StepPusher) and timer.identity.rank == 3
    timer.writer.close(timeout_s=0.1)
    assert not list(tmp_path.glob("unused-*"))
    with pytest.raises(InputError, match="ingest token"):
        push_settings_from_env({"BROWNOUT_URL": "http://x:1"})
    with pytest.raises(InputError, match="http"):
        push_settings_from_env({"BROWNOUT_URL": "ftp://x", "BROWNOUT_INGEST_TOKEN": "t" * 20})
