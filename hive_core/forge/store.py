"""``forge.sqlite``: the outbox of API calls, what was sent, deliveries seen, and the reports linked to.

Why an outbox: a webhook delivery must be answered at once and the
reconciler must never wait on Forgejo, so the web tier only *writes* what
Forgejo should show (a status, the plan comment) and the sender's task makes
the calls. Rows survive a restart and a forge that is down; a newer payload
for the same key (``status:<sha>:<context>``, ``comment:<pr>``) replaces an
older one not yet sent, and a payload equal to the last one sent for its key
is never queued (Flux's notification controller dedupes alerts the same way),
so a replayed or out-of-order delivery makes no API call at all.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw

from hive_kit.db import open_db
from hive_kit.paths import StateLayout

STORE_FILE = "forge/forge.sqlite"
KEEP_DELIVERIES = 5000
KEEP_CALLS = 200

MIGRATIONS = [
    """
    CREATE TABLE deliveries (id TEXT PRIMARY KEY, at REAL NOT NULL, event TEXT NOT NULL,
                             outcome TEXT NOT NULL DEFAULT '');
    CREATE TABLE outbox (key TEXT PRIMARY KEY, payload TEXT NOT NULL, digest TEXT NOT NULL,
                         attempts INTEGER NOT NULL DEFAULT 0, due REAL NOT NULL,
                         last_error TEXT NOT NULL DEFAULT '', created REAL NOT NULL);
    CREATE TABLE sent (key TEXT PRIMARY KEY, digest TEXT NOT NULL, at REAL NOT NULL, result TEXT,
                       payload TEXT);
    CREATE TABLE calls (seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, key TEXT NOT NULL,
                        ok INTEGER NOT NULL, message TEXT NOT NULL);
    CREATE TABLE comments (pr INTEGER PRIMARY KEY, comment_id INTEGER NOT NULL);
    CREATE TABLE reports (id TEXT PRIMARY KEY, at REAL NOT NULL, revision TEXT NOT NULL,
                          body TEXT NOT NULL);
    """,
    # proposals as pull requests: which PR is which proposal's, and the last comment on each
    # (Forgejo's "close with comment" sends the comment first; it becomes the denial's note)
    """
    CREATE TABLE pulls (pid INTEGER PRIMARY KEY, pr INTEGER NOT NULL UNIQUE, url TEXT NOT NULL,
                        state TEXT NOT NULL);
    CREATE TABLE pr_comments (pr INTEGER PRIMARY KEY, login TEXT NOT NULL, body TEXT NOT NULL,
                              at REAL NOT NULL);
    """,
]


def store_path(layout: StateLayout) -> Path:
    return layout.root / STORE_FILE


def digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Pending:
    """One call waiting in the outbox."""

    key: str
    payload: dict[str, Any]
    digest: str
    attempts: int
    due: float
    last_error: str


@dataclass(frozen=True)
class PullLink:
    """A proposal's pull request in Forgejo; ``state``: open, merged (either side) or closed."""

    pid: int
    pr: int
    url: str
    state: str

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "pr": self.pr, "url": self.url, "state": self.state}


@dataclass(frozen=True)
class CallRecord:
    at: float
    key: str
    ok: bool
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "key": self.key, "ok": self.ok, "message": self.message}


