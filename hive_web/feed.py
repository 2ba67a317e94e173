"""What the dashboard needs from the host's event log, as a Protocol, and the hint channel.

The dashboard never owns the event log: `hive serve` hands it the host's
`hive_core.events.EventLog`. Every durable update the browser sees is one
event with a monotonic ``seq``; the SSE stream uses it as the event id, so a
reconnect with ``Last-Event-ID`` resumes exactly where the browser stopped.

Hints (``hive_web.streams.fanout.Fanout.hint``) are the other, lighter channel:
"desired state moved, re-read it". Desired state lives in git, not in the
event log, so a hint carries no data the page could lose; a page that
reconnects simply re-reads its snapshot.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol


class FeedEvent(Protocol):
    """One event of the host's log (a pydantic model in `hive_core.events`)."""

    @property
    def seq(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def ts(self) -> float: ...
    def model_dump(self, *, mode: str = ...) -> dict[str, Any]: ...


class EventFeed(Protocol):
    @property
    def last_seq(self) -> int:
        """The seq of the newest event (0 when there is none)."""

    def read_since(self, seq: int, limit: int = 500) -> Sequence[FeedEvent]:
        """Events with seq > ``seq``, oldest first, at most ``limit``."""

    def subscribe(self, since: int = 0, batch: int = 500) -> AsyncIterator[FeedEvent]:
        """Every event with seq > ``since``: the backlog first, then live ones, forever."""
