"""Reminders: a due time, a message for the agent, and a delivery record that survives restarts.

The scheduler (``hive_core.schedulers``) delivers due rows as system messages;
a failed delivery counts an attempt, keeps the error and is retried later,
until ``MAX_ATTEMPTS`` when the row is marked ``failed`` for the operator to
retry or cancel.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import apsw

from hive_core.stores.batch import batch_for
from hive_kit.errors import ConflictError, LimitError, NotFoundError
from hive_kit.wire import Reminder

MAX_ATTEMPTS = 5
DEFAULT_PENDING_CAP = 100
_COLS = "id, agent, message, file_path, due_at, created_at, sent_at, attempts, last_error, status"


def _reminder(row: Sequence[Any]) -> Reminder:
    keys = _COLS.split(", ")
    return Reminder.model_validate(dict(zip(keys, row, strict=True)))


class ReminderStore:
    def __init__(
        self,
        conn: apsw.Connection,
        clock: Callable[[], float] = time.time,
        pending_cap: int = DEFAULT_PENDING_CAP,
    ) -> None:
        self._conn = conn
        self._batch = batch_for(conn)
        self._clock = clock
        self.pending_cap = pending_cap

    def add(self, agent: str, message: str, due_at: float, file_path: str | None = None) -> Reminder:
        with self._batch.write():
            pending = self.count_pending(agent)
            if pending >= self.pending_cap:
                raise LimitError(
                    f"{agent} already has {pending} pending reminders (the cap is {self.pending_cap}); "
                    "cancel some with cancel_thread(kind='reminder', id=...) before setting more"
                )
            row = self._conn.execute(
                "INSERT INTO reminders (agent, message, file_path, due_at, created_at) "
                f"VALUES (?, ?, ?, ?, ?) RETURNING {_COLS}",
                (agent, message, file_path, due_at, self._clock()),
            ).fetchone()
        if row is None:  # pragma: no cover - INSERT ... RETURNING always returns the row
            raise NotFoundError("the reminder was not stored; retry")
        return _reminder(row)

    def get(self, rid: int) -> Reminder:
        row = self._conn.execute(f"SELECT {_COLS} FROM reminders WHERE id = ?", (rid,)).fetchone()
        if row is None:
            raise NotFoundError(f"no reminder #{rid}; get_open_threads (or `hive reminders`) lists them")
        return _reminder(row)

    def due(self, now: float, limit: int = 100) -> list[Reminder]:
        rows = self._conn.execute(
            f"SELECT {_COLS} FROM reminders WHERE status = 'pending' AND due_at <= ? ORDER BY due_at LIMIT ?",
            (now, limit),
        ).fetchall()
        return [_reminder(r) for r in rows]

    def next_due(self) -> float | None:
        row = self._conn.execute("SELECT MIN(due_at) FROM reminders WHERE status = 'pending'").fetchone()
        return cast(float | None, row[0]) if row else None

    def mark_sent(self, rid: int) -> Reminder:
        return self._update(
            rid, "status = 'sent', sent_at = ?, attempts = attempts + 1, last_error = NULL", self._clock()
        )

    def mark_failed_attempt(self, rid: int, error: str, retry_at: float) -> Reminder:
        """Count a failed delivery; after MAX_ATTEMPTS the reminder is given up (status failed)."""
        return self._update(
            rid,
            "attempts = attempts + 1, last_error = ?, due_at = ?, "
            f"status = CASE WHEN attempts + 1 >= {MAX_ATTEMPTS} THEN 'failed' ELSE 'pending' END",
            error,
            retry_at,
        )

    def cancel(self, rid: int) -> Reminder:
        with self._batch.write():
            row = self._conn.execute(
                f"UPDATE reminders SET status = 'cancelled' WHERE id = ? AND status IN ('pending', 'failed') "
                f"RETURNING {_COLS}",
                (rid,),
            ).fetchone()
        if row is None:
            current = self.get(rid)
            raise ConflictError(f"reminder #{rid} is already {current.status}; nothing to cancel")
        return _reminder(row)

    def retry(self, rid: int) -> Reminder:
        """Due now with a fresh attempt count (the operator's retry of a failed reminder)."""
        current = self.get(rid)
        if current.status not in ("pending", "failed"):
            raise ConflictError(
                f"reminder #{rid} is {current.status}; only pending or failed ones can be retried"
            )
        return self._update(rid, "status = 'pending', attempts = 0, due_at = ?", self._clock())

    def listing(self, agent: str | None, *, include_done: bool, limit: int) -> list[Reminder]:
        clauses, args = [], []
        if agent is not None:
            clauses.append("agent = ?")
            args.append(agent)
        if not include_done:
            clauses.append("status IN ('pending', 'failed')")
        where = " AND ".join(clauses) or "1"
        rows = self._conn.execute(
            f"SELECT {_COLS} FROM reminders WHERE {where} ORDER BY due_at, id LIMIT ?", (*args, limit)
        ).fetchall()
        return [_reminder(r) for r in rows]

    def count_pending(self, agent: str | None = None) -> int:
        if agent is None:
            row = self._conn.execute("SELECT COUNT(*) FROM reminders WHERE status = 'pending'").fetchone()
        else:
            row = self._conn.execute(
                "SELECT COUNT(*) FROM reminders WHERE status = 'pending' AND agent = ?", (agent,)
            ).fetchone()
        return cast(int, row[0]) if row else 0

    def _update(self, rid: int, assignments: str, *args: Any) -> Reminder:
        with self._batch.write():
            row = self._conn.execute(
                f"UPDATE reminders SET {assignments} WHERE id = ? RETURNING {_COLS}", (*args, rid)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"no reminder #{rid}")
        return _reminder(row)
