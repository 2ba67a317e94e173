"""`hive egress NAME`: what an agent reached through the host's egress proxy, and what it was refused.

Read from a running `hive serve` over the admin socket (the `egress` op), so
the CLI and the agent's page show the same rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from hive.cli.common import JsonOpt, StateDirOpt, admin, console, print_json, print_table
from hive_core.notices import printable
from hive_kit import wire


def register(app: typer.Typer) -> None:
    app.command("egress")(egress)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _text(value: str, limit: int = 300) -> str:
    """The agent wrote the host and method: no rich markup, no terminal escapes."""
    from rich.markup import escape

    return escape(printable(value, limit))


def egress(
    name: Annotated[str, typer.Argument(help="The agent whose connections to show.")],
    denied: Annotated[bool, typer.Option("--denied", help="Only refused (or failed) connections.")] = False,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=5000, help="At most this many, newest first.")
    ] = 100,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """An agent's egress log, newest first, under its allow-list (exit 1: no such agent, or no daemon)."""
    with admin(state_dir) as client:
        result: wire.EgressEntries = client.request(wire.Egress(agent=name, limit=limit, denied_only=denied))
    if as_json:
        print_json(result.model_dump(mode="json", exclude={"ok"}))
        return
    console().print(f"[bold]{_text(name)}[/] may reach: {_text(', '.join(result.allow), 2000)}")
    rows = [
        (
            _when(e.started),
            _text(e.host, 120),
            e.port,
            _text(e.method, 20),
            "allowed" if e.allowed else "[red]denied[/]",
            e.bytes_up,
            e.bytes_down,
            _text(e.reason),
        )
        for e in result.entries
    ]
    if not rows:
        console().print("no refused connections recorded" if denied else "no connections recorded")
        return
    print_table(None, ["when", "host", "port", "method", "result", "bytes up", "bytes down", "reason"], rows)
