"""The journal: durable, idempotent by key, approvals that expire, bound to one executor."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brownout.errors import InputError
from brownout.policy.actions import DRAIN_NODE, NOTIFY, Action
from brownout.policy.journal import Journal


def act(node: str, fid: str = "f1", kind: str = DRAIN_NODE) -> Action:
    return Action(kind, node, node, fid, "why")


def test_settings_are_durable(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    assert j._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert j._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    j.close()


def test_same_key_is_kept_once_across_reopen(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    assert j.decide([(act("a"), "pending", None), (act("b"), "pending", None)], [], [], 1.0) \
        == [act("a").key, act("b").key]
    j.close()
    j = Journal(tmp_path / "j.db")
    assert j.decide([(act("a"), "pending", None), (act("c"), "pending", None)], [], [], 2.0) \
        == [act("c").key]
    assert [e.action.node for e in j.entries()] == ["a", "b", "c"]
    assert j.entry(act("a").key).decided_at_s == 1.0  # type: ignore[union-attr]
    j.close()


def test_key_depends_on_what_and_why_not_on_when() -> None:
    assert act("a").key == Action(DRAIN_NODE, "a", "a", "f1", "other words").key
    assert len({act("a").key, act("a", "f2").key, act("a", kind=NOTIFY).key,
                act("b").key}) == 4


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    j._db.execute("CREATE TRIGGER boom BEFORE INSERT ON refusals BEGIN "
                  "SELECT RAISE(ABORT, 'boom'); END")
    from brownout.policy.actions import Refusal
    with pytest.raises(sqlite3.IntegrityError):
        j.decide([(act("a"), "pending", None)], [Refusal(act("b"), "r", 1, 2)], [], 1.0)
    assert j.entries() == []
    j.close()


def test_journal_is_bound_to_its_executor(tmp_path: Path) -> None:
    Journal(tmp_path / "j.db", "dry-run").close()
    with pytest.raises(InputError, match="belongs to executor 'dry-run'"):
        Journal(tmp_path / "j.db", "slurm")
    Journal(tmp_path / "j.db", "dry-run").close()


@given(ttl_s=st.floats(1.0, 1e5), waits=st.lists(st.floats(0.0, 2e5), min_size=1, max_size=5))
def test_approvals_expire_and_cannot_be_approved_late(ttl_s: float, waits: list[float]) -> None:
    j = Journal(":memory:")
    t0 = 1000.0
    keys = []
    for i, _ in enumerate(waits):
        a = act(f"n{i}")
        j.decide([(a, "awaiting_approval", t0 + ttl_s)], [], [], t0)
        keys.append(a.key)
    for key, wait in zip(keys, sorted(waits), strict=True):  # time only moves forward
        status = j.approve(key, t0 + wait)
        assert status == ("approved" if wait < ttl_s else "expired")
    assert j.expire(t0 + 10 * ttl_s + 2e5) == []  # nothing left waiting
    j.close()


def test_reject_and_unknown_key() -> None:
    j = Journal(":memory:")
    j.decide([(act("a"), "awaiting_approval", 50.0)], [], [], 0.0)
    assert j.reject(act("a").key, 10.0) == "rejected"
    assert j.approve(act("a").key, 11.0) == "rejected"
    with pytest.raises(InputError, match="no action"):
        j.approve("nope", 1.0)
    j.close()
