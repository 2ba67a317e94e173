"""Questions: asked of the operator or a peer, answered once, by the target, a watchdog or a cancel.

Resolving is one conditional UPDATE (``WHERE answered_at IS NULL``), so an
answer racing the TTL watchdog or a cancel has exactly one winner and the
loser gets a ConflictError naming who won. Who may answer is decided by the
caller (``hive_core.ops.asking``); this store only keeps the rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import apsw

from hive_core.stores.batch import batch_for
from hive_kit.errors import ConflictError, NotFoundError
from hive_kit.wire import Question

_COLS = (
    "id, asker, target, question, options_json, multi, asked_at, deadline_at, answered_at, answer, answerer"
)


def _question(row: Sequence[Any]) -> Question:
    (qid, asker, target, text, options, multi, asked, deadline, answered, answer, answerer) = row
    return Question(
        id=qid,
        asker=asker,
        target=target,
        question=text,
        options=json.loads(options),
        multi=bool(multi),
        asked_at=asked,
        deadline_at=deadline,
        answered_at=answered,
        answer=answer,
        answerer=answerer,
    )


class QuestionStore:
    def __init__(self, conn: apsw.Connection, clock: Callable[[], float] = time.time) -> None:
        self._conn = conn
        self._batch = batch_for(conn)
        self._clock = clock

    def add(
        self,
        asker: str,
        target: str,
        question: str,
        options: Sequence[str] = (),
        multi: bool = False,
        ttl_seconds: float | None = None,
    ) -> Question:
        now = self._clock()
        deadline = None if ttl_seconds is None else now + ttl_seconds
        with self._batch.write():
            row = self._conn.execute(
                "INSERT INTO questions (asker, target, question, options_json, multi, asked_at, deadline_at) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_COLS}",
                (asker, target, question, json.dumps(list(options)), int(multi), now, deadline),
            ).fetchone()
        if row is None:  # pragma: no cover - INSERT ... RETURNING always returns the row
            raise NotFoundError("the question was not stored; retry")
        return _question(row)

    def get(self, qid: int) -> Question:
        row = self._conn.execute(f"SELECT {_COLS} FROM questions WHERE id = ?", (qid,)).fetchone()
        if row is None:
            raise NotFoundError(f"no question #{qid}; get_open_threads (or `hive questions`) lists open ones")
        return _question(row)

    def resolve(self, qid: int, answer: str, answerer: str) -> Question:
        """Record the one answer; ConflictError if the question was already resolved."""
        with self._batch.write():
            row = self._conn.execute(
                "UPDATE questions SET answered_at = ?, answer = ?, answerer = ? "
                f"WHERE id = ? AND answered_at IS NULL RETURNING {_COLS}",
                (self._clock(), answer, answerer, qid),
            ).fetchone()
        if row is not None:
            return _question(row)
        done = self.get(qid)
        raise ConflictError(
            f"question #{qid} is already resolved: {done.answerer} answered {done.answer!r}; nothing changed"
        )

    def open_asked_by(self, name: str) -> list[Question]:
        return self._select("answered_at IS NULL AND asker = ?", (name,))

    def open_asked_of(self, name: str) -> list[Question]:
        return self._select("answered_at IS NULL AND target = ?", (name,))

    def listing(self, *, include_answered: bool, limit: int) -> list[Question]:
        where = "1" if include_answered else "answered_at IS NULL"
        rows = self._conn.execute(
            f"SELECT {_COLS} FROM questions WHERE {where} ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [_question(r) for r in reversed(rows)]

    def overdue(self, now: float) -> list[Question]:
        return self._select("answered_at IS NULL AND deadline_at <= ?", (now,))

    def next_deadline(self) -> float | None:
        row = self._conn.execute(
            "SELECT MIN(deadline_at) FROM questions WHERE answered_at IS NULL AND deadline_at IS NOT NULL"
        ).fetchone()
        return cast(float | None, row[0]) if row else None

    def count_open(self) -> int:
        row = self._conn.execute("SELECT COUNT(*) FROM questions WHERE answered_at IS NULL").fetchone()
        return cast(int, row[0]) if row else 0

    def _select(self, where: str, args: tuple[Any, ...]) -> list[Question]:
        rows = self._conn.execute(f"SELECT {_COLS} FROM questions WHERE {where} ORDER BY id", args).fetchall()
        return [_question(r) for r in rows]
