"""Per-agent facts the Swarm row shows beyond desired state and reconcile status.

Cost so far: read from the agent's own ``turn-stats.sqlite`` (written by its
harness) read-only, cached by the file's (and its WAL's) mtime and size, so a 200-agent
snapshot opens only the files that changed since the last one.

Needs login: followed from the host's ``needs_login`` / ``logged_in`` events,
seeded once from the recent log when the dashboard starts.
"""

from __future__ import annotations

import logging
from pathlib import Path

import apsw

from hive_web.feed import EventFeed, FeedEvent

log = logging.getLogger(__name__)
STATS_FILE = "turn-stats.sqlite"
SEED_WINDOW = 5000


class CostCache:
    def __init__(self) -> None:
        self._seen: dict[Path, tuple[tuple[float, int, float, int], float]] = {}

    def cost(self, state_dir: Path) -> float | None:
        """Total cost_usd over every recorded turn, or None if the agent has no stats yet."""
        path = state_dir / STATS_FILE
        try:
            stat = path.stat()
        except OSError:
            return None
        key = (stat.st_mtime, stat.st_size, *_wal_stamp(path))
        known = self._seen.get(path)
        if known is not None and known[0] == key:
            return known[1]
        total = _sum_cost(path)
        if total is not None:
            self._seen[path] = (key, total)
        return total


def _wal_stamp(path: Path) -> tuple[float, int]:
    """New turns land in the -wal file first; its mtime and size change when they do."""
    try:
        wal = path.with_name(path.name + "-wal").stat()
    except OSError:
        return (0.0, 0)
    return (wal.st_mtime, wal.st_size)


def _sum_cost(path: Path) -> float | None:
    try:
        conn = apsw.Connection(f"file:{path}?mode=ro", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
        try:
            row = conn.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM turn_stats").fetchone()
        finally:
            conn.close()
    except apsw.Error as exc:
        log.debug("no cost from %s: %s", path, exc)
        return None
    return float(row[0]) if row else 0.0


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
