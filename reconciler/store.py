"""The reconciler's durable memory: what was applied, what it created, what it did.

Why durable: a restarted daemon must know (1) what each agent runs — the
revision and spec fingerprint last deployed — so it plans a rebuild only when
desired state really changed; (2) which containers hyperhive created — only
those are ever destroyed (Flux's inventory); (3) the last 10 actions per agent
for `hive status` and the dashboard. (Agents' pages are unix sockets now, so
no web port is handed out; ``deploy_ports`` and ``deploy_applied.web_port``
are left from the first schema, unused.)

Lives in `<state>/deploys.sqlite`, not the shared `hive.sqlite`: ``open_db``
versions a file with ``PRAGMA user_version``, which can count only one
store's migrations.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw

from hive_kit.db import open_db

HISTORY_KEEP = 10

_MIGRATIONS = (
    """
    CREATE TABLE deploy_applied(
        name TEXT PRIMARY KEY, revision TEXT NOT NULL, fingerprint TEXT NOT NULL,
        spec_json TEXT NOT NULL, web_port INTEGER NOT NULL DEFAULT 0, deployed_at REAL NOT NULL);
    CREATE TABLE deploy_inventory(
        name TEXT PRIMARY KEY, runtime TEXT NOT NULL, created_at REAL NOT NULL);
    CREATE TABLE deploy_ports(name TEXT PRIMARY KEY, port INTEGER NOT NULL UNIQUE);
    CREATE TABLE deploy_history(
        id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, action TEXT NOT NULL,
        reason TEXT NOT NULL, revision TEXT NOT NULL, started_at REAL NOT NULL,
        duration_ms INTEGER NOT NULL, result TEXT NOT NULL, error TEXT);
    CREATE INDEX deploy_history_by_name ON deploy_history(name, id);
    CREATE TABLE deploy_status(name TEXT PRIMARY KEY, json TEXT NOT NULL);
    """,
)


@dataclass(frozen=True)
class AppliedRow:
    name: str
    revision: str
    fingerprint: str
    spec: dict[str, Any]
    deployed_at: float


@dataclass(frozen=True)
class HistoryRow:
    name: str
    action: str
    reason: str
    revision: str
    started_at: float
    duration_ms: int
    result: str  # "ok" | "failed"
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def open_deploys(path: Path) -> DeployStore:
    """Open (creating and migrating as needed) the deploy store at ``path``."""
    return DeployStore(open_db(path, _MIGRATIONS))


def open_deploys_readonly(path: Path) -> DeployStore | None:
    """For a dry run and `hive status`: reads only, creates no file; None if there is no store yet.

    With no ``-wal`` file beside it nothing is mid-write, so the file is opened
    ``immutable`` (SQLite then makes no ``-wal``/``-shm`` files either);
    otherwise a writer may be live and a plain read-only open sees its commits.
    """
    if not path.exists():
        return None
    mode = "mode=ro" if path.with_name(path.name + "-wal").exists() else "immutable=1"
    conn = apsw.Connection(f"file:{path}?{mode}", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    conn.setbusytimeout(5000)
    return DeployStore(conn)


def deploys_path(root: Path) -> Path:
    """`<state>/deploys.sqlite`: a file of its own, so its ``user_version`` is its own too."""
    return root / "deploys.sqlite"


class DeployStore:
    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn

    def close(self) -> None:
        self.conn.close()

    # ---- applied records ---------------------------------------------------------------------

    def applied(self) -> dict[str, AppliedRow]:
        rows = self.conn.execute(
            "SELECT name, revision, fingerprint, spec_json, deployed_at FROM deploy_applied"
        )
        return {r[0]: AppliedRow(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows}

    def record_applied(self, name: str, revision: str, fingerprint: str, spec: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO deploy_applied(name, revision, fingerprint, spec_json, deployed_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (name, revision, fingerprint, json.dumps(spec, sort_keys=True), time.time()),
        )

    def bump_revision(
        self, names: list[str], revision: str, fingerprints: Mapping[str, str] | None = None
    ) -> None:
        """Agents whose spec did not change between revisions are at the new revision too.

        ``fingerprints`` renews those recorded in an older form (``desired.schema.legacy_fingerprint``).
        """
        new = fingerprints or {}
        with self.conn:
            self.conn.executemany(
                "UPDATE deploy_applied SET revision = ?, fingerprint = COALESCE(?, fingerprint)"
                " WHERE name = ?",
                [(revision, new.get(n), n) for n in names],
            )

    def forget_applied(self, name: str) -> None:
        self.conn.execute("DELETE FROM deploy_applied WHERE name = ?", (name,))

    # ---- inventory ---------------------------------------------------------------------------

    def inventory(self) -> dict[str, str]:
        """Agent name → runtime, for every container hyperhive created and has not destroyed."""
        return {r[0]: r[1] for r in self.conn.execute("SELECT name, runtime FROM deploy_inventory")}

    def add_inventory(self, name: str, runtime: str) -> None:
        """Recorded *before* the container is created, so a crash mid-create still owns it."""
        self.conn.execute(
            "INSERT OR IGNORE INTO deploy_inventory VALUES (?, ?, ?)", (name, runtime, time.time())
        )

    def remove_inventory(self, name: str) -> None:
        self.conn.execute("DELETE FROM deploy_inventory WHERE name = ?", (name,))

    # ---- history -----------------------------------------------------------------------------

    def add_history(self, row: HistoryRow) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT INTO deploy_history(name, action, reason, revision, started_at, duration_ms,"
                " result, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.name,
                    row.action,
                    row.reason,
                    row.revision,
                    row.started_at,
                    row.duration_ms,
                    row.result,
                    row.error,
                ),
            )
            self.conn.execute(
                "DELETE FROM deploy_history WHERE name = ? AND id NOT IN"
                " (SELECT id FROM deploy_history WHERE name = ? ORDER BY id DESC LIMIT ?)",
                (row.name, row.name, HISTORY_KEEP),
            )

    def history(self, name: str) -> list[HistoryRow]:
        """Newest first, at most ``HISTORY_KEEP``."""
        rows = self.conn.execute(
            "SELECT name, action, reason, revision, started_at, duration_ms, result, error"
            " FROM deploy_history WHERE name = ? ORDER BY id DESC",
            (name,),
        )
        return [HistoryRow(*r) for r in rows]

    # ---- status (written by the reconciler loop, read by `hive status` and the dashboard) ------

    def save_status(self, rows: dict[str, dict[str, Any]]) -> None:
        with self.conn:
            self.conn.execute("DELETE FROM deploy_status")
            self.conn.executemany(
                "INSERT INTO deploy_status VALUES (?, ?)",
                [(name, json.dumps(data, default=str)) for name, data in rows.items()],
            )

    def status(self) -> dict[str, dict[str, Any]]:
        rows = self.conn.execute("SELECT name, json FROM deploy_status ORDER BY name")
        return {name: json.loads(blob) for name, blob in rows}
