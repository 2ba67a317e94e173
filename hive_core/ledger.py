"""The host's cost ledger: what every agent's turns used and cost, where no agent can edit it.

Why a file of its own (``ledger.sqlite`` beside ``hive.sqlite``), not a table
in the core store: it is kept for good (the core store's events and egress
rows are trimmed by age), it is read by `hive costs` and the dashboard
straight from disk, read-only, even while no daemon runs, and a report over a
year of turns never holds the daemon's group-commit transaction. It lives
under the host's state dir, which no sandbox binds, and `hive purge` removes
an agent's dirs, never this file.

Three tables. ``turns``: one row per model a turn used (``part`` 0 is the turn's
main model and carries the turn's own facts: duration, tool calls, how it
ended; the other parts carry 0 there, so sums stay right). ``daily`` and
``monthly``: the same numbers rolled up per UTC day (month), agent, model and
source, updated in the same transaction, so a report over a million turns
reads a few thousand rows.

``source`` says who measured the row. ``gateway``: the host's model-API
gateway (``hive_core.gateway``) read it off the API's response, one row per
model call (turn facts 0: a call is not a turn). ``harness``: the agent's own
harness reported a turn, and no gateway measured it (an agent can
under-report these: docs/governance.md). ``claimed``: the harness reported a
turn whose calls the gateway measured (``record`` is told so by the caller):
kept for the turn's own facts (duration, tools, how it ended) and as a
cross-check, never added to money or tokens. So every figure is counted once:
money and tokens from ``gateway`` + ``harness`` rows, turns from ``harness`` +
``claimed`` rows.

Who the agent is comes from the socket the report arrived on, never from the
report. A turn id already recorded for the agent is ignored (a retry after a
lost answer counts once), and a per-agent token bucket bounds how fast one
agent can add rows.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

import apsw

from hive_core.prices import estimate_usd
from hive_kit import wire
from hive_kit.db import open_db
from hive_kit.errors import LimitError

MIGRATIONS = (
    """
    CREATE TABLE turns (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        agent TEXT NOT NULL,
        source TEXT NOT NULL,
        turn_id TEXT NOT NULL,
        part INTEGER NOT NULL,
        model TEXT NOT NULL,
        at REAL NOT NULL,
        started_at REAL NOT NULL,
        duration_ms INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cache_read_tokens INTEGER NOT NULL,
        cache_creation_tokens INTEGER NOT NULL,
        cost_usd REAL NOT NULL,
        estimated INTEGER NOT NULL,
        tool_calls INTEGER NOT NULL,
        tools_json TEXT NOT NULL DEFAULT '{}',
        result_kind TEXT NOT NULL,
        UNIQUE (agent, source, turn_id, part)
    );
    CREATE INDEX turns_agent_at ON turns (agent, at);
    CREATE INDEX turns_at ON turns (at);
    CREATE TABLE daily (
        day TEXT NOT NULL,
        agent TEXT NOT NULL,
        model TEXT NOT NULL,
        source TEXT NOT NULL,
        turns INTEGER NOT NULL DEFAULT 0,
        uses INTEGER NOT NULL DEFAULT 0,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        cache_read_tokens INTEGER NOT NULL DEFAULT 0,
        cache_creation_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0,
        estimated_usd REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (day, agent, model, source)
    ) WITHOUT ROWID;
    CREATE TABLE monthly (
        month TEXT NOT NULL,
        agent TEXT NOT NULL,
        model TEXT NOT NULL,
        source TEXT NOT NULL,
        turns INTEGER NOT NULL DEFAULT 0,
        uses INTEGER NOT NULL DEFAULT 0,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        cache_read_tokens INTEGER NOT NULL DEFAULT 0,
        cache_creation_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0,
        estimated_usd REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (month, agent, model, source)
    ) WITHOUT ROWID;
    """,
)

ALL_DAYS = "0000-00-00"
"""``since_day`` for everything recorded."""
TOKEN_KINDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")
RATE_BURST = 60
RATE_PER_SECOND = 1.0
"""An agent may report 60 turns at once and one a second after that: far above a real agent
(a turn takes seconds), far below what would grow the file by more than ~15 MB a day."""


class Source(StrEnum):
    HARNESS = "harness"
    GATEWAY = "gateway"  # the host's model-API gateway, reading usage from each response
    CLAIMED = "claimed"  # a harness report of a turn the gateway measured: turn facts only


MONEY = "(source != 'claimed')"
"""SQL: 1 where a row's tokens and cost count, 0 for a harness claim the gateway measured."""
TURN = "(part = 0 AND source != 'gateway')"
"""SQL: 1 for the row that stands for a turn (a gateway row is a call, not a turn)."""


