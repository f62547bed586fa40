"""StepTimer, the log writer and the Lightning callback logic, without torch."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brownout.clock import ManualClock
from brownout.errors import InputError
from brownout.telemetry.problems import Problems
from brownout.telemetry.steps import read_steps
from brownout.torch import (
    RankIdentity,
    StepLogWriter,
    StepTimeCallbackLogic,
    StepTimer,
    identity_from_env,
    lightning_callback,
)


class FakeTimer:
    """A perf_counter the test moves by hand."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _timer(path: Path, flush_every: int = 1, rank: int = 3) -> tuple[StepTimer, FakeTimer]:
    fake = FakeTimer()
    ident = RankIdentity("llm", rank, "n0002", 1)
    return StepTimer(StepLogWriter(path, flush_every), ident, ManualClock(1_764_000_000.0),
                     fake), fake


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(0.001, 5), st.lists(st.floats(0, 2), max_size=3)),
                min_size=1, max_size=6))
def test_compute_and_comm_split_the_step(steps: list[tuple[float, list[float]]]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        timer, fake = _timer(Path(d) / "s.jsonl")
        for n, (compute_s, comms) in enumerate(steps):
            with timer.step(n):
                fake.t += compute_s
                for c in comms:
                    with timer.comm():
                        fake.t += c
        timer.close()
        rows = [json.loads(x) for x in (Path(d) / "s.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(len(steps)))
    for r, (compute_s, comms) in zip(rows, steps, strict=True):
        assert r["compute_s"] == pytest.approx(compute_s, abs=2e-6)
        assert r["comm_s"] == pytest.approx(sum(comms), abs=2e-6)
        assert (r["job"], r["rank"], r["node"], r["gpu"]) == ("llm", 3, "n0002", 1)


def test_ddp_bucket_wait_counts_as_comm(tmp_path: Path) -> None:
    timer, fake = _timer(tmp_path / "s.jsonl")
    timer.begin(7)
    fake.t += 1.0
    timer.bucket_launched()  # early bucket, overlapped with backward
    fake.t += 0.5
    timer.bucket_done()
    fake.t += 1.0
    timer.bucket_launched()  # last bucket: backward is over
    fake.t += 0.75  # blocked on slower peers
    timer.bucket_done()
    fake.t += 0.25  # optimizer step
    rec = timer.end()
    assert rec is not None
    assert rec["comm_s"] == pytest.approx(0.75) and rec["compute_s"] == pytest.approx(2.75)


def test_log_is_read_by_brownout(tmp_path: Path) -> None:
    timer, fake = _timer(tmp_path / "s.jsonl", flush_every=4)
    for n in range(10):
        with timer.step(n):
            fake.t += 0.2
    assert timer.writer.written == 8  # two flushes of 4; 2 still buffered
    timer.close()
    problems = Problems()
    recs = read_steps(tmp_path / "s.jsonl", problems=problems, strict=True)
    assert len(recs) == 10 and problems.malformed_count == 0
    assert recs.compute_s.tolist() == pytest.approx([0.2] * 10)


def test_optional_fields(tmp_path: Path) -> None:
    fake = FakeTimer()
    timer = StepTimer(StepLogWriter(tmp_path / "s.jsonl"), RankIdentity("j", 0, "n1", 0, 2, 5),
                      ManualClock(5.0), fake)
    rec = timer.end()
    assert rec is None  # nothing begun
    with timer.step(1):
        pass
    timer.close()
    row = json.loads((tmp_path / "s.jsonl").read_text())
    assert row["stage"] == 2 and row["dp_rank"] == 5 and row["ts"] == 5.0


def test_failed_step_writes_nothing(tmp_path: Path) -> None:
    timer, _ = _timer(tmp_path / "s.jsonl")
    with pytest.raises(RuntimeError), timer.step(0):
        raise RuntimeError("CUDA error")
    timer.close()
    assert (tmp_path / "s.jsonl").read_text() == ""


def test_shared_file_lines_never_tear(tmp_path: Path) -> None:
    path = tmp_path / "shared.jsonl"
    writers = [StepLogWriter(path, flush_every=7) for _ in range(4)]

    def fill(w: StepLogWriter, rank: int) -> None:
        for n in range(500):
            w.write({"rank": rank, "step": n, "pad": "x" * (rank * 50)})
        w.close()

    threads = [threading.Thread(target=fill, args=(w, r)) for r, w in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 2000
    for r in range(4):
        assert [x["step"] for x in rows if x["rank"] == r] == list(range(500))


def test_identity_from_env() -> None:
    env = {"RANK": "12", "LOCAL_RANK": "4", "SLURMD_NODENAME": "n0042", "SLURM_JOB_NAME": "pt"}
    assert identity_from_env(environ=env) == RankIdentity("pt", 12, "n0042", 4)
    slurm = {"SLURM_PROCID": "3", "SLURM_LOCALID": "1", "BROWNOUT_NODE": "n7"}
    assert identity_from_env("j", environ=slurm) == RankIdentity("j", 3, "n7", 1)


def test_for_rank_fills_the_rank_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "5")
    timer = StepTimer.for_rank(tmp_path / "steps-{rank}.jsonl", job="j", node="n0005")
    with timer.step(0):
        pass
    timer.close()
    assert json.loads((tmp_path / "steps-5.jsonl").read_text())["rank"] == 5


class FakeDdp:
    def __init__(self) -> None:
        self.hooks: list[tuple[Any, Any]] = []

    def register_comm_hook(self, state: Any, hook: Any) -> None:
        self.hooks.append((state, hook))


class FakeFuture:
    def __init__(self, value: Any) -> None:
        self._value = value

    def value(self) -> Any:
        return self._value

    def then(self, fn: Any) -> FakeFuture:
        return FakeFuture(fn(self))


def test_lightning_logic_with_a_fake_trainer(tmp_path: Path) -> None:
    timer, fake = _timer(tmp_path / "s.jsonl")
    cb = StepTimeCallbackLogic(timer, inner_hook=lambda state, bucket: FakeFuture(bucket * 2))
    ddp = FakeDdp()
    trainer = SimpleNamespace(global_step=0, strategy=SimpleNamespace(model=ddp))
    cb.on_train_start(trainer, None)
    assert cb.ddp_hooked and len(ddp.hooks) == 1
    hook = ddp.hooks[0][1]
    for step in (0, 1, 2, 1, 2):  # a restart from the step-1 checkpoint goes back
        trainer.global_step = step
        cb.on_train_batch_start(trainer, None, None, 0)
        fake.t += 0.5
        assert hook(None, 21).value() == 42  # the inner hook's result passes through
        fake.t += 0.1
        cb.on_train_batch_end(trainer, None, None, None, 0)
    cb.on_train_end(trainer, None)
    cb.teardown(trainer, None, "fit")
    rows = [json.loads(x) for x in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2, 1, 2]
    assert all(r["compute_s"] == pytest.approx(0.6) for r in rows)  # fake future: no wait


def test_no_ddp_model_means_no_hook(tmp_path: Path) -> None:
    timer, _ = _timer(tmp_path / "s.jsonl")
    cb = StepTimeCallbackLogic(timer)
    cb.on_train_start(SimpleNamespace(strategy=SimpleNamespace(model=object())), None)
    assert not cb.ddp_hooked
    timer.close()


def test_lightning_callback_without_lightning(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for mod in ("lightning", "lightning.pytorch", "pytorch_lightning"):
        monkeypatch.setitem(sys.modules, mod, None)
    timer, _ = _timer(tmp_path / "s.jsonl")
    with pytest.raises(InputError, match="pip install lightning"):
        lightning_callback(timer)
    timer.close()


def test_lightning_callback_mixes_into_callback(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    class Callback:  # stands in for lightning.pytorch.Callback
        pass

    monkeypatch.setitem(sys.modules, "lightning", None)
    monkeypatch.setitem(sys.modules, "lightning.pytorch", None)
    monkeypatch.setitem(sys.modules, "pytorch_lightning", SimpleNamespace(Callback=Callback))
    timer, _ = _timer(tmp_path / "s.jsonl")
    cb = lightning_callback(timer, time_ddp=False)
    assert isinstance(cb, Callback) and isinstance(cb, StepTimeCallbackLogic)
    timer.close()


def test_package_imports_without_torch() -> None:
    code = ("import sys; sys.modules['torch'] = None; sys.modules['lightning'] = None; "
            "import brownout.torch as bt; print(bt.StepTimer.__name__, 'torch' in sys.modules "
            "and sys.modules['torch'] is not None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.split() == ["StepTimer", "False"]
