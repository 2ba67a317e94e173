"""The per-agent live event bus: every frame gets a monotonic `seq`, the last 2,000 are kept in sqlite.

The agent page subscribes over SSE with ``seq`` as the event id. To resume
(``Last-Event-ID``) without losing or doubling a frame, a subscriber first
registers its queue, then reads history after its last seq, then drains the
queue skipping anything at or below the last seq it sent (``replay``).
``seq`` is sqlite's AUTOINCREMENT rowid, so it keeps rising across restarts
and trims. Only the `serve` process writes this file.

Kinds (UPSTREAM.md "per-agent live events"): turn_start, stream, note,
turn_end, status_changed, model_changed, token_usage_changed,
turn_state_changed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hive_kit.db import open_db

log = logging.getLogger(__name__)

HISTORY_LIMIT = 2000
_QUEUE_LIMIT = 1000
_MIGRATIONS = (
    """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        payload_json TEXT NOT NULL
    );
    """,
)


@dataclass(frozen=True)
class LiveEvent:
    seq: int
    ts: float
    kind: str
    payload: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {**self.payload, "seq": self.seq, "ts": self.ts, "kind": self.kind}


class EventBus:
    def __init__(self, path: Path, *, limit: int = HISTORY_LIMIT) -> None:
        self._conn = open_db(path, _MIGRATIONS)
        self._limit = limit
        self._subscribers: set[asyncio.Queue[LiveEvent | None]] = set()

    def end_streams(self) -> None:
        """Tell every live subscriber to finish (shutdown)."""
        for queue in list(self._subscribers):
            _offer(queue, None, force=True)
        self._subscribers.clear()

    def close(self) -> None:
        self.end_streams()
        self._conn.close()

    @property
    def last_seq(self) -> int:
        row = self._conn.execute("SELECT MAX(seq) FROM events").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def publish(self, kind: str, /, **payload: Any) -> LiveEvent:
        ts = time.time()
        body = json.dumps(payload, default=str)
        with self._conn:
            self._conn.execute(
                "INSERT INTO events (ts, kind, payload_json) VALUES (?, ?, ?)", (ts, kind, body)
            )
            seq = self._conn.last_insert_rowid()
            self._conn.execute("DELETE FROM events WHERE seq <= ?", (seq - self._limit,))
        event = LiveEvent(seq, ts, kind, json.loads(body))
        for queue in list(self._subscribers):
            if not _offer(queue, event):
                # A subscriber this far behind reconnects with Last-Event-ID and loses nothing.
                self._subscribers.discard(queue)
                _offer(queue, None, force=True)
        return event

    def history(self, *, after: int = 0, limit: int = HISTORY_LIMIT) -> list[LiveEvent]:
        """Events with seq > after, oldest first, at most `limit` (the newest ones if more)."""
        rows = self._conn.execute(
            "SELECT seq, ts, kind, payload_json FROM events WHERE seq > ? ORDER BY seq DESC LIMIT ?",
            (after, limit),
        ).fetchall()
        return [LiveEvent(int(s), float(t), str(k), json.loads(p)) for s, t, k, p in reversed(rows)]

    def subscribe(self) -> asyncio.Queue[LiveEvent | None]:
        queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(_QUEUE_LIMIT)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[LiveEvent | None]) -> None:
        self._subscribers.discard(queue)

    async def replay(self, after: int) -> AsyncIterator[LiveEvent]:
        """History after `after`, then live events, each exactly once; ends if the subscriber is dropped."""
        queue = self.subscribe()
        try:
            last = after
            for event in self.history(after=after):
                last = event.seq
                yield event
            while True:
                item = await queue.get()
                if item is None:
                    return
                if item.seq <= last:
                    continue
                last = item.seq
                yield item
        finally:
            self.unsubscribe(queue)


def _offer(queue: asyncio.Queue[LiveEvent | None], item: LiveEvent | None, *, force: bool = False) -> bool:
    try:
        queue.put_nowait(item)
    except asyncio.QueueFull:
        if not force:
            return False
        queue.get_nowait()
        queue.put_nowait(item)
    return True
