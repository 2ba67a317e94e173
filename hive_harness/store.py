"""The harness's own sqlite opener (apsw, WAL, `user_version` migrations).

The harness may not import `hive_core.db` (it sees only wire, client, launch
and errors), and its two stores are tiny, so it keeps this small twin. Both
files live in the agent's state dir, so they survive restarts and rebuilds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import apsw


class StoreError(RuntimeError):
    """A harness store could not be opened (path and fix in the message)."""


def open_store(path: Path, migrations: Sequence[str]) -> apsw.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = apsw.Connection(str(path))
        conn.setbusytimeout(5000)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        row = conn.execute("PRAGMA user_version").fetchone()
    except apsw.Error as exc:
        raise StoreError(f"cannot open {path}: {exc}; check the state dir is writable") from exc
    current = int(row[0]) if row else 0
    if current > len(migrations):
        raise StoreError(
            f"{path} has schema version {current}, this harness knows {len(migrations)}; "
            "upgrade hyperhive instead of downgrading"
        )
    for version in range(current, len(migrations)):
        with conn:
            conn.execute(migrations[version])
            conn.execute(f"PRAGMA user_version = {version + 1}")
    return conn
