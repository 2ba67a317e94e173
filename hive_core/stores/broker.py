"""Messages: durable, at-least-once, and a parked `recv` that wakes the moment mail lands.

A message's life: sent (row written, in the same transaction as its
``message_sent`` event) → delivered (handed out by ``take``; ``deliveries``
counts how often) → acked (the harness has used it). Delivered-but-unacked
messages go back to undelivered when their agent's harness says ``hello``
(it restarted and lost what it held) and when the daemon starts, so nothing
acknowledged to a sender is ever lost. Waking is an ``asyncio.Event`` per
recipient, set by ``send``: no polling loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import apsw

from hive_core.events import EventLog, MessageDelivered, MessageSent
from hive_core.stores.batch import batch_for
from hive_kit.names import OPERATOR
from hive_kit.tasks import wait_set
from hive_kit.wire import Message

_COLS = "id, sender, recipient, body, in_reply_to, sent_at, delivered_at, acked_at"
RETENTION_S = 30 * 86400
ANSWER_BYTES = 1024 * 1024
"""Message text one answer carries at most (always at least one message), so answers stay small."""


def _budgeted(where: str, order: str) -> str:
    """SQL for the ids of the first ``?`` (limit) rows matching ``where`` whose bodies fit ``?`` bytes.

    The limit is applied first, so the running total reads at most ``limit`` rows.
    """
    return (
        "SELECT id FROM (SELECT id, size, SUM(size) OVER (ORDER BY id "
        f"{order}) AS upto FROM (SELECT id, length(CAST(body AS BLOB)) AS size FROM messages "
        f"WHERE {where} ORDER BY id {order} LIMIT ?)) WHERE upto <= ? OR upto = size"
    )


_KEYS = ("id", "sender", "recipient", "body", "in_reply_to", "sent_at", "delivered_at", "acked_at")


def _message(row: Sequence[Any], **override: Any) -> Message:
    fields = dict(zip(_KEYS, row, strict=True))
    fields.update(override)
    return Message.model_validate(fields)


class Broker:
    def __init__(self, conn: apsw.Connection, events: EventLog, clock: Callable[[], float] = time.time):
        self._conn = conn
        self._batch = batch_for(conn)
        self._events = events
        self._clock = clock
        self._wakers: dict[str, asyncio.Event] = {}

    # ---- writing ---------------------------------------------------------------------------

    def send(
        self, sender: str, recipients: Sequence[str], body: str, in_reply_to: int | None = None
    ) -> list[Message]:
        """Store one message per recipient (atomically) and wake their parked ``recv``s."""
        now = self._clock()
        sent: list[Message] = []
        preview = body[:200]
        with self._batch.write():
            for recipient in recipients:
                row = self._conn.execute(
                    "INSERT INTO messages (sender, recipient, body, in_reply_to, sent_at) "
                    "VALUES (?, ?, ?, ?, ?) RETURNING id",
                    (sender, recipient, body, in_reply_to, now),
                ).fetchone()
                if row is None:
                    continue
                message_id = cast(int, row[0])
                sent.append(
                    Message(
                        id=message_id,
                        sender=sender,
                        recipient=recipient,
                        body=body,
                        in_reply_to=in_reply_to,
                        sent_at=now,
                        delivered_at=None,
                        acked_at=None,
                    )
                )
                self._events.publish(
                    MessageSent(
                        id=message_id,
                        sender=sender,
                        recipient=recipient,
                        in_reply_to=in_reply_to,
                        preview=preview,
                        ts=now,
                    )
                )
        for recipient in recipients:
            self._wake(recipient)
        return sent

    def system(self, recipient: str, body: str, in_reply_to: int | None = None) -> Message:
        """A message from ``system`` (answers, reminders, notices)."""
        return self.send("system", [recipient], body, in_reply_to)[0]

    def _wake(self, recipient: str) -> None:
        waker = self._wakers.pop(recipient, None)
        if waker is not None:
            waker.set()

    def take(self, recipient: str, limit: int) -> list[Message]:
        """Hand out up to ``limit`` undelivered messages, oldest first, marking them delivered.

        The lookup is forced onto the partial index of undelivered mail: the planner
        would otherwise walk the recipient's whole history (every acked message),
        making each ``recv`` slower the longer an agent has lived.
        """
        rows = self._conn.execute(
            f"SELECT {_COLS} FROM messages INDEXED BY messages_undelivered "
            "WHERE recipient = ? AND delivered_at IS NULL ORDER BY id LIMIT ?",
            (recipient, limit),
        ).fetchall()
        if not rows:
            return []
        now = self._clock()
        messages: list[Message] = []
        size = 0
        for row in rows:
            size += len(cast(str, row[3]).encode())
            if messages and size > ANSWER_BYTES:
                break
            messages.append(_message(row, delivered_at=now))
        ids = [m.id for m in messages]
        with self._batch.write():
            self._conn.execute(
                "UPDATE messages SET delivered_at = ?, deliveries = deliveries + 1 "
                f"WHERE id IN ({','.join('?' * len(ids))}) AND delivered_at IS NULL",
                (now, *ids),
            )
            self._events.publish(MessageDelivered(recipient=recipient, ids=ids, ts=now))
        return messages

    async def recv(
        self,
        recipient: str,
        wait_seconds: float | None,
        limit: int,
        gone: Callable[[], bool] = lambda: False,
    ) -> list[Message]:
        """``take``, parking up to ``wait_seconds`` (0/None: answer at once) until mail arrives.

        ``gone`` says the caller hung up while parked: then nothing is taken, so a
        message is never marked delivered to a connection that cannot receive it.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (wait_seconds or 0)
        while True:
            waker = self._wakers.setdefault(recipient, asyncio.Event())
            messages = [] if gone() else self.take(recipient, limit)
            remaining = deadline - loop.time()
            if messages or remaining <= 0 or gone():
                return messages
            await wait_set(waker, remaining)

    def ack(self, recipient: str, ids: Sequence[int]) -> tuple[list[int], list[int]]:
        """Mark the recipient's delivered messages used; returns (acked, unknown) ids."""
        now = self._clock()
        wanted = sorted(set(ids))
        marks = ",".join("?" * len(wanted))
        with self._batch.write():
            rows = self._conn.execute(
                f"UPDATE messages SET acked_at = COALESCE(acked_at, ?) WHERE recipient = ? "
                f"AND delivered_at IS NOT NULL AND id IN ({marks}) RETURNING id",
                (now, recipient, *wanted),
            ).fetchall()
        acked = sorted(cast(int, r[0]) for r in rows)
        return acked, sorted(set(wanted) - set(acked))

    def redeliver(self, recipient: str | None = None) -> int:
        """Put delivered-but-unacked messages back in line (a harness, or the daemon, restarted)."""
        where = "delivered_at IS NOT NULL AND acked_at IS NULL"
        with self._batch.write():
            if recipient is None:
                self._conn.execute(f"UPDATE messages SET delivered_at = NULL WHERE {where}")
            else:
                self._conn.execute(
                    f"UPDATE messages INDEXED BY messages_unacked SET delivered_at = NULL "
                    f"WHERE recipient = ? AND {where}",
                    (recipient,),
                )
            count = self._conn.changes()
        if recipient is not None and count:
            self._wake(recipient)
        return count

    def mark_read(self, recipient: str, ids: Sequence[int]) -> None:
        """Deliver and ack at once (the operator reads its inbox; no harness in between)."""
        if not ids:
            return
        now = self._clock()
        marks = ",".join("?" * len(ids))
        with self._batch.write():
            self._conn.execute(
                "UPDATE messages SET delivered_at = COALESCE(delivered_at, ?), "
                "acked_at = COALESCE(acked_at, ?),"
                f" deliveries = deliveries + (delivered_at IS NULL) WHERE recipient = ? AND id IN ({marks})",
                (now, now, recipient, *ids),
            )

    def vacuum(self, now: float | None = None, retention_s: float = RETENTION_S) -> int:
        """Drop acked messages older than the retention; undelivered or unacked ones are never dropped."""
        cutoff = (self._clock() if now is None else now) - retention_s
        with self._batch.write():
            self._conn.execute(
                "DELETE FROM messages WHERE acked_at IS NOT NULL AND acked_at < ? AND sent_at < ?",
                (cutoff, cutoff),
            )
            dropped: int = self._conn.changes()
        return dropped

    # ---- reading ---------------------------------------------------------------------------

    def get(self, message_id: int) -> Message | None:
        row = self._conn.execute(f"SELECT {_COLS} FROM messages WHERE id = ?", (message_id,)).fetchone()
        return _message(row) if row else None

    def recent(self, name: str, limit: int) -> list[Message]:
        """The latest messages to or from ``name``, oldest first (at most ANSWER_BYTES of text)."""
        mine = (
            "id IN (SELECT id FROM messages WHERE recipient = ? "
            "UNION ALL SELECT id FROM messages WHERE sender = ?)"
        )
        return self._latest(mine, (name, name), limit)

    def inbox(self, recipient: str, limit: int, *, unread_only: bool) -> list[Message]:
        unread = " AND acked_at IS NULL" if unread_only else ""
        return self._latest(f"recipient = ?{unread}", (recipient,), limit)

    def _latest(self, where: str, args: tuple[Any, ...], limit: int) -> list[Message]:
        rows = self._conn.execute(
            f"SELECT {_COLS} FROM messages WHERE id IN ({_budgeted(where, 'DESC')}) ORDER BY id",
            (*args, limit, ANSWER_BYTES),
        ).fetchall()
        return [_message(r) for r in rows]

    def unread_counts(self) -> dict[str, int]:
        """Undelivered messages per recipient (the operator's: unread, i.e. not yet acked).

        Both counts read partial indexes only, so they cost what is pending, not the history.
        """
        rows = self._conn.execute(
            "SELECT recipient, COUNT(*) FROM messages INDEXED BY messages_undelivered "
            "WHERE delivered_at IS NULL GROUP BY recipient"
        ).fetchall()
        counts = {cast(str, r): cast(int, n) for r, n in rows}
        row = self._conn.execute(
            "SELECT COUNT(*) FROM messages INDEXED BY messages_unacked "
            "WHERE recipient = ? AND delivered_at IS NOT NULL AND acked_at IS NULL",
            (OPERATOR,),
        ).fetchone()
        if row and row[0]:
            counts[OPERATOR] = counts.get(OPERATOR, 0) + cast(int, row[0])
        return counts

    def thread(self, message_id: int) -> list[Message]:
        """A message and every reply below it, in id order."""
        rows = self._conn.execute(
            f"WITH RECURSIVE t(id) AS (SELECT ? UNION SELECT m.id FROM messages m JOIN t "
            f"ON m.in_reply_to = t.id) SELECT {_COLS} FROM messages WHERE id IN t ORDER BY id",
            (message_id,),
        ).fetchall()
        return [_message(r) for r in rows]
