"""The egress log: every connection an agent asked the host's proxy for, allowed or denied.

One row per connection, written when it ends (bytes each way known), in the
same group commit as everything else the loop turn wrote. The log is the
operator's view of what agents reach (`hive egress NAME`, the agent's page)
and the evidence when an agent tries something it should not. Rows are
trimmed by age and count, like events; agents cannot write here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, cast

import apsw

from hive_core.egress import EgressRecord
from hive_core.stores.batch import batch_for

MIGRATION_EGRESS = """
CREATE TABLE egress (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent TEXT NOT NULL,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    method TEXT NOT NULL,
    allowed INTEGER NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    bytes_up INTEGER NOT NULL DEFAULT 0,
    bytes_down INTEGER NOT NULL DEFAULT 0,
    started REAL NOT NULL,
    ended REAL
);
CREATE INDEX egress_agent ON egress(agent, id);
CREATE INDEX egress_started ON egress(started);
"""
"""Part of the core store's migrations (hive_core.stores.schema)."""

_INSERT_COLS = "agent, host, port, method, allowed, reason, bytes_up, bytes_down, started, ended"
_COLS = f"id, {_INSERT_COLS}"


def _row(row: Sequence[Any]) -> dict[str, Any]:
    rid, agent, host, port, method, allowed, reason, up, down, started, ended = row
    return {
        "id": rid,
        "agent": agent,
        "host": host,
        "port": port,
        "method": method,
        "allowed": bool(allowed),
        "reason": reason,
        "bytes_up": up,
        "bytes_down": down,
        "started": started,
        "ended": ended,
    }


class EgressLog:
    def __init__(self, conn: apsw.Connection, *, max_rows: int = 200_000, max_age_s: float = 14 * 86400):
        self._conn = conn
        self._batch = batch_for(conn)
        self.max_rows = max_rows
        self.max_age_s = max_age_s

    def add(self, rec: EgressRecord) -> int:
        self._batch.begin()
        row = self._conn.execute(
            f"INSERT INTO egress ({_INSERT_COLS}) VALUES ({', '.join('?' * 10)}) RETURNING id",
            (
                rec.agent,
                rec.host,
                rec.port,
                rec.method,
                int(rec.allowed),
                rec.reason,
                rec.bytes_up,
                rec.bytes_down,
                rec.started,
                rec.ended,
            ),
        ).fetchone()
        return int(row[0]) if row else 0

    def recent(self, agent: str, limit: int = 100, *, denied_only: bool = False) -> list[dict[str, Any]]:
        """The agent's latest connections, newest first."""
        where = "agent = ?" + (" AND allowed = 0" if denied_only else "")
        rows = self._conn.execute(
            f"SELECT {_COLS} FROM egress WHERE {where} ORDER BY id DESC LIMIT ?", (agent, limit)
        ).fetchall()
        return [_row(r) for r in rows]

    def summary(self, agent: str, since: float) -> list[dict[str, Any]]:
        """Per host:port since ``since``: connections allowed and denied, bytes each way."""
        rows = self._conn.execute(
            "SELECT host, port, SUM(allowed), SUM(1 - allowed), SUM(bytes_up), SUM(bytes_down), MAX(started)"
            " FROM egress WHERE agent = ? AND started >= ? GROUP BY host, port ORDER BY MAX(started) DESC",
            (agent, since),
        ).fetchall()
        return [
            {
                "host": h,
                "port": p,
                "allowed": cast(int, a),
                "denied": cast(int, d),
                "bytes_up": cast(int, up),
                "bytes_down": cast(int, down),
                "last": last,
            }
            for h, p, a, d, up, down, last in rows
        ]

    def trim(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self._batch.write():
            self._conn.execute("DELETE FROM egress WHERE started < ?", (now - self.max_age_s,))
            aged = self._conn.changes()
            self._conn.execute(
                "DELETE FROM egress WHERE id <= (SELECT MAX(id) FROM egress) - ?", (self.max_rows,)
            )
            counted = self._conn.changes()
        return aged + counted
