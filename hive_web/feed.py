"""What the dashboard needs from the host's event channel, as a Protocol.

The dashboard never owns the event log: `hive serve` hands it the host's
`EventLog` (``hive_core.events``). Every live update the browser sees is one
event with a monotonic ``seq``; the SSE stream uses it as the event id, so a
reconnect with ``Last-Event-ID`` resumes exactly where the browser stopped.

``MemoryFeed`` satisfies the same Protocol in memory for a dashboard started
without the daemon (``python -m hive_web``); it forgets everything on exit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class FeedEvent(Protocol):
    @property
    def seq(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def payload(self) -> Mapping[str, Any]: ...
    @property
    def ts(self) -> float: ...


class EventFeed(Protocol):
    def last_seq(self) -> int:
        """The seq of the newest event (0 when there is none)."""

    def read_since(self, seq: int, limit: int = 1000) -> Sequence[FeedEvent]:
        """Events with seq > ``seq``, oldest first, at most ``limit``."""

    def publish(self, kind: str, payload: Mapping[str, Any]) -> FeedEvent:
        """Append an event; subscribers see it at once."""

    def subscribe(self, since: int) -> AsyncIterator[FeedEvent]:
        """Every event with seq > ``since``: the backlog first, then live ones, forever."""


@dataclass(frozen=True)
class MemoryEvent:
    seq: int
    kind: str
    payload: Mapping[str, Any]
    ts: float


@dataclass
class MemoryFeed:
    """An in-memory EventFeed: a list and a condition. For a dashboard run on its own."""

    events: list[MemoryEvent] = field(default_factory=list)
    _changed: asyncio.Condition | None = None

    def last_seq(self) -> int:
        return self.events[-1].seq if self.events else 0

    def read_since(self, seq: int, limit: int = 1000) -> Sequence[MemoryEvent]:
        return [e for e in self.events if e.seq > seq][:limit]

    def publish(self, kind: str, payload: Mapping[str, Any]) -> MemoryEvent:
        event = MemoryEvent(self.last_seq() + 1, kind, dict(payload), time.time())
        self.events.append(event)
        if self._changed is not None:
            asyncio.get_running_loop().create_task(self._notify())
        return event

    async def _notify(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    async def _wait_past(self, seq: int) -> None:
        if self._changed is None:
            self._changed = asyncio.Condition()
        async with self._changed:
            await self._changed.wait_for(lambda: self.last_seq() > seq)

    async def subscribe(self, since: int) -> AsyncIterator[MemoryEvent]:
        if self._changed is None:
            self._changed = asyncio.Condition()
        cursor = since
        while True:
            batch = self.read_since(cursor)
            for event in batch:
                cursor = event.seq
                yield event
            if not batch:
                await self._wait_past(cursor)