class By(StrEnum):
    AGENT = "agent"
    MODEL = "model"
    DAY = "day"


@dataclass
class Bucket:
    """Totals for one key (an agent, a model or a day) of a report."""

    key: str
    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    cost_usd: float = 0.0
    estimated_usd: float = 0.0
    """The part of ``cost_usd`` priced from ``hive_core.prices`` (the CLI reported none)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "turns": self.turns,
            **{k: getattr(self, k) for k in TOKEN_KINDS},
            "cost_usd": round(self.cost_usd, 6),
            "estimated_usd": round(self.estimated_usd, 6),
        }


@dataclass
class RateLimit:
    """A token bucket per agent; the clock is injectable so tests need no sleeps."""

    burst: float = RATE_BURST
    per_second: float = RATE_PER_SECOND
    clock: Callable[[], float] = time.monotonic
    _state: dict[str, tuple[float, float]] = field(default_factory=dict)

    def admit(self, agent: str) -> bool:
        now = self.clock()
        tokens, last = self._state.get(agent, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.per_second)
        if tokens < 1:
            self._state[agent] = (tokens, now)
            return False
        self._state[agent] = (tokens - 1, now)
        return True


def utc_day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def day_start(day: str) -> float:
    return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()


def _parts(report: wire.TurnUsage) -> list[tuple[wire.ModelUsage, float, bool]]:
    """Each model's usage with its cost: the CLI's figure, else the price table's (estimated)."""
    out = []
    for usage in report.models:
        if usage.cost_usd is not None:
            out.append((usage, usage.cost_usd, False))
            continue
        cost = estimate_usd(
            usage.model,
            input=usage.input_tokens,
            output=usage.output_tokens,
            cache_read=usage.cache_read_tokens,
            cache_creation=usage.cache_creation_tokens,
        )
        out.append((usage, cost, True))
    return out


