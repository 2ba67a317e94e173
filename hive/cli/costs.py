"""`hive costs`: what the swarm's turns cost, from the host's ledger (``hive_core.ledger``).

Read straight from ``ledger.sqlite``, read-only, so it works with or without a
running `hive serve` and never waits on the daemon. Reports are over whole UTC
days (the ledger's daily and monthly rollups), so one over a million turns is as quick as
one over ten.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from hive.cli.common import JsonOpt, StateDirOpt, console, layout, no_state_dir, print_json
from hive_core.ledger import ALL_DAYS, Bucket, By, Ledger
from hive_kit.errors import UserError
from hive_kit.names import name_problem

SINCE_HELP = "From which UTC day: Nd (the last N days, today included), a date (2026-12-01), today, or all."


def register(app: typer.Typer) -> None:
    app.command("costs")(costs)


def since_day(value: str, *, today: datetime | None = None) -> str:
    """``--since`` as the first UTC day (YYYY-MM-DD) of the report."""
    today = today or datetime.now(UTC)
    text = value.strip().lower()
    if text == "all":
        return ALL_DAYS
    if text == "today":
        return today.strftime("%Y-%m-%d")
    days = re.fullmatch(r"(\d{1,5})d", text)
    if days and 1 <= int(days[1]) <= 36500:
        return (today - timedelta(days=int(days[1]) - 1)).strftime("%Y-%m-%d")
    try:
        return datetime.strptime(text, "%Y-%m-%d").strftime("%Y-%m-%d")
    except ValueError:
        raise UserError(
            f"--since {value!r} is not a day: use Nd (e.g. 7d), a date (e.g. 2026-12-01), today or all"
        ) from None


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def _tokens(b: Bucket) -> tuple[str, str, str, str]:
    return (
        f"{b.input_tokens:,}",
        f"{b.output_tokens:,}",
        f"{b.cache_read_tokens:,}",
        f"{b.cache_creation_tokens:,}",
    )


def total_of(rows: list[Bucket]) -> Bucket:
    total = Bucket("total")
    for b in rows:
        for f in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens"):
            setattr(total, f, getattr(total, f) + getattr(b, f))
        total.cost_usd += b.cost_usd
        total.estimated_usd += b.estimated_usd
        total.turns += b.turns
    return total


def costs(
    by: Annotated[By, typer.Option("--by", help="One row per agent, model or UTC day.")] = By.AGENT,
    since: Annotated[str, typer.Option("--since", help=SINCE_HELP)] = "7d",
    agent: Annotated[str | None, typer.Option("--agent", help="Only this agent's turns.")] = None,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What turns cost, per agent, model or day, from the host's ledger (exit 1: bad --by/--since)."""
    lay = layout(state_dir)
    if not lay.meta.exists():
        raise no_state_dir(lay)
    first = since_day(since)
    if agent is not None and (why := name_problem(agent)) is not None:
        raise UserError(f"--agent {agent!r}: {why}")
    ledger = Ledger.reader(lay.ledger)
    rows: list[Bucket] = []
    if ledger is not None:
        try:
            rows = ledger.report(by, since_day=first, agent=agent)
        finally:
            ledger.close()
    total = total_of(rows)
    if as_json:
        print_json(
            {
                "by": by.value,
                "since": first if first != ALL_DAYS else None,
                "agent": agent,
                "rows": [b.as_dict() for b in rows],
                "total": total.as_dict(),
            }
        )
        return
    _table(rows, total, by=by, first=first)


def _table(rows: list[Bucket], total: Bucket, *, by: By, first: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    since = "all recorded turns" if first == ALL_DAYS else f"since {first} (UTC)"
    out = console()
    if not rows:
        out.print(f"no turns recorded {since}")
        return
    turns = "turns using it" if by is By.MODEL else "turns"
    table = Table(title=f"cost by {by.value}, {since}", title_justify="left", header_style="bold")
    for col in (by.value, turns, "input", "output", "cache read", "cache write", "cost"):
        table.add_column(col, justify="left" if col == by.value else "right")
    for b in rows:
        mark = " *" if b.estimated_usd > 0 else ""
        table.add_row(escape(b.key), f"{b.turns:,}", *_tokens(b), _usd(b.cost_usd) + mark)
    table.add_section()
    table.add_row("[bold]total[/]", f"{total.turns:,}", *_tokens(total), f"[bold]{_usd(total.cost_usd)}[/]")
    out.print(table)
    if total.estimated_usd > 0:
        out.print(
            f"* includes {_usd(total.estimated_usd)} priced from hive_core/prices.py (the CLI reported none)"
        )
