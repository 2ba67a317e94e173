"""Turn stats: one sqlite row per claude run, and the windowed summary `/api/stats` serves.

Columns follow upstream's turn_stats (UPSTREAM.md "Stores"), plus cost: what
woke the turn, how it ended, timing, tokens, tool calls with a per-tool
breakdown, and the open threads / pending reminders right after it.
Recording is best-effort: a failing insert is logged, never fatal to the loop.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import apsw

from hive_kit.db import open_db

log = logging.getLogger(__name__)

_MIGRATIONS = (
    """
    CREATE TABLE turn_stats (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        model TEXT NOT NULL,
        wake_from TEXT NOT NULL,
        result_kind TEXT NOT NULL,
        started_at REAL NOT NULL,
        ended_at REAL NOT NULL,
        duration_ms INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cache_read_tokens INTEGER NOT NULL,
        cache_creation_tokens INTEGER NOT NULL,
        cost_usd REAL NOT NULL,
        tool_call_count INTEGER NOT NULL,
        tool_call_breakdown_json TEXT NOT NULL,
        open_threads_count INTEGER,
        open_reminders_count INTEGER,
        note TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX turn_stats_started ON turn_stats (started_at);
    """,
)

WINDOWS = {"1h": 3600.0, "24h": 86400.0, "7d": 7 * 86400.0, "30d": 30 * 86400.0, "all": 0.0}


@dataclass(frozen=True)
class TurnRecord:
    model: str
    wake_from: str
    result_kind: str
    started_at: float
    ended_at: float
    duration_ms: int
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    cost_usd: float = 0.0
    tool_call_count: int = 0
    tool_call_breakdown: dict[str, int] = field(default_factory=dict)
    open_threads_count: int | None = None
    open_reminders_count: int | None = None
    note: str = ""


_COLUMNS = (
    "model, wake_from, result_kind, started_at, ended_at, duration_ms, input_tokens, output_tokens, "
    "cache_read_tokens, cache_creation_tokens, cost_usd, tool_call_count, tool_call_breakdown_json, "
    "open_threads_count, open_reminders_count, note"
)


class TurnStats:
    def __init__(self, path: Path) -> None:
        self._conn = open_db(path, _MIGRATIONS)

    def close(self) -> None:
        self._conn.close()

    def record(self, row: TurnRecord) -> None:
        data = asdict(row)
        data["tool_call_breakdown_json"] = json.dumps(data.pop("tool_call_breakdown"), sort_keys=True)
        names = [c.strip() for c in _COLUMNS.split(",")]
        try:
            with self._conn:
                self._conn.execute(
                    f"INSERT INTO turn_stats ({_COLUMNS}) VALUES ({', '.join('?' * len(names))})",  # noqa: S608
                    tuple(data[n] for n in names),
                )
        except apsw.Error:
            log.exception("could not record turn stats (%s, %s)", row.wake_from, row.result_kind)

    def rows(self, *, since: float = 0.0, limit: int = 500) -> list[dict[str, Any]]:
        cursor = self._conn.execute(
            f"SELECT id, {_COLUMNS} FROM turn_stats WHERE started_at >= ? ORDER BY id DESC LIMIT ?",  # noqa: S608
            (since, limit),
        )
        names = ["id", *(c.strip() for c in _COLUMNS.split(","))]
        out = []
        for values in cursor.fetchall():
            item = dict(zip(names, values, strict=True))
            item["tool_call_breakdown"] = json.loads(str(item.pop("tool_call_breakdown_json")))
            out.append(item)
        return out

    def summary(self, window: str, *, now: float | None = None) -> dict[str, Any]:
        if window not in WINDOWS:
            raise ValueError(f"unknown window {window!r}; use one of {', '.join(WINDOWS)}")
        now = time.time() if now is None else now
        since = now - WINDOWS[window] if WINDOWS[window] else 0.0
        rows = self.rows(since=since, limit=100_000)
        return {"window": window, "since": since, **summarize(rows), "turns": rows[:200]}


def _percentile(values: list[int], pct: float) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct * (len(ordered) - 1)))]


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over turn rows: counts by result kind, tokens, cost, duration percentiles, tool use."""
    tools: Counter[str] = Counter()
    for row in rows:
        tools.update(row["tool_call_breakdown"])
    durations = [int(r["duration_ms"]) for r in rows]
    tokens = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")
    return {
        "turn_count": len(rows),
        "by_result": dict(Counter(r["result_kind"] for r in rows)),
        "tokens": {k: sum(int(r[k]) for r in rows) for k in tokens},
        "cost_usd": round(sum(float(r["cost_usd"]) for r in rows), 6),
        "duration_ms": {"p50": _percentile(durations, 0.5), "p95": _percentile(durations, 0.95)},
        "tool_calls": dict(tools.most_common()),
    }