_INSERT = (
    "INSERT INTO turns (agent, source, turn_id, part, model, at, started_at, duration_ms, input_tokens,"
    " output_tokens, cache_read_tokens, cache_creation_tokens, cost_usd, estimated, tool_calls, tools_json,"
    " result_kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _rollup(table: str, period: str) -> str:
    return (
        f"INSERT INTO {table} ({period}, agent, model, source,"  # noqa: S608 - fixed names
        " turns, uses, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens,"
        " cost_usd, estimated_usd)"
        " VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)"
        f" ON CONFLICT ({period}, agent, model, source) DO UPDATE SET turns = turns + excluded.turns,"
        " uses = uses + 1, input_tokens = input_tokens + excluded.input_tokens,"
        " output_tokens = output_tokens + excluded.output_tokens,"
        " cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,"
        " cache_creation_tokens = cache_creation_tokens + excluded.cache_creation_tokens,"
        " cost_usd = cost_usd + excluded.cost_usd, estimated_usd = estimated_usd + excluded.estimated_usd"
    )


_ROLLUP = _rollup("daily", "day")
_ROLLUP_MONTH = _rollup("monthly", "month")
_ROLLED = (
    "agent, model, source, turns, uses, input_tokens, output_tokens, cache_read_tokens,"
    " cache_creation_tokens, cost_usd, estimated_usd"
)


_SUMS = (
    f"SUM(input_tokens * {MONEY}), SUM(output_tokens * {MONEY}), SUM(cache_read_tokens * {MONEY}),"
    f" SUM(cache_creation_tokens * {MONEY}), SUM(cost_usd * {MONEY}), SUM(cost_usd * estimated * {MONEY})"
)


class Ledger:
    """``Ledger(path)``: the daemon's (creates, migrates); ``Ledger.reader(path)``: read-only."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time, limit: RateLimit | None = None):
        self.path = path
        self.clock = clock
        self.limit = limit or RateLimit()
        self._lock = threading.Lock()
        self._conn = open_db(path, MIGRATIONS)

    @classmethod
    def reader(cls, path: Path) -> Ledger | None:
        """The ledger opened read-only (`hive costs`, the dashboard); None if nothing was ever recorded."""
        if not path.exists():
            return None
        self = cls.__new__(cls)
        self.path, self.clock, self.limit, self._lock = path, time.time, RateLimit(), threading.Lock()
        self._conn = apsw.Connection(
            f"file:{path}?mode=ro", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI
        )
        self._conn.setbusytimeout(5000)
        return self

    def close(self) -> None:
        with self._lock:  # after a report still being written in a worker thread
            self._conn.close()

    def _rows(self, sql: str, args: Sequence[object] = ()) -> list[Any]:
        """A read, under the lock: apsw refuses the event loop's thread while a worker writes."""
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    # -- writing ------------------------------------------------------------------------------
    def record(self, agent: str, report: wire.TurnUsage, *, source: Source = Source.HARNESS) -> bool:
        """Add one turn of ``agent`` (the socket's name); False if this turn id is already recorded.

        Raises ``LimitError`` when the agent reports faster than its bucket allows. Gateway rows
        are not limited: each is a call the host made and paid for, and the gateway bounds calls.
        """
        with self._lock:  # the daemon records from worker threads: one report at a time
            return self._record(agent, report, source)

    def _record(self, agent: str, report: wire.TurnUsage, source: Source) -> bool:
        # a harness report resent after the gateway's rows came is the same turn, claimed or not
        alike = (
            (source.value,) * 2 if source is Source.GATEWAY else (Source.HARNESS.value, Source.CLAIMED.value)
        )
        known = self._conn.execute(
            "SELECT 1 FROM turns WHERE agent = ? AND source IN (?, ?) AND turn_id = ? LIMIT 1",
            (agent, *alike, report.turn_id),
        ).fetchone()
        if known is not None:
            return False
        if source is not Source.GATEWAY and not self.limit.admit(agent):
            raise LimitError(
                f"turn usage from {agent} is arriving faster than {RATE_PER_SECOND:g} a second; "
                "this report was not recorded"
            )
        now = self.clock()
        day = utc_day(now)
        try:
            self._insert(agent, source, report, now, day)
        except apsw.ConstraintError:  # the same turn, sent twice at once: the other one won
            return False
        return True

    def _insert(self, agent: str, source: Source, report: wire.TurnUsage, now: float, day: str) -> None:
        with self._conn:
            for part, (usage, cost, estimated) in enumerate(_parts(report)):
                main = part == 0
                tokens = (
                    usage.input_tokens,
                    usage.output_tokens,
                    usage.cache_read_tokens,
                    usage.cache_creation_tokens,
                )
                self._conn.execute(
                    _INSERT,
                    (
                        *(agent, source.value, report.turn_id, part, usage.model, now, report.started_at),
                        report.duration_ms if main else 0,
                        *tokens,
                        *(cost, int(estimated), report.tool_calls if main else 0),
                        json.dumps(report.tools if main else {}, sort_keys=True),
                        report.result_kind,
                    ),
                )
                rolled = (
                    agent,
                    usage.model,
                    source.value,
                    int(main and source is not Source.GATEWAY),
                    *tokens,
                    cost,
                    cost if estimated else 0.0,
                )
                self._conn.execute(_ROLLUP, (day, *rolled))
                self._conn.execute(_ROLLUP_MONTH, (day[:7], *rolled))

    # -- reading: the query API (`hive costs`, the dashboard, budgets) -----------------------
    def spend(self, agent: str | None = None, *, since: float = 0.0, until: float | None = None) -> Bucket:
        """One agent's (or everyone's) totals for turns recorded in [since, until), to the second."""
        where, args = _window(agent, since, until)
        sql = f"SELECT SUM{TURN}, {_SUMS} FROM turns WHERE {where}"  # noqa: S608 - fixed fragments
        return _bucket(agent or "*", self._rows(sql, args)[0])

    def spend_by_model(
        self, agent: str | None = None, *, since: float = 0.0, until: float | None = None
    ) -> list[Bucket]:
        """Totals per model for [since, until), to the second; ``turns`` = turns that used the model."""
        where, args = _window(agent, since, until)
        sql = f"SELECT model, SUM({MONEY}), {_SUMS} FROM turns WHERE {where} GROUP BY model"  # noqa: S608
        rows = self._rows(sql + f" HAVING SUM({MONEY}) > 0 ORDER BY SUM(cost_usd * {MONEY}) DESC", args)
        return [_bucket(str(r[0]), r[1:]) for r in rows]

    def report(self, by: By, *, since_day: str = ALL_DAYS, agent: str | None = None) -> list[Bucket]:
        """Whole UTC days from ``since_day`` on, grouped ``by``, dearest first (days: oldest first).

        Read from the rollups (per agent and model: whole months from ``monthly``, the days
        before the first whole month from ``daily``), so its cost does not grow with the number
        of turns, and barely with the length of the history.
        """
        key = {By.AGENT: "agent", By.MODEL: "model", By.DAY: "day"}[by]
        turns = f"SUM(uses * {MONEY})" if by is By.MODEL else "SUM(turns)"
        order = "day" if by is By.DAY else f"SUM(cost_usd * {MONEY}) DESC"
        mine, of_agent = ("", []) if agent is None else (" AND agent = ?", [agent])
        if by is By.DAY:
            source = f"SELECT day, {_ROLLED} FROM daily WHERE day >= ?{mine}"  # noqa: S608
            args = [since_day, *of_agent]
        else:
            cut = _month_cut(since_day)
            source = (
                f"SELECT {_ROLLED} FROM daily WHERE day >= ? AND day < ?{mine}"  # noqa: S608
                f" UNION ALL SELECT {_ROLLED} FROM monthly WHERE month >= ?{mine}"
            )
            args = [since_day, cut, *of_agent, cut[:7], *of_agent]
        sums = ", ".join(f"SUM({kind} * {MONEY})" for kind in (*TOKEN_KINDS, "cost_usd", "estimated_usd"))
        sql = (
            f"SELECT {key}, {turns}, {sums}"  # noqa: S608 - fixed fragments
            f" FROM ({source}) GROUP BY {key} ORDER BY {order}"
        )
        return [_bucket(str(r[0]), r[1:]) for r in self._rows(sql, args)]

    def totals_by_agent(self) -> dict[str, float]:
        """Each agent's cost over everything recorded (the Swarm table's "cost" column)."""
        rows = self._rows(f"SELECT agent, SUM(cost_usd * {MONEY}) FROM monthly GROUP BY agent")  # noqa: S608
        return {str(a): float(cast(float, c)) for a, c in rows}

    def gateway_since(self, agent: str, since: float) -> bool:
        """Whether the gateway measured a call of ``agent`` at or after ``since`` (then a turn the
        harness reports from that time on is ``claimed``: its calls are counted already)."""
        rows = self._rows(
            "SELECT 1 FROM turns WHERE agent = ? AND at >= ? AND source = 'gateway' LIMIT 1", (agent, since)
        )
        return bool(rows)

    def turns(self, agent: str, *, since: float = 0.0, limit: int = 200) -> list[dict[str, Any]]:
        """The agent's latest turns, newest first, one dict per turn (its models' parts summed).

        Gateway rows are calls, not turns, and are left out; a ``claimed`` turn's tokens and cost
        are what its harness said (the money counted is the gateway's: ``spend``)."""
        rows = self._rows(
            "SELECT turn_id, source, MIN(started_at), MAX(at), SUM(duration_ms), group_concat(model, ', '),"
            " SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_creation_tokens),"
            " SUM(cost_usd), MAX(estimated), SUM(tool_calls), MAX(result_kind),"
            " MAX(CASE WHEN part = 0 THEN tools_json END)"
            " FROM turns WHERE agent = ? AND at >= ? AND source != 'gateway'"
            " GROUP BY source, turn_id ORDER BY MAX(id) DESC LIMIT ?",
            (agent, since, limit),
        )
        names = (
            *("turn_id", "source", "started_at", "ended_at", "duration_ms", "model", *TOKEN_KINDS),
            *("cost_usd", "estimated", "tool_call_count", "result_kind"),
        )
        return [
            {
                **dict(zip(names, r[:-1], strict=True)),
                "estimated": bool(r[11]),
                "tool_calls": json.loads(str(r[-1] or "{}")),
            }
            for r in rows
        ]


WINDOWS = {"1h": 3600.0, "24h": 86400.0, "7d": 7 * 86400.0, "30d": 30 * 86400.0, "all": 0.0}
"""The agent page's windows (its stats picker), in seconds back from now; 0 = everything."""


def _percentile(values: list[int], pct: float) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct * (len(ordered) - 1)))]


