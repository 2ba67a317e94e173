"""The core store's schema (`hive.sqlite`): one migration per step, never edited once released.

``PRAGMA user_version`` is the number of steps applied (``hive_kit.db``).
Add a step at the end to change the schema; tests open a file at every older
version and migrate it forward with its rows intact. The reconciler's deploy
history lives in its own file with its own version (``reconciler.store``).
"""

from __future__ import annotations

from pathlib import Path

import apsw

from hive_core.events import MIGRATIONS_EVENTS
from hive_core.identities import MIGRATION_IDENTITIES
from hive_core.stores.budget_holds import MIGRATION_BUDGETS
from hive_core.stores.egress import MIGRATION_EGRESS
from hive_core.stores.spawns import MIGRATION_SPAWNS
from hive_kit.db import Migration, open_db

V1_MESSAGES = """
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    body TEXT NOT NULL,
    in_reply_to INTEGER,
    sent_at REAL NOT NULL,
    delivered_at REAL,
    acked_at REAL,
    deliveries INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_undelivered ON messages(recipient, id) WHERE delivered_at IS NULL;
CREATE INDEX messages_unacked ON messages(recipient, id)
    WHERE delivered_at IS NOT NULL AND acked_at IS NULL;
CREATE INDEX messages_to ON messages(recipient, id);
CREATE INDEX messages_from ON messages(sender, id);
CREATE INDEX messages_thread ON messages(in_reply_to) WHERE in_reply_to IS NOT NULL;
"""

V2_QUESTIONS = """
CREATE TABLE questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    asker TEXT NOT NULL,
    target TEXT NOT NULL,
    question TEXT NOT NULL,
    options_json TEXT NOT NULL DEFAULT '[]',
    multi INTEGER NOT NULL DEFAULT 0,
    asked_at REAL NOT NULL,
    deadline_at REAL,
    answered_at REAL,
    answer TEXT,
    answerer TEXT
);
CREATE INDEX questions_open ON questions(deadline_at) WHERE answered_at IS NULL;
"""

V3_REMINDERS = """
CREATE TABLE reminders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent TEXT NOT NULL,
    message TEXT NOT NULL,
    file_path TEXT,
    due_at REAL NOT NULL,
    created_at REAL NOT NULL,
    sent_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'failed', 'cancelled'))
);
CREATE INDEX reminders_due ON reminders(due_at) WHERE status = 'pending';
CREATE INDEX reminders_agent ON reminders(agent, status);
"""

MIGRATIONS: list[Migration] = [
    V1_MESSAGES,
    V2_QUESTIONS,
    V3_REMINDERS,
    MIGRATIONS_EVENTS,
    MIGRATION_EGRESS,
    MIGRATION_IDENTITIES,
    MIGRATION_SPAWNS,
    MIGRATION_BUDGETS,
]


def open_core_db(path: Path) -> apsw.Connection:
    return open_db(path, MIGRATIONS)
