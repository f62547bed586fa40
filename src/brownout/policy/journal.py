"""The journal: every decision on disk before anything is executed.

SQLite (stdlib ``sqlite3``) in WAL mode with ``synchronous=FULL``: a commit
returns only after the write-ahead log is fsynced, so a decision that was
committed survives ``kill -9`` and a power cut, and an uncommitted one is
rolled back whole. SQLite rather than DuckDB because several processes must
share the journal (the controller, ``brownout act --approve`` from a shell,
the dashboard): SQLite's file locks allow that, while a DuckDB file admits one
writing process at a time.

Each action is one row keyed by its idempotency key; inserting a key that
exists is a no-op, so re-deciding after a crash never doubles an action.
Statuses: ``awaiting_approval`` -> ``approved`` | ``rejected`` | ``expired``;
``pending`` -> ``executing`` -> ``done`` (``dry_run`` for the dry-run executor)
| ``pending`` (retry) | ``failed`` | ``uncertain`` (crashed mid-call and the
backend cannot say; a person checks). A journal is bound to the executor that
first used it, so a dry run never marks an action done for a real backend.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from brownout.errors import InputError
from brownout.policy.actions import Action, PastAction, Refusal
from brownout.policy.states import NodeStates, Transition
from brownout.policy.statuses import ActionStatus

SCHEMA = """
CREATE TABLE IF NOT EXISTS actions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL, component TEXT NOT NULL, node TEXT NOT NULL,
    finding_id TEXT NOT NULL, finding_kind TEXT NOT NULL, reason TEXT NOT NULL,
    status TEXT NOT NULL, decided_at_s REAL NOT NULL, updated_at_s REAL NOT NULL,
    expires_at_s REAL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS refusals (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at_s REAL NOT NULL, kind TEXT NOT NULL,
    component TEXT NOT NULL, node TEXT NOT NULL, finding_id TEXT NOT NULL,
    rule TEXT NOT NULL, limit_value REAL NOT NULL, observed REAL NOT NULL, detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, node TEXT NOT NULL, from_state TEXT NOT NULL,
    to_state TEXT NOT NULL, at_s REAL NOT NULL, reason TEXT NOT NULL, cause TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_COLS = ("kind, component, node, finding_id, finding_kind, reason, status, decided_at_s,"
         " expires_at_s, attempts, last_error")


@dataclass(frozen=True)
class Entry:
    """One journalled action and where it stands."""

    action: Action
    status: ActionStatus
    decided_at_s: float
    expires_at_s: float | None
    attempts: int
    last_error: str

    def past(self) -> PastAction:
        a = self.action
        return PastAction(a.kind, a.node, a.finding_id, self.decided_at_s, self.status)


class JournalWriteError(InputError):
    """The journal cannot be written (disk full, read-only): nothing was recorded or done."""


class Journal:
    """A durable action journal in one SQLite file.

    Args:
        path: the journal file (created if absent).
    """

    def __init__(self, path: str | Path, executor: str = "") -> None:
        self.path = str(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise InputError(f"{self.path}: cannot open journal ({exc})") from exc
        if executor:
            self._claim(executor)

    def _claim(self, executor: str) -> None:
        """Bind the journal to one executor: a dry run must never stand in for a real one."""
        owner = self.meta("executor")
        if owner and owner != executor:
            self.close()
            raise InputError(f"{self.path}: journal belongs to executor {owner!r},"
                             f" not {executor!r}; use another --journal")
        if not owner:
            self.set_meta("executor", executor)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; a write that cannot be made (disk full) is a JournalWriteError."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise JournalWriteError(f"{self.path}: cannot write the journal ({exc})") from exc
        try:
            yield self._db
        except BaseException as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):  # full, read-only, locked
                raise JournalWriteError(f"{self.path}: cannot write the journal ({exc})"
                                        ) from exc
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise JournalWriteError(f"{self.path}: cannot write the journal ({exc})") from exc

    # writing -------------------------------------------------------------
    def decide(self, decided: Iterable[tuple[Action, ActionStatus, float | None]],
               refusals: Iterable[Refusal], transitions: Iterable[Transition],
               now_s: float) -> list[str]:
        """Record one decision batch atomically; returns the keys that were new.

        Args:
            decided: (action, initial status, expiry time or None).
            refusals: what the guardrails refused (kept for the record).
            transitions: node state changes that go with the decision.
            now_s: decision time.
        """
        new = []
        with self._tx() as db:
            for a, status, expires in decided:
                cur = db.execute(
                    "INSERT OR IGNORE INTO actions (key, kind, component, node, finding_id,"
                    " finding_kind, reason, status, decided_at_s, updated_at_s, expires_at_s)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (a.key, a.kind, a.component, a.node, a.finding_id, a.finding_kind,
                     a.reason, status, now_s, now_s, expires))
                if cur.rowcount:
                    new.append(a.key)
            db.executemany(
                "INSERT INTO refusals (at_s, kind, component, node, finding_id, rule,"
                " limit_value, observed, detail) VALUES (?,?,?,?,?,?,?,?,?)",
                [(now_s, r.action.kind, r.action.component, r.action.node,
                  r.action.finding_id, r.rule, r.limit, r.observed, r.detail) for r in refusals])
            _insert_transitions(db, transitions)
        return new

    def mark(self, key: str, status: ActionStatus, now_s: float, *, error: str = "",
             transitions: Iterable[Transition] = (), attempt: bool = False) -> None:
        """Change an action's status (and record state changes) in one transaction.

        Raises:
            GuardrailError: the move is not in the status transition table.
            InputError: no action has ``key``.
        """
        with self._tx() as db:
            row = db.execute("SELECT status FROM actions WHERE key=?", (key,)).fetchone()
            if row is None:
                raise InputError(f"{self.path}: no action with key {key!r}")
            status = ActionStatus.check(row[0], status)
            db.execute("UPDATE actions SET status=?, updated_at_s=?, last_error=?,"
                       " attempts=attempts+? WHERE key=?",
                       (status, now_s, error, int(attempt), key))
            _insert_transitions(db, transitions)

    def record_transitions(self, transitions: Iterable[Transition]) -> None:
        """Record node state changes that come from observation, not from an action."""
        with self._tx() as db:
            _insert_transitions(db, transitions)

    def approve(self, key: str, now_s: float) -> str:
        """Approve an action awaiting approval; returns its resulting status."""
        return self._resolve(key, now_s, "approved")

    def reject(self, key: str, now_s: float) -> str:
        """Reject an action awaiting approval; returns its resulting status."""
        return self._resolve(key, now_s, "rejected")

    def _resolve(self, key: str, now_s: float, to: str) -> str:
        self.expire(now_s)
        with self._tx() as db:
            row = db.execute("SELECT status FROM actions WHERE key=?", (key,)).fetchone()
            if row is None:
                raise InputError(f"{self.path}: no action with key {key!r}")
            if row[0] == ActionStatus.AWAITING_APPROVAL:
                ActionStatus.check(row[0], to)
                db.execute("UPDATE actions SET status=?, updated_at_s=? WHERE key=?",
                           (to, now_s, key))
                return to
            return str(row[0])

    def expire(self, now_s: float) -> list[str]:
        """Expire every approval request past its deadline; returns their keys."""
        with self._tx() as db:
            keys = [r[0] for r in db.execute(
                "SELECT key FROM actions WHERE status='awaiting_approval' AND expires_at_s<=?",
                (now_s,))]
            db.executemany("UPDATE actions SET status='expired', updated_at_s=? WHERE key=?",
                           [(now_s, k) for k in keys])
        return keys

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # reading -------------------------------------------------------------
    def meta(self, key: str, default: str = "") -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def entries(self, statuses: Iterable[ActionStatus] | None = None) -> list[Entry]:
        """Journalled actions in decision order (optionally only some statuses)."""
        sql = f"SELECT key, {_COLS} FROM actions"  # noqa: S608 - constant column list
        params: tuple[str, ...] = ()
        if statuses is not None:
            params = tuple(statuses)
            sql += f" WHERE status IN ({','.join('?' * len(params))})"
        return [_entry(r) for r in self._db.execute(sql + " ORDER BY seq", params)]

    def entry(self, key: str) -> Entry | None:
        row = self._db.execute(f"SELECT key, {_COLS} FROM actions WHERE key=?",  # noqa: S608
                               (key,)).fetchone()
        return None if row is None else _entry(row)

    def keys(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT key FROM actions")}

    def recent(self, since_s: float) -> tuple[PastAction, ...]:
        """Actions decided at or after ``since_s`` (for cooldowns and windows)."""
        rows = self._db.execute(
            "SELECT kind, node, finding_id, decided_at_s, status FROM actions"
            " WHERE decided_at_s>=? ORDER BY seq", (since_s,))
        return tuple(PastAction(str(k), str(n), str(f), float(t), str(s))
                     for k, n, f, t, s in rows)

    def refusals(self) -> list[tuple[str, str, str, float, float]]:
        """(action kind, component, rule, limit, observed) of every refusal, oldest first."""
        return [(str(a), str(b), str(c), float(d), float(e)) for a, b, c, d, e in
                self._db.execute("SELECT kind, component, rule, limit_value, observed"
                                 " FROM refusals ORDER BY id")]

    def node_states(self) -> NodeStates:
        """Node states rebuilt from the recorded history."""
        history = [Transition(str(n), str(f), str(t), float(at), str(r), str(c))
                   for n, f, t, at, r, c in self._db.execute(
                       "SELECT node, from_state, to_state, at_s, reason, cause"
                       " FROM transitions ORDER BY id")]
        current = {t.node: t.to_state for t in history}
        return NodeStates(current, history)


def _insert_transitions(db: sqlite3.Connection, transitions: Iterable[Transition]) -> None:
    db.executemany(
        "INSERT INTO transitions (node, from_state, to_state, at_s, reason, cause)"
        " VALUES (?,?,?,?,?,?)",
        [(t.node, t.from_state, t.to_state, t.at_s, t.reason, t.cause) for t in transitions])


def _entry(row: tuple[object, ...]) -> Entry:
    (_key, kind, component, node, finding_id, finding_kind, reason, status, decided,
     expires, attempts, error) = row
    action = Action(str(kind), str(component), str(node), str(finding_id), str(reason),
                    str(finding_kind))
    return Entry(action, ActionStatus(status), float(decided),  # type: ignore[arg-type]
                 None if expires is None else float(expires),  # type: ignore[arg-type]
                 int(attempts), str(error))  # type: ignore[call-overload]