def summary(ledger: Ledger, agent: str, window: str, *, now: float | None = None) -> dict[str, Any]:
    """The agent page's stats from the ledger: the shape the harness's own ``/api/stats`` had."""
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r}; use one of {', '.join(WINDOWS)}")
    now = time.time() if now is None else now
    since = now - WINDOWS[window] if WINDOWS[window] else 0.0
    turns = ledger.turns(agent, since=since, limit=100_000)
    counted = ledger.spend(agent, since=since)
    tools: Counter[str] = Counter()
    for turn in turns:
        tools.update(turn["tool_calls"])
    durations = [int(t["duration_ms"]) for t in turns]
    return {
        "window": window,
        "since": since,
        "source": "ledger",
        "turn_count": len(turns),
        "by_result": dict(Counter(t["result_kind"] for t in turns)),
        "tokens": {k: int(getattr(counted, k)) for k in TOKEN_KINDS},
        "cost_usd": round(counted.cost_usd, 6),
        "estimated": counted.estimated_usd > 0,
        "duration_ms": {"p50": _percentile(durations, 0.5), "p95": _percentile(durations, 0.95)},
        "tool_calls": dict(tools.most_common()),
        "turns": turns[:200],
    }


def _month_cut(since_day: str) -> str:
    """The first day from which whole months follow: ``since_day`` itself if it starts a month."""
    if since_day == ALL_DAYS or since_day.endswith("-01"):
        return since_day
    year, month = int(since_day[:4]), int(since_day[5:7])
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{year:04d}-{month:02d}-01"


def _window(agent: str | None, since: float, until: float | None) -> tuple[str, list[Any]]:
    where: list[str] = ["at >= ?"]
    args: list[Any] = [since]
    if until is not None:
        where, args = [*where, "at < ?"], [*args, until]
    if agent is not None:
        where, args = [*where, "agent = ?"], [*args, agent]
    return " AND ".join(where), args


def _bucket(key: str, row: Sequence[Any] | None) -> Bucket:
    values = [0 if v is None else v for v in (row or (0,) * 7)]
    turns, inp, out, cread, ccreate, cost, estimated = values
    return Bucket(
        key, int(turns), int(inp), int(out), int(cread), int(ccreate), float(cost), float(estimated)
    )
