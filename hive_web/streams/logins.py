"""Which agents need a login: followed from the host's ``needs_login`` / ``logged_in`` events.

The fan-out hub feeds every event it reads through ``observe``; ``seed``
replays a recent window of the log once when the dashboard starts, so a badge
raised before a restart is still shown after it.
"""

from __future__ import annotations

from hive_web.feed import EventFeed, FeedEvent

SEED_WINDOW = 5000


class LoginWatch:
    """Which agents said they need a login and have not logged in since."""

    def __init__(self) -> None:
        self.needs_login: set[str] = set()

    def seed(self, feed: EventFeed) -> None:
        head = feed.last_seq
        cursor = max(0, head - SEED_WINDOW)
        while cursor < head:
            batch = feed.read_since(cursor, 500)
            if not batch:
                break
            for event in batch:
                self.observe(event)
            cursor = batch[-1].seq

    def observe(self, event: FeedEvent) -> None:
        agent = getattr(event, "agent", None)
        if event.kind == "needs_login" and isinstance(agent, str):
            self.needs_login.add(agent)
        elif event.kind in ("logged_in", "agent_destroyed") and isinstance(agent, str):
            self.needs_login.discard(agent)