class ForgeStore:
    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn

    @classmethod
    def open(cls, layout: StateLayout) -> ForgeStore:
        path = store_path(layout)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return cls(open_db(path, MIGRATIONS))

    def close(self) -> None:
        self.conn.close()

    # ---- deliveries --------------------------------------------------------------------------

    def first_sight(self, delivery: str, event: str, now: float | None = None) -> bool:
        """Record ``delivery``; False if it was seen before (a replay: do nothing)."""
        with self.conn:
            row = self.conn.execute("SELECT 1 FROM deliveries WHERE id = ?", (delivery,)).fetchone()
            if row is not None:
                return False
            self.conn.execute(
                "INSERT INTO deliveries (id, at, event) VALUES (?, ?, ?)",
                (delivery, now or time.time(), event),
            )
            self.conn.execute(
                "DELETE FROM deliveries WHERE id NOT IN (SELECT id FROM deliveries ORDER BY at DESC LIMIT ?)",
                (KEEP_DELIVERIES,),
            )
        return True

    def delivery_outcome(self, delivery: str, outcome: str) -> None:
        self.conn.execute("UPDATE deliveries SET outcome = ? WHERE id = ?", (outcome, delivery))

    def last_delivery(self) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT id, at, event, outcome FROM deliveries ORDER BY at DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return {
            "delivery": str(row[0]),
            "at": float(row[1] or 0),
            "event": str(row[2]),
            "outcome": str(row[3]),
        }

    # ---- the outbox --------------------------------------------------------------------------

    def enqueue(self, key: str, payload: dict[str, Any], now: float | None = None) -> bool:
        """Queue ``payload`` for ``key``; False when exactly this was already sent or queued."""
        dig = digest(payload)
        with self.conn:
            sent = self.conn.execute("SELECT digest FROM sent WHERE key = ?", (key,)).fetchone()
            queued = self.conn.execute("SELECT digest FROM outbox WHERE key = ?", (key,)).fetchone()
            if (queued is None and sent is not None and sent[0] == dig) or (queued and queued[0] == dig):
                return False
            self.conn.execute(
                "INSERT INTO outbox (key, payload, digest, due, created) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET payload = excluded.payload, digest = excluded.digest, "
                "due = excluded.due",
                (key, json.dumps(payload, sort_keys=True), dig, now or time.time(), now or time.time()),
            )
        return True

    def pending(self) -> list[Pending]:
        rows = self.conn.execute(
            "SELECT key, payload, digest, attempts, due, last_error FROM outbox ORDER BY due, created"
        ).fetchall()
        return [
            Pending(str(r[0]), json.loads(str(r[1])), str(r[2]), int(r[3] or 0), float(r[4] or 0), str(r[5]))
            for r in rows
        ]

    def latest(self, key: str) -> dict[str, Any] | None:
        """The newest payload for ``key``: the one waiting to be sent, else the one last sent."""
        row = self.conn.execute("SELECT payload FROM outbox WHERE key = ?", (key,)).fetchone()
        row = row or self.conn.execute("SELECT payload FROM sent WHERE key = ?", (key,)).fetchone()
        return json.loads(str(row[0])) if row and row[0] else None

    def drop(self, key: str) -> bool:
        """Take ``key``'s waiting row off the outbox (what it would do is moot now)."""
        with self.conn:
            found = self.conn.execute("SELECT 1 FROM outbox WHERE key = ?", (key,)).fetchone()
            self.conn.execute("DELETE FROM outbox WHERE key = ?", (key,))
        return found is not None

    def drop_pending(self) -> int:
        """Empty the outbox (`hive forge disconnect`); how many rows went."""
        with self.conn:
            count = self.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()
            self.conn.execute("DELETE FROM outbox")
        return int(count[0]) if count else 0

    def sent(self, item: Pending, result: dict[str, Any], now: float | None = None) -> None:
        """``item`` went through: off the outbox (unless replaced meanwhile), remembered as sent."""
        when = now or time.time()
        with self.conn:
            self.conn.execute("DELETE FROM outbox WHERE key = ? AND digest = ?", (item.key, item.digest))
            self.conn.execute(
                "INSERT INTO sent (key, digest, at, result, payload) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET digest = excluded.digest, at = excluded.at, "
                "result = excluded.result, payload = excluded.payload",
                (item.key, item.digest, when, json.dumps(result), json.dumps(item.payload, sort_keys=True)),
            )
            self._call(when, item.key, True, str(result.get("summary", "ok")))

    def failed(self, item: Pending, error: str, delay: float, now: float | None = None) -> None:
        when = now or time.time()
        with self.conn:
            self.conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, due = ?, last_error = ? "
                "WHERE key = ? AND digest = ?",
                (when + delay, error, item.key, item.digest),
            )
            self._call(when, item.key, False, error)

    def _call(self, at: float, key: str, ok: bool, message: str) -> None:
        self.conn.execute(
            "INSERT INTO calls (at, key, ok, message) VALUES (?, ?, ?, ?)", (at, key, ok, message)
        )
        self.conn.execute(
            "DELETE FROM calls WHERE seq <= (SELECT MAX(seq) FROM calls) - ?",
            (KEEP_CALLS,),
        )

    def calls(self, limit: int = 20) -> list[CallRecord]:
        rows = self.conn.execute(
            "SELECT at, key, ok, message FROM calls ORDER BY seq DESC LIMIT ?", (limit,)
        ).fetchall()
        return [CallRecord(float(r[0] or 0), str(r[1]), bool(r[2]), str(r[3])) for r in rows]

    def last_error(self) -> CallRecord | None:
        row = self.conn.execute(
            "SELECT at, key, ok, message FROM calls WHERE ok = 0 ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return CallRecord(float(row[0] or 0), str(row[1]), False, str(row[3])) if row else None

    # ---- the plan comment's id, and the reports statuses link to -----------------------------

    def comment_id(self, pr: int) -> int | None:
        row = self.conn.execute("SELECT comment_id FROM comments WHERE pr = ?", (pr,)).fetchone()
        return int(row[0]) if row else None

    def set_comment_id(self, pr: int, comment_id: int) -> None:
        self.conn.execute(
            "INSERT INTO comments (pr, comment_id) VALUES (?, ?) "
            "ON CONFLICT(pr) DO UPDATE SET comment_id = excluded.comment_id",
            (pr, comment_id),
        )

    def save_report(self, report_id: str, revision: str, body: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO reports (id, at, revision, body) VALUES (?, ?, ?, ?)",
            (report_id, time.time(), revision, json.dumps(body)),
        )

    def report(self, report_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT revision, at, body FROM reports WHERE id = ?", (report_id,)
        ).fetchone()
        if row is None:
            return None
        return {"id": report_id, "revision": str(row[0]), "at": float(row[1] or 0), **json.loads(str(row[2]))}

    # ---- proposals' pull requests ------------------------------------------------------------

    def set_pull(self, pid: int, pr: int, url: str, state: str = "open") -> None:
        self.conn.execute(
            "INSERT INTO pulls (pid, pr, url, state) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(pid) DO UPDATE SET pr = excluded.pr, url = excluded.url, state = excluded.state",
            (pid, pr, url, state),
        )

    def set_pull_state(self, pid: int, state: str) -> None:
        self.conn.execute("UPDATE pulls SET state = ? WHERE pid = ?", (state, pid))

    def pulls(self) -> dict[int, PullLink]:
        """Proposal id → its pull request."""
        rows = self.conn.execute("SELECT pid, pr, url, state FROM pulls").fetchall()
        links = [PullLink(int(str(r[0])), int(str(r[1])), str(r[2]), str(r[3])) for r in rows]
        return {link.pid: link for link in links}

    def pull_of_pr(self, pr: int) -> PullLink | None:
        """The proposal whose pull request is ``pr`` (None: a person's pull request, or unknown)."""
        row = self.conn.execute("SELECT pid, pr, url, state FROM pulls WHERE pr = ?", (pr,)).fetchone()
        return PullLink(int(str(row[0])), int(str(row[1])), str(row[2]), str(row[3])) if row else None

    def remember_comment(self, pr: int, login: str, body: str, now: float | None = None) -> None:
        self.conn.execute(
            "INSERT INTO pr_comments (pr, login, body, at) VALUES (?, ?, ?, ?) ON CONFLICT(pr) DO UPDATE "
            "SET login = excluded.login, body = excluded.body, at = excluded.at",
            (pr, login, body, now or time.time()),
        )

    def last_comment(self, pr: int) -> tuple[str, str, float] | None:
        """(login, body, when) of the newest comment a person made on ``pr``."""
        row = self.conn.execute("SELECT login, body, at FROM pr_comments WHERE pr = ?", (pr,)).fetchone()
        return (str(row[0]), str(row[1]), float(row[2])) if row else None
