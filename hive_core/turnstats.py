"""Each agent's cost so far, read from its own ``turn-stats.sqlite`` (written by its harness).

Read by the dashboard and by the manager's ``list_agents``. The file is the
agent's own, so the figure is what the agent reports (issue 14's host-side
ledger will replace it); it is opened read-only and only summed.

Opened read-only and cached by the file's (and its WAL's) mtime and size, so
a 200-agent snapshot opens only the files that changed since the last one.
"""

from __future__ import annotations

import logging
from pathlib import Path

import apsw

log = logging.getLogger(__name__)
STATS_FILE = "turn-stats.sqlite"


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

    def costs(self, state_dirs: dict[str, Path]) -> dict[str, float | None]:
        """``cost`` for each named agent's state dir."""
        return {name: self.cost(path) for name, path in state_dirs.items()}


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
