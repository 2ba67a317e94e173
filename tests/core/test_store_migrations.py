"""The core store migrates from every older schema version with its rows intact."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from hive_core.stores.schema import MIGRATIONS, open_core_db
from hive_kit.db import migrate, user_version
from hive_kit.errors import PermanentError

ROWS = {
    "messages": "INSERT INTO messages (sender, recipient, body, sent_at) VALUES ('a', 'b', 'kept', 1)",
    "questions": (
        "INSERT INTO questions (asker, target, question, asked_at) VALUES ('a', 'operator', 'kept', 1)"
    ),
    "reminders": "INSERT INTO reminders (agent, message, due_at, created_at) VALUES ('a', 'kept', 1, 1)",
    "events": (
        "INSERT INTO events (ts, kind, payload) "
        """VALUES (1, 'needs_login', '{"kind":"needs_login","agent":"a"}')"""
    ),
}


def _tables(conn: apsw.Connection) -> set[str]:
    return {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


@pytest.mark.parametrize("start", range(len(MIGRATIONS)))
def test_every_older_version_migrates_forward_keeping_rows(tmp_path: Path, start: int) -> None:
    path = tmp_path / "hive.sqlite"
    old = apsw.Connection(str(path))
    migrate(old, MIGRATIONS[:start])
    present = [t for t in ROWS if t in _tables(old)]
    for table in present:
        old.execute(ROWS[table])
    old.close()

    conn = open_core_db(path)
    assert user_version(conn) == len(MIGRATIONS)
    assert set(ROWS) <= _tables(conn)
    for table in present:
        assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone() == (1,)
    conn.close()


def test_a_newer_store_is_refused_not_damaged(tmp_path: Path) -> None:
    path = tmp_path / "hive.sqlite"
    conn = open_core_db(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(PermanentError, match="upgrade hyperhive"):
        open_core_db(path)


def test_two_openers_of_a_new_file_at_once_both_succeed(tmp_path: Path) -> None:
    """A daemon and a one-shot `hive reconcile` (or two runtimes' threads) may open a fresh
    hive.sqlite together: each step is taken under a write lock and looked at again, so the
    slower one finds it done instead of failing with "table ... already exists"."""
    import threading

    path = tmp_path / "hive.sqlite"
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_it() -> None:
        try:
            start.wait()
            open_core_db(path).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    conn = open_core_db(path)
    assert user_version(conn) == len(MIGRATIONS)
