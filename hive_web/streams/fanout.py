"""One subscription to the event log, shared by every open stream.

With a subscription per browser, 100 open pages meant 100 sqlite reads and
100 JSON encodings of every event. The hub reads each event once, encodes
its SSE frame once, and hands the same bytes to every stream's queue. A
stream first replays its backlog from the log (``read_since``), then takes
frames from its queue, skipping any seq it already sent: it registers with
the hub *before* reading the backlog, so nothing falls between the two.
A stream whose queue overflows (a stalled browser) is told to go away; its
browser reconnects with Last-Event-ID and catches up from the log.

Hints (``hint``) are the other, lighter channel: "desired state moved,
re-read it". The dashboard does not watch the meta repo itself: the host
core's one watcher (``hive_core.metawatch.MetaWatch``) calls
``desired_hints(fanout)`` on every batch of ref moves.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from hive_core.metawatch import RefsMoved
from hive_web.feed import EventFeed, FeedEvent
from hive_web.streams.logins import LoginWatch

log = logging.getLogger(__name__)
QUEUE_FRAMES = 5000
HINT, HANG_UP = 0, -1
"""Queue items carry a seq; these two mark a hint (always sent) and an overflowed stream."""
BACKLOG_BATCH = 500
HINT_REFS = 50


def event_frame(event: FeedEvent) -> bytes:
    """``id: <seq>`` and ``data: {"seq", "kind", "ts", "payload"}``, ready for the wire."""
    data = event.model_dump(mode="json")
    payload = {k: v for k, v in data.items() if k not in ("seq", "kind", "ts")}
    body = {"seq": event.seq, "kind": event.kind, "ts": event.ts, "payload": payload}
    text = json.dumps(body, separators=(",", ":"), default=str)
    return f"id: {event.seq}\ndata: {text}\n\n".encode()


@dataclass(eq=False)
class Listener:
    queue: asyncio.Queue[tuple[int, bytes]] = field(default_factory=lambda: asyncio.Queue(QUEUE_FRAMES))
    overflowed: bool = False


class Fanout:
    def __init__(self, feed: EventFeed) -> None:
        self.feed = feed
        self.listeners: set[Listener] = set()
        self.logins = LoginWatch()

    async def run(self) -> None:
        """Forever: every new event, encoded once, to every listener."""
        start = self.feed.last_seq
        self.logins.seed(self.feed)
        async for event in self.feed.subscribe(start):
            self.logins.observe(event)
            frame = event_frame(event)
            for listener in list(self.listeners):
                if listener.overflowed:
                    continue
                self._put(listener, event.seq, frame)

    def _put(self, listener: Listener, seq: int, frame: bytes) -> None:
        try:
            listener.queue.put_nowait((seq, frame))
        except asyncio.QueueFull:
            # Too far behind: empty its queue and leave one "hang up" item; the browser
            # reconnects with Last-Event-ID and replays the rest from the log.
            listener.overflowed = True
            self.listeners.discard(listener)
            while not listener.queue.empty():
                listener.queue.get_nowait()
            listener.queue.put_nowait((HANG_UP, b""))

    def hint(self, kind: str, data: dict[str, object]) -> None:
        """A frame with no id (``event: <kind>``) to every open stream; nothing is stored."""
        frame = f"event: {kind}\ndata: {json.dumps(data, default=str)}\n\n".encode()
        for listener in list(self.listeners):
            self._put(listener, HINT, frame)

    def add(self) -> Listener:
        listener = Listener()
        self.listeners.add(listener)
        return listener

    def remove(self, listener: Listener) -> None:
        self.listeners.discard(listener)

    def backlog(self, since: int, until: int) -> list[tuple[int, bytes]]:
        """Frames for seq in (since, until] straight from the log."""
        frames: list[tuple[int, bytes]] = []
        cursor = since
        while cursor < until:
            batch = self.feed.read_since(cursor, BACKLOG_BATCH)
            if not batch:
                break
            frames.extend((e.seq, event_frame(e)) for e in batch if e.seq <= until)
            cursor = batch[-1].seq
        return frames


def desired_hints(fanout: Fanout) -> Callable[[RefsMoved], None]:
    """The meta watch's subscriber: every ref move becomes a ``desired`` hint to every open page."""

    def hint(moved: RefsMoved) -> None:
        fanout.hint("desired", {"revision": moved.main, "refs": list(moved.changed[:HINT_REFS])})

    return hint
