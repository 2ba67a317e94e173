"""Reads of the host's cost ledger (``hive_core.ledger``) for the dashboard: run them in a thread.

Each opens ``ledger.sqlite`` read-only and closes it again: the reads are a
few small queries (the rollups, or one agent's turns in a window), and a
connection kept open across requests would pin an old WAL snapshot.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from hive_core.ledger import By, Ledger, day_start, summary, utc_day
from hive_kit.paths import StateLayout


def costs_by_agent(layout: StateLayout) -> dict[str, float]:
    """Each agent's cost over everything recorded: the Swarm table's "cost" column."""
    ledger = Ledger.reader(layout.ledger)
    if ledger is None:
        return {}
    try:
        return ledger.totals_by_agent()
    finally:
        ledger.close()


def agent_stats(layout: StateLayout, name: str, window: str, *, now: float | None = None) -> dict[str, Any]:
    """The agent page's stats (``/agents/<name>/api/stats``); ValueError for an unknown window."""
    ledger = Ledger.reader(layout.ledger)
    if ledger is None:
        return summary_of_nothing(window)
    try:
        return summary(ledger, name, window, now=now)
    finally:
        ledger.close()


def summary_of_nothing(window: str) -> dict[str, Any]:
    tokens = dict.fromkeys(("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens"), 0)
    return {
        "window": window,
        "source": "ledger",
        "turn_count": 0,
        "by_result": {},
        "tokens": tokens,
        "cost_usd": 0.0,
        "estimated": False,
        "duration_ms": {"p50": None, "p95": None},
        "tool_calls": {},
        "turns": [],
    }


def fleet(layout: StateLayout, *, now: float | None = None, days: int = 14) -> dict[str, Any]:
    """The dashboard's fleet cost view: today and this week per agent and per model, and a daily series.

    "This week" is the last 7 UTC days, today included; the series is the last ``days`` days, one
    entry per day and agent (missing days are zero), for the chart.
    """
    now = time.time() if now is None else now
    today = utc_day(now)
    week = utc_day(now - 6 * 86400)
    first = utc_day(now - (days - 1) * 86400)
    ledger = Ledger.reader(layout.ledger)
    out: dict[str, Any] = {"today": today, "week_from": week, "days": _days(first, days)}
    if ledger is None:
        empty = {"by_agent": [], "by_model": [], "total": 0.0, "estimated": 0.0}
        return {**out, "today_costs": empty, "week_costs": empty, "series": {}}
    try:
        out["today_costs"] = _part(ledger, today)
        out["week_costs"] = _part(ledger, week)
        series: dict[str, dict[str, float]] = {}
        for agent in (b.key for b in ledger.report(By.AGENT, since_day=first)):
            series[agent] = {
                b.key: round(b.cost_usd, 6) for b in ledger.report(By.DAY, since_day=first, agent=agent)
            }
        out["series"] = series
    finally:
        ledger.close()
    return out


def _part(ledger: Ledger, since_day: str) -> dict[str, Any]:
    agents = ledger.report(By.AGENT, since_day=since_day)
    return {
        "by_agent": [b.as_dict() for b in agents],
        "by_model": [b.as_dict() for b in ledger.report(By.MODEL, since_day=since_day)],
        "total": round(sum(b.cost_usd for b in agents), 6),
        "estimated": round(sum(b.estimated_usd for b in agents), 6),
    }


def _days(first: str, count: int) -> list[str]:
    start = datetime.fromtimestamp(day_start(first), UTC)
    return [(start + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(count)]
