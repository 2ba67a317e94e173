"""The spawn log: every agent the manager asked to add, for hive.json's ``max_spawns_per_day``.

A row is written when the manager's ``request_spawn`` or ``propose`` (with
``add_agent`` ops) is recorded as a proposal, whether or not the operator later
approves it: the cap bounds how fast the manager fans out, and a request the
operator turns down still cost the operator a look. The day is the UTC
calendar day; the count resets at 00:00 UTC. The rows live in the host's
``hive.sqlite``, which no agent can reach, and survive purges and restarts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import cast

import apsw

from hive_core.stores.batch import batch_for

MIGRATION_SPAWNS = """
CREATE TABLE spawns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent TEXT NOT NULL,
    by TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX spawns_at ON spawns(at);
"""
"""Part of the core store's migrations (hive_core.stores.schema)."""


def day_bounds(now: float) -> tuple[float, float]:
    """The UTC day holding ``now``: (its 00:00, the next 00:00), unix seconds."""
    start = dt.datetime.fromtimestamp(now, dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start.timestamp(), (start + dt.timedelta(days=1)).timestamp()


class SpawnLog:
    def __init__(self, conn: apsw.Connection) -> None:
        self._conn = conn
        self._batch = batch_for(conn)

    def count_since(self, since: float) -> int:
        row = self._conn.execute("SELECT count(*) FROM spawns WHERE at >= ?", (since,)).fetchone()
        return cast(int, row[0]) if row else 0

    def record(self, agents: Sequence[str], by: str, at: float) -> list[int]:
        self._batch.begin()
        sql = "INSERT INTO spawns (agent, by, at) VALUES (?, ?, ?) RETURNING id"
        return [cast(int, self._conn.execute(sql, (agent, by, at)).fetchall()[0][0]) for agent in agents]

    def forget(self, ids: Sequence[int]) -> None:
        """Take back rows whose proposal was never recorded (the write failed)."""
        self._batch.begin()
        self._conn.executemany("DELETE FROM spawns WHERE id = ?", [(i,) for i in ids])
