"""Opening a store: apsw, WAL, and `PRAGMA user_version` migrations run on open.

Each store is one sqlite file with one ordered list of migrations; the
file's ``user_version`` is how many have run. Migrations run in one
transaction each, so a crash mid-migration leaves the previous version
intact. A file from a *newer* hyperhive is refused rather than damaged.

The harness uses this too (its event bus and turn stats): the module needs
only apsw and the error tree, nothing of the host.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import apsw

from hive_kit.errors import PermanentError

log = logging.getLogger(__name__)

Migration = str | Callable[[apsw.Connection], None]
"""SQL text (may hold several statements) or a function for data migrations."""


def open_db(path: Path, migrations: Sequence[Migration], *, busy_timeout_ms: int = 5000) -> apsw.Connection:
    """Open (creating if needed) and migrate the store at ``path``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = apsw.Connection(str(path))
        conn.setbusytimeout(busy_timeout_ms)
        _journal_wal(conn, busy_timeout_ms)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        # statement and savepoint journals in memory, not in temp files: an INSERT inside the
        # daemon's group-commit transaction went from ~23 to ~9 µs (bench/broker_bench.py)
        conn.execute("PRAGMA temp_store=MEMORY")
    except (OSError, apsw.Error) as exc:
        raise PermanentError(
            f"cannot open the store {path}: {exc}; check that its directory is writable"
        ) from exc
    migrate(conn, migrations, path)
    return conn


def _journal_wal(conn: apsw.Connection, busy_timeout_ms: int) -> None:
    """``PRAGMA journal_mode=WAL``, tried again while another opener of a new file holds it.

    Switching a fresh file to WAL can answer SQLITE_BUSY at once, without the busy handler, when
    another connection is opening the same file (a daemon and a one-shot `hive reconcile`).
    """
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except apsw.BusyError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def user_version(conn: apsw.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: apsw.Connection, migrations: Sequence[Migration], path: Path | str = "?") -> int:
    """Bring ``conn`` up to ``len(migrations)``; returns the number of migrations run."""
    current = user_version(conn)
    target = len(migrations)
    if current > target:
        raise PermanentError(
            f"{path} has schema version {current} but this hyperhive knows only {target}; "
            "upgrade hyperhive (or restore a backup) instead of downgrading"
        )
    ran = 0
    for version in range(current, target):
        # One write transaction per step, taken before looking again: another process (or
        # thread) opening the same new file may have run this step since we first looked.
        conn.execute("BEGIN IMMEDIATE")
        try:
            if user_version(conn) > version:
                conn.execute("COMMIT")
                continue
            step = migrations[version]
            if callable(step):
                step(conn)
            else:
                conn.execute(step)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        ran += 1
    if ran:  # routine on every fresh state dir: one line per database, and only at DEBUG
        log.debug("migrated %s from schema version %d to %d", path, current, target)
    return ran
